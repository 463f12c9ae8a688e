#include "test/unit/runtime/exec/test_plans.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "runtime/base/status.h"
#include "runtime/io/safetensors.h"

namespace janus::exec::testing {
namespace {

using namespace ::janus::plan;  // NOLINT: builds every table type

int AddWeight(ModelDesc* m, const std::string& name,
              std::vector<int64_t> shape) {
  m->weights.push_back({name, std::move(shape)});
  return static_cast<int>(m->weights.size()) - 1;
}

template <typename Params>
void Emit(ProgramT* prog, std::vector<uint16_t> in, std::vector<uint16_t> out,
          Params params) {
  auto instr = std::make_unique<InstrT>();
  instr->inputs = std::move(in);
  instr->outputs = std::move(out);
  instr->params.Set(std::move(params));
  prog->instrs.push_back(std::move(instr));
}

template <typename Comm>
Comm CommOp(int layer, const Shape& shape, int phase) {
  Comm c;
  c.layer = layer;
  c.strategy = shape.strategy;
  c.phase = phase;
  c.num_phases = shape.num_phases;
  return c;
}

RouterParamsT Router(const ModelDesc& m, int layer) {
  RouterParamsT r;
  r.layer = layer;
  r.num_experts = m.num_experts;
  r.top_k = m.top_k;
  r.scoring = RouterScoring::Softmax;
  r.norm_topk_prob = m.norm_topk_prob;
  r.gate = m.layers[layer].router;
  return r;
}

}  // namespace

Shape MakeShape(int attention, int moe, int gpus_per_node,
                plan::CommStrategy strategy, int num_phases,
                bool gating_on_attention) {
  Shape shape;
  shape.attention = attention;
  shape.moe = moe;
  shape.gpus_per_node = gpus_per_node;
  shape.strategy = strategy;
  shape.num_phases = num_phases;
  shape.gating_on_attention = gating_on_attention;
  return shape;
}

double RelativeError(const std::vector<float>& got,
                     const std::vector<float>& want) {
  if (got.size() != want.size()) return INFINITY;
  double diff = 0, norm = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double d = static_cast<double>(got[i]) - want[i];
    diff += d * d;
    norm += static_cast<double>(want[i]) * want[i];
  }
  return std::sqrt(diff) / std::max(std::sqrt(norm), 1e-30);
}

std::vector<GenerationRequest> GreedyRequests(
    const std::vector<std::vector<int32_t>>& prompts, int new_tokens) {
  std::vector<GenerationRequest> requests;
  for (const auto& p : prompts) {
    GenerationRequest r;
    r.prompt = p;
    r.max_new_tokens = new_tokens;
    r.return_prefill_logits = true;
    r.return_decode_logits = true;
    requests.push_back(r);
  }
  return requests;
}

std::string FixturesDir() {
  const char* src = std::getenv("JANUS_SOURCE_DIR");
  return absl::StrCat(src ? src : ".", "/test/data/hf");
}

ModelDesc TinyModel(const TinyOptions& o) {
  ModelDesc m;
  m.synthetic_seed = o.seed;
  m.head_dim = o.head_dim;
  m.max_pos = o.max_pos;
  m.embed = AddWeight(&m, "model.embed_tokens.weight", {m.vocab, m.hidden});
  const int qw = m.heads * m.head_dim, kvw = m.kv_heads * m.head_dim,
            inter = 16;
  for (int l = 0; l < o.layers; ++l) {
    const std::string p = absl::StrCat("model.layers.", l, ".");
    LayerDesc d;
    d.input_norm = AddWeight(&m, p + "input_layernorm.weight", {m.hidden});
    d.q = AddWeight(&m, p + "self_attn.q_proj.weight", {qw, m.hidden});
    d.k = AddWeight(&m, p + "self_attn.k_proj.weight", {kvw, m.hidden});
    d.v = AddWeight(&m, p + "self_attn.v_proj.weight", {kvw, m.hidden});
    d.o = AddWeight(&m, p + "self_attn.o_proj.weight", {m.hidden, qw});
    if (o.biases) {
      d.q_bias = AddWeight(&m, p + "self_attn.q_proj.bias", {qw});
      d.k_bias = AddWeight(&m, p + "self_attn.k_proj.bias", {kvw});
      d.v_bias = AddWeight(&m, p + "self_attn.v_proj.bias", {kvw});
    }
    d.post_norm =
        AddWeight(&m, p + "post_attention_layernorm.weight", {m.hidden});
    d.moe = !(o.dense_first_layer && l == 0);
    if (!d.moe) {
      d.dense_gate =
          AddWeight(&m, p + "mlp.gate_proj.weight", {inter, m.hidden});
      d.dense_up = AddWeight(&m, p + "mlp.up_proj.weight", {inter, m.hidden});
      d.dense_down =
          AddWeight(&m, p + "mlp.down_proj.weight", {m.hidden, inter});
    } else {
      d.router =
          AddWeight(&m, p + "mlp.gate.weight", {m.num_experts, m.hidden});
      for (int e = 0; e < m.num_experts; ++e) {
        const std::string x = absl::StrCat(p, "mlp.experts.", e, ".");
        d.expert_gate.push_back(
            AddWeight(&m, x + "gate_proj.weight", {inter, m.hidden}));
        d.expert_up.push_back(
            AddWeight(&m, x + "up_proj.weight", {inter, m.hidden}));
        d.expert_down.push_back(
            AddWeight(&m, x + "down_proj.weight", {m.hidden, inter}));
      }
      if (o.shared_expert) {
        d.shared_gate = AddWeight(&m, p + "mlp.shared_expert.gate_proj.weight",
                                  {inter, m.hidden});
        d.shared_up = AddWeight(&m, p + "mlp.shared_expert.up_proj.weight",
                                {inter, m.hidden});
        d.shared_down = AddWeight(&m, p + "mlp.shared_expert.down_proj.weight",
                                  {m.hidden, inter});
        d.shared_sigmoid =
            AddWeight(&m, p + "mlp.shared_expert_gate.weight", {1, m.hidden});
      }
    }
    m.layers.push_back(std::move(d));
  }
  m.final_norm = AddWeight(&m, "model.norm.weight", {m.hidden});
  m.lm_head = AddWeight(&m, "lm_head.weight", {m.vocab, m.hidden});
  return m;
}

absl::StatusOr<ModelDesc> CheckpointModel(const std::string& dir) {
  std::ifstream in(dir + "/config.json");
  if (!in) return absl::NotFoundError(absl::StrCat("no config.json in ", dir));
  nlohmann::json c = nlohmann::json::parse(in, nullptr, false);
  if (c.is_discarded())
    return absl::InvalidArgumentError("config.json does not parse");
  JANUS_ASSIGN_OR_RETURN(Checkpoint ckpt, Checkpoint::Open(dir));
  if (ckpt.files().size() != 1)
    return absl::UnimplementedError("sharded checkpoints");
  ModelDesc m;
  m.model_type = c.at("model_type").get<std::string>();
  const bool mixtral = m.model_type == "mixtral";
  if (!mixtral && m.model_type != "qwen2_moe") {
    return absl::UnimplementedError(
        absl::StrCat("test plans do not cover ", m.model_type));
  }
  m.checkpoint_dir = dir;
  m.file_size = ckpt.files()[0].file_size();
  m.header_checksum = ckpt.files()[0].header_checksum();
  m.vocab = c.at("vocab_size");
  m.hidden = c.at("hidden_size");
  m.heads = c.at("num_attention_heads");
  m.kv_heads = c.at("num_key_value_heads");
  m.head_dim = c.contains("head_dim") && c["head_dim"].is_number()
                   ? c["head_dim"].get<int>()
                   : m.hidden / m.heads;
  m.max_pos = c.at("max_position_embeddings");
  m.num_experts = mixtral ? c.at("num_local_experts").get<int>()
                          : c.at("num_experts").get<int>();
  m.top_k = c.at("num_experts_per_tok");
  m.norm_topk_prob = mixtral ? true : c.at("norm_topk_prob").get<bool>();
  m.eps = c.at("rms_norm_eps");
  const auto& rope = c.at("rope_parameters");
  m.rope_theta = rope.at("rope_theta");
  if (rope.value("rope_type", "default") == "linear") {
    m.rope_scaling = static_cast<int>(RopeScaling::Linear);
    m.rope_factor = rope.at("factor");
  }
  // Every weight the model reads; indices follow the order of lookups.
  std::map<std::string, int> index;
  absl::Status missing = absl::OkStatus();
  auto w = [&](const std::string& name) -> int {
    auto it = index.find(name);
    if (it != index.end()) return it->second;
    auto located = ckpt.Find(name);
    if (!located.ok()) {
      missing = located.status();
      return -1;
    }
    const TensorInfo& info = *located->info;
    ModelDesc::Weight weight{name, info.shape, ToPlanDType(info.dtype),
                             info.offset, info.nbytes};
    m.weights.push_back(weight);
    index[name] = static_cast<int>(m.weights.size()) - 1;
    return index[name];
  };
  auto has = [&](const std::string& name) { return ckpt.Find(name).ok(); };
  m.embed = w("model.embed_tokens.weight");
  const int layers = c.at("num_hidden_layers");
  for (int l = 0; l < layers; ++l) {
    const std::string p = absl::StrCat("model.layers.", l, ".");
    LayerDesc d;
    d.input_norm = w(p + "input_layernorm.weight");
    d.q = w(p + "self_attn.q_proj.weight");
    d.k = w(p + "self_attn.k_proj.weight");
    d.v = w(p + "self_attn.v_proj.weight");
    d.o = w(p + "self_attn.o_proj.weight");
    if (has(p + "self_attn.q_proj.bias")) {
      d.q_bias = w(p + "self_attn.q_proj.bias");
      d.k_bias = w(p + "self_attn.k_proj.bias");
      d.v_bias = w(p + "self_attn.v_proj.bias");
    }
    d.post_norm = w(p + "post_attention_layernorm.weight");
    d.moe = true;
    const std::string moe = p + (mixtral ? "block_sparse_moe." : "mlp.");
    d.router = w(moe + "gate.weight");
    for (int e = 0; e < m.num_experts; ++e) {
      const std::string x = absl::StrCat(moe, "experts.", e, ".");
      d.expert_gate.push_back(
          w(x + (mixtral ? "w1.weight" : "gate_proj.weight")));
      d.expert_up.push_back(w(x + (mixtral ? "w3.weight" : "up_proj.weight")));
      d.expert_down.push_back(
          w(x + (mixtral ? "w2.weight" : "down_proj.weight")));
    }
    if (has(moe + "shared_expert.gate_proj.weight")) {
      d.shared_gate = w(moe + "shared_expert.gate_proj.weight");
      d.shared_up = w(moe + "shared_expert.up_proj.weight");
      d.shared_down = w(moe + "shared_expert.down_proj.weight");
      d.shared_sigmoid = w(moe + "shared_expert_gate.weight");
    }
    m.layers.push_back(std::move(d));
  }
  m.final_norm = w("model.norm.weight");
  m.lm_head =
      c.value("tie_word_embeddings", false) ? m.embed : w("lm_head.weight");
  JANUS_RETURN_IF_ERROR(missing);
  return m;
}

std::unique_ptr<PlanT> BuildPlan(const ModelDesc& m, const Shape& shape) {
  auto p = std::make_unique<PlanT>();
  p->version = kPlanVersion;
  p->producer = "janus exec unit test";
  p->model = std::make_unique<ModelInfoT>();
  p->model->model_type = m.model_type;
  p->model->vocab_size = m.vocab;
  p->model->hidden_size = m.hidden;
  p->model->num_layers = static_cast<int>(m.layers.size());
  p->model->max_position_embeddings = m.max_pos;
  p->model->eos_token_ids = {2};
  p->model->num_experts = m.num_experts;
  p->model->top_k = m.top_k;
  for (size_t l = 0; l < m.layers.size(); ++l) {
    if (m.layers[l].moe) p->model->moe_layers.push_back(static_cast<int>(l));
  }
  p->synthetic_weights_seed = m.synthetic_seed;
  p->checkpoint_dir = m.synthetic_seed >= 0 ? "synthetic" : m.checkpoint_dir;
  if (m.synthetic_seed < 0) {
    auto file = std::make_unique<CheckpointFileT>();
    file->path = "model.safetensors";
    file->size = m.file_size;
    file->header_checksum = m.header_checksum;
    p->files.push_back(std::move(file));
  }
  for (const auto& w : m.weights) {
    auto ref = std::make_unique<WeightRefT>();
    ref->name = w.name;
    ref->shape = w.shape;
    ref->dtype = w.dtype;
    ref->offset = w.offset;
    int64_t n = 1;
    for (int64_t d : w.shape) n *= d;
    ref->nbytes =
        m.synthetic_seed >= 0 ? static_cast<uint64_t>(n) * 4 : w.nbytes;
    p->weights.push_back(std::move(ref));
  }

  // Deployment: attention nodes first, MoE ranks on fresh nodes.
  p->deployment = std::make_unique<DeploymentT>();
  auto& d = *p->deployment;
  d.attention_ranks = shape.attention;
  d.moe_ranks = shape.moe;
  d.gpus_per_node = shape.gpus_per_node;
  d.gating = shape.gating_on_attention ? Gating::Attention : Gating::Moe;
  const int g = shape.gpus_per_node;
  const int first_moe_node = (shape.attention + g - 1) / g;
  for (int r = 0; r < shape.attention + shape.moe; ++r) {
    auto rank = std::make_unique<RankT>();
    rank->rank = r;
    const bool attention = r < shape.attention;
    rank->role = attention ? Role::Attention : Role::Moe;
    rank->index = attention ? r : r - shape.attention;
    rank->node = attention ? r / g : first_moe_node + rank->index / g;
    d.ranks.push_back(std::move(rank));
  }

  auto attn = std::make_unique<ProgramT>();
  attn->role = Role::Attention;
  auto moe = std::make_unique<ProgramT>();
  moe->role = Role::Moe;
  // Attention registers: 0 ids, 1 residual, 2 normed, 3 attention/combined out,
  // 4 shared expert, 5 router weights, 6 router ids, 7 logits.
  enum : uint16_t { kIds, kX, kH, kY, kShared, kW, kI, kLogits };
  // MoE registers: 0 x_all, 1 weights, 2 ids, 3 assignment, 4 partial.
  enum : uint16_t { kXAll, kWAll, kIAll, kAssign, kPartial };
  EmbedParamsT embed;
  embed.table = m.embed;
  Emit(attn.get(), {kIds}, {kX}, embed);
  auto norm = [&](int weight) {
    RmsNormParamsT n;
    n.weight = weight;
    n.eps = m.eps;
    return n;
  };
  for (size_t li = 0; li < m.layers.size(); ++li) {
    const int l = static_cast<int>(li);
    const LayerDesc& ld = m.layers[li];
    Emit(attn.get(), {kX}, {kH}, norm(ld.input_norm));
    AttentionParamsT a;
    a.layer = l;
    a.num_heads = m.heads;
    a.num_kv_heads = m.kv_heads;
    a.head_dim = m.head_dim;
    a.q = ld.q;
    a.k = ld.k;
    a.v = ld.v;
    a.o_proj = ld.o;
    a.q_bias = ld.q_bias;
    a.k_bias = ld.k_bias;
    a.v_bias = ld.v_bias;
    a.rope = std::make_unique<RopeT>();
    a.rope->theta = m.rope_theta;
    a.rope->rotary_dim = m.head_dim;
    a.rope->scaling = static_cast<RopeScaling>(m.rope_scaling);
    a.rope->factor = m.rope_factor;
    Emit(attn.get(), {kH}, {kY}, std::move(a));
    Emit(attn.get(), {kX, kY}, {kX}, AddParamsT());
    Emit(attn.get(), {kX}, {kH}, norm(ld.post_norm));
    if (!ld.moe) {
      MlpParamsT mlp;
      mlp.gate = ld.dense_gate;
      mlp.up = ld.dense_up;
      mlp.down = ld.dense_down;
      Emit(attn.get(), {kH}, {kY}, mlp);
      Emit(attn.get(), {kX, kY}, {kX}, AddParamsT());
      continue;
    }
    std::vector<uint16_t> dispatched = {kH};
    if (shape.gating_on_attention) {
      Emit(attn.get(), {kH}, {kW, kI}, Router(m, l));
      dispatched = {kH, kW, kI};
    }
    for (int phase = 0; phase < shape.num_phases; ++phase) {
      Emit(attn.get(), dispatched, {},
           CommOp<DispatchParamsT>(l, shape, phase));
      Emit(moe.get(), {},
           shape.gating_on_attention
               ? std::vector<uint16_t>{kXAll, kWAll, kIAll}
               : std::vector<uint16_t>{kXAll},
           CommOp<DispatchParamsT>(l, shape, phase));
    }
    if (ld.shared_gate >= 0) {
      MlpParamsT shared;
      shared.gate = ld.shared_gate;
      shared.up = ld.shared_up;
      shared.down = ld.shared_down;
      shared.sigmoid_gate = ld.shared_sigmoid;
      Emit(attn.get(), {kH}, {kShared}, shared);
    }
    if (!shape.gating_on_attention)
      Emit(moe.get(), {kXAll}, {kWAll, kIAll}, Router(m, l));
    const int placement = static_cast<int>(p->placements.size());
    ScheduleParamsT schedule;
    schedule.layer = l;
    schedule.placement = placement;
    Emit(moe.get(), {kIAll}, {kAssign}, schedule);
    ExpertsParamsT experts;
    experts.layer = l;
    experts.placement = placement;
    experts.gate = ld.expert_gate;
    experts.up = ld.expert_up;
    experts.down = ld.expert_down;
    Emit(moe.get(), {kXAll, kWAll, kIAll, kAssign}, {kPartial}, experts);
    for (int phase = 0; phase < shape.num_phases; ++phase) {
      Emit(moe.get(), {kPartial}, {}, CommOp<CombineParamsT>(l, shape, phase));
      Emit(attn.get(), {}, {kY}, CommOp<CombineParamsT>(l, shape, phase));
    }
    Emit(attn.get(), {kX, kY}, {kX}, AddParamsT());
    if (ld.shared_gate >= 0)
      Emit(attn.get(), {kX, kShared}, {kX}, AddParamsT());

    // Placement: expert e on MoE rank e % M; experts 0 and 1 also on the next
    // rank.
    auto pl = std::make_unique<PlacementT>();
    pl->layer = l;
    pl->num_experts = m.num_experts;
    std::vector<int> slots(shape.moe, 0);
    pl->replica_offsets.push_back(0);
    for (int e = 0; e < m.num_experts; ++e) {
      std::vector<int> ranks = {e % shape.moe};
      if (shape.replicate && shape.moe > 1 && e < 2)
        ranks.push_back((e + 1) % shape.moe);
      for (int r : ranks) {
        pl->replica_rank.push_back(r);
        pl->replica_slot.push_back(slots[r]++);
      }
      pl->replica_offsets.push_back(static_cast<int>(pl->replica_rank.size()));
    }
    pl->slots_per_rank = *std::max_element(slots.begin(), slots.end());
    p->placements.push_back(std::move(pl));
  }
  Emit(attn.get(), {kX}, {kH}, norm(m.final_norm));
  LmHeadParamsT head;
  head.weight = m.lm_head;
  Emit(attn.get(), {kH}, {kLogits}, head);
  attn->num_registers = 8;
  attn->output = kLogits;
  moe->num_registers = 5;
  p->programs.push_back(std::move(attn));
  p->programs.push_back(std::move(moe));
  p->comm = std::make_unique<CommConfigT>();
  p->scheduler = std::make_unique<SchedulerConfigT>();
  return p;
}

absl::StatusOr<LoadedPlan> LoadPlan(const ModelDesc& model,
                                    const Shape& shape) {
  std::unique_ptr<PlanT> plan = BuildPlan(model, shape);
  JANUS_ASSIGN_OR_RETURN(std::string bytes, SerializePlan(*plan));
  return LoadedPlan::FromBytes(std::move(bytes), "<test plan>");
}

}  // namespace janus::exec::testing
