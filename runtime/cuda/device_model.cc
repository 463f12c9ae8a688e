#include "runtime/cuda/device_model.h"

#include <algorithm>
#include <iterator>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.h"
#include "runtime/base/dtype.h"
#include "runtime/base/status.h"
#include "runtime/cpu/rope.h"
#include "runtime/cpu/tensor.h"
#include "runtime/exec/program_check.h"
#include "runtime/exec/weights.h"

namespace janus::cuda {
namespace {

// Appends `w` (F32, BF16 or F16) to `out` as bf16.
absl::Status AppendBf16(const cpu::WeightView& w, std::vector<uint16_t>* out) {
  const int64_t n = w.numel();
  const size_t base = out->size();
  out->resize(base + static_cast<size_t>(n));
  uint16_t* dst = out->data() + base;
  switch (w.dtype) {
    case DType::kBF16: {
      const auto* src = static_cast<const uint16_t*>(w.data);
      std::copy(src, src + n, dst);
      return absl::OkStatus();
    }
    case DType::kF32: {
      const auto* src = static_cast<const float*>(w.data);
      for (int64_t i = 0; i < n; ++i) dst[i] = FloatToBf16(src[i]);
      return absl::OkStatus();
    }
    case DType::kF16: {
      const auto* src = static_cast<const uint16_t*>(w.data);
      for (int64_t i = 0; i < n; ++i) dst[i] = FloatToBf16(HalfToFloat(src[i]));
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("weight of dtype ", DTypeName(w.dtype), " cannot be used as bf16"));
  }
}


}  // namespace

absl::StatusOr<const uint16_t*> DeviceModel::Upload(const std::vector<uint16_t>& host) {
  absl::StatusOr<kernels::DeviceBuffer> buffer = kernels::DeviceBuffer::FromHost(host);
  if (!buffer.ok()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "out of GPU memory loading the weights: ", bytes_ >> 20, " MiB loaded, ",
        (host.size() * 2) >> 20, " MiB more asked (", buffer.status().message(), ")"));
  }
  bytes_ += static_cast<int64_t>(host.size() * 2);
  buffers_.push_back(std::move(*buffer));
  return buffers_.back().get<const uint16_t>();
}

absl::StatusOr<std::unique_ptr<DeviceModel>> DeviceModel::Create(
    const plan::Plan& plan, const exec::Topology& topology, const std::string& checkpoint_dir) {
  std::unique_ptr<DeviceModel> model(new DeviceModel());
  std::set<int> used;
  for (int index : exec::WeightsUsedByRank(plan, plan::Role::Attention, 0)) used.insert(index);
  for (int g = 0; g < topology.num_moe; ++g) {
    for (int index : exec::WeightsUsedByRank(plan, plan::Role::Moe, g)) used.insert(index);
  }
  JANUS_ASSIGN_OR_RETURN(
      std::unique_ptr<exec::WeightStore> store,
      exec::WeightStore::Create(plan, std::vector<int>(used.begin(), used.end()), checkpoint_dir));

  // Every weight but the experts' (which go into the stacked tables) and the MLP gate/up pairs
  // (concatenated) is uploaded as it is.
  std::set<int> expert_weights, gate_up_weights;
  for (const plan::Program* program : *plan.programs()) {
    for (const plan::Instr* instr : *program->instrs()) {
      if (const auto* p = instr->params_as_ExpertsParams()) {
        for (const auto* list : {p->gate(), p->up(), p->down()})
          for (int w : *list) expert_weights.insert(w);
      }
      if (const auto* p = instr->params_as_MlpParams()) {
        gate_up_weights.insert(p->gate());
        gate_up_weights.insert(p->up());
      }
    }
  }
  std::vector<uint16_t> host;
  for (int index : used) {
    if (expert_weights.count(index) != 0 || gate_up_weights.count(index) != 0) continue;
    JANUS_ASSIGN_OR_RETURN(const cpu::WeightView* view, store->Get(index));
    host.clear();
    JANUS_RETURN_IF_ERROR(Annotate(AppendBf16(*view, &host),
                                   absl::StrCat("weight ", index)));
    JANUS_ASSIGN_OR_RETURN(const uint16_t* data, model->Upload(host));
    model->weights_[index] = {data, view->shape.size() == 2 ? view->shape[0] : 1, view->cols()};
  }

  const plan::Program* attention = exec::ProgramOf(plan, plan::Role::Attention);
  const plan::Program* moe = exec::ProgramOf(plan, plan::Role::Moe);
  // The kernels read cos/sin from tables (no on-the-fly fallback as on the CPU): they cover every
  // position the model allows.
  const int max_positions = std::max(1, plan.model()->max_position_embeddings());
  if (max_positions > (1 << 22)) {
    return absl::UnimplementedError(absl::StrCat(
        "a context of ", max_positions, " positions is over the cuda backend's 4M RoPE tables"));
  }
  std::vector<std::pair<cpu::RopeConfig, RopeTables>> rope_by_config;
  for (const plan::Program* program : {attention, moe}) {
    if (program == nullptr) continue;
    for (uint32_t pc = 0; pc < program->instrs()->size(); ++pc) {
      const plan::Instr& instr = *program->instrs()->Get(pc);
      if (const auto* p = instr.params_as_MlpParams(); p != nullptr && program == attention) {
        JANUS_ASSIGN_OR_RETURN(const cpu::WeightView* gate, store->Get(p->gate()));
        JANUS_ASSIGN_OR_RETURN(const cpu::WeightView* up, store->Get(p->up()));
        if (gate->shape != up->shape || gate->shape.size() != 2) {
          return absl::InvalidArgumentError(
              absl::StrCat("mlp at attention instruction ", pc, ": gate and up shapes differ"));
        }
        host.clear();
        JANUS_RETURN_IF_ERROR(AppendBf16(*gate, &host));
        JANUS_RETURN_IF_ERROR(AppendBf16(*up, &host));
        JANUS_ASSIGN_OR_RETURN(const uint16_t* data, model->Upload(host));
        model->gate_up_[static_cast<int>(pc)] = {data, 2 * gate->shape[0], gate->shape[1]};
      }
      if (const auto* p = instr.params_as_RouterParams();
          p != nullptr && p->correction_bias() >= 0 && model->f32_.count(p->correction_bias()) == 0) {
        JANUS_ASSIGN_OR_RETURN(const cpu::WeightView* bias, store->Get(p->correction_bias()));
        if (bias->dtype == DType::kI32)
          return absl::InvalidArgumentError("correction bias of an integer dtype");
        const std::vector<float> values = cpu::ToFloatVector(*bias);
        JANUS_ASSIGN_OR_RETURN(kernels::DeviceBuffer b, kernels::DeviceBuffer::FromHost(values));
        model->f32_[p->correction_bias()] = b.get<const float>();
        model->bytes_ += static_cast<int64_t>(values.size() * sizeof(float));
        model->buffers_.push_back(std::move(b));
      }
      const plan::Rope* rope = nullptr;
      if (const auto* p = instr.params_as_AttentionParams()) rope = p->rope();
      if (const auto* p = instr.params_as_MlaParams()) rope = p->rope();
      if (rope != nullptr && program == attention) {
        const cpu::RopeConfig config = exec::ToRopeConfig(*rope);
        auto same = std::find_if(
            rope_by_config.begin(), rope_by_config.end(),
            [&](const auto& entry) { return exec::SameRope(entry.first, config); });
        if (same == rope_by_config.end()) {
          absl::StatusOr<cpu::RopeTable> table = cpu::RopeTable::Create(config, max_positions);
          if (!table.ok())
            return Annotate(table.status(), absl::StrCat("attention instruction ", pc, " rope"));
          const int half = config.rotary_dim / 2;
          std::vector<float> cos(static_cast<size_t>(max_positions) * half);
          std::vector<float> sin(cos.size());
          for (int position = 0; position < max_positions; ++position)
            table->CosSin(position, &cos[position * half], &sin[position * half]);
          JANUS_ASSIGN_OR_RETURN(kernels::DeviceBuffer c, kernels::DeviceBuffer::FromHost(cos));
          JANUS_ASSIGN_OR_RETURN(kernels::DeviceBuffer s, kernels::DeviceBuffer::FromHost(sin));
          RopeTables tables;
          tables.cos = c.get<const float>();
          tables.sin = s.get<const float>();
          tables.rotary_dim = config.rotary_dim;
          tables.max_positions = max_positions;
          tables.layout = config.style == cpu::RopeStyle::kInterleaved
                              ? kernels::RopeLayout::kInterleaved
                              : kernels::RopeLayout::kHalfSplit;
          model->bytes_ += static_cast<int64_t>(2 * cos.size() * sizeof(float));
          model->buffers_.push_back(std::move(c));
          model->buffers_.push_back(std::move(s));
          rope_by_config.emplace_back(config, tables);
          same = std::prev(rope_by_config.end());
        }
        model->ropes_[static_cast<int>(pc)] = same->second;
      }
      const auto* experts = instr.params_as_ExpertsParams();
      if (experts == nullptr || model->experts_.count(experts->placement()) != 0) continue;
      const int p = experts->placement();
      if (plan.placements() == nullptr || p < 0 ||
          p >= static_cast<int>(plan.placements()->size())) {
        return absl::InvalidArgumentError(absl::StrCat("placement ", p, " does not exist"));
      }
      const plan::Placement& placement = *plan.placements()->Get(p);
      ExpertTable table;
      table.slots_per_rank = placement.slots_per_rank();
      table.num_slots = topology.num_moe * placement.slots_per_rank();
      const int num_experts = placement.num_experts();
      if (placement.replica_offsets()->size() != static_cast<uint32_t>(num_experts) + 1 ||
          static_cast<int>(experts->gate()->size()) < num_experts ||
          static_cast<int>(experts->up()->size()) < num_experts ||
          static_cast<int>(experts->down()->size()) < num_experts) {
        return absl::InvalidArgumentError(
            absl::StrCat("placement ", p, " and its experts instruction disagree on the experts"));
      }
      // Every slot's expert (-1: empty).
      std::vector<int> slot_expert(table.num_slots, -1);
      for (int e = 0; e < num_experts; ++e) {
        for (int r = placement.replica_offsets()->Get(e);
             r < placement.replica_offsets()->Get(e + 1); ++r) {
          const int g = placement.replica_rank()->Get(r);
          const int s = placement.replica_slot()->Get(r);
          if (g < 0 || g >= topology.num_moe || s < 0 || s >= table.slots_per_rank) {
            return absl::InvalidArgumentError(absl::StrCat(
                "placement ", p, ": replica ", r, " of expert ", e, " is at rank ", g, " slot ",
                s, ", outside ", topology.num_moe, " ranks x ", table.slots_per_rank, " slots"));
          }
          slot_expert[g * table.slots_per_rank + s] = e;
        }
      }
      for (int which = 0; which < 3; ++which) {
        const auto* list = which == 0 ? experts->gate() : which == 1 ? experts->up() : experts->down();
        host.clear();
        int64_t per_slot = 0;
        for (int slot = 0; slot < table.num_slots; ++slot) {
          const int e = slot_expert[slot];
          if (e < 0) {
            host.resize(host.size() + per_slot, 0);  // filled below once the size is known
            continue;
          }
          JANUS_ASSIGN_OR_RETURN(const cpu::WeightView* w, store->Get(list->Get(e)));
          if (w->shape.size() != 2) return absl::InvalidArgumentError("expert weight is not 2-D");
          if (which == 0) {
            table.inter = static_cast<int>(w->shape[0]);
            table.hidden = static_cast<int>(w->shape[1]);
          }
          const int64_t n = w->numel();
          if (per_slot == 0) {
            // Empty slots before the first full one.
            per_slot = n;
            host.assign(static_cast<size_t>(slot * n), 0);
          } else if (n != per_slot) {
            return absl::InvalidArgumentError(
                absl::StrCat("experts of placement ", p, " have different shapes"));
          }
          JANUS_RETURN_IF_ERROR(AppendBf16(*w, &host));
        }
        JANUS_ASSIGN_OR_RETURN(const uint16_t* data, model->Upload(host));
        (which == 0 ? table.gate : which == 1 ? table.up : table.down) = data;
      }
      std::vector<int32_t> offsets(topology.num_moe);
      for (int g = 0; g < topology.num_moe; ++g) offsets[g] = g * table.slots_per_rank;
      std::vector<int32_t> replica_offsets(placement.replica_offsets()->begin(),
                                           placement.replica_offsets()->end());
      std::vector<int32_t> replica_rank(placement.replica_rank()->begin(),
                                        placement.replica_rank()->end());
      std::vector<int32_t> replica_slot(placement.replica_slot()->begin(),
                                        placement.replica_slot()->end());
      std::vector<const int32_t*> device;
      for (const std::vector<int32_t>* v : {&offsets, &replica_offsets, &replica_rank, &replica_slot}) {
        JANUS_ASSIGN_OR_RETURN(kernels::DeviceBuffer b, kernels::DeviceBuffer::FromHost(*v));
        device.push_back(b.get<const int32_t>());
        model->buffers_.push_back(std::move(b));
      }
      table.rank_slot_offset = device[0];
      table.placement.num_experts = num_experts;
      table.placement.num_ranks = topology.num_moe;
      table.placement.num_replicas = replica_offsets.back();
      table.placement.replica_offsets = device[1];
      table.placement.replica_rank = device[2];
      table.placement.replica_slot = device[3];
      model->experts_[p] = table;
    }
  }
  return model;
}

absl::StatusOr<DeviceWeight> DeviceModel::Get(int index) const {
  const DeviceWeight* w = Find(index);
  if (w == nullptr)
    return absl::NotFoundError(absl::StrCat("weight ", index, " is not on the device"));
  return *w;
}

const DeviceWeight* DeviceModel::Find(int index) const {
  auto it = weights_.find(index);
  return it == weights_.end() ? nullptr : &it->second;
}

absl::StatusOr<DeviceWeight> DeviceModel::GateUp(int pc) const {
  auto it = gate_up_.find(pc);
  if (it == gate_up_.end())
    return absl::InternalError(absl::StrCat("no gate|up weights for instruction ", pc));
  return it->second;
}

absl::StatusOr<const ExpertTable*> DeviceModel::Experts(int placement) const {
  auto it = experts_.find(placement);
  if (it == experts_.end())
    return absl::InternalError(absl::StrCat("no expert table for placement ", placement));
  return &it->second;
}

absl::StatusOr<const float*> DeviceModel::F32(int index) const {
  auto it = f32_.find(index);
  if (it == f32_.end())
    return absl::InternalError(absl::StrCat("no fp32 copy of weight ", index));
  return it->second;
}

absl::StatusOr<const RopeTables*> DeviceModel::Rope(int pc) const {
  auto it = ropes_.find(pc);
  if (it == ropes_.end())
    return absl::InternalError(absl::StrCat("no RoPE tables for instruction ", pc));
  return &it->second;
}

}  // namespace janus::cuda
