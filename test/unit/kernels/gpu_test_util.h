// Helpers of the CUDA kernel tests: skipping without a GPU, random bf16 data, error norms.
// Every test draws fresh random non-zero inputs and poisons its outputs before the launch, so an
// element a kernel forgets to write fails the comparison.
#ifndef JANUS_TEST_UNIT_KERNELS_GPU_TEST_UTIL_H_
#define JANUS_TEST_UNIT_KERNELS_GPU_TEST_UTIL_H_

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "kernels/device_buffer.h"
#include "runtime/base/dtype.h"

namespace janus::kernels::testing {

inline bool HasGpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

// First statement of every GPU test: CI machines without a GPU report the test as skipped.
#define JANUS_SKIP_WITHOUT_GPU()                                                  \
  do {                                                                            \
    if (!::janus::kernels::testing::HasGpu()) GTEST_SKIP() << "no CUDA device";   \
  } while (0)

#define JANUS_ASSERT_OK(expr)                         \
  do {                                                \
    const ::absl::Status _s = (expr);                 \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s;      \
  } while (0)

// ASSERT_OK_AND_ASSIGN for StatusOr.
#define JANUS_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  JANUS_ASSERT_OK_AND_ASSIGN_IMPL_(JANUS_STATUS_CONCAT_(_janus_or, __LINE__), lhs, expr)
#define JANUS_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                     \
  ASSERT_TRUE(tmp.ok()) << #expr << ": " << tmp.status(); \
  lhs = std::move(tmp).value()

// Uniform in [lo, hi), never exactly zero.
inline std::vector<float> RandomFloats(std::mt19937& rng, size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) {
    do {
      x = d(rng);
    } while (x == 0.0f);
  }
  return v;
}

// bf16 bits of `v` and the fp32 values those bits stand for (what the CPU reference must see).
inline std::vector<uint16_t> ToBf16(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = FloatToBf16(v[i]);
  return out;
}
inline std::vector<float> Bf16ToFloats(const std::vector<uint16_t>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = Bf16ToFloat(v[i]);
  return out;
}
// Rounds every value to bf16 in place (so CPU and GPU start from identical inputs).
inline void RoundToBf16(std::vector<float>& v) {
  for (float& x : v) x = Bf16ToFloat(FloatToBf16(x));
}

// ||got - want|| / ||want|| in double; NaN (an unwritten, poisoned element) gives +inf.
inline double RelativeError(const std::vector<float>& got, const std::vector<float>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    const double d = static_cast<double>(got[i]) - want[i];
    num += d * d;
    den += static_cast<double>(want[i]) * want[i];
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

// Count of non-finite values (poison left behind).
inline size_t CountNonFinite(const std::vector<float>& v) {
  size_t n = 0;
  for (float x : v) n += !std::isfinite(x);
  return n;
}

}  // namespace janus::kernels::testing

#endif  // JANUS_TEST_UNIT_KERNELS_GPU_TEST_UTIL_H_
