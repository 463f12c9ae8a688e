// MoE router on precomputed fp32 logits (x Wᵀ, e.g. from GemmBf16 with fp32 output): softmax or
// sigmoid scores, correction bias for selection, group-limited top-k (top2-sum or max group
// scores), optional renormalisation and the routed scaling factor. Semantics and tie order are
// runtime/cpu Route()'s (docs/ARCHITECTURE.md "Router semantics"): ids in descending masked
// selection score, ties to the lower expert id.
#ifndef JANUS_KERNELS_ROUTER_H_
#define JANUS_KERNELS_ROUTER_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace janus::kernels {

enum class RouterScoringFn { kSoftmax = 0, kSigmoid = 1 };
enum class RouterGroupScoring { kTop2Sum = 0, kMax = 1 };

struct RouterParams {
  int num_experts = 0;  // <= 512
  int top_k = 0;        // <= 32
  RouterScoringFn scoring = RouterScoringFn::kSoftmax;
  bool norm_topk_prob = false;
  float routed_scaling_factor = 1.0f;
  int n_group = 1;      // divides num_experts, <= 32
  int topk_group = 1;
  RouterGroupScoring group_scoring = RouterGroupScoring::kTop2Sum;
};

// logits: [rows, num_experts] fp32; correction_bias: [num_experts] fp32 or null.
// weights: [rows, top_k] fp32, ids: [rows, top_k] int32. A row with a non-finite logit (the CPU
// returns InvalidArgument) gets ids -1 and NaN weights and is counted in *num_bad_rows if given.
absl::Status LaunchRouter(const RouterParams& params, const float* logits,
                          const float* correction_bias, int rows, float* weights, int32_t* ids,
                          int32_t* num_bad_rows, cudaStream_t stream);

}  // namespace janus::kernels

#endif  // JANUS_KERNELS_ROUTER_H_
