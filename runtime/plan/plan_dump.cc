// PlanToJson (every field) and PlanToText (a readable summary). The text form
// renders each instruction's params from the same JSON, so the two never
// disagree.
#include <cmath>
#include <cstdlib>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "runtime/plan/instr_fields.h"
#include "runtime/plan/plan.h"

namespace janus {
namespace {

using Json = nlohmann::ordered_json;
using plan::OpParams;

// The shortest decimal that reads back as the same float, as a double (so 1e-5f
// prints "1e-05", not 9.99999974737875e-06).
double Num(float f) {
  if (!std::isfinite(f)) return static_cast<double>(f);
  for (int precision = 6; precision < 9; ++precision) {
    double d =
        std::strtod(absl::StrFormat("%.*g", precision, f).c_str(), nullptr);
    if (static_cast<float>(d) == f) return d;
  }
  return std::strtod(absl::StrFormat("%.9g", f).c_str(), nullptr);
}

template <typename T>
Json List(const flatbuffers::Vector<T>* v) {
  Json out = Json::array();
  if (v != nullptr) {
    for (auto x : *v) out.push_back(x);
  }
  return out;
}

Json RopeJson(const plan::Rope* r) {
  return Json{{"theta", Num(r->theta())},
              {"style", plan::EnumNameRopeStyle(r->style())},
              {"scaling", plan::EnumNameRopeScaling(r->scaling())},
              {"factor", Num(r->factor())},
              {"original_max_position", r->original_max_position()},
              {"beta_fast", Num(r->beta_fast())},
              {"beta_slow", Num(r->beta_slow())},
              {"mscale", Num(r->mscale())},
              {"mscale_all_dim", Num(r->mscale_all_dim())},
              {"rotary_dim", r->rotary_dim()}};
}

Json ParamsJson(const plan::Instr& in) {
  switch (in.params_type()) {
    case OpParams::EmbedParams:
      return {{"table", in.params_as_EmbedParams()->table()}};
    case OpParams::RmsNormParams: {
      const auto* p = in.params_as_RmsNormParams();
      return {{"weight", p->weight()}, {"eps", Num(p->eps())}};
    }
    case OpParams::AddParams:
      return Json::object();
    case OpParams::AttentionParams: {
      const auto* p = in.params_as_AttentionParams();
      return {{"layer", p->layer()},
              {"num_heads", p->num_heads()},
              {"num_kv_heads", p->num_kv_heads()},
              {"head_dim", p->head_dim()},
              {"q", p->q()},
              {"k", p->k()},
              {"v", p->v()},
              {"o_proj", p->o_proj()},
              {"q_bias", p->q_bias()},
              {"k_bias", p->k_bias()},
              {"v_bias", p->v_bias()},
              {"qk_norm", plan::EnumNameQkNorm(p->qk_norm())},
              {"q_norm", p->q_norm()},
              {"k_norm", p->k_norm()},
              {"qk_norm_eps", Num(p->qk_norm_eps())},
              {"rope", RopeJson(p->rope())}};
    }
    case OpParams::MlaParams: {
      const auto* p = in.params_as_MlaParams();
      return {{"layer", p->layer()},
              {"num_heads", p->num_heads()},
              {"q_lora_rank", p->q_lora_rank()},
              {"kv_lora_rank", p->kv_lora_rank()},
              {"qk_nope_head_dim", p->qk_nope_head_dim()},
              {"qk_rope_head_dim", p->qk_rope_head_dim()},
              {"v_head_dim", p->v_head_dim()},
              {"q_proj", p->q_proj()},
              {"q_a", p->q_a()},
              {"q_a_norm", p->q_a_norm()},
              {"q_b", p->q_b()},
              {"kv_a", p->kv_a()},
              {"kv_a_norm", p->kv_a_norm()},
              {"kv_b", p->kv_b()},
              {"o_proj", p->o_proj()},
              {"norm_eps", Num(p->norm_eps())},
              {"softmax_scale", Num(p->softmax_scale())},
              {"rope", RopeJson(p->rope())}};
    }
    case OpParams::MlpParams: {
      const auto* p = in.params_as_MlpParams();
      return {{"gate", p->gate()},
              {"up", p->up()},
              {"down", p->down()},
              {"sigmoid_gate", p->sigmoid_gate()}};
    }
    case OpParams::RouterParams: {
      const auto* p = in.params_as_RouterParams();
      return {{"layer", p->layer()},
              {"num_experts", p->num_experts()},
              {"top_k", p->top_k()},
              {"scoring", plan::EnumNameRouterScoring(p->scoring())},
              {"norm_topk_prob", p->norm_topk_prob()},
              {"routed_scaling_factor", Num(p->routed_scaling_factor())},
              {"n_group", p->n_group()},
              {"topk_group", p->topk_group()},
              {"group_scoring", plan::EnumNameGroupScoring(p->group_scoring())},
              {"gate", p->gate()},
              {"correction_bias", p->correction_bias()}};
    }
    case OpParams::ScheduleParams: {
      const auto* p = in.params_as_ScheduleParams();
      return {{"layer", p->layer()}, {"placement", p->placement()}};
    }
    case OpParams::ExpertsParams: {
      const auto* p = in.params_as_ExpertsParams();
      return {{"layer", p->layer()},
              {"placement", p->placement()},
              {"gate", List(p->gate())},
              {"up", List(p->up())},
              {"down", List(p->down())}};
    }
    case OpParams::DispatchParams: {
      const auto* p = in.params_as_DispatchParams();
      return {{"layer", p->layer()},
              {"strategy", plan::EnumNameCommStrategy(p->strategy())},
              {"phase", p->phase()},
              {"num_phases", p->num_phases()},
              {"predicted_us", Num(p->predicted_us())}};
    }
    case OpParams::CombineParams: {
      const auto* p = in.params_as_CombineParams();
      return {{"layer", p->layer()},
              {"strategy", plan::EnumNameCommStrategy(p->strategy())},
              {"phase", p->phase()},
              {"num_phases", p->num_phases()},
              {"predicted_us", Num(p->predicted_us())}};
    }
    case OpParams::LmHeadParams:
      return {{"weight", in.params_as_LmHeadParams()->weight()}};
    default:
      return Json::object();
  }
}

Json ProgramJson(const plan::Program& prog) {
  Json instrs = Json::array();
  for (const plan::Instr* in : *prog.instrs()) {
    instrs.push_back({{"op", plan::EnumNameOpParams(in->params_type())},
                      {"inputs", List(in->inputs())},
                      {"outputs", List(in->outputs())},
                      {"params", ParamsJson(*in)}});
  }
  return {{"role", plan::EnumNameRole(prog.role())},
          {"num_registers", prog.num_registers()},
          {"output", prog.output()},
          {"instrs", std::move(instrs)}};
}

// "[3, 4, 5, 6, 9]" -> "[3..6, 9]": experts' weight lists are long and mostly
// consecutive.
std::string CompressList(const Json& list) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < list.size();) {
    size_t j = i;
    while (j + 1 < list.size() &&
           list[j + 1].get<int64_t>() == list[j].get<int64_t>() + 1)
      ++j;
    parts.push_back(j >= i + 2
                        ? absl::StrCat(list[i].dump(), "..", list[j].dump())
                        : list[i].dump());
    if (j == i + 1) parts.push_back(list[j].dump());
    i = j + 1;
  }
  return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
}

std::string RenderValue(const Json& v) {
  if (v.is_array()) return CompressList(v);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object()) {
    std::vector<std::string> parts;
    for (auto it = v.begin(); it != v.end(); ++it) {
      parts.push_back(absl::StrCat(it.key(), "=", RenderValue(*it)));
    }
    return absl::StrCat("(", absl::StrJoin(parts, " "), ")");
  }
  return v.dump();
}

std::string RegList(const flatbuffers::Vector<uint16_t>* regs) {
  if (regs == nullptr || regs->size() == 0) return "()";
  std::vector<std::string> names;
  for (uint16_t r : *regs) names.push_back(absl::StrCat("r", r));
  return absl::StrJoin(names, ", ");
}

void AppendInstrText(const plan::Plan& p, uint32_t index, const plan::Instr& in,
                     std::string* out) {
  const Json params = ParamsJson(in);
  std::map<std::string, bool> weight_keys;
  for (const WeightField& f : InstrWeightFields(in)) {
    weight_keys[f.name.substr(0, f.name.find('['))] = true;
  }
  absl::StrAppendFormat(out, "  %3d: %-15s %s -> %s", index,
                        plan::EnumNameOpParams(in.params_type()),
                        RegList(in.inputs()), RegList(in.outputs()));
  for (auto it = params.begin(); it != params.end(); ++it) {
    absl::StrAppend(out, " ", it.key(), "=", RenderValue(*it));
    if (weight_keys.count(it.key()) && it->is_number_integer() &&
        it->get<int64_t>() >= 0) {
      absl::StrAppend(out, "('",
                      p.weights()->Get(it->get<uint32_t>())->name()->str(),
                      "')");
    }
  }
  out->push_back('\n');
}

}  // namespace

std::string PlanToJson(const plan::Plan& p) {
  const plan::ModelInfo* m = p.model();
  Json root;
  root["version"] = p.version();
  root["producer"] = p.producer() ? p.producer()->str() : "";
  root["model"] = {{"model_type", m->model_type()->str()},
                   {"vocab_size", m->vocab_size()},
                   {"hidden_size", m->hidden_size()},
                   {"num_layers", m->num_layers()},
                   {"max_position_embeddings", m->max_position_embeddings()},
                   {"bos_token_id", m->bos_token_id()},
                   {"eos_token_ids", List(m->eos_token_ids())},
                   {"num_experts", m->num_experts()},
                   {"top_k", m->top_k()},
                   {"moe_layers", List(m->moe_layers())},
                   {"compute_dtype", plan::EnumNameDType(m->compute_dtype())}};
  root["checkpoint_dir"] = p.checkpoint_dir()->str();
  root["synthetic_weights_seed"] = p.synthetic_weights_seed();
  Json files = Json::array();
  for (const plan::CheckpointFile* f : *p.files()) {
    files.push_back({{"path", f->path()->str()},
                     {"size", f->size()},
                     {"header_checksum", f->header_checksum()}});
  }
  root["files"] = std::move(files);
  Json weights = Json::array();
  for (const plan::WeightRef* w : *p.weights()) {
    weights.push_back({{"name", w->name()->str()},
                       {"file", w->file()},
                       {"dtype", plan::EnumNameDType(w->dtype())},
                       {"shape", List(w->shape())},
                       {"offset", w->offset()},
                       {"nbytes", w->nbytes()}});
  }
  root["weights"] = std::move(weights);
  const plan::Deployment* d = p.deployment();
  Json ranks = Json::array();
  for (const plan::Rank* r : *d->ranks()) {
    ranks.push_back({{"rank", r->rank()},
                     {"role", plan::EnumNameRole(r->role())},
                     {"index", r->index()},
                     {"node", r->node()}});
  }
  root["deployment"] = {{"attention_ranks", d->attention_ranks()},
                        {"moe_ranks", d->moe_ranks()},
                        {"gpus_per_node", d->gpus_per_node()},
                        {"gating", plan::EnumNameGating(d->gating())},
                        {"ranks", std::move(ranks)}};
  Json programs = Json::array();
  for (const plan::Program* prog : *p.programs())
    programs.push_back(ProgramJson(*prog));
  root["programs"] = std::move(programs);
  Json placements = Json::array();
  if (p.placements() != nullptr) {
    for (const plan::Placement* pl : *p.placements()) {
      placements.push_back({{"layer", pl->layer()},
                            {"num_experts", pl->num_experts()},
                            {"slots_per_rank", pl->slots_per_rank()},
                            {"replica_offsets", List(pl->replica_offsets())},
                            {"replica_rank", List(pl->replica_rank())},
                            {"replica_slot", List(pl->replica_slot())}});
    }
  }
  root["placements"] = std::move(placements);
  if (const plan::CommConfig* c = p.comm()) {
    root["comm"] = {{"intra_node_gbps", Num(c->intra_node_gbps())},
                    {"inter_node_gbps", Num(c->inter_node_gbps())},
                    {"intra_node_latency_us", Num(c->intra_node_latency_us())},
                    {"inter_node_latency_us", Num(c->inter_node_latency_us())}};
  } else {
    root["comm"] = nullptr;
  }
  if (const plan::SchedulerConfig* s = p.scheduler()) {
    root["scheduler"] = {
        {"algorithm", plan::EnumNameSchedulerAlgorithm(s->algorithm())}};
  } else {
    root["scheduler"] = nullptr;
  }
  // Names come from the checkpoint: replace invalid UTF-8 instead of throwing.
  return root.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string PlanToText(const plan::Plan& p) {
  std::string out;
  const plan::ModelInfo* m = p.model();
  absl::StrAppend(&out, "plan version ", p.version(), ", producer '",
                  p.producer() ? p.producer()->str() : "", "'\n");
  absl::StrAppend(&out, "model: ", m->model_type()->str(), ", vocab ",
                  m->vocab_size(), ", hidden ", m->hidden_size(), ", ",
                  m->num_layers(), " layers, max positions ",
                  m->max_position_embeddings(), ", compute ",
                  plan::EnumNameDType(m->compute_dtype()), "\n");
  absl::StrAppend(&out, "  experts ", m->num_experts(), ", top_k ", m->top_k(),
                  ", MoE layers ", RenderValue(List(m->moe_layers())), ", bos ",
                  m->bos_token_id(), ", eos ", List(m->eos_token_ids()).dump(),
                  "\n");

  uint64_t total_bytes = 0;
  for (const plan::WeightRef* w : *p.weights()) total_bytes += w->nbytes();
  absl::StrAppend(&out, "checkpoint: '", p.checkpoint_dir()->str(), "', ",
                  p.files()->size(), " files, ", p.weights()->size(),
                  " weights, ", total_bytes, " bytes\n");
  if (p.synthetic_weights_seed() >= 0) {
    absl::StrAppend(&out, "  synthetic weights, seed ",
                    p.synthetic_weights_seed(), "\n");
  }
  for (uint32_t i = 0; i < p.files()->size(); ++i) {
    const plan::CheckpointFile* f = p.files()->Get(i);
    absl::StrAppendFormat(&out,
                          "  file %d: %s, %d bytes, header checksum %016x\n", i,
                          f->path()->str(), f->size(), f->header_checksum());
  }

  const plan::Deployment* d = p.deployment();
  absl::StrAppend(&out, "deployment: ", d->attention_ranks(), " attention + ",
                  d->moe_ranks(), " MoE ranks, ", d->gpus_per_node(),
                  " GPUs per node, gating on ",
                  plan::EnumNameGating(d->gating()), "\n");
  for (const plan::Rank* r : *d->ranks()) {
    absl::StrAppend(&out, "  rank ", r->rank(), ": ",
                    plan::EnumNameRole(r->role()), " ", r->index(), ", node ",
                    r->node(), "\n");
  }

  for (const plan::Program* prog : *p.programs()) {
    absl::StrAppend(
        &out, "program ", plan::EnumNameRole(prog->role()), ": ",
        prog->num_registers(), " registers, ", prog->instrs()->size(),
        " instructions, output ",
        prog->output() >= 0 ? absl::StrCat("r", prog->output()) : "none", "\n");
    for (uint32_t i = 0; i < prog->instrs()->size(); ++i) {
      AppendInstrText(p, i, *prog->instrs()->Get(i), &out);
    }
  }

  const uint32_t num_placements = p.placements() ? p.placements()->size() : 0;
  absl::StrAppend(&out, "placements: ", num_placements, "\n");
  for (uint32_t i = 0; i < num_placements; ++i) {
    const plan::Placement* pl = p.placements()->Get(i);
    const auto& offsets = *pl->replica_offsets();
    std::vector<int32_t> replicas;
    for (uint32_t e = 0; e + 1 < offsets.size(); ++e)
      replicas.push_back(offsets.Get(e + 1) - offsets.Get(e));
    std::map<int32_t, int> per_rank;
    for (int32_t r : *pl->replica_rank()) ++per_rank[r];
    std::vector<std::string> ranks;
    for (const auto& [rank, count] : per_rank)
      ranks.push_back(absl::StrCat(rank, ":", count));
    absl::StrAppend(
        &out, "  layer ", pl->layer(), ": ", pl->num_experts(), " experts, ",
        pl->replica_rank()->size(), " replicas in ", pl->slots_per_rank(),
        " slots per rank; replicas per expert [", absl::StrJoin(replicas, " "),
        "]; replicas per MoE rank {", absl::StrJoin(ranks, " "), "}\n");
  }

  // Comm strategies per layer, from the attention program (both programs carry
  // the same ones).
  std::map<int32_t, std::vector<std::string>> comm;
  for (const plan::Instr* in : *p.programs()->Get(0)->instrs()) {
    if (const auto* x = in->params_as_DispatchParams()) {
      comm[x->layer()].push_back(
          absl::StrFormat("dispatch %s phase %d/%d (%.1f us)",
                          plan::EnumNameCommStrategy(x->strategy()), x->phase(),
                          x->num_phases(), x->predicted_us()));
    } else if (const auto* c = in->params_as_CombineParams()) {
      comm[c->layer()].push_back(
          absl::StrFormat("combine %s phase %d/%d (%.1f us)",
                          plan::EnumNameCommStrategy(c->strategy()), c->phase(),
                          c->num_phases(), c->predicted_us()));
    }
  }
  absl::StrAppend(&out, "communication:\n");
  for (const auto& [layer, ops] : comm) {
    absl::StrAppend(&out, "  layer ", layer, ": ", absl::StrJoin(ops, ", "),
                    "\n");
  }
  if (const plan::CommConfig* c = p.comm()) {
    absl::StrAppend(&out, "  cost model: intra-node ",
                    Num(c->intra_node_gbps()), " GB/s ",
                    Num(c->intra_node_latency_us()), " us, inter-node ",
                    Num(c->inter_node_gbps()), " GB/s ",
                    Num(c->inter_node_latency_us()), " us\n");
  }
  if (const plan::SchedulerConfig* s = p.scheduler()) {
    absl::StrAppend(&out, "scheduler: ",
                    plan::EnumNameSchedulerAlgorithm(s->algorithm()), "\n");
  }
  return out;
}

}  // namespace janus
