// Token sampling on the GPU, the procedure of runtime/cpu Sample (sampler.h):
//  - greedy: argmax, lowest id on ties (temperature 0, top_k 1, or an infinite best logit);
//  - otherwise the kept candidates (top_k of them, by logit desc then id asc) get
//    p = exp(logit / T - top) in double, top_p keeps the shortest prefix reaching top_p of the mass,
//    and the token is the first whose cumulative p exceeds u * total,
//    u = Uniform01(seed, step_counter) (the same splitmix64 counter generator).
// The sums run sequentially in candidate order in double as on the CPU; the tokens agree unless u *
// total falls within a double rounding error of a boundary. Candidate sets larger than 1024 (top_k
// = 0 with a vocabulary over 1024, or top_k > 1024) are not supported: Unimplemented.
#ifndef JANUS_KERNELS_SAMPLING_H_
#define JANUS_KERNELS_SAMPLING_H_

#include <cuda_runtime_api.h>

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

inline constexpr int kMaxSampleCandidates = 1024;

// token[b] drawn from logits[b, :vocab] with seeds[b] and step_counters[b] (device arrays, [rows]).
// NaN rows give -1 and are counted in *num_nan_rows (if given).
absl::Status LaunchSample(const float* logits, int rows, int vocab, const SamplingConfig& config,
                          const uint64_t* seeds, const uint64_t* step_counters, int32_t* token,
                          int32_t* num_nan_rows, cudaStream_t stream);

}  // namespace janus::kernels

#endif  // JANUS_KERNELS_SAMPLING_H_
