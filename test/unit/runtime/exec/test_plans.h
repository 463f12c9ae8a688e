// Plans built in code for the executor tests, standing in for janus-compile: a
// synthetic tiny MoE model (weights generated from a seed), and plans over the
// real Mixtral / Qwen2-MoE fixtures (test/data/hf) with the weights mapped from
// their safetensors. Programs follow docs/ARCHITECTURE.md "Plan programs"; the
// deployment shape and strategy are parameters.
#ifndef JANUS_TEST_UNIT_RUNTIME_EXEC_TEST_PLANS_H_
#define JANUS_TEST_UNIT_RUNTIME_EXEC_TEST_PLANS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/exec/engine.h"
#include "runtime/plan/plan.h"
#include "runtime/schema/plan_generated.h"

namespace janus::exec::testing {

struct Shape {
  int attention = 1;
  int moe = 1;
  int gpus_per_node = 8;
  plan::CommStrategy strategy = plan::CommStrategy::Direct;
  int num_phases = 1;  // 2: every dispatch/combine is two instructions
  bool gating_on_attention = false;  // the router runs on the attention ranks
  bool replicate = true;  // experts 0 and 1 get a second replica (when moe > 1)
};

// What the reference forward pass needs to know about the model (weight indices
// into the plan).
struct LayerDesc {
  int input_norm = -1, q = -1, k = -1, v = -1, o = -1, q_bias = -1, k_bias = -1,
      v_bias = -1;
  int post_norm = -1;
  bool moe = false;
  int dense_gate = -1, dense_up = -1, dense_down = -1;
  int router = -1;
  std::vector<int> expert_gate, expert_up, expert_down;
  int shared_gate = -1, shared_up = -1, shared_down = -1, shared_sigmoid = -1;
};

struct ModelDesc {
  std::string model_type = "mixtral";
  int vocab = 64, hidden = 32, heads = 4, kv_heads = 2, head_dim = 8,
      max_pos = 64;
  int num_experts = 6, top_k = 2;
  bool norm_topk_prob = true;
  float eps = 1e-5f, rope_theta = 10000.0f;
  int rope_scaling = 0;  // plan::RopeScaling
  float rope_factor = 1.0f;
  int embed = -1, final_norm = -1, lm_head = -1;
  std::vector<LayerDesc> layers;
  // Weights: name, shape, dtype, file offset/bytes (real checkpoints).
  struct Weight {
    std::string name;
    std::vector<int64_t> shape;
    plan::DType dtype = plan::DType::F32;
    uint64_t offset = 0, nbytes = 0;
  };
  std::vector<Weight> weights;
  // Real checkpoints only.
  std::string checkpoint_dir;
  uint64_t file_size = 0, header_checksum = 0;
  int64_t synthetic_seed = -1;
};

struct TinyOptions {
  int layers = 2;
  bool shared_expert = false;
  bool dense_first_layer = false;
  bool biases = false;
  int64_t seed = 7;
  int head_dim = 8;   // attention head size (the cuda backend's tensor-core paths need 64 / 128)
  int max_pos = 64;   // max_position_embeddings: the longest prompt plus generation
};

// A synthetic mixtral-like model (plus optional shared expert, dense first
// layer, q/k/v biases).
ModelDesc TinyModel(const TinyOptions& options = {});
// The model in a HuggingFace fixture folder (mixtral, qwen2_moe).
absl::StatusOr<ModelDesc> CheckpointModel(const std::string& dir);

// The plan of `model` deployed as `shape`.
std::unique_ptr<plan::PlanT> BuildPlan(const ModelDesc& model,
                                       const Shape& shape);
absl::StatusOr<LoadedPlan> LoadPlan(const ModelDesc& model, const Shape& shape);

// The fixtures folder (test/data/hf) from JANUS_SOURCE_DIR.
std::string FixturesDir();

Shape MakeShape(int attention, int moe, int gpus_per_node,
                plan::CommStrategy strategy, int num_phases,
                bool gating_on_attention = false);

// ‖got − want‖₂ / ‖want‖₂ (infinite when the lengths differ), computed here
// independently of the engine's own comparison code.
double RelativeError(const std::vector<float>& got,
                     const std::vector<float>& want);

// Greedy requests that return every prefill and decode logits row.
std::vector<GenerationRequest> GreedyRequests(
    const std::vector<std::vector<int32_t>>& prompts, int new_tokens);

}  // namespace janus::exec::testing

#endif  // JANUS_TEST_UNIT_RUNTIME_EXEC_TEST_PLANS_H_
