#include "runtime/exec/program_check.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/base/status.h"
#include "runtime/plan/instr_fields.h"

namespace janus::exec {

using plan::OpParams;

const char* RoleName(plan::Role role) {
  return role == plan::Role::Attention ? "attention" : "moe";
}

std::string InstrName(const plan::Instr& instr) {
  std::string name = plan::EnumNameOpParams(instr.params_type());
  const int layer = InstrLayer(instr);
  if (layer >= 0) absl::StrAppend(&name, " layer ", layer);
  return name;
}

cpu::RopeConfig ToRopeConfig(const plan::Rope& r) {
  cpu::RopeConfig c;
  c.theta = r.theta();
  c.style = static_cast<cpu::RopeStyle>(r.style());
  c.scaling = static_cast<cpu::RopeScaling>(r.scaling());
  c.factor = r.factor();
  c.original_max_position = r.original_max_position();
  c.beta_fast = r.beta_fast();
  c.beta_slow = r.beta_slow();
  c.mscale = r.mscale();
  c.mscale_all_dim = r.mscale_all_dim();
  c.rotary_dim = r.rotary_dim();
  return c;
}

const plan::Program* ProgramOf(const plan::Plan& plan, plan::Role role) {
  for (const plan::Program* p : *plan.programs()) {
    if (p->role() == role) return p;
  }
  return nullptr;
}

namespace {

// Operand counts per op (the input count of dispatch/combine depends on the
// side).
struct Arity {
  int min_in, max_in, out;
};
absl::StatusOr<Arity> ArityOf(const plan::Instr& instr, plan::Role role) {
  const bool attention = role == plan::Role::Attention;
  switch (instr.params_type()) {
    case OpParams::EmbedParams:
    case OpParams::AttentionParams:
    case OpParams::MlaParams:
    case OpParams::LmHeadParams:
      if (!attention) break;
      return Arity{1, 1, 1};
    case OpParams::RmsNormParams:
    case OpParams::MlpParams:
      return Arity{1, 1, 1};
    case OpParams::AddParams:
      return Arity{2, 2, 1};
    case OpParams::RouterParams:
      return Arity{1, 1, 2};
    case OpParams::ScheduleParams:
      if (attention) break;
      return Arity{1, 1, 1};
    case OpParams::ExpertsParams:
      if (attention) break;
      return Arity{3, 4, 1};
    case OpParams::DispatchParams:
      return attention ? Arity{1, 8, 0} : Arity{0, 0, -1};
    case OpParams::CombineParams:
      return attention ? Arity{0, 0, 1} : Arity{1, 1, 0};
    default:
      return absl::UnimplementedError(
          absl::StrCat("the cpu backend has no implementation of ",
                       plan::EnumNameOpParams(instr.params_type())));
  }
  return absl::UnimplementedError(
      absl::StrCat("the cpu backend cannot run ",
                   plan::EnumNameOpParams(instr.params_type()), " on a ",
                   RoleName(role), " rank"));
}

struct CollectiveKey {
  bool combine;
  CollectiveOp op;
  int operands;  // attention inputs of a dispatch, MoE outputs of it; 1 for
                 // combine
};

CollectiveKey KeyOf(const plan::Instr& instr, plan::Role role) {
  if (const auto* d = instr.params_as_DispatchParams()) {
    const int operands = role == plan::Role::Attention
                             ? instr.inputs()->size()
                             : instr.outputs()->size();
    return {false,
            {d->layer(), d->strategy(), d->phase(), d->num_phases()},
            operands};
  }
  const auto* c = instr.params_as_CombineParams();
  return {true, {c->layer(), c->strategy(), c->phase(), c->num_phases()}, 1};
}

}  // namespace

absl::Status CheckProgramsRunnable(const plan::Plan& plan,
                                   const Topology& topology) {
  std::vector<CollectiveKey> keys[2];
  for (plan::Role role : {plan::Role::Attention, plan::Role::Moe}) {
    const plan::Program* program = ProgramOf(plan, role);
    if (program == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("the plan has no ", RoleName(role), " program"));
    }
    for (uint32_t pc = 0; pc < program->instrs()->size(); ++pc) {
      const plan::Instr& instr = *program->instrs()->Get(pc);
      auto where = [&] {
        return absl::StrCat(RoleName(role), " program instruction ", pc, " (",
                            InstrName(instr), ")");
      };
      absl::StatusOr<Arity> arity = ArityOf(instr, role);
      if (!arity.ok()) return Annotate(arity.status(), where());
      const int in = instr.inputs() ? instr.inputs()->size() : 0;
      const int out = instr.outputs() ? instr.outputs()->size() : 0;
      if (in < arity->min_in || in > arity->max_in ||
          (arity->out >= 0 && out != arity->out) ||
          (arity->out < 0 && out < 1)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where(), ": unexpected operand counts (", in,
                         " inputs, ", out, " outputs)"));
      }
      for (const auto* regs : {instr.inputs(), instr.outputs()}) {
        if (regs == nullptr) continue;
        for (uint16_t r : *regs) {
          if (r >= program->num_registers()) {
            return absl::InvalidArgumentError(absl::StrCat(
                where(), ": register ", r, " of ", program->num_registers()));
          }
        }
      }
      if (const auto* e = instr.params_as_ExpertsParams();
          e && in == 3 && topology.num_moe > 1) {
        return absl::UnimplementedError(
            absl::StrCat(where(), ": experts without a schedule cannot run on ",
                         topology.num_moe, " MoE ranks"));
      }
      if (instr.params_type() == OpParams::DispatchParams ||
          instr.params_type() == OpParams::CombineParams) {
        CollectiveKey key = KeyOf(instr, role);
        JANUS_RETURN_IF_ERROR(Annotate(ValidateCollectiveOp(key.op), where()));
        keys[static_cast<int>(role)].push_back(key);
      }
    }
    if (role == plan::Role::Attention &&
        (program->output() < 0 ||
         program->output() >= program->num_registers())) {
      return absl::InvalidArgumentError(
          "the attention program names no logits register");
    }
  }
  const auto& a = keys[0];
  const auto& m = keys[1];
  for (size_t i = 0; i < std::max(a.size(), m.size()); ++i) {
    if (i >= a.size() || i >= m.size() || a[i].combine != m[i].combine ||
        a[i].op.layer != m[i].op.layer ||
        a[i].op.strategy != m[i].op.strategy ||
        a[i].op.phase != m[i].op.phase ||
        a[i].op.num_phases != m[i].op.num_phases ||
        a[i].operands != m[i].operands) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the attention and MoE programs disagree at their communication "
          "instruction ",
          i, " (", a.size(), " vs ", m.size(),
          " dispatch/combine instructions; each must match its peer's "
          "kind, layer, strategy, phase and operand count)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<cpu::KvLayerSpec>> KvLayerSpecs(
    const plan::Plan& plan) {
  std::vector<cpu::KvLayerSpec> specs;
  const plan::Program* program = ProgramOf(plan, plan::Role::Attention);
  if (program == nullptr)
    return absl::InvalidArgumentError("the plan has no attention program");
  auto set = [&](int layer, int key, int value) -> absl::Status {
    if (layer < 0 || layer > 1 << 16)
      return absl::InvalidArgumentError(
          absl::StrCat("attention layer ", layer));
    if (static_cast<int>(specs.size()) <= layer) specs.resize(layer + 1);
    if (specs[layer].key_width != 0 || specs[layer].value_width != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "two attention instructions own KV cache layer ", layer));
    }
    specs[layer] = {key, value};
    return absl::OkStatus();
  };
  for (const plan::Instr* instr : *program->instrs()) {
    if (const auto* p = instr->params_as_AttentionParams()) {
      JANUS_RETURN_IF_ERROR(set(p->layer(), p->num_kv_heads() * p->head_dim(),
                                p->num_kv_heads() * p->head_dim()));
    } else if (const auto* p = instr->params_as_MlaParams()) {
      JANUS_RETURN_IF_ERROR(
          set(p->layer(), p->kv_lora_rank(), p->qk_rope_head_dim()));
    }
  }
  if (specs.empty()) specs.push_back({0, 0});
  return specs;
}

std::vector<std::vector<int>> LastReads(const plan::Program& program) {
  const uint32_t n = program.instrs()->size();
  std::vector<int> last(program.num_registers(), -1);
  for (uint32_t pc = 0; pc < n; ++pc) {
    const plan::Instr& instr = *program.instrs()->Get(pc);
    if (instr.inputs() == nullptr) continue;
    for (uint16_t reg : *instr.inputs()) last[reg] = static_cast<int>(pc);
  }
  std::vector<std::vector<int>> release(n);
  for (size_t reg = 0; reg < last.size(); ++reg) {
    if (last[reg] < 0 || static_cast<int>(reg) == program.output()) continue;
    // An instruction that also writes the register it last reads keeps what it wrote.
    const plan::Instr& instr = *program.instrs()->Get(last[reg]);
    if (instr.outputs() != nullptr &&
        std::find(instr.outputs()->begin(), instr.outputs()->end(), reg) != instr.outputs()->end())
      continue;
    release[last[reg]].push_back(static_cast<int>(reg));
  }
  return release;
}

bool SameRope(const cpu::RopeConfig& a, const cpu::RopeConfig& b) {
  return a.theta == b.theta && a.style == b.style && a.scaling == b.scaling &&
         a.factor == b.factor && a.original_max_position == b.original_max_position &&
         a.beta_fast == b.beta_fast && a.beta_slow == b.beta_slow && a.mscale == b.mscale &&
         a.mscale_all_dim == b.mscale_all_dim && a.rotary_dim == b.rotary_dim &&
         a.truncate == b.truncate;
}

}  // namespace janus::exec
