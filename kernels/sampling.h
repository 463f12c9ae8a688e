// Token sampling on the GPU, the procedure of runtime/cpu Sample (sampler.h):
//  - greedy: argmax, lowest id on ties (temperature 0, top_k 1, or an infinite best logit);
//  - otherwise the kept candidates (top_k of them, or all with top_k 0, by logit desc then id asc)
//    get p = exp(logit / T - top) in double, top_p keeps the shortest prefix whose cumulative p
//    reaches top_p of the mass, and the token is the first whose cumulative p exceeds u * total,
//    u = Uniform01(seed, step_counter) (the same splitmix64 counter generator).
// Any candidate count is supported (vocab up to kMaxSampleVocab). Up to kMaxSampleCandidates
// candidates, one kernel sorts them and sums p sequentially in candidate order as the CPU does.
// Larger sets take a workspace path that never sorts the vocabulary: it sums floor(p * 2^79) in
// 128-bit integers, so its prefix sums are exact (to 2^-79 per candidate) whatever the order of
// the additions. The CPU sums sequentially in double; in both paths the tokens agree with the
// CPU's unless u * total (or top_p * total) lies within the CPU's double rounding error (plus
// CUDA's 1-ulp double exp) of a cumulative boundary. Both paths are deterministic: the same inputs
// give the same tokens on every run and every GPU.
#ifndef JANUS_KERNELS_SAMPLING_H_
#define JANUS_KERNELS_SAMPLING_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace janus::kernels {

// token[b] = argmax(logits[b, :vocab]), the lowest id among equal maxima. A row holding a NaN gets
// token -1 and is counted in *num_nan_rows (if given). logits: [rows, vocab] fp32.
absl::Status LaunchArgmax(const float* logits, int rows, int vocab, int32_t* token,
                          int32_t* num_nan_rows, cudaStream_t stream);

struct SamplingConfig {
  float temperature = 0.0f;  // finite, >= 0; 0: greedy
  int top_k = 0;             // >= 0; 0: all candidates
  float top_p = 1.0f;        // (0, 1]
};

// Candidate sets up to this size are sorted in shared memory by one kernel (no workspace).
inline constexpr int kMaxSampleCandidates = 1024;
// Largest vocabulary with more candidates than that (the 128-bit sums hold 2^24 weights).
inline constexpr int kMaxSampleVocab = 1 << 24;

// Device workspace bytes LaunchSample needs: 0 for greedy configs (temperature 0 or top_k 1) and
// for at most kMaxSampleCandidates candidates, about 5 KiB per row otherwise. Host arithmetic only
// (no CUDA call). The workspace keeps no state between calls, but launches that may run at the
// same time need separate workspaces.
size_t SampleWorkspaceBytes(int rows, int vocab, const SamplingConfig& config);

// token[b] drawn from logits[b, :vocab] with seeds[b] and step_counters[b] (device arrays, [rows];
// the kernels read them, so a captured CUDA graph draws new tokens when their contents change).
// NaN rows give -1 and are counted in *num_nan_rows (if given). workspace: at least
// SampleWorkspaceBytes(rows, vocab, config) bytes, 16-byte aligned (may be null when that is 0).
// Never synchronises or allocates, so it can be captured in a CUDA graph. Argument errors (sizes,
// config, null pointers, a short or misaligned workspace) return InvalidArgument before anything is
// enqueued.
absl::Status LaunchSample(const float* logits, int rows, int vocab, const SamplingConfig& config,
                          const uint64_t* seeds, const uint64_t* step_counters, int32_t* token,
                          int32_t* num_nan_rows, void* workspace, size_t workspace_bytes,
                          cudaStream_t stream);

}  // namespace janus::kernels

#endif  // JANUS_KERNELS_SAMPLING_H_
