// Shared helpers of the CPU backend tests: seeded random data, weight storage in every dtype, and
// double-precision reference math written independently of the code under test.
#ifndef JANUS_TEST_UNIT_RUNTIME_CPU_TEST_UTIL_H_
#define JANUS_TEST_UNIT_RUNTIME_CPU_TEST_UTIL_H_

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/base/dtype.h"
#include "runtime/cpu/tensor.h"

namespace janus::cpu::testing {

// Uniform in [-scale, scale], never exactly zero.
inline std::vector<float> Random(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) {
    do {
      x = dist(gen);
    } while (x == 0.0f);
  }
  return v;
}

// A weight tensor with owned storage in a given dtype. `values` holds the exact fp32 values the
// stored (possibly rounded) elements represent, for the double references.
struct OwnedWeight {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::vector<float> f32;
  std::vector<uint16_t> u16;
  std::vector<float> values;

  WeightView view() const {
    return WeightView{dtype, dtype == DType::kF32 ? static_cast<const void*>(f32.data())
                                                  : static_cast<const void*>(u16.data()),
                      shape};
  }
};

inline OwnedWeight MakeWeight(std::vector<int64_t> shape, uint32_t seed, DType dtype = DType::kF32,
                              float scale = 0.5f) {
  OwnedWeight w;
  w.dtype = dtype;
  w.shape = shape;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> raw = Random(static_cast<size_t>(n), seed, scale);
  if (dtype == DType::kF32) {
    w.f32 = raw;
    w.values = raw;
  } else {
    w.u16.resize(raw.size());
    w.values.resize(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
      w.u16[i] = dtype == DType::kBF16 ? FloatToBf16(raw[i]) : FloatToHalf(raw[i]);
      w.values[i] = dtype == DType::kBF16 ? Bf16ToFloat(w.u16[i]) : HalfToFloat(w.u16[i]);
    }
  }
  return w;
}

// Norm weights around 1 (as trained models have), never zero.
inline OwnedWeight MakeNormWeight(int64_t n, uint32_t seed, DType dtype = DType::kF32) {
  OwnedWeight w = MakeWeight({n}, seed, dtype, 0.3f);
  for (size_t i = 0; i < w.values.size(); ++i) {
    const float v = 1.0f + w.values[i];
    if (dtype == DType::kF32) {
      w.f32[i] = v;
      w.values[i] = v;
    } else {
      w.u16[i] = dtype == DType::kBF16 ? FloatToBf16(v) : FloatToHalf(v);
      w.values[i] = dtype == DType::kBF16 ? Bf16ToFloat(w.u16[i]) : HalfToFloat(w.u16[i]);
    }
  }
  return w;
}

using Mat = std::vector<double>;

// y[rows, out] = x[rows, in] W[out, in]ᵀ in double.
inline Mat RefLinear(const std::vector<double>& x, int rows, const std::vector<float>& w, int out,
                     int in, const std::vector<float>* bias = nullptr) {
  Mat y(static_cast<size_t>(rows) * out);
  for (int r = 0; r < rows; ++r) {
    for (int o = 0; o < out; ++o) {
      double acc = bias ? (*bias)[o] : 0.0;
      for (int i = 0; i < in; ++i) acc += x[r * in + i] * static_cast<double>(w[o * in + i]);
      y[r * out + o] = acc;
    }
  }
  return y;
}

inline void RefRmsNorm(double* x, int n, const std::vector<float>& w, double eps) {
  double ss = 0;
  for (int i = 0; i < n; ++i) ss += x[i] * x[i];
  const double s = 1.0 / std::sqrt(ss / n + eps);
  for (int i = 0; i < n; ++i) x[i] = x[i] * s * w[i];
}

inline double RefSilu(double x) { return x / (1.0 + std::exp(-x)); }
inline double RefSigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

inline std::vector<double> ToDouble(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// max |a - b| / max(max |b|, 1e-30) over the whole tensor.
inline double RelError(const float* a, const double* b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    num = std::max(num, std::fabs(a[i] - b[i]));
    den = std::max(den, std::fabs(b[i]));
  }
  return num / std::max(den, 1e-30);
}

inline double RelError(const std::vector<float>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  return RelError(a.data(), b.data(), std::min(a.size(), b.size()));
}

}  // namespace janus::cpu::testing

#endif  // JANUS_TEST_UNIT_RUNTIME_CPU_TEST_UTIL_H_
