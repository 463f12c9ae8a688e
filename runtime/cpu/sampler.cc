#include "runtime/cpu/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/base/status.h"

namespace janus::cpu {

absl::Status Validate(const SamplingParams& p) {
  if (!std::isfinite(p.temperature) || p.temperature < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling: temperature must be finite and >= 0, got ", p.temperature));
  }
  if (p.top_k < 0) {
    return absl::InvalidArgumentError(absl::StrCat("sampling: top_k must be >= 0, got ", p.top_k));
  }
  if (!(p.top_p > 0 && p.top_p <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("sampling: top_p must be in (0, 1], got ", p.top_p));
  }
  return absl::OkStatus();
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

double Uniform01(uint64_t seed, uint64_t step_counter) {
  const uint64_t bits = SplitMix64(SplitMix64(seed) + step_counter * 0x9E3779B97F4A7C15ull);
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);  // 2^-53
}

absl::StatusOr<int32_t> Argmax(const float* logits, int vocab) {
  if (vocab <= 0) return absl::InvalidArgumentError(absl::StrCat("sampling: vocab = ", vocab));
  int32_t best = 0;
  for (int i = 0; i < vocab; ++i) {
    if (std::isnan(logits[i])) {
      return absl::InvalidArgumentError(absl::StrCat("sampling: logit ", i, " is NaN"));
    }
    if (logits[i] > logits[best]) best = i;
  }
  return best;
}

absl::StatusOr<int32_t> Sample(const float* logits, int vocab, const SamplingParams& params,
                               uint64_t step_counter) {
  JANUS_RETURN_IF_ERROR(Validate(params));
  JANUS_ASSIGN_OR_RETURN(int32_t best, Argmax(logits, vocab));
  // Greedy, or a degenerate distribution (an infinite best logit holds all the mass).
  if (params.temperature == 0 || params.top_k == 1 || !std::isfinite(logits[best])) return best;

  std::vector<int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  auto by_logit = [logits](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  int kept = vocab;
  if (params.top_k > 0 && params.top_k < vocab) {
    kept = params.top_k;
    std::partial_sort(order.begin(), order.begin() + kept, order.end(), by_logit);
  } else {
    std::sort(order.begin(), order.end(), by_logit);
  }
  // Softmax of logit / temperature over the kept candidates (the first is the largest).
  std::vector<double> prob(kept);
  const double t = params.temperature;
  const double top = static_cast<double>(logits[order[0]]) / t;
  double total = 0;
  for (int i = 0; i < kept; ++i) {
    prob[i] = std::exp(static_cast<double>(logits[order[i]]) / t - top);
    total += prob[i];
  }
  if (params.top_p < 1) {
    const double threshold = static_cast<double>(params.top_p) * total;
    double cumulative = 0;
    int n = 0;
    while (n < kept) {
      cumulative += prob[n++];
      if (cumulative >= threshold) break;
    }
    kept = n;
    total = cumulative;
  }
  const double target = Uniform01(params.seed, step_counter) * total;
  double cumulative = 0;
  for (int i = 0; i < kept; ++i) {
    cumulative += prob[i];
    if (target < cumulative) return order[i];
  }
  return order[kept - 1];
}

}  // namespace janus::cpu
