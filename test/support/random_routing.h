// Random MoE routing for tests and benchmarks: `top_k` distinct expert ids in [0, experts) per row,
// drawn with Zipf-like popularity (exponent `skew`; 0 is uniform) over a shuffled expert order, so
// counts vary and tie as they do in real batches. Header-only; depends on the standard library alone.
#ifndef JANUS_TEST_SUPPORT_RANDOM_ROUTING_H_
#define JANUS_TEST_SUPPORT_RANDOM_ROUTING_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace janus::test_support {

inline std::vector<int32_t> RandomRouting(std::mt19937& rng, int rows, int top_k, int experts,
                                          double skew) {
  std::vector<double> w(experts);
  for (int e = 0; e < experts; ++e) w[e] = 1.0 / std::pow(1.0 + e, skew);
  std::shuffle(w.begin(), w.end(), rng);
  std::discrete_distribution<int> d(w.begin(), w.end());
  std::vector<int32_t> ids(static_cast<size_t>(rows) * top_k);
  for (int r = 0; r < rows; ++r) {
    int32_t* row = &ids[static_cast<size_t>(r) * top_k];
    for (int k = 0; k < top_k; ++k) {
      int e;
      do {
        e = d(rng);
      } while (std::find(row, row + k, e) != row + k);
      row[k] = e;
    }
  }
  return ids;
}

}  // namespace janus::test_support

#endif  // JANUS_TEST_SUPPORT_RANDOM_ROUTING_H_
