// Argmax: one block per row; each thread scans a strided share of the vocabulary with float4 loads
// when the row is 16-byte aligned, then (value, id) pairs are reduced with "larger value, then
// lower id".
// Greedy configs (temperature 0, top_k 1) run the argmax kernel from LaunchSample too.
// Candidate order everywhere is the 64-bit key (ordered logit bits << 32 | ~id: logit desc, then id
// asc, all keys distinct; -0 is keyed as +0 because the CPU compares them equal).
// Small sampling path (<= 1024 candidates): one block of 1024 threads per row. The candidates are
// the top_k largest keys, found by an 8-pass radix select (8 bits a pass, shared histogram),
// gathered, bitonic-sorted in shared memory; the probabilities are computed in parallel and summed
// / scanned by one thread in candidate order, exactly as the CPU does. The large path (more than
// 1024 candidates) is in sampling_large.cu.
#include <cmath>

#include "kernels/common.cuh"
#include "kernels/sampling.h"
#include "kernels/sampling_internal.cuh"

namespace janus::kernels {
namespace {

using sampling_internal::BlockArgmax;
using sampling_internal::KeyId;
using sampling_internal::SortKey;
using sampling_internal::Take;
using sampling_internal::Uniform01;
using sampling_internal::WarpArgmax;

constexpr int kThreads = 512;

__global__ void __launch_bounds__(kThreads)
    ArgmaxKernel(const float* __restrict__ logits, int vocab, int32_t* __restrict__ token,
                 int32_t* num_nan_rows) {
  const int64_t row = blockIdx.x;
  const float* lr = logits + row * vocab;
  float best = -INFINITY;
  int best_i = INT_MAX;
  bool nan = false;
  if ((reinterpret_cast<uintptr_t>(lr) & 15) == 0) {
    // kLoads independent 16-byte loads in flight per thread: one block streams a whole row, so
    // its speed is the number of loads in flight, not the SM's issue rate. Take's order of visits
    // does not change the result (ties go to the lower index).
    constexpr int kLoads = 8;
    const int vec = vocab / 4;
    const float4* lr4 = reinterpret_cast<const float4*>(lr);
    int v = threadIdx.x;
    for (; v + (kLoads - 1) * kThreads < vec; v += kLoads * kThreads) {
      float4 f[kLoads];
#pragma unroll
      for (int k = 0; k < kLoads; ++k) f[k] = __ldg(lr4 + v + k * kThreads);
#pragma unroll
      for (int k = 0; k < kLoads; ++k) {
        const int i = 4 * (v + k * kThreads);
        Take(f[k].x, i, best, best_i, nan);
        Take(f[k].y, i + 1, best, best_i, nan);
        Take(f[k].z, i + 2, best, best_i, nan);
        Take(f[k].w, i + 3, best, best_i, nan);
      }
    }
    for (; v < vec; v += kThreads) {
      const float4 f = __ldg(lr4 + v);
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
  const double top = static_cast<double>(lr[KeyId(keys[0])]) / t;
  if (tid < kept_k) prob[tid] = exp(static_cast<double>(lr[KeyId(keys[tid])]) / t - top);
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
    const double target = Uniform01(seeds[row], steps[row]) * total;
    double cumulative = 0;
    int chosen = kept - 1;
    for (int i = 0; i < kept; ++i) {
      cumulative += prob[i];
      if (target < cumulative) {
        chosen = i;
        break;
      }
    }
    token[row] = KeyId(keys[chosen]);
  }
}

bool GreedyConfig(const SamplingConfig& c) { return c.temperature == 0.f || c.top_k == 1; }

bool LargePath(int vocab, const SamplingConfig& c) {
  const int candidates = (c.top_k > 0 && c.top_k < vocab) ? c.top_k : vocab;
  return !GreedyConfig(c) && candidates > kMaxSampleCandidates;
}

}  // namespace

size_t SampleWorkspaceBytes(int rows, int vocab, const SamplingConfig& config) {
  if (rows <= 0 || vocab <= 0 || !LargePath(vocab, config)) return 0;
  return static_cast<size_t>(rows) * sampling_internal::LargeSampleRowBytes();
}

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
                          int32_t* num_nan_rows, void* workspace, size_t workspace_bytes,
                          cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(rows >= 0 && vocab > 0, "sample: bad sizes (rows ", rows, ", vocab ",
                         vocab, ")");
  JANUS_KERNEL_CHECK_ARG(std::isfinite(c.temperature) && c.temperature >= 0.f,
                         "sample: temperature must be finite and >= 0, got ", c.temperature);
  JANUS_KERNEL_CHECK_ARG(c.top_k >= 0, "sample: top_k must be >= 0, got ", c.top_k);
  JANUS_KERNEL_CHECK_ARG(c.top_p > 0.f && c.top_p <= 1.f, "sample: top_p must be in (0, 1], got ",
                         c.top_p);
  const bool large = LargePath(vocab, c);
  JANUS_KERNEL_CHECK_ARG(!large || vocab <= kMaxSampleVocab, "sample: vocab ", vocab, " is over ",
                         kMaxSampleVocab, " (the limit above ", kMaxSampleCandidates,
                         " candidates)");
  const size_t need = SampleWorkspaceBytes(rows, vocab, c);
  JANUS_KERNEL_CHECK_ARG(workspace_bytes >= need, "sample: workspace of ", workspace_bytes,
                         " bytes, SampleWorkspaceBytes gives ", need, " (rows ", rows, ", vocab ",
                         vocab, ", top_k ", c.top_k, ")");
  JANUS_KERNEL_CHECK_ARG(
      need == 0 || (workspace != nullptr && (reinterpret_cast<uintptr_t>(workspace) & 15) == 0),
      "sample: the workspace must be a non-null, 16-byte aligned device pointer");
  if (rows == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(logits && token && seeds && step_counters,
                         "sample: a required pointer is null");
  if (GreedyConfig(c)) {
    ArgmaxKernel<<<rows, kThreads, 0, stream>>>(logits, vocab, token, num_nan_rows);
    JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
    return absl::OkStatus();
  }
  if (!large) {
    SampleKernel<<<rows, kSampleThreads, 0, stream>>>(logits, vocab, c, seeds, step_counters, token,
                                                      num_nan_rows);
    JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
    return absl::OkStatus();
  }
  return sampling_internal::LaunchLargeSample(logits, rows, vocab, c, seeds, step_counters, token,
                                              num_nan_rows, workspace, stream);
}

}  // namespace janus::kernels
