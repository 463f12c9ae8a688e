#include "runtime/plan/instr_fields.h"

#include "absl/strings/str_cat.h"

namespace janus {
namespace {

void AppendList(const char* name, const flatbuffers::Vector<int32_t>* list,
                std::vector<WeightField>* out) {
  if (list == nullptr) return;
  for (uint32_t e = 0; e < list->size(); ++e) {
    out->push_back({absl::StrCat(name, "[", e, "]"), list->Get(e)});
  }
}

}  // namespace

std::vector<WeightField> InstrWeightFields(const plan::Instr& instr) {
  using plan::OpParams;
  std::vector<WeightField> f;
  switch (instr.params_type()) {
    case OpParams::EmbedParams:
      f = {{"table", instr.params_as_EmbedParams()->table()}};
      break;
    case OpParams::RmsNormParams:
      f = {{"weight", instr.params_as_RmsNormParams()->weight()}};
      break;
    case OpParams::AttentionParams: {
      const auto* p = instr.params_as_AttentionParams();
      f = {{"q", p->q()},           {"k", p->k()},
           {"v", p->v()},           {"o_proj", p->o_proj()},
           {"q_bias", p->q_bias()}, {"k_bias", p->k_bias()},
           {"v_bias", p->v_bias()}, {"q_norm", p->q_norm()},
           {"k_norm", p->k_norm()}};
      break;
    }
    case OpParams::MlaParams: {
      const auto* p = instr.params_as_MlaParams();
      f = {{"q_proj", p->q_proj()},     {"q_a", p->q_a()},
           {"q_a_norm", p->q_a_norm()}, {"q_b", p->q_b()},
           {"kv_a", p->kv_a()},         {"kv_a_norm", p->kv_a_norm()},
           {"kv_b", p->kv_b()},         {"o_proj", p->o_proj()}};
      break;
    }
    case OpParams::MlpParams: {
      const auto* p = instr.params_as_MlpParams();
      f = {{"gate", p->gate()},
           {"up", p->up()},
           {"down", p->down()},
           {"sigmoid_gate", p->sigmoid_gate()}};
      break;
    }
    case OpParams::RouterParams: {
      const auto* p = instr.params_as_RouterParams();
      f = {{"gate", p->gate()}, {"correction_bias", p->correction_bias()}};
      break;
    }
    case OpParams::ExpertsParams: {
      const auto* p = instr.params_as_ExpertsParams();
      AppendList("gate", p->gate(), &f);
      AppendList("up", p->up(), &f);
      AppendList("down", p->down(), &f);
      break;
    }
    case OpParams::LmHeadParams:
      f = {{"weight", instr.params_as_LmHeadParams()->weight()}};
      break;
    default:
      break;
  }
  return f;
}

int32_t InstrPlacement(const plan::Instr& instr) {
  if (const auto* p = instr.params_as_ScheduleParams()) return p->placement();
  if (const auto* p = instr.params_as_ExpertsParams()) return p->placement();
  return -1;
}

int32_t InstrLayer(const plan::Instr& instr) {
  using plan::OpParams;
  switch (instr.params_type()) {
    case OpParams::AttentionParams:
      return instr.params_as_AttentionParams()->layer();
    case OpParams::MlaParams:
      return instr.params_as_MlaParams()->layer();
    case OpParams::RouterParams:
      return instr.params_as_RouterParams()->layer();
    case OpParams::ScheduleParams:
      return instr.params_as_ScheduleParams()->layer();
    case OpParams::ExpertsParams:
      return instr.params_as_ExpertsParams()->layer();
    case OpParams::DispatchParams:
      return instr.params_as_DispatchParams()->layer();
    case OpParams::CombineParams:
      return instr.params_as_CombineParams()->layer();
    default:
      return -1;
  }
}

}  // namespace janus
