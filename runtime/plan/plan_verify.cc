// The plan's semantic invariants and the plan <-> checkpoint match.
#include <filesystem>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/base/status.h"
#include "runtime/plan/instr_fields.h"
#include "runtime/plan/plan.h"

namespace janus {
namespace {

using plan::OpParams;
using plan::Role;

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("invalid plan: ", what));
}

template <typename E>
bool ValidEnum(E value, const char* (*name)(E)) {
  return name(value)[0] != '\0';
}

std::string Shape(const flatbuffers::Vector<int64_t>* shape) {
  return absl::StrCat("[", absl::StrJoin(shape->begin(), shape->end(), ", "),
                      "]");
}

absl::Status VerifyModel(const plan::ModelInfo& m) {
  if (m.vocab_size() <= 0)
    return Invalid(absl::StrCat("model.vocab_size is ", m.vocab_size()));
  if (m.hidden_size() <= 0)
    return Invalid(absl::StrCat("model.hidden_size is ", m.hidden_size()));
  if (m.num_layers() <= 0)
    return Invalid(absl::StrCat("model.num_layers is ", m.num_layers()));
  if (!ValidEnum(m.compute_dtype(), plan::EnumNameDType)) {
    return Invalid(absl::StrCat("model.compute_dtype ",
                                static_cast<int>(m.compute_dtype()),
                                " is not a dtype"));
  }
  return absl::OkStatus();
}

absl::Status VerifyFilesAndWeights(const plan::Plan& p) {
  const bool synthetic = p.synthetic_weights_seed() >= 0;
  for (uint32_t i = 0; i < p.files()->size(); ++i) {
    const std::string path = p.files()->Get(i)->path()->str();
    if (path.empty() || path[0] == '/') {
      return Invalid(
          absl::StrCat("files[", i, "].path '", path,
                       "' is not relative to the checkpoint directory"));
    }
  }
  for (uint32_t i = 0; i < p.weights()->size(); ++i) {
    const plan::WeightRef* w = p.weights()->Get(i);
    const std::string where =
        absl::StrCat("weights[", i, "] ('", w->name()->str(), "')");
    if (!ValidEnum(w->dtype(), plan::EnumNameDType)) {
      return Invalid(absl::StrCat(where, " has dtype ",
                                  static_cast<int>(w->dtype()),
                                  ", which is not a dtype"));
    }
    uint64_t elements = 1;
    for (int64_t d : *w->shape()) {
      if (d < 0 || (d > 0 && elements > (uint64_t{1} << 62) /
                                            static_cast<uint64_t>(d))) {
        return Invalid(absl::StrCat(where, " has shape ", Shape(w->shape())));
      }
      elements *= static_cast<uint64_t>(d);
    }
    if (synthetic) continue;
    if (w->file() >= p.files()->size()) {
      return Invalid(absl::StrCat(where, " names file ", w->file(),
                                  ", but the plan has ", p.files()->size(),
                                  " files"));
    }
    const uint64_t expected = elements * DTypeSize(FromPlanDType(w->dtype()));
    if (w->nbytes() != expected) {
      return Invalid(absl::StrCat(where, " has ", w->nbytes(), " bytes, but ",
                                  plan::EnumNameDType(w->dtype()), " ",
                                  Shape(w->shape()), " needs ", expected));
    }
  }
  return absl::OkStatus();
}

absl::Status VerifyDeployment(const plan::Deployment& d) {
  if (d.attention_ranks() < 1 || d.moe_ranks() < 1) {
    return Invalid(absl::StrCat("deployment has ", d.attention_ranks(),
                                " attention and ", d.moe_ranks(),
                                " MoE ranks; each role needs at least one"));
  }
  if (d.gpus_per_node() < 1) {
    return Invalid(
        absl::StrCat("deployment.gpus_per_node is ", d.gpus_per_node()));
  }
  if (!ValidEnum(d.gating(), plan::EnumNameGating))
    return Invalid("deployment.gating is not a Gating");
  const int64_t total = int64_t{d.attention_ranks()} + d.moe_ranks();
  if (static_cast<int64_t>(d.ranks()->size()) != total) {
    return Invalid(
        absl::StrCat("deployment lists ", d.ranks()->size(),
                     " ranks, but attention_ranks + moe_ranks = ", total));
  }
  std::map<int32_t, std::pair<int, std::set<Role>>>
      nodes;  // node -> (ranks, roles)
  for (uint32_t i = 0; i < d.ranks()->size(); ++i) {
    const plan::Rank* r = d.ranks()->Get(i);
    const bool attention = static_cast<int64_t>(i) < d.attention_ranks();
    const Role role = attention ? Role::Attention : Role::Moe;
    const int32_t index = attention
                              ? static_cast<int32_t>(i)
                              : static_cast<int32_t>(i) - d.attention_ranks();
    if (r->rank() != static_cast<int32_t>(i) || r->role() != role ||
        r->index() != index) {
      return Invalid(absl::StrCat(
          "deployment.ranks[", i, "] is (rank ", r->rank(), ", role ",
          static_cast<int>(r->role()), ", index ", r->index(),
          "), expected (rank ", i, ", role ", plan::EnumNameRole(role),
          ", index ", index, "): attention ranks come first"));
    }
    if (r->node() < 0)
      return Invalid(
          absl::StrCat("deployment.ranks[", i, "].node is ", r->node()));
    auto& node = nodes[r->node()];
    node.second.insert(role);
    if (++node.first > d.gpus_per_node()) {
      return Invalid(absl::StrCat(
          "node ", r->node(),
          " holds more than gpus_per_node = ", d.gpus_per_node(), " ranks"));
    }
    if (node.second.size() > 1) {
      return Invalid(absl::StrCat("node ", r->node(),
                                  " holds both attention and MoE ranks"));
    }
  }
  return absl::OkStatus();
}

absl::Status VerifyPlacement(const plan::Placement& pl, uint32_t i,
                             int32_t moe_ranks) {
  const std::string where =
      absl::StrCat("placements[", i, "] (layer ", pl.layer(), ")");
  if (pl.num_experts() < 1 || pl.slots_per_rank() < 1) {
    return Invalid(absl::StrCat(where, " has num_experts ", pl.num_experts(),
                                " and slots_per_rank ", pl.slots_per_rank()));
  }
  const auto& offsets = *pl.replica_offsets();
  if (offsets.size() != static_cast<uint32_t>(pl.num_experts()) + 1) {
    return Invalid(absl::StrCat(
        where, ": replica_offsets has ", offsets.size(),
        " entries, expected num_experts + 1 = ", pl.num_experts() + 1));
  }
  if (offsets.Get(0) != 0)
    return Invalid(absl::StrCat(where, ": replica_offsets[0] is not 0"));
  for (uint32_t e = 0; e + 1 < offsets.size(); ++e) {
    if (offsets.Get(e + 1) <= offsets.Get(e)) {
      return Invalid(absl::StrCat(
          where, ": expert ", e, " has no replica (replica_offsets ",
          offsets.Get(e), ", ", offsets.Get(e + 1), ")"));
    }
  }
  const uint32_t replicas =
      static_cast<uint32_t>(offsets.Get(offsets.size() - 1));
  if (pl.replica_rank()->size() != replicas ||
      pl.replica_slot()->size() != replicas) {
    return Invalid(absl::StrCat(where, ": replica_offsets end at ", replicas,
                                ", but replica_rank has ",
                                pl.replica_rank()->size(), " and replica_slot ",
                                pl.replica_slot()->size(), " entries"));
  }
  std::set<std::pair<int32_t, int32_t>> used;
  for (uint32_t r = 0; r < replicas; ++r) {
    const int32_t rank = pl.replica_rank()->Get(r);
    const int32_t slot = pl.replica_slot()->Get(r);
    if (rank < 0 || rank >= moe_ranks) {
      return Invalid(absl::StrCat(where, ": replica ", r, " is on MoE rank ",
                                  rank, ", outside [0, ", moe_ranks, ")"));
    }
    if (slot < 0 || slot >= pl.slots_per_rank()) {
      return Invalid(absl::StrCat(where, ": replica ", r, " is in slot ", slot,
                                  ", outside [0, ", pl.slots_per_rank(), ")"));
    }
    if (!used.insert({rank, slot}).second) {
      return Invalid(absl::StrCat(where, ": two replicas share MoE rank ", rank,
                                  " slot ", slot));
    }
  }
  return absl::OkStatus();
}

absl::Status VerifyInstr(const plan::Plan& p, const plan::Program& prog,
                         const plan::Instr& in, const std::string& where) {
  if (in.params_type() == OpParams::NONE ||
      !ValidEnum(in.params_type(), plan::EnumNameOpParams) ||
      in.params() == nullptr) {
    return Invalid(absl::StrCat(where, " has no valid params (type ",
                                static_cast<int>(in.params_type()), ")"));
  }
  const std::string what =
      absl::StrCat(where, " (", plan::EnumNameOpParams(in.params_type()), ")");
  for (const auto* regs : {in.inputs(), in.outputs()}) {
    if (regs == nullptr) continue;
    for (uint16_t reg : *regs) {
      if (reg >= prog.num_registers()) {
        return Invalid(absl::StrCat(what, " uses register ", reg,
                                    ", but the program has ",
                                    prog.num_registers(), " registers"));
      }
    }
  }
  const uint32_t num_weights = p.weights()->size();
  for (const WeightField& f : InstrWeightFields(in)) {
    if (f.index < -1 ||
        (f.index >= 0 && static_cast<uint32_t>(f.index) >= num_weights)) {
      return Invalid(absl::StrCat(what, ": weight '", f.name, "' is ", f.index,
                                  ", but the plan has ", num_weights,
                                  " weights"));
    }
  }
  const int32_t placement = InstrPlacement(in);
  const uint32_t num_placements = p.placements() ? p.placements()->size() : 0;
  if ((in.params_type() == OpParams::ScheduleParams ||
       in.params_type() == OpParams::ExpertsParams) &&
      (placement < 0 || static_cast<uint32_t>(placement) >= num_placements)) {
    return Invalid(absl::StrCat(what, ": placement ", placement,
                                ", but the plan has ", num_placements,
                                " placements"));
  }
  if (const auto* e = in.params_as_ExpertsParams()) {
    const int32_t experts = p.placements()->Get(placement)->num_experts();
    for (const auto& [name, list] :
         {std::pair{"gate", e->gate()}, std::pair{"up", e->up()},
          std::pair{"down", e->down()}}) {
      if (list->size() != static_cast<uint32_t>(experts)) {
        return Invalid(absl::StrCat(what, ": '", name, "' lists ", list->size(),
                                    " experts, but placement ", placement,
                                    " has ", experts));
      }
    }
  }
  auto check_comm = [&](plan::CommStrategy strategy, int32_t phase,
                        int32_t num_phases) {
    if (!ValidEnum(strategy, plan::EnumNameCommStrategy) || num_phases < 1 ||
        phase < 0 || phase >= num_phases) {
      return Invalid(absl::StrCat(what, ": strategy ",
                                  static_cast<int>(strategy), " phase ", phase,
                                  " of ", num_phases));
    }
    return absl::OkStatus();
  };
  if (const auto* d = in.params_as_DispatchParams()) {
    JANUS_RETURN_IF_ERROR(
        check_comm(d->strategy(), d->phase(), d->num_phases()));
  }
  if (const auto* c = in.params_as_CombineParams()) {
    JANUS_RETURN_IF_ERROR(
        check_comm(c->strategy(), c->phase(), c->num_phases()));
  }
  const plan::Rope* rope = nullptr;
  if (const auto* a = in.params_as_AttentionParams()) {
    rope = a->rope();
    if (a->num_heads() < 1 || a->num_kv_heads() < 1 || a->head_dim() < 1 ||
        a->num_heads() % a->num_kv_heads() != 0 ||
        !ValidEnum(a->qk_norm(), plan::EnumNameQkNorm)) {
      return Invalid(absl::StrCat(what, ": num_heads ", a->num_heads(),
                                  ", num_kv_heads ", a->num_kv_heads(),
                                  ", head_dim ", a->head_dim(), ", qk_norm ",
                                  static_cast<int>(a->qk_norm())));
    }
  }
  if (const auto* m = in.params_as_MlaParams()) rope = m->rope();
  if (rope != nullptr &&
      (!ValidEnum(rope->style(), plan::EnumNameRopeStyle) ||
       !ValidEnum(rope->scaling(), plan::EnumNameRopeScaling))) {
    return Invalid(absl::StrCat(what, ": rope style/scaling out of range"));
  }
  if (const auto* r = in.params_as_RouterParams()) {
    if (r->num_experts() < 1 || r->top_k() < 1 ||
        r->top_k() > r->num_experts() ||
        !ValidEnum(r->scoring(), plan::EnumNameRouterScoring) ||
        !ValidEnum(r->group_scoring(), plan::EnumNameGroupScoring)) {
      return Invalid(absl::StrCat(what, ": num_experts ", r->num_experts(),
                                  ", top_k ", r->top_k(), ", scoring ",
                                  static_cast<int>(r->scoring())));
    }
  }
  return absl::OkStatus();
}

absl::Status VerifyPrograms(const plan::Plan& p) {
  const auto& programs = *p.programs();
  if (programs.size() != 2) {
    return Invalid(absl::StrCat(
        "the plan has ", programs.size(),
        " programs; it needs exactly one Attention and one Moe program"));
  }
  for (uint32_t r = 0; r < 2; ++r) {
    const plan::Program* prog = programs.Get(r);
    const Role role = static_cast<Role>(r);
    if (prog->role() != role) {
      return Invalid(absl::StrCat(
          "programs[", r, "] has role ", static_cast<int>(prog->role()),
          "; programs[role] must hold the ", plan::EnumNameRole(role),
          " program (exactly one per role)"));
    }
    const std::string where =
        absl::StrCat("programs[", r, "] (", plan::EnumNameRole(role), ")");
    const bool needs_output = role == Role::Attention;
    if ((needs_output && prog->output() < 0) || prog->output() < -1 ||
        prog->output() >= prog->num_registers()) {
      return Invalid(absl::StrCat(where, ": output register ", prog->output(),
                                  " with ", prog->num_registers(),
                                  " registers"));
    }
    for (uint32_t i = 0; i < prog->instrs()->size(); ++i) {
      JANUS_RETURN_IF_ERROR(
          VerifyInstr(p, *prog, *prog->instrs()->Get(i),
                      absl::StrCat(where, ".instrs[", i, "]")));
    }
  }
  return absl::OkStatus();
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

}  // namespace

absl::Status VerifyPlanInvariants(const plan::Plan& p) {
  JANUS_RETURN_IF_ERROR(VerifyModel(*p.model()));
  JANUS_RETURN_IF_ERROR(VerifyFilesAndWeights(p));
  JANUS_RETURN_IF_ERROR(VerifyDeployment(*p.deployment()));
  if (p.placements() != nullptr) {
    for (uint32_t i = 0; i < p.placements()->size(); ++i) {
      JANUS_RETURN_IF_ERROR(VerifyPlacement(*p.placements()->Get(i), i,
                                            p.deployment()->moe_ranks()));
    }
  }
  JANUS_RETURN_IF_ERROR(VerifyPrograms(p));
  if (p.scheduler() != nullptr &&
      !ValidEnum(p.scheduler()->algorithm(),
                 plan::EnumNameSchedulerAlgorithm)) {
    return Invalid("scheduler.algorithm is not a SchedulerAlgorithm");
  }
  return absl::OkStatus();
}

std::string PlanCheckpointDir(const plan::Plan& p,
                              const std::string& checkpoint_dir_override) {
  return checkpoint_dir_override.empty() ? p.checkpoint_dir()->str()
                                         : checkpoint_dir_override;
}

absl::StatusOr<std::vector<SafetensorsFile>> OpenPlanCheckpoint(
    const plan::Plan& p, const std::string& checkpoint_dir_override) {
  std::vector<SafetensorsFile> files;
  if (p.synthetic_weights_seed() >= 0) return files;
  const std::string dir = PlanCheckpointDir(p, checkpoint_dir_override);
  for (uint32_t i = 0; i < p.files()->size(); ++i) {
    const plan::CheckpointFile* f = p.files()->Get(i);
    const std::string path = JoinPath(dir, f->path()->str());
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      return absl::NotFoundError(
          absl::StrCat("checkpoint file '", path, "' (plan file ", i,
                       ") does not exist: the checkpoint moved or "
                       "was deleted since compilation (a checkpoint directory "
                       "override points the plan at its "
                       "new place)"));
    }
    const uint64_t size = std::filesystem::file_size(path, ec);
    if (ec || size != f->size()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "checkpoint file '", path, "' is ", size, " bytes, the plan expects ",
          f->size(),
          ": the checkpoint changed since compilation; recompile the plan"));
    }
    auto file = SafetensorsFile::Open(path);
    if (!file.ok()) {
      return Annotate(
          file.status(),
          "the checkpoint changed since compilation and no longer reads");
    }
    if (file->header_checksum() != f->header_checksum()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "checkpoint file '", path, "': header checksum ",
          file->header_checksum(), ", the plan expects ", f->header_checksum(),
          ": the checkpoint's tensors changed since compilation; recompile the "
          "plan"));
    }
    files.push_back(*std::move(file));
  }
  for (uint32_t i = 0; i < p.weights()->size(); ++i) {
    const plan::WeightRef* w = p.weights()->Get(i);
    const SafetensorsFile& file = files[w->file()];
    auto mismatch = [&](absl::string_view what) {
      return absl::FailedPreconditionError(absl::StrCat(
          "weights[", i, "] ('", w->name()->str(), "') in '", file.path(),
          "': ", what,
          ": the checkpoint changed since compilation; recompile the plan"));
    };
    const TensorInfo* info = file.Find(w->name()->str());
    if (info == nullptr) return mismatch("the file has no such tensor");
    const std::vector<int64_t> shape(w->shape()->begin(), w->shape()->end());
    if (!info->dtype_supported || info->dtype != FromPlanDType(w->dtype())) {
      return mismatch(absl::StrCat("dtype is ", info->raw_dtype,
                                   ", the plan says ",
                                   plan::EnumNameDType(w->dtype())));
    }
    if (info->shape != shape) {
      return mismatch(absl::StrCat("shape is [",
                                   absl::StrJoin(info->shape, ", "),
                                   "], the plan says ", Shape(w->shape())));
    }
    if (info->offset != w->offset() || info->nbytes != w->nbytes() ||
        w->offset() + w->nbytes() > file.file_size()) {
      return mismatch(absl::StrCat("bytes are [", info->offset, ", +",
                                   info->nbytes, "), the plan says [",
                                   w->offset(), ", +", w->nbytes(), ")"));
    }
  }
  return files;
}

absl::Span<const uint8_t> WeightBytes(const std::vector<SafetensorsFile>& files,
                                      const plan::WeightRef& weight) {
  return files[weight.file()].bytes().subspan(weight.offset(), weight.nbytes());
}

absl::Status VerifyCheckpointMatches(
    const plan::Plan& p, const std::string& checkpoint_dir_override) {
  return OpenPlanCheckpoint(p, checkpoint_dir_override).status();
}

}  // namespace janus
