#include "test/unit/runtime/plan/test_plan.h"

#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/base/checksum.h"
#include "runtime/base/status.h"
#include "runtime/io/safetensors.h"
#include "runtime/plan/plan.h"

namespace janus::testing {
namespace {

using namespace ::janus::plan;  // NOLINT: the test builds every table type

constexpr int kVocab = 32, kHidden = 8, kHeads = 2, kKvHeads = 1, kHeadDim = 4,
              kInter = 16;
constexpr int kExperts = 4;

void AddWeight(PlanT* p, const std::string& name, std::vector<int64_t> shape) {
  auto w = std::make_unique<WeightRefT>();
  w->name = name;
  w->file = 0;
  w->dtype = plan::DType::BF16;
  int64_t elements = 1;
  for (int64_t d : shape) elements *= d;
  w->shape = std::move(shape);
  w->nbytes = static_cast<uint64_t>(elements) * 2;
  w->offset = p->weights.empty()
                  ? 64
                  : p->weights.back()->offset + p->weights.back()->nbytes;
  p->weights.push_back(std::move(w));
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

AttentionParamsT Attention(int layer, int32_t first_weight) {
  AttentionParamsT a;
  a.layer = layer;
  a.num_heads = kHeads;
  a.num_kv_heads = kKvHeads;
  a.head_dim = kHeadDim;
  a.q = first_weight;
  a.k = first_weight + 1;
  a.v = first_weight + 2;
  a.o_proj = first_weight + 3;
  a.rope = std::make_unique<RopeT>();
  a.rope->theta = 1e6f;
  a.rope->rotary_dim = kHeadDim;
  return a;
}

RmsNormParamsT Norm(int32_t weight) {
  RmsNormParamsT n;
  n.weight = weight;
  n.eps = 1e-5f;
  return n;
}

template <typename Comm>
Comm CommOp(int phase) {
  Comm c;
  c.layer = 1;
  c.strategy = CommStrategy::TwoPhase;
  c.phase = phase;
  c.num_phases = 2;
  c.predicted_us = 12.5f + phase;
  return c;
}

}  // namespace

std::unique_ptr<PlanT> MakeTestPlan() {
  auto p = std::make_unique<PlanT>();
  p->version = kPlanVersion;
  p->producer = "plan unit test";
  p->model = std::make_unique<ModelInfoT>();
  p->model->model_type = "mixtral";
  p->model->vocab_size = kVocab;
  p->model->hidden_size = kHidden;
  p->model->num_layers = 2;
  p->model->max_position_embeddings = 64;
  p->model->bos_token_id = 1;
  p->model->eos_token_ids = {2};
  p->model->num_experts = kExperts;
  p->model->top_k = 2;
  p->model->moe_layers = {1};
  p->checkpoint_dir = "/nonexistent/checkpoint";
  auto file = std::make_unique<CheckpointFileT>();
  file->path = "model.safetensors";
  file->size = 1 << 20;
  file->header_checksum = 0x1234;
  p->files.push_back(std::move(file));

  AddWeight(p.get(), "model.embed_tokens.weight", {kVocab, kHidden});
  for (int layer = 0; layer < 2; ++layer) {
    const std::string l = absl::StrCat("model.layers.", layer, ".");
    AddWeight(p.get(), l + "input_layernorm.weight", {kHidden});
    AddWeight(p.get(), l + "self_attn.q_proj.weight",
              {kHeads * kHeadDim, kHidden});
    AddWeight(p.get(), l + "self_attn.k_proj.weight",
              {kKvHeads * kHeadDim, kHidden});
    AddWeight(p.get(), l + "self_attn.v_proj.weight",
              {kKvHeads * kHeadDim, kHidden});
    AddWeight(p.get(), l + "self_attn.o_proj.weight",
              {kHidden, kHeads * kHeadDim});
    AddWeight(p.get(), l + "post_attention_layernorm.weight", {kHidden});
    if (layer == 0) {
      AddWeight(p.get(), l + "mlp.gate_proj.weight", {kInter, kHidden});
      AddWeight(p.get(), l + "mlp.up_proj.weight", {kInter, kHidden});
      AddWeight(p.get(), l + "mlp.down_proj.weight", {kHidden, kInter});
    }
  }
  AddWeight(p.get(), "model.layers.1.block_sparse_moe.gate.weight",
            {kExperts, kHidden});
  for (const char* w : {"w1", "w3", "w2"}) {
    for (int e = 0; e < kExperts; ++e) {
      const bool down = std::string(w) == "w2";
      AddWeight(p.get(),
                absl::StrCat("model.layers.1.block_sparse_moe.experts.", e, ".",
                             w, ".weight"),
                down ? std::vector<int64_t>{kHidden, kInter}
                     : std::vector<int64_t>{kInter, kHidden});
    }
  }
  AddWeight(p.get(), "model.norm.weight", {kHidden});
  AddWeight(p.get(), "lm_head.weight", {kVocab, kHidden});

  p->deployment = std::make_unique<DeploymentT>();
  p->deployment->attention_ranks = 1;
  p->deployment->moe_ranks = 2;
  p->deployment->gpus_per_node = 2;
  p->deployment->gating = Gating::Moe;
  for (int r = 0; r < 3; ++r) {
    auto rank = std::make_unique<RankT>();
    rank->rank = r;
    rank->role = r == 0 ? Role::Attention : Role::Moe;
    rank->index = r == 0 ? 0 : r - 1;
    rank->node = r == 0 ? 0 : 1;
    p->deployment->ranks.push_back(std::move(rank));
  }

  auto attn = std::make_unique<ProgramT>();
  attn->role = Role::Attention;
  attn->num_registers = 5;
  attn->output = 4;
  EmbedParamsT embed;
  embed.table = kEmbed;
  Emit(attn.get(), {0}, {1}, std::move(embed));
  Emit(attn.get(), {1}, {2}, Norm(kNorm0));
  Emit(attn.get(), {2}, {3}, Attention(0, kQ0));
  Emit(attn.get(), {1, 3}, {1}, AddParamsT{});
  Emit(attn.get(), {1}, {2}, Norm(kPostNorm0));
  MlpParamsT mlp;
  mlp.gate = kMlpGate0;
  mlp.up = kMlpUp0;
  mlp.down = kMlpDown0;
  Emit(attn.get(), {2}, {3}, std::move(mlp));
  Emit(attn.get(), {1, 3}, {1}, AddParamsT{});
  Emit(attn.get(), {1}, {2}, Norm(kNorm1));
  Emit(attn.get(), {2}, {3}, Attention(1, kQ1));
  Emit(attn.get(), {1, 3}, {1}, AddParamsT{});
  Emit(attn.get(), {1}, {2}, Norm(kPostNorm1));
  Emit(attn.get(), {2}, {}, CommOp<DispatchParamsT>(0));
  Emit(attn.get(), {2}, {}, CommOp<DispatchParamsT>(1));
  Emit(attn.get(), {}, {3}, CommOp<CombineParamsT>(0));
  Emit(attn.get(), {}, {3}, CommOp<CombineParamsT>(1));
  Emit(attn.get(), {1, 3}, {1}, AddParamsT{});
  Emit(attn.get(), {1}, {2}, Norm(kFinalNorm));
  LmHeadParamsT head;
  head.weight = kLmHead;
  Emit(attn.get(), {2}, {4}, std::move(head));
  p->programs.push_back(std::move(attn));

  auto moe = std::make_unique<ProgramT>();
  moe->role = Role::Moe;
  moe->num_registers = 5;
  Emit(moe.get(), {}, {0}, CommOp<DispatchParamsT>(0));
  Emit(moe.get(), {}, {0}, CommOp<DispatchParamsT>(1));
  RouterParamsT router;
  router.layer = 1;
  router.num_experts = kExperts;
  router.top_k = 2;
  router.norm_topk_prob = true;
  router.gate = kRouter1;
  Emit(moe.get(), {0}, {1, 2}, std::move(router));
  ScheduleParamsT schedule;
  schedule.layer = 1;
  schedule.placement = 0;
  Emit(moe.get(), {2}, {3}, std::move(schedule));
  ExpertsParamsT experts;
  experts.layer = 1;
  experts.placement = 0;
  for (int e = 0; e < kExperts; ++e) {
    experts.gate.push_back(kExpertGate1 + e);
    experts.up.push_back(kExpertUp1 + e);
    experts.down.push_back(kExpertDown1 + e);
  }
  Emit(moe.get(), {0, 1, 2, 3}, {4}, std::move(experts));
  Emit(moe.get(), {4}, {}, CommOp<CombineParamsT>(0));
  Emit(moe.get(), {4}, {}, CommOp<CombineParamsT>(1));
  p->programs.push_back(std::move(moe));

  auto placement = std::make_unique<PlacementT>();
  placement->layer = 1;
  placement->num_experts = kExperts;
  placement->slots_per_rank = 3;
  placement->replica_offsets = {0, 2, 3, 4, 6};
  placement->replica_rank = {0, 1, 0, 1, 0, 1};
  placement->replica_slot = {0, 0, 1, 1, 2, 2};
  p->placements.push_back(std::move(placement));

  p->comm = std::make_unique<CommConfigT>();
  p->comm->intra_node_gbps = 900;
  p->comm->inter_node_gbps = 400;
  p->comm->intra_node_latency_us = 2;
  p->comm->inter_node_latency_us = 5;
  p->scheduler = std::make_unique<SchedulerConfigT>();
  p->scheduler->algorithm = SchedulerAlgorithm::ActivationBalanced;
  return p;
}

std::string WrapNested(const std::string& nested) {
  flatbuffers::FlatBufferBuilder outer;
  outer.ForceVectorAlignment(nested.size(), 1, 16);
  auto vec = outer.CreateVector(reinterpret_cast<const uint8_t*>(nested.data()),
                                nested.size());
  FinishPlanFileBuffer(
      outer, CreatePlanFile(outer, Fnv1a64(nested.data(), nested.size()), vec));
  return std::string(reinterpret_cast<const char*>(outer.GetBufferPointer()),
                     outer.GetSize());
}

std::string PackUnchecked(const PlanT& plan) {
  flatbuffers::FlatBufferBuilder inner;
  inner.Finish(Plan::Pack(inner, &plan));
  return WrapNested(
      std::string(reinterpret_cast<const char*>(inner.GetBufferPointer()),
                  inner.GetSize()));
}

absl::Status BindToNewCheckpoint(PlanT* plan, const std::string& dir) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<TensorToWrite> tensors;
  for (const auto& w : plan->weights) {
    TensorToWrite t;
    t.name = w->name;
    t.dtype = janus::DType::kBF16;
    t.shape = w->shape;
    for (uint64_t i = 0; i < w->nbytes / 2; ++i) {
      uint16_t v = FloatToBf16(dist(rng));
      t.bytes.append(reinterpret_cast<const char*>(&v), 2);
    }
    tensors.push_back(std::move(t));
  }
  JANUS_RETURN_IF_ERROR(WriteSafetensors(dir + "/model.safetensors", tensors,
                                         {{"format", "pt"}}));
  JANUS_ASSIGN_OR_RETURN(SafetensorsFile file,
                         SafetensorsFile::Open(dir + "/model.safetensors"));
  plan->checkpoint_dir = dir;
  plan->files[0]->size = file.file_size();
  plan->files[0]->header_checksum = file.header_checksum();
  for (auto& w : plan->weights) {
    const TensorInfo* info = file.Find(w->name);
    if (info == nullptr) return absl::InternalError(w->name);
    w->offset = info->offset;
    w->nbytes = info->nbytes;
  }
  return absl::OkStatus();
}

}  // namespace janus::testing
