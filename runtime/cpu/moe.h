// Mixture-of-experts pieces: the router (gating) and the routed experts.
//
// Router semantics follow transformers exactly (see docs/ARCHITECTURE.md "Router semantics"):
//   logits = x Wᵀ (fp32); s = softmax(logits) or sigmoid(logits);
//   c = s + correction_bias (selection only) or s;
//   n_group > 1: group score = sum of the group's top-2 of c (kTop2Sum, DeepSeek-V3) or its max
//     (kMax, DeepSeek-V2 group_limited_greedy); the topk_group best groups are kept, the others are
//     masked: to 0.0 with softmax scoring (V2 masked_fill(…, 0.0) on the scores) and to -inf with
//     sigmoid scoring (V3 masked_fill(…, -inf) on scores_for_choice);
//   ids = top_k of the masked c; weights = s at ids (V2: the masked score, i.e. 0 for an expert of a
//     dropped group, which can only be chosen when top_k exceeds the kept experts);
//   norm_topk_prob: weights /= sum (sigmoid scoring: sum + 1e-20, as DeepSeek-V3);
//   weights *= routed_scaling_factor.
// Output order per row: descending masked selection score c, ties to the lower expert id (torch's
// topk order on CPU is unspecified; we fix it so every rank and the CUDA kernel agree).
#ifndef JANUS_RUNTIME_CPU_MOE_H_
#define JANUS_RUNTIME_CPU_MOE_H_

#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/cpu/tensor.h"

namespace janus::cpu {

enum class RouterScoring { kSoftmax = 0, kSigmoid = 1 };
enum class GroupScoring { kTop2Sum = 0, kMax = 1 };

// Mirrors plan.fbs RouterParams.
struct RouterConfig {
  int num_experts = 0;
  int top_k = 0;
  RouterScoring scoring = RouterScoring::kSoftmax;
  bool norm_topk_prob = false;  // Mixtral: always true
  float routed_scaling_factor = 1.0f;
  int n_group = 1;
  int topk_group = 1;
  GroupScoring group_scoring = GroupScoring::kTop2Sum;
};

// num_experts > 0, 0 < top_k <= num_experts, n_group divides num_experts, 0 < topk_group <= n_group,
// kTop2Sum groups hold >= 2 experts when n_group > 1.
absl::Status ValidateRouter(const RouterConfig& config);

// gate = [num_experts, hidden]; correction_bias = [num_experts] or null. weights, ids = [rows, top_k].
absl::Status Route(const RouterConfig& config, const WeightView& gate,
                   const WeightView* correction_bias, const float* x, int rows, float* weights,
                   int32_t* ids);

// The three matrices of one routed expert: gate, up = [inter, hidden], down = [hidden, inter].
// (A fused gate_up_proj [2*inter, hidden] is two views: rows [0, inter) and [inter, 2*inter).)
struct ExpertWeights {
  WeightView gate, up, down;
};
// Returns logical expert e's weights on this rank; an error (e.g. NotFound: not local) aborts Experts.
using ExpertWeightsFn = std::function<absl::StatusOr<ExpertWeights>(int expert)>;

// out[rows, hidden] = Σ_k [assignment[r,k] == my_rank] weights[r,k] * down(silu(gate x_r) * up x_r)
// with expert ids[r,k]. `assignment` null means every pair is local. out is zeroed first; rows this
// rank serves nothing of stay 0. Each expert runs once over all its local rows (batched Linear); the
// per-row sum is accumulated in k order, so the result does not depend on the other rows.
absl::Status Experts(const float* x, int rows, int hidden, const float* weights,
                     const int32_t* ids, int top_k, const int32_t* assignment, int my_rank,
                     const ExpertWeightsFn& get_expert, float* out);

}  // namespace janus::cpu

#endif  // JANUS_RUNTIME_CPU_MOE_H_
