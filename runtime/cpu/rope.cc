#include "runtime/cpu/rope.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "runtime/base/status.h"

namespace janus::cpu {
namespace {

constexpr double kPi = 3.14159265358979323846;

// The YaRN correction dimension for `num_rotations` (double, as Python computes it).
double FindCorrectionDim(double num_rotations, int dim, double base, double max_position) {
  return (dim * std::log(max_position / (num_rotations * 2 * kPi))) / (2 * std::log(base));
}

// HF's base ** (arange(0, dim, 2).float() / dim): the exponent is an fp32 division, the power is
// rounded to fp32.
float PosFreq(double base, int i, int dim) {
  const float exponent = static_cast<float>(2 * i) / static_cast<float>(dim);
  return static_cast<float>(std::pow(base, static_cast<double>(exponent)));
}

}  // namespace

absl::Status ValidateRope(const RopeConfig& c) {
  if (!(c.theta > 0) || !std::isfinite(c.theta)) {
    return absl::InvalidArgumentError(absl::StrCat("rope: theta must be > 0, got ", c.theta));
  }
  if (c.rotary_dim <= 0 || c.rotary_dim % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("rope: rotary_dim must be even and > 0, got ", c.rotary_dim));
  }
  if (c.scaling != RopeScaling::kNone && (!(c.factor > 0) || !std::isfinite(c.factor))) {
    return absl::InvalidArgumentError(absl::StrCat("rope: factor must be > 0, got ", c.factor));
  }
  if (c.scaling == RopeScaling::kYarn) {
    if (c.original_max_position <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "rope: yarn needs original_max_position > 0, got ", c.original_max_position));
    }
    if (!(c.beta_fast > 0) || !(c.beta_slow > 0)) {
      return absl::InvalidArgumentError(absl::StrCat("rope: yarn needs beta_fast, beta_slow > 0, got ",
                                                     c.beta_fast, ", ", c.beta_slow));
    }
  }
  if (c.style != RopeStyle::kHalfSplit && c.style != RopeStyle::kInterleaved) {
    return absl::InvalidArgumentError("rope: unknown style");
  }
  return absl::OkStatus();
}

double YarnGetMscale(double scale, double mscale) {
  if (scale <= 1) return 1.0;
  return 0.1 * mscale * std::log(scale) + 1.0;
}

float MlaSoftmaxScale(int qk_head_dim, const RopeConfig& rope) {
  double scale = std::pow(static_cast<double>(qk_head_dim), -0.5);
  if (rope.scaling != RopeScaling::kNone && rope.mscale_all_dim != 0) {
    const double m = YarnGetMscale(rope.factor, rope.mscale_all_dim);
    scale = scale * m * m;
  }
  return static_cast<float>(scale);
}

float AttentionScale(int head_dim) {
  return static_cast<float>(std::pow(static_cast<double>(head_dim), -0.5));
}

absl::StatusOr<RopeTable> RopeTable::Create(const RopeConfig& config, int max_positions) {
  JANUS_RETURN_IF_ERROR(ValidateRope(config));
  if (max_positions < 0) {
    return absl::InvalidArgumentError(absl::StrCat("rope: max_positions = ", max_positions));
  }
  RopeTable t;
  t.config_ = config;
  const int dim = config.rotary_dim;
  const int half = dim / 2;
  const double base = config.theta;
  t.inv_freq_.resize(half);
  switch (config.scaling) {
    case RopeScaling::kNone:
      for (int i = 0; i < half; ++i) t.inv_freq_[i] = 1.0f / PosFreq(base, i, dim);
      break;
    case RopeScaling::kLinear:
      // HF divides inv_freq by the factor (equivalent to dividing positions, but rounded here).
      for (int i = 0; i < half; ++i) {
        t.inv_freq_[i] = (1.0f / PosFreq(base, i, dim)) / config.factor;
      }
      break;
    case RopeScaling::kYarn: {
      const double factor = config.factor;
      double low = FindCorrectionDim(config.beta_fast, dim, base, config.original_max_position);
      double high = FindCorrectionDim(config.beta_slow, dim, base, config.original_max_position);
      if (config.truncate) {
        low = std::floor(low);
        high = std::ceil(high);
      }
      low = std::max(low, 0.0);
      high = std::min(high, static_cast<double>(dim - 1));
      if (low == high) high += 0.001;  // HF: prevent singularity
      const float ramp_min = static_cast<float>(low);
      const float ramp_den = static_cast<float>(high - low);
      const float factor_f = static_cast<float>(factor);
      for (int i = 0; i < half; ++i) {
        const float pos_freq = PosFreq(base, i, dim);
        const float extrapolation = 1.0f / pos_freq;
        const float interpolation = 1.0f / (factor_f * pos_freq);
        const float ramp = std::min(std::max((static_cast<float>(i) - ramp_min) / ramp_den, 0.0f), 1.0f);
        const float extrapolation_factor = 1.0f - ramp;
        t.inv_freq_[i] = interpolation * (1.0f - extrapolation_factor) +
                         extrapolation * extrapolation_factor;
      }
      double attention_factor;
      if (config.mscale != 0 && config.mscale_all_dim != 0) {
        attention_factor =
            YarnGetMscale(factor, config.mscale) / YarnGetMscale(factor, config.mscale_all_dim);
      } else {
        attention_factor = YarnGetMscale(factor, 1.0);
      }
      t.attention_factor_ = static_cast<float>(attention_factor);
      break;
    }
  }
  t.cos_.resize(static_cast<size_t>(max_positions) * half);
  t.sin_.resize(t.cos_.size());
  t.max_positions_ = 0;  // CosSin computes directly while the table is filled: same arithmetic
  for (int p = 0; p < max_positions; ++p) {
    t.CosSin(p, &t.cos_[static_cast<size_t>(p) * half], &t.sin_[static_cast<size_t>(p) * half]);
  }
  t.max_positions_ = max_positions;
  return t;
}

void RopeTable::CosSin(int position, float* cos, float* sin) const {
  const int half = config_.rotary_dim / 2;
  if (position < max_positions_) {
    const size_t at = static_cast<size_t>(position) * half;
    std::copy(cos_.begin() + at, cos_.begin() + at + half, cos);
    std::copy(sin_.begin() + at, sin_.begin() + at + half, sin);
    return;
  }
  // HF: freqs = inv_freq @ position (one fp32 product), cos/sin in fp32, times attention_scaling.
  const float pos = static_cast<float>(position);
  for (int i = 0; i < half; ++i) {
    const float freq = inv_freq_[i] * pos;
    cos[i] = std::cos(freq) * attention_factor_;
    sin[i] = std::sin(freq) * attention_factor_;
  }
}

void RopeTable::Apply(float* vec, int position) const {
  const int half = config_.rotary_dim / 2;
  const float* cos;
  const float* sin;
  float cos_buf[256];
  float sin_buf[256];
  std::vector<float> heap;
  if (position < max_positions_) {
    cos = &cos_[static_cast<size_t>(position) * half];
    sin = &sin_[static_cast<size_t>(position) * half];
  } else {
    float* c = cos_buf;
    float* s = sin_buf;
    if (half > 256) {
      heap.resize(2 * static_cast<size_t>(half));
      c = heap.data();
      s = heap.data() + half;
    }
    CosSin(position, c, s);
    cos = c;
    sin = s;
  }
  if (config_.style == RopeStyle::kHalfSplit) {
    ApplyRopeHalfSplit(vec, config_.rotary_dim, cos, sin);
  } else {
    ApplyRopeInterleaved(vec, config_.rotary_dim, cos, sin);
  }
}

void ApplyRopeHalfSplit(float* vec, int rotary_dim, const float* cos, const float* sin) {
  // q * cos + rotate_half(q) * sin, rotate_half(q) = [-q2, q1].
  const int half = rotary_dim / 2;
  float* x1 = vec;
  float* x2 = vec + half;
  for (int i = 0; i < half; ++i) {
    const float a = x1[i];
    const float b = x2[i];
    x1[i] = a * cos[i] - b * sin[i];
    x2[i] = b * cos[i] + a * sin[i];
  }
}

void ApplyRopeInterleaved(float* vec, int rotary_dim, const float* cos, const float* sin) {
  // DeepSeek-V3 apply_rotary_pos_emb_interleave: cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin])
  // with x1 = x[0::2], x2 = x[1::2].
  const int half = rotary_dim / 2;
  float tmp_buf[512];
  std::vector<float> heap;
  float* tmp = tmp_buf;
  if (rotary_dim > 512) {
    heap.resize(rotary_dim);
    tmp = heap.data();
  }
  for (int i = 0; i < half; ++i) {
    const float a = vec[2 * i];
    const float b = vec[2 * i + 1];
    tmp[i] = a * cos[i] - b * sin[i];
    tmp[half + i] = b * cos[i] + a * sin[i];
  }
  std::copy(tmp, tmp + rotary_dim, vec);
}

}  // namespace janus::cpu
