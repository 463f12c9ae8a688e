// One warp per (row, head): the warp reads all rotated pairs into registers before writing, so the
// de-interleaving store of kInterleaved never overwrites a pair another lane has yet to read.
#include "kernels/common.cuh"
#include "kernels/rope.h"

namespace janus::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxPairsPerLane = 8;  // rotary_dim <= 512

template <bool kInterleaved>
__global__ void __launch_bounds__(kThreads) RopeKernel(RopeShape s, uint16_t* q, uint16_t* k,
                                                       const int32_t* __restrict__ positions,
                                                       const float* __restrict__ cos_table,
                                                       const float* __restrict__ sin_table) {
  const int heads = s.num_q_heads + s.num_k_heads;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= static_cast<int64_t>(s.rows) * heads) return;
  const int row = static_cast<int>(warp / heads), head = static_cast<int>(warp % heads);
  uint16_t* vec = head < s.num_q_heads
                      ? q + (static_cast<int64_t>(row) * s.num_q_heads + head) * s.head_dim
                      : k + (static_cast<int64_t>(row) * s.num_k_heads + head - s.num_q_heads) *
                                s.head_dim;
  const int half = s.rotary_dim / 2;
  const int pos = positions[row];
  const bool ok = pos >= 0 && pos < s.max_positions;
  const float* c = cos_table + static_cast<int64_t>(ok ? pos : 0) * half;
  const float* sn = sin_table + static_cast<int64_t>(ok ? pos : 0) * half;
  float out_a[kMaxPairsPerLane], out_b[kMaxPairsPerLane];
#pragma unroll
  for (int j = 0; j < kMaxPairsPerLane; ++j) {
    const int i = lane + 32 * j;
    if (i >= half) continue;
    const float a = device::Bf16ToFloat(vec[kInterleaved ? 2 * i : i]);
    const float b = device::Bf16ToFloat(vec[kInterleaved ? 2 * i + 1 : i + half]);
    out_a[j] = ok ? a * c[i] - b * sn[i] : NAN;
    out_b[j] = ok ? b * c[i] + a * sn[i] : NAN;
  }
  __syncwarp();
#pragma unroll
  for (int j = 0; j < kMaxPairsPerLane; ++j) {
    const int i = lane + 32 * j;
    if (i >= half) continue;
    vec[i] = device::FloatToBf16(out_a[j]);
    vec[i + half] = device::FloatToBf16(out_b[j]);
  }
}

}  // namespace

absl::Status LaunchRope(const RopeShape& s, uint16_t* q, uint16_t* k, const int32_t* positions,
                        const float* cos, const float* sin, cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(s.rows >= 0 && s.num_q_heads >= 0 && s.num_k_heads >= 0 &&
                             s.head_dim > 0 && s.max_positions > 0,
                         "rope: bad shape");
  JANUS_KERNEL_CHECK_ARG(s.rotary_dim > 0 && s.rotary_dim % 2 == 0 && s.rotary_dim <= s.head_dim &&
                             s.rotary_dim <= 2 * 32 * kMaxPairsPerLane,
                         "rope: rotary_dim ", s.rotary_dim, " must be even, in (0, head_dim = ",
                         s.head_dim, "] and <= ", 2 * 32 * kMaxPairsPerLane);
  const int64_t warps = static_cast<int64_t>(s.rows) * (s.num_q_heads + s.num_k_heads);
  if (warps == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(positions && cos && sin && (s.num_q_heads == 0 || q) &&
                             (s.num_k_heads == 0 || k),
                         "rope: a required pointer is null");
  const int64_t blocks = (warps * 32 + kThreads - 1) / kThreads;
  JANUS_KERNEL_CHECK_ARG(blocks < (int64_t{1} << 31), "rope: too many rows");
  JANUS_DISPATCH_BOOL(s.layout == RopeLayout::kInterleaved, kInterleaved, {
    RopeKernel<kInterleaved><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        s, q, k, positions, cos, sin);
  });
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

}  // namespace janus::kernels
