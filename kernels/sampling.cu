// Argmax: one block per row; each thread scans a strided share of the vocabulary with float4 loads
// when the row is 16-byte aligned, then (value, id) pairs are reduced with "larger value, then
// lower id".
// Sampling: one block of 1024 threads per row. The candidates are the top_k largest 64-bit keys
// (ordered logit bits << 32 | ~id: logit desc, then id asc, all keys distinct), found by an 8-pass
// radix select (8 bits a pass, shared histogram), gathered, bitonic-sorted in shared memory; the
// probabilities are computed in parallel and summed / scanned by one thread in candidate order,
// exactly as the CPU does.
#include <cmath>

#include "kernels/common.cuh"
#include "kernels/sampling.h"

namespace janus::kernels {
namespace {

constexpr int kThreads = 512;

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

__global__ void __launch_bounds__(kThreads) ArgmaxKernel(const float* __restrict__ logits,
                                                         int vocab, int32_t* __restrict__ token,
                                                         int32_t* num_nan_rows) {
  const int64_t row = blockIdx.x;
  const float* lr = logits + row * vocab;
  float best = -INFINITY;
  int best_i = INT_MAX;
  bool nan = false;
  if ((reinterpret_cast<uintptr_t>(lr) & 15) == 0) {
    const int vec = vocab / 4;
    for (int v = threadIdx.x; v < vec; v += kThreads) {
      const float4 f = reinterpret_cast<const float4*>(lr)[v];
      Take(f.x, 4 * v, best, best_i, nan);
      Take(f.y, 4 * v + 1, best, best_i, nan);
      Take(f.z, 4 * v + 2, best, best_i, nan);
      Take(f.w, 4 * v + 3, best, best_i, nan);
    }
    for (int i = vec * 4 + threadIdx.x; i < vocab; i += kThreads) Take(lr[i], i, best, best_i, nan);
  } else {
    for (int i = threadIdx.x; i < vocab; i += kThreads) Take(lr[i], i, best, best_i, nan);
  }
  WarpArgmax(best, best_i);
  __shared__ float sv[kThreads / 32];
  __shared__ int si[kThreads / 32];
  __shared__ int any_nan;
  if (threadIdx.x == 0) any_nan = 0;
  __syncthreads();
  if (nan) any_nan = 1;
  if (threadIdx.x % 32 == 0) {
    sv[threadIdx.x / 32] = best;
    si[threadIdx.x / 32] = best_i;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < kThreads / 32; ++w) {
      if (sv[w] > best || (sv[w] == best && si[w] < best_i)) {
        best = sv[w];
        best_i = si[w];
      }
    }
    if (any_nan) {
      token[row] = -1;
      if (num_nan_rows != nullptr) atomicAdd(num_nan_rows, 1);
    } else {
      token[row] = best_i;  // all -inf: every id ties and id 0 wins, as on the CPU
    }
  }
}


constexpr int kSampleThreads = kMaxSampleCandidates;  // one thread per candidate in the sort

__device__ __forceinline__ uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

__device__ __forceinline__ uint64_t SortKey(float v, int id) {
  const uint32_t u = __float_as_uint(v);
  const uint32_t ordered = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return (static_cast<uint64_t>(ordered) << 32) | (0xffffffffu - static_cast<uint32_t>(id));
}

// Block-wide argmax with NaN detection (all threads get the result).
__device__ void BlockArgmax(const float* lr, int vocab, float* best_out, int* best_i_out,
                            bool* nan_out) {
  __shared__ float sv[kSampleThreads / 32];
  __shared__ int si[kSampleThreads / 32];
  __shared__ int any_nan;
  float best = -INFINITY;
  int best_i = INT_MAX;
  bool nan = false;
  for (int i = threadIdx.x; i < vocab; i += kSampleThreads) Take(lr[i], i, best, best_i, nan);
  WarpArgmax(best, best_i);
  if (threadIdx.x == 0) any_nan = 0;
  __syncthreads();
  if (nan) any_nan = 1;
  if (threadIdx.x % 32 == 0) {
    sv[threadIdx.x / 32] = best;
    si[threadIdx.x / 32] = best_i;
  }
  __syncthreads();
  for (int w = 0; w < kSampleThreads / 32; ++w) {
    if (sv[w] > best || (sv[w] == best && si[w] < best_i)) {
      best = sv[w];
      best_i = si[w];
    }
  }
  *best_out = best;
  *best_i_out = best_i;
  *nan_out = any_nan != 0;
  __syncthreads();
}

__global__ void __launch_bounds__(kSampleThreads)
    SampleKernel(const float* __restrict__ logits, int vocab, SamplingConfig c,
                 const uint64_t* __restrict__ seeds, const uint64_t* __restrict__ steps,
                 int32_t* __restrict__ token, int32_t* num_nan_rows) {
  __shared__ uint64_t keys[kSampleThreads];
  __shared__ double prob[kSampleThreads];
  __shared__ int hist[256];
  __shared__ int count;
  __shared__ uint64_t s_prefix;
  __shared__ int s_remaining;
  const int64_t row = blockIdx.x;
  const float* lr = logits + row * vocab;
  const int tid = threadIdx.x;

  float best;
  int best_i;
  bool nan;
  BlockArgmax(lr, vocab, &best, &best_i, &nan);
  if (nan) {
    if (tid == 0) {
      token[row] = -1;
      if (num_nan_rows != nullptr) atomicAdd(num_nan_rows, 1);
    }
    return;
  }
  if (c.temperature == 0.f || c.top_k == 1 || !isfinite(best)) {
    if (tid == 0) token[row] = best_i;
    return;
  }
  const int kept_k = (c.top_k > 0 && c.top_k < vocab) ? c.top_k : vocab;  // <= 1024 (host check)

  // Radix select of the kept_k-th largest key.
  uint64_t prefix = 0, mask = 0;
  int remaining = kept_k;
  for (int shift = 56; shift >= 0; shift -= 8) {
    for (int b = tid; b < 256; b += kSampleThreads) hist[b] = 0;
    __syncthreads();
    for (int i = tid; i < vocab; i += kSampleThreads) {
      const uint64_t key = SortKey(lr[i], i);
      if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255], 1);
    }
    __syncthreads();
    if (tid < 32) {
      // Lane l owns bins [8l, 8l + 8); suffix sums from the top bin down.
      int own = 0;
#pragma unroll
      for (int b = 0; b < 8; ++b) own += hist[8 * tid + b];
      int suffix = own;  // sum over lanes >= tid
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const int v = __shfl_down_sync(0xffffffffu, suffix, o);
        if (tid + o < 32) suffix += v;
      }
      const int above = suffix - own;  // keys in bins of higher lanes
      if (above < remaining && suffix >= remaining) {
        int cum = above;
        for (int b = 7; b >= 0; --b) {
          const int h = hist[8 * tid + b];
          if (cum + h >= remaining) {
            s_prefix = prefix | (static_cast<uint64_t>(8 * tid + b) << shift);
            s_remaining = remaining - cum;
            break;
          }
          cum += h;
        }
      }
    }
    __syncthreads();
    prefix = s_prefix;
    remaining = s_remaining;
    mask |= uint64_t{0xff} << shift;
    __syncthreads();
  }
  // Gather the kept_k keys >= threshold (exactly kept_k: keys are distinct), pad, sort descending.
  if (tid == 0) count = 0;
  keys[tid] = 0;
  __syncthreads();
  for (int i = tid; i < vocab; i += kSampleThreads) {
    const uint64_t key = SortKey(lr[i], i);
    if (key >= prefix) keys[atomicAdd(&count, 1)] = key;
  }
  __syncthreads();
  for (int size = 2; size <= kSampleThreads; size <<= 1) {
    for (int stride = size / 2; stride > 0; stride >>= 1) {
      const int j = tid ^ stride;
      if (j > tid) {
        const uint64_t a = keys[tid], b = keys[j];
        const bool descending = (tid & size) == 0;
        if (descending ? a < b : a > b) {
          keys[tid] = b;
          keys[j] = a;
        }
      }
      __syncthreads();
    }
  }
  const double t = static_cast<double>(c.temperature);
  const int top_id = static_cast<int>(0xffffffffu - static_cast<uint32_t>(keys[0]));
  const double top = static_cast<double>(lr[top_id]) / t;
  if (tid < kept_k) {
    const int id = static_cast<int>(0xffffffffu - static_cast<uint32_t>(keys[tid]));
    prob[tid] = exp(static_cast<double>(lr[id]) / t - top);
  }
  __syncthreads();
  if (tid == 0) {
    int kept = kept_k;
    double total = 0;
    for (int i = 0; i < kept; ++i) total += prob[i];
    if (c.top_p < 1.f) {
      const double threshold = static_cast<double>(c.top_p) * total;
      double cumulative = 0;
      int n = 0;
      while (n < kept) {
        cumulative += prob[n++];
        if (cumulative >= threshold) break;
      }
      kept = n;
      total = cumulative;
    }
    const uint64_t bits = SplitMix64(SplitMix64(seeds[row]) + steps[row] * 0x9E3779B97F4A7C15ull);
    const double u = static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);
    const double target = u * total;
    double cumulative = 0;
    int chosen = kept - 1;
    for (int i = 0; i < kept; ++i) {
      cumulative += prob[i];
      if (target < cumulative) {
        chosen = i;
        break;
      }
    }
    token[row] = static_cast<int>(0xffffffffu - static_cast<uint32_t>(keys[chosen]));
  }
}

}  // namespace

absl::Status LaunchArgmax(const float* logits, int rows, int vocab, int32_t* token,
                          int32_t* num_nan_rows, cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(rows >= 0 && vocab > 0, "argmax: bad sizes (rows ", rows, ", vocab ",
                         vocab, ")");
  if (rows == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(logits && token, "argmax: a required pointer is null");
  ArgmaxKernel<<<rows, kThreads, 0, stream>>>(logits, vocab, token, num_nan_rows);
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

absl::Status LaunchSample(const float* logits, int rows, int vocab, const SamplingConfig& c,
                          const uint64_t* seeds, const uint64_t* step_counters, int32_t* token,
                          int32_t* num_nan_rows, cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(rows >= 0 && vocab > 0, "sample: bad sizes (rows ", rows, ", vocab ",
                         vocab, ")");
  JANUS_KERNEL_CHECK_ARG(std::isfinite(c.temperature) && c.temperature >= 0.f,
                         "sample: temperature must be finite and >= 0, got ", c.temperature);
  JANUS_KERNEL_CHECK_ARG(c.top_k >= 0, "sample: top_k must be >= 0, got ", c.top_k);
  JANUS_KERNEL_CHECK_ARG(c.top_p > 0.f && c.top_p <= 1.f, "sample: top_p must be in (0, 1], got ",
                         c.top_p);
  const bool greedy = c.temperature == 0.f || c.top_k == 1;
  const int candidates = (c.top_k > 0 && c.top_k < vocab) ? c.top_k : vocab;
  if (!greedy && candidates > kMaxSampleCandidates) {
    return absl::UnimplementedError(absl::StrCat(
        "sample: ", candidates, " candidates (top_k ", c.top_k, ", vocab ", vocab,
        "); the GPU sampler keeps at most ", kMaxSampleCandidates, " (use runtime/cpu Sample)"));
  }
  if (rows == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(logits && token && seeds && step_counters,
                         "sample: a required pointer is null");
  SampleKernel<<<rows, kSampleThreads, 0, stream>>>(logits, vocab, c, seeds, step_counters, token,
                                                    num_nan_rows);
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

}  // namespace janus::kernels
