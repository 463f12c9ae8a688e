#include "runtime/exec/weights.h"

#include <cmath>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "runtime/base/checksum.h"
#include "runtime/base/status.h"
#include "runtime/plan/instr_fields.h"
#include "runtime/plan/plan.h"

namespace janus::exec {
namespace {

uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Experts of `placement` with a replica on MoE rank `index`.
std::set<int> LocalExperts(const plan::Placement& placement, int index) {
  std::set<int> local;
  const auto& offsets = *placement.replica_offsets();
  const auto& ranks = *placement.replica_rank();
  for (int e = 0; e + 1 < static_cast<int>(offsets.size()); ++e) {
    for (int r = offsets[e]; r < offsets[e + 1]; ++r) {
      if (r >= 0 && r < static_cast<int>(ranks.size()) && ranks[r] == index)
        local.insert(e);
    }
  }
  return local;
}

}  // namespace

std::vector<int> WeightsUsedByRank(const plan::Plan& plan, plan::Role role,
                                   int index) {
  std::set<int> used;
  for (const plan::Program* program : *plan.programs()) {
    if (program->role() != role) continue;
    for (const plan::Instr* instr : *program->instrs()) {
      if (const auto* experts = instr->params_as_ExpertsParams()) {
        const int p = experts->placement();
        if (plan.placements() == nullptr || p < 0 ||
            p >= static_cast<int>(plan.placements()->size())) {
          continue;  // the engine rejects the instruction with a clear error
        }
        for (int e : LocalExperts(*plan.placements()->Get(p), index)) {
          for (const auto* list :
               {experts->gate(), experts->up(), experts->down()}) {
            if (e < static_cast<int>(list->size()) && list->Get(e) >= 0)
              used.insert(list->Get(e));
          }
        }
        continue;
      }
      for (const WeightField& field : InstrWeightFields(*instr)) {
        if (field.index >= 0) used.insert(field.index);
      }
    }
  }
  return {used.begin(), used.end()};
}

std::vector<float> SyntheticWeight(int64_t seed, absl::string_view name,
                                   const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  const uint64_t key =
      Fnv1a64(name.data(), name.size(), Mix(static_cast<uint64_t>(seed)));
  const bool norm = absl::StrContains(name, "norm");
  const bool bias = absl::StrContains(name, "bias");
  const double cols = shape.empty() ? 1.0 : static_cast<double>(shape.back());
  const double scale = std::sqrt(3.0 / std::max(1.0, cols));
  std::vector<float> out(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i) {
    const double u =
        static_cast<double>(
            Mix(key + static_cast<uint64_t>(i) * 0xD1B54A32D192ED03ull) >> 11) *
        (1.0 / 9007199254740992.0);  // [0, 1)
    double v;
    if (norm) {
      v = 1.0 + 0.2 * (u - 0.5);
    } else if (bias || shape.size() == 1) {
      v = 0.04 * (u - 0.5);
    } else {
      v = scale * (2.0 * u - 1.0);
    }
    out[i] = static_cast<float>(v);
  }
  return out;
}

absl::StatusOr<std::unique_ptr<WeightStore>> WeightStore::Create(
    const plan::Plan& plan, const std::vector<int>& indices,
    const std::string& checkpoint_dir_override) {
  std::unique_ptr<WeightStore> store(new WeightStore());
  store->plan_ = &plan;
  const auto& weights = *plan.weights();
  const bool synthetic = plan.synthetic_weights_seed() >= 0;
  const std::string dir = PlanCheckpointDir(plan, checkpoint_dir_override);
  store->files_.resize(plan.files()->size());
  for (int index : indices) {
    if (index < 0 || index >= static_cast<int>(weights.size())) {
      return absl::InvalidArgumentError(
          absl::StrCat("weight index ", index, " is outside the plan's ",
                       weights.size(), " weights"));
    }
    const plan::WeightRef& ref = *weights.Get(index);
    std::vector<int64_t> shape(ref.shape()->begin(), ref.shape()->end());
    cpu::WeightView view;
    view.shape = shape;
    if (synthetic) {
      std::vector<float>& data = store->synthetic_[index];
      data = SyntheticWeight(plan.synthetic_weights_seed(), ref.name()->str(),
                             shape);
      view.dtype = DType::kF32;
      view.data = data.data();
      store->resident_bytes_ +=
          static_cast<int64_t>(data.size() * sizeof(float));
      store->views_.emplace(index, std::move(view));
      continue;
    }
    if (ref.file() >= plan.files()->size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("weight '", ref.name()->str(), "' names file ",
                       ref.file(), " of ", plan.files()->size()));
    }
    std::unique_ptr<SafetensorsFile>& file = store->files_[ref.file()];
    if (file == nullptr) {
      const std::string path =
          absl::StrCat(dir, "/", plan.files()->Get(ref.file())->path()->str());
      JANUS_ASSIGN_OR_RETURN(SafetensorsFile opened,
                             SafetensorsFile::Open(path));
      file = std::make_unique<SafetensorsFile>(std::move(opened));
    }
    const TensorInfo* info = file->Find(ref.name()->str());
    const DType dtype = FromPlanDType(ref.dtype());
    if (info == nullptr || !info->dtype_supported || info->dtype != dtype ||
        info->shape != shape || info->offset != ref.offset() ||
        info->nbytes != ref.nbytes()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "checkpoint file ", file->path(), " no longer holds weight '",
          ref.name()->str(), "' as the plan recorded it (", DTypeName(dtype),
          ", bytes [", ref.offset(), ", ", ref.offset() + ref.nbytes(),
          ")); recompile the plan"));
    }
    if (dtype == DType::kI32) {
      return absl::InvalidArgumentError(
          absl::StrCat("weight '", ref.name()->str(),
                       "' is I32; the cpu backend needs F32, BF16 or F16"));
    }
    view.dtype = dtype;
    view.data = file->Data(*info).data();
    store->resident_bytes_ += static_cast<int64_t>(info->nbytes);
    store->views_.emplace(index, std::move(view));
  }
  return store;
}

const cpu::WeightView* WeightStore::Find(int index) const {
  auto it = views_.find(index);
  return it == views_.end() ? nullptr : &it->second;
}

absl::StatusOr<const cpu::WeightView*> WeightStore::Get(int index) const {
  if (const cpu::WeightView* view = Find(index)) return view;
  const auto& weights = *plan_->weights();
  if (index < 0 || index >= static_cast<int>(weights.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("weight index ", index, " is absent or out of range"));
  }
  return absl::NotFoundError(absl::StrCat("weight '",
                                          weights.Get(index)->name()->str(),
                                          "' is not held by this rank"));
}

}  // namespace janus::exec
