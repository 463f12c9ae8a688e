// Token sampling: greedy, temperature, top-k and top-p (nucleus), deterministic for a given
// (seed, step_counter) through a counter-based generator, so every rank and every rerun draws the
// same token without sharing RNG state.
//
// Procedure for temperature > 0: candidates sorted by logit (descending, ties to the lower id);
// top_k > 0 keeps the first top_k; p = softmax(logit / temperature) over the kept candidates (double);
// top_p < 1 keeps the smallest prefix whose cumulative p >= top_p (at least one token); the kept p
// are renormalised and the token is the first whose cumulative p exceeds u * total, with
// u = Uniform01(seed, step_counter) in [0, 1).
#ifndef JANUS_RUNTIME_CPU_SAMPLER_H_
#define JANUS_RUNTIME_CPU_SAMPLER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace janus::cpu {

struct SamplingParams {
  float temperature = 0.0f;  // 0: greedy (argmax, lowest id on ties)
  int top_k = 0;             // 0: no top-k filter
  float top_p = 1.0f;        // in (0, 1]; 1: no nucleus filter
  uint64_t seed = 0;
};

// temperature finite and >= 0, top_k >= 0, top_p in (0, 1]; the error names the field and value.
absl::Status Validate(const SamplingParams& params);

// splitmix64 finaliser (Steele et al.), the mixing step of the generator.
uint64_t SplitMix64(uint64_t x);
// u = (SplitMix64(SplitMix64(seed) + step_counter * 0x9E3779B97F4A7C15) >> 11) * 2^-53, in [0, 1).
double Uniform01(uint64_t seed, uint64_t step_counter);

// Index of the largest logit, lowest id on ties. NaN logits are an error.
absl::StatusOr<int32_t> Argmax(const float* logits, int vocab);

// One token id from logits[vocab]. InvalidArgument for vocab <= 0, invalid params or NaN logits.
absl::StatusOr<int32_t> Sample(const float* logits, int vocab, const SamplingParams& params,
                               uint64_t step_counter);

}  // namespace janus::cpu

#endif  // JANUS_RUNTIME_CPU_SAMPLER_H_
