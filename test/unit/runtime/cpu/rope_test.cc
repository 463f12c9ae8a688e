#include "runtime/cpu/rope.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "test/unit/runtime/cpu/test_util.h"

namespace janus::cpu {
namespace {

RopeConfig Config(int dim, RopeStyle style = RopeStyle::kHalfSplit) {
  RopeConfig c;
  c.rotary_dim = dim;
  c.style = style;
  return c;
}

TEST(RopeTest, DefaultInvFreqMatchesFormula) {
  auto table = RopeTable::Create(Config(16), 4);
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->inv_freq().size(), 8u);
  for (int i = 0; i < 8; ++i) {
    EXPECT_NEAR(table->inv_freq()[i], std::pow(10000.0, -2.0 * i / 16), 1e-7 * std::pow(10.0, -i / 2.0));
  }
  EXPECT_EQ(table->attention_factor(), 1.0f);
}

TEST(RopeTest, LinearScalingDividesInvFreqByFactor) {
  RopeConfig c = Config(16);
  c.theta = 50000;
  auto plain = RopeTable::Create(c, 0);
  c.scaling = RopeScaling::kLinear;
  c.factor = 2;
  auto scaled = RopeTable::Create(c, 0);
  ASSERT_TRUE(plain.ok() && scaled.ok());
  for (int i = 0; i < 8; ++i) EXPECT_EQ(scaled->inv_freq()[i], plain->inv_freq()[i] / 2.0f);
  // Equivalently, position p with linear scaling rotates like position p / factor unscaled.
  std::vector<float> cs(8), ss(8), cp(8), sp(8);
  scaled->CosSin(10, cs.data(), ss.data());
  plain->CosSin(5, cp.data(), sp.data());
  for (int i = 0; i < 8; ++i) {
    EXPECT_NEAR(cs[i], cp[i], 1e-6);
    EXPECT_NEAR(ss[i], sp[i], 1e-6);
  }
}

// deepseekv3_yarn_tiny: dim 8, factor 40, original 16. By hand: correction dims
// 8 ln(16 / (32·2π)) / (2 ln 1e4) = -1.099 -> floor -> 0 and 8 ln(16 / 2π) / (2 ln 1e4) = 0.406 -> ceil
// -> 1, so the ramp is [0, 1, 1, 1] and inv_freq = [1, 1/(40·10), 1/(40·100), 1/(40·1000)].
TEST(RopeTest, YarnInvFreqByHandDeepseekV3Yarn) {
  RopeConfig c = Config(8, RopeStyle::kInterleaved);
  c.scaling = RopeScaling::kYarn;
  c.factor = 40;
  c.original_max_position = 16;
  c.mscale = 1;
  c.mscale_all_dim = 1;
  auto t = RopeTable::Create(c, 0);
  ASSERT_TRUE(t.ok()) << t.status();
  const double expected[4] = {1.0, 0.0025, 0.00025, 0.000025};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(t->inv_freq()[i], expected[i], expected[i] * 1e-6) << i;
  EXPECT_EQ(t->attention_factor(), 1.0f);  // mscale == mscale_all_dim
  // Softmax scale: 32^-0.5 * (0.1 ln 40 + 1)^2.
  const double m = 0.1 * std::log(40.0) + 1.0;
  EXPECT_NEAR(MlaSoftmaxScale(32, c), std::pow(32.0, -0.5) * m * m, 1e-7);
}

// deepseekv2_tiny: dim 16, factor 4, original 64. low = floor(-0.994) -> 0, high = ceil(2.016) = 3,
// ramp = i / 3 clamped, extrapolation factor e = 1 - ramp;
// inv_freq_i = 10^(-i/2) * ((1 - e) / 4 + e).
TEST(RopeTest, YarnInvFreqByHandDeepseekV2) {
  RopeConfig c = Config(16, RopeStyle::kInterleaved);
  c.scaling = RopeScaling::kYarn;
  c.factor = 4;
  c.original_max_position = 64;
  c.mscale = 0.707f;
  c.mscale_all_dim = 0.707f;
  auto t = RopeTable::Create(c, 0);
  ASSERT_TRUE(t.ok()) << t.status();
  for (int i = 0; i < 8; ++i) {
    const double e = 1.0 - std::min(1.0, i / 3.0);
    const double expected = std::pow(10.0, -i / 2.0) * ((1 - e) / 4 + e);
    EXPECT_NEAR(t->inv_freq()[i], expected, expected * 1e-6) << i;
  }
  EXPECT_NEAR(t->inv_freq()[1], 0.2371708, 1e-6);
  EXPECT_NEAR(t->inv_freq()[2], 0.05, 1e-7);
  EXPECT_EQ(t->attention_factor(), 1.0f);
  const double m = 0.1 * 0.707 * std::log(4.0) + 1.0;
  EXPECT_NEAR(MlaSoftmaxScale(48, c), std::pow(48.0, -0.5) * m * m, 1e-7);
}

TEST(RopeTest, YarnAttentionFactorVariants) {
  RopeConfig c = Config(8);
  c.scaling = RopeScaling::kYarn;
  c.factor = 8;
  c.original_max_position = 32;
  c.mscale = 0;  // config without mscale: get_mscale(factor)
  c.mscale_all_dim = 1;
  auto t = RopeTable::Create(c, 0);
  ASSERT_TRUE(t.ok());
  EXPECT_NEAR(t->attention_factor(), 0.1 * std::log(8.0) + 1.0, 1e-6);
  c.mscale = 0.5f;
  c.mscale_all_dim = 1.0f;
  t = RopeTable::Create(c, 0);
  ASSERT_TRUE(t.ok());
  EXPECT_NEAR(t->attention_factor(), (0.05 * std::log(8.0) + 1) / (0.1 * std::log(8.0) + 1), 1e-6);
  // cos/sin carry the factor.
  std::vector<float> cos(4), sin(4);
  t->CosSin(3, cos.data(), sin.data());
  for (int i = 0; i < 4; ++i) {
    const double a = 3.0 * t->inv_freq()[i];
    EXPECT_NEAR(cos[i], std::cos(a) * t->attention_factor(), 1e-6);
    EXPECT_NEAR(sin[i], std::sin(a) * t->attention_factor(), 1e-6);
  }
  EXPECT_NEAR(YarnGetMscale(1.0, 5.0), 1.0, 0);
  EXPECT_NEAR(YarnGetMscale(0.5, 5.0), 1.0, 0);
}

TEST(RopeTest, YarnWithoutTruncationUsesFractionalRamp) {
  RopeConfig c = Config(16);
  c.scaling = RopeScaling::kYarn;
  c.factor = 4;
  c.original_max_position = 64;
  c.truncate = false;
  auto t = RopeTable::Create(c, 0);
  ASSERT_TRUE(t.ok());
  const double kPi = 3.14159265358979323846;
  const double low = std::max(0.0, 16 * std::log(64 / (32 * 2 * kPi)) / (2 * std::log(10000.0)));
  const double high = 16 * std::log(64 / (2 * kPi)) / (2 * std::log(10000.0));
  for (int i = 0; i < 8; ++i) {
    const double ramp = std::min(1.0, std::max(0.0, (i - low) / (high - low)));
    const double e = 1.0 - ramp;
    const double expected = std::pow(10.0, -i / 2.0) * ((1 - e) / 4 + e);
    EXPECT_NEAR(t->inv_freq()[i], expected, expected * 1e-6) << i;
  }
}

TEST(RopeTest, HalfSplitMatchesDoubleRotation) {
  auto t = RopeTable::Create(Config(8), 64);
  ASSERT_TRUE(t.ok());
  std::vector<float> x = testing::Random(12, 1);  // head_dim 12, only the first 8 dims rotate
  for (int pos : {0, 1, 7, 63, 200}) {
    std::vector<float> y = x;
    t->Apply(y.data(), pos);
    for (int i = 0; i < 4; ++i) {
      const double a = pos * std::pow(10000.0, -2.0 * i / 8);
      EXPECT_NEAR(y[i], x[i] * std::cos(a) - x[i + 4] * std::sin(a), 2e-5) << pos;
      EXPECT_NEAR(y[i + 4], x[i + 4] * std::cos(a) + x[i] * std::sin(a), 2e-5) << pos;
    }
    for (int i = 8; i < 12; ++i) EXPECT_EQ(y[i], x[i]);
  }
}

TEST(RopeTest, PositionsPastTheTableMatchTheTable) {
  auto small = RopeTable::Create(Config(16), 2);
  auto big = RopeTable::Create(Config(16), 300);
  ASSERT_TRUE(small.ok() && big.ok());
  std::vector<float> x = testing::Random(16, 2);
  for (int pos : {0, 1, 2, 5, 299}) {
    std::vector<float> a = x, b = x;
    small->Apply(a.data(), pos);
    big->Apply(b.data(), pos);
    EXPECT_EQ(a, b) << pos;
  }
}

// Interleaved RoPE (DeepSeek-V3's apply_rotary_pos_emb_interleave) on x equals rotate_half RoPE on
// the de-interleaved x = [x0, x2, ..., x1, x3, ...], bit for bit.
TEST(RopeTest, InterleavedEqualsHalfSplitOfDeinterleaved) {
  const int dim = 16, half = 8;
  auto inter = RopeTable::Create(Config(dim, RopeStyle::kInterleaved), 32);
  auto split = RopeTable::Create(Config(dim, RopeStyle::kHalfSplit), 32);
  ASSERT_TRUE(inter.ok() && split.ok());
  std::vector<float> x = testing::Random(dim, 3);
  std::vector<float> perm(dim);
  for (int i = 0; i < half; ++i) {
    perm[i] = x[2 * i];
    perm[half + i] = x[2 * i + 1];
  }
  for (int pos : {0, 3, 31, 100}) {
    std::vector<float> a = x, b = perm;
    inter->Apply(a.data(), pos);
    split->Apply(b.data(), pos);
    EXPECT_EQ(a, b) << pos;
  }
}

// DeepSeek-V2's apply_rotary_emb multiplies complex pairs (x[2i] + i x[2i+1]) by (cos + i sin) and
// keeps the interleaved layout; that is our output re-interleaved, and q·k is unchanged.
TEST(RopeTest, DeepseekV2ComplexFormIsAPermutation) {
  const int dim = 16, half = 8;
  auto t = RopeTable::Create(Config(dim, RopeStyle::kInterleaved), 16);
  ASSERT_TRUE(t.ok());
  std::vector<float> q = testing::Random(dim, 4), k = testing::Random(dim, 5);
  const int qpos = 9, kpos = 4;
  auto complex_form = [&](std::vector<float> v, int pos) {
    std::vector<float> c(half), s(half);
    t->CosSin(pos, c.data(), s.data());
    for (int i = 0; i < half; ++i) {
      const float a = v[2 * i], b = v[2 * i + 1];
      v[2 * i] = a * c[i] - b * s[i];
      v[2 * i + 1] = a * s[i] + b * c[i];
    }
    return v;
  };
  std::vector<float> q2 = complex_form(q, qpos), k2 = complex_form(k, kpos);
  std::vector<float> q3 = q, k3 = k;
  t->Apply(q3.data(), qpos);
  t->Apply(k3.data(), kpos);
  double dot2 = 0, dot3 = 0;
  for (int i = 0; i < half; ++i) {
    EXPECT_EQ(q2[2 * i], q3[i]);
    EXPECT_EQ(q2[2 * i + 1], q3[half + i]);
  }
  for (int i = 0; i < dim; ++i) {
    dot2 += double(q2[i]) * k2[i];
    dot3 += double(q3[i]) * k3[i];
  }
  EXPECT_NEAR(dot2, dot3, 1e-6);
}

TEST(RopeTest, ScalesAndValidation) {
  EXPECT_EQ(AttentionScale(64), 0.125f);
  RopeConfig c = Config(16);
  EXPECT_EQ(MlaSoftmaxScale(64, c), 0.125f);
  c.scaling = RopeScaling::kLinear;
  c.factor = 4;
  EXPECT_EQ(MlaSoftmaxScale(64, c), 0.125f);  // mscale_all_dim 0: unscaled
  c.mscale_all_dim = 1;  // any non-default rope type with mscale_all_dim scales (yarn_apply_mscale)
  EXPECT_NEAR(MlaSoftmaxScale(64, c), 0.125 * std::pow(0.1 * std::log(4.0) + 1, 2), 1e-7);

  EXPECT_FALSE(RopeTable::Create(Config(7), 0).ok());
  EXPECT_FALSE(RopeTable::Create(Config(0), 0).ok());
  RopeConfig bad = Config(8);
  bad.theta = 0;
  EXPECT_FALSE(RopeTable::Create(bad, 0).ok());
  bad = Config(8);
  bad.scaling = RopeScaling::kYarn;
  bad.factor = 4;
  absl::Status s = RopeTable::Create(bad, 0).status();
  EXPECT_NE(s.message().find("original_max_position"), std::string::npos) << s;
  bad.original_max_position = 16;
  bad.factor = -1;
  EXPECT_FALSE(RopeTable::Create(bad, 0).ok());
  EXPECT_FALSE(RopeTable::Create(Config(8), -1).ok());
}

}  // namespace
}  // namespace janus::cpu
