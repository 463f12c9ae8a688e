// One warp per row. Lane l holds experts l, l + 32, ... (up to 16 each). Group scores are computed
// by one lane per group from a per-warp shared-memory copy of the selection scores; each top-k step
// is a warp argmax over (not yet taken, value desc, id asc), so ties and -inf masks order exactly as
// the CPU's partial_sort with "value desc, index asc".
#include <cmath>

#include "kernels/common.cuh"
#include "kernels/router.h"

namespace janus::kernels {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxExperts = 512;
constexpr int kPerLane = kMaxExperts / 32;
constexpr int kMaxTopK = 32;

// Is (va, ia) ahead of (vb, ib) in "value desc, index asc" order?
__device__ __forceinline__ bool Before(float va, int ia, float vb, int ib) {
  return va > vb || (va == vb && ia < ib);
}

// Warp-wide best (value, index) among candidates; lanes without one pass index = INT_MAX.
__device__ __forceinline__ void WarpBest(float& v, int& i) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float v2 = __shfl_xor_sync(0xffffffffu, v, o);
    const int i2 = __shfl_xor_sync(0xffffffffu, i, o);
    if (i2 != INT_MAX && (i == INT_MAX || Before(v2, i2, v, i))) {
      v = v2;
      i = i2;
    }
  }
}

__global__ void __launch_bounds__(kWarps * 32)
    RouterKernel(RouterParams p, const float* __restrict__ logits, const float* __restrict__ bias,
                 int rows, float* __restrict__ weights, int32_t* __restrict__ ids,
                 int32_t* num_bad_rows) {
  __shared__ float choice_s[kWarps][kMaxExperts];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int row = blockIdx.x * kWarps + warp;
  if (row >= rows) return;
  const int E = p.num_experts;
  const float* lr = logits + static_cast<int64_t>(row) * E;
  const bool sigmoid = p.scoring == RouterScoringFn::kSigmoid;

  float score[kPerLane];
  bool finite = true;
  float mx = -INFINITY;
#pragma unroll
  for (int j = 0; j < kPerLane; ++j) {
    const int e = lane + 32 * j;
    score[j] = e < E ? lr[e] : -INFINITY;
    if (e < E) {
      finite &= isfinite(score[j]);
      mx = fmaxf(mx, score[j]);
    }
  }
  if (!__all_sync(0xffffffffu, finite)) {
    for (int k = lane; k < p.top_k; k += 32) {
      weights[static_cast<int64_t>(row) * p.top_k + k] = NAN;
      ids[static_cast<int64_t>(row) * p.top_k + k] = -1;
    }
    if (lane == 0 && num_bad_rows != nullptr) atomicAdd(num_bad_rows, 1);
    return;
  }
  if (sigmoid) {
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) score[j] = 1.0f / (1.0f + expf(-score[j]));
  } else {
    mx = device::WarpMax(mx);
    float sum = 0.f;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      score[j] = lane + 32 * j < E ? expf(score[j] - mx) : 0.f;
      sum += score[j];
    }
    const float inv = 1.0f / device::WarpSum(sum);
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) score[j] *= inv;
  }
  float choice[kPerLane];
#pragma unroll
  for (int j = 0; j < kPerLane; ++j) {
    const int e = lane + 32 * j;
    choice[j] = e < E ? (bias != nullptr ? score[j] + bias[e] : score[j]) : -INFINITY;
  }

  // Group-limited selection: mark the kept experts.
  unsigned kept_groups = 0xffffffffu;
  const int group_size = E / p.n_group;
  if (p.n_group > 1) {
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      if (lane + 32 * j < E) choice_s[warp][lane + 32 * j] = choice[j];
    }
    __syncwarp();
    float gscore = -INFINITY;
    int gid = INT_MAX;
    if (lane < p.n_group) {
      const float* cg = &choice_s[warp][lane * group_size];
      float b1 = -INFINITY, b2 = -INFINITY;  // top two values (ties irrelevant for their sum)
      for (int i = 0; i < group_size; ++i) {
        const float v = cg[i];
        if (v > b1) {
          b2 = b1;
          b1 = v;
        } else if (v > b2) {
          b2 = v;
        }
      }
      gscore = p.group_scoring == RouterGroupScoring::kMax ? b1 : b1 + b2;
      gid = lane;
    }
    kept_groups = 0;
    unsigned taken = 0;
    for (int t = 0; t < p.topk_group; ++t) {
      float v = gscore;
      int i = (gid != INT_MAX && !((taken >> gid) & 1u)) ? gid : INT_MAX;
      WarpBest(v, i);
      taken |= 1u << i;
      kept_groups |= 1u << i;
    }
    const float masked = sigmoid ? -INFINITY : 0.0f;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      const int e = lane + 32 * j;
      if (e < E && !((kept_groups >> (e / group_size)) & 1u)) choice[j] = masked;
    }
  }

  // Top-k over the masked choice.
  unsigned taken_mask = 0;  // bit j: expert lane + 32 j taken
  float w_out = 0.f;
  int id_out = -1;
  for (int k = 0; k < p.top_k; ++k) {
    float v = -INFINITY;
    int i = INT_MAX;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      const int e = lane + 32 * j;
      if (e < E && !((taken_mask >> j) & 1u) && (i == INT_MAX || Before(choice[j], e, v, i))) {
        v = choice[j];
        i = e;
      }
    }
    WarpBest(v, i);
    if (i % 32 == lane) taken_mask |= 1u << (i / 32);
    // The owner lane knows the score; fetch it for lane k.
    float s = 0.f;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      if (lane + 32 * j == i) {
        const bool dropped = p.n_group > 1 && !((kept_groups >> (i / group_size)) & 1u);
        s = (dropped && !sigmoid) ? 0.0f : score[j];
      }
    }
    s = __shfl_sync(0xffffffffu, s, i % 32);
    if (lane == k) {
      w_out = s;
      id_out = i;
    }
  }
  if (p.norm_topk_prob) {
    float sum = 0.f;  // sequential in k order, like the CPU
    for (int k = 0; k < p.top_k; ++k) sum += __shfl_sync(0xffffffffu, w_out, k);
    if (sigmoid) sum += 1e-20f;
    w_out /= sum;
  }
  w_out *= p.routed_scaling_factor;
  if (lane < p.top_k) {
    weights[static_cast<int64_t>(row) * p.top_k + lane] = w_out;
    ids[static_cast<int64_t>(row) * p.top_k + lane] = id_out;
  }
}

}  // namespace

absl::Status LaunchRouter(const RouterParams& p, const float* logits, const float* bias, int rows,
                          float* weights, int32_t* ids, int32_t* num_bad_rows,
                          cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(p.num_experts > 0 && p.num_experts <= kMaxExperts,
                         "router: num_experts ", p.num_experts, " must be in [1, ", kMaxExperts, "]");
  JANUS_KERNEL_CHECK_ARG(p.top_k > 0 && p.top_k <= p.num_experts && p.top_k <= kMaxTopK,
                         "router: top_k ", p.top_k, " must be in [1, min(num_experts, ", kMaxTopK,
                         ")]");
  JANUS_KERNEL_CHECK_ARG(p.n_group > 0 && p.n_group <= 32 && p.num_experts % p.n_group == 0,
                         "router: n_group ", p.n_group, " must be in [1, 32] and divide ",
                         p.num_experts);
  JANUS_KERNEL_CHECK_ARG(p.topk_group > 0 && p.topk_group <= p.n_group, "router: topk_group ",
                         p.topk_group, " must be in [1, n_group = ", p.n_group, "]");
  JANUS_KERNEL_CHECK_ARG(p.n_group == 1 || p.group_scoring != RouterGroupScoring::kTop2Sum ||
                             p.num_experts / p.n_group >= 2,
                         "router: top2_sum group scoring needs >= 2 experts per group");
  JANUS_KERNEL_CHECK_ARG(std::isfinite(p.routed_scaling_factor),
                         "router: routed_scaling_factor is not finite");
  JANUS_KERNEL_CHECK_ARG(rows >= 0, "router: rows ", rows, " is negative");
  if (rows == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(logits && weights && ids, "router: a required pointer is null");
  RouterKernel<<<CeilDiv(rows, kWarps), kWarps * 32, 0, stream>>>(p, logits, bias, rows, weights,
                                                                  ids, num_bad_rows);
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

}  // namespace janus::kernels
