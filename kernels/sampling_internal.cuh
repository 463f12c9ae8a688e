// Device helpers shared by the sampling kernels of sampling.cu and sampling_large.cu, and the
// entry points of the large (workspace) path. Private to those two files.
#ifndef JANUS_KERNELS_SAMPLING_INTERNAL_CUH_
#define JANUS_KERNELS_SAMPLING_INTERNAL_CUH_

#include <cuda_runtime_api.h>

#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "kernels/sampling.h"

namespace janus::kernels::sampling_internal {

__device__ __forceinline__ void Take(float v, int i, float& best, int& best_i, bool& nan) {
  if (isnan(v)) {
    nan = true;
  } else if (v > best || (v == best && i < best_i)) {
    best = v;
    best_i = i;
  }
}

// Reduces each lane's (best, best_i) to the warp's maximum; ties go to the lower index.
__device__ __forceinline__ void WarpArgmax(float& best, int& best_i) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float v2 = __shfl_xor_sync(0xffffffffu, best, o);
    const int i2 = __shfl_xor_sync(0xffffffffu, best_i, o);
    if (v2 > best || (v2 == best && i2 < best_i)) {
      best = v2;
      best_i = i2;
    }
  }
}

__device__ __forceinline__ uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

__device__ __forceinline__ double Uniform01(uint64_t seed, uint64_t step_counter) {
  const uint64_t bits = SplitMix64(SplitMix64(seed) + step_counter * 0x9E3779B97F4A7C15ull);
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);  // 2^-53
}

__device__ __forceinline__ uint64_t SortKey(float v, int id) {
  const uint32_t u = v == 0.f ? 0u : __float_as_uint(v);
  const uint32_t ordered = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return (static_cast<uint64_t>(ordered) << 32) | (0xffffffffu - static_cast<uint32_t>(id));
}

__device__ __forceinline__ int KeyId(uint64_t key) {
  return static_cast<int>(0xffffffffu - static_cast<uint32_t>(key));
}

// Calls fn(logit, i) for this thread's share of [begin, end) (stride blockDim.x), four loads in
// flight per thread: one block scans a whole row, so latency, not bandwidth, bounds the pass.
template <typename Fn>
__device__ __forceinline__ void ForRow(const float* lr, int begin, int end, Fn&& fn) {
  const int stride = static_cast<int>(blockDim.x);
  for (int base = begin + static_cast<int>(threadIdx.x); base < end; base += 4 * stride) {
    float v[4];
#pragma unroll
    for (int k = 0; k < 4; ++k)
      v[k] = base + k * stride < end ? __ldg(lr + base + k * stride) : 0.f;
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      if (base + k * stride < end) fn(v[k], base + k * stride);
    }
  }
}

// Block-wide argmax with NaN detection (all threads get the result); also the smallest finite
// logit when `min_out` is given. Any multiple of 32 threads up to 1024.
__device__ inline void BlockArgmax(const float* lr, int vocab, float* best_out, int* best_i_out,
                                   bool* nan_out, float* min_out = nullptr) {
  __shared__ float sv[32];
  __shared__ int si[32];
  __shared__ float smin[32];
  __shared__ int any_nan;
  float best = -INFINITY, lowest = INFINITY;
  int best_i = INT_MAX;
  bool nan = false;
  ForRow(lr, 0, vocab, [&](float v, int i) {
    Take(v, i, best, best_i, nan);
    if (isfinite(v)) lowest = fminf(lowest, v);
  });
  WarpArgmax(best, best_i);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) lowest = fminf(lowest, __shfl_xor_sync(0xffffffffu, lowest, o));
  if (threadIdx.x == 0) any_nan = 0;
  __syncthreads();
  if (nan) any_nan = 1;
  if (threadIdx.x % 32 == 0) {
    sv[threadIdx.x / 32] = best;
    si[threadIdx.x / 32] = best_i;
    smin[threadIdx.x / 32] = lowest;
  }
  __syncthreads();
  for (int w = 0; w < static_cast<int>(blockDim.x / 32); ++w) {
    if (sv[w] > best || (sv[w] == best && si[w] < best_i)) {
      best = sv[w];
      best_i = si[w];
    }
    lowest = fminf(lowest, smin[w]);
  }
  *best_out = best;
  *best_i_out = best_i;
  *nan_out = any_nan != 0;
  if (min_out != nullptr) *min_out = lowest;
  __syncthreads();
}

// Workspace bytes per row of the large path.
size_t LargeSampleRowBytes();

// The large path's three kernels (sampling_large.cu), arguments already checked by LaunchSample;
// workspace holds rows * LargeSampleRowBytes() bytes, 16-byte aligned.
absl::Status LaunchLargeSample(const float* logits, int rows, int vocab, const SamplingConfig& c,
                               const uint64_t* seeds, const uint64_t* step_counters,
                               int32_t* token, int32_t* num_nan_rows, void* workspace,
                               cudaStream_t stream);

}  // namespace janus::kernels::sampling_internal

#endif  // JANUS_KERNELS_SAMPLING_INTERNAL_CUH_
