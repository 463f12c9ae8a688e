// Helpers shared by the CPU backend's .cc files (not part of its API).
#ifndef JANUS_RUNTIME_CPU_INTERNAL_H_
#define JANUS_RUNTIME_CPU_INTERNAL_H_

#include <cstdint>
#include <string>
#include <vector>

namespace janus::cpu {

// fp32 dot product with 8 interleaved partial sums combined by a fixed tree: the compiler vectorises
// it without -ffast-math (no reassociation is needed) and the result is deterministic.
inline float Dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  }
  for (int j = 0; i < n; ++i, ++j) acc[j] += a[i] * b[i];
  return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

// y[i] += a * x[i].
inline void Axpy(float a, const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// "[2, 3]".
std::string ShapeString(const std::vector<int64_t>& shape);

}  // namespace janus::cpu

#endif  // JANUS_RUNTIME_CPU_INTERNAL_H_
