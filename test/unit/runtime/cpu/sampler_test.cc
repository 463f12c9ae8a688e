#include "runtime/cpu/sampler.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"
#include "test/unit/runtime/cpu/test_util.h"

namespace janus::cpu {
namespace {

TEST(SamplerTest, GreedyIsArgmaxWithLowestIdOnTies) {
  std::vector<float> logits = {0.1f, 2.0f, -1.0f, 2.0f};
  SamplingParams p;
  auto t = Sample(logits.data(), 4, p, 0);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, 1);
}

TEST(SamplerTest, TopKOneEqualsGreedyForAnySeed) {
  std::vector<float> logits = testing::Random(100, 1, 3.0f);
  auto greedy = Argmax(logits.data(), 100);
  ASSERT_TRUE(greedy.ok());
  for (uint64_t seed = 0; seed < 20; ++seed) {
    SamplingParams p{1.5f, 1, 1.0f, seed};
    EXPECT_EQ(*Sample(logits.data(), 100, p, seed * 3), *greedy);
  }
}

TEST(SamplerTest, DeterministicPerSeedAndCounter) {
  std::vector<float> logits = testing::Random(50, 2, 1.0f);
  SamplingParams p{1.0f, 0, 1.0f, 42};
  std::vector<int32_t> a, b;
  for (uint64_t step = 0; step < 32; ++step) {
    a.push_back(*Sample(logits.data(), 50, p, step));
    b.push_back(*Sample(logits.data(), 50, p, step));
  }
  EXPECT_EQ(a, b);
  std::sort(a.begin(), a.end());
  EXPECT_GT(std::unique(a.begin(), a.end()) - a.begin(), 5);  // it does sample
  p.seed = 43;
  std::vector<int32_t> c;
  for (uint64_t step = 0; step < 32; ++step) c.push_back(*Sample(logits.data(), 50, p, step));
  EXPECT_NE(b, c);
  for (uint64_t i = 0; i < 1000; ++i) {
    const double u = Uniform01(i, i * 7);
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
}

TEST(SamplerTest, DistributionFollowsTheProbabilities) {
  std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  const int n = 20000;
  auto histogram = [&](SamplingParams p) {
    std::vector<double> h(3, 0);
    for (int i = 0; i < n; ++i) h[*Sample(logits.data(), 3, p, i)] += 1.0 / n;
    return h;
  };
  auto h = histogram({1.0f, 0, 1.0f, 7});
  EXPECT_NEAR(h[0], 0.5, 0.02);
  EXPECT_NEAR(h[1], 0.3, 0.02);
  EXPECT_NEAR(h[2], 0.2, 0.02);
  h = histogram({1.0f, 2, 1.0f, 8});  // top-k 2: renormalised over {0, 1}
  EXPECT_EQ(h[2], 0.0);
  EXPECT_NEAR(h[0], 0.625, 0.02);
  h = histogram({1.0f, 0, 0.7f, 9});  // nucleus: 0.5 + 0.3 >= 0.7 -> {0, 1}
  EXPECT_EQ(h[2], 0.0);
  EXPECT_NEAR(h[1], 0.375, 0.02);
  h = histogram({1.0f, 0, 0.05f, 10});  // tiny top_p -> argmax
  EXPECT_EQ(h[1] + h[2], 0.0);
  h = histogram({0.25f, 0, 1.0f, 11});  // low temperature sharpens: p ∝ p^4
  EXPECT_NEAR(h[0], 0.0625 / (0.0625 + 0.0081 + 0.0016), 0.02);
}

TEST(SamplerTest, ValidationErrors) {
  EXPECT_TRUE(Validate(SamplingParams{}).ok());
  EXPECT_FALSE(Validate(SamplingParams{-1.0f}).ok());
  EXPECT_FALSE(Validate(SamplingParams{std::numeric_limits<float>::quiet_NaN()}).ok());
  EXPECT_FALSE(Validate(SamplingParams{std::numeric_limits<float>::infinity()}).ok());
  EXPECT_FALSE(Validate(SamplingParams{1.0f, -1}).ok());
  EXPECT_FALSE(Validate(SamplingParams{1.0f, 0, 0.0f}).ok());
  absl::Status s = Validate(SamplingParams{1.0f, 0, 1.5f});
  EXPECT_NE(s.message().find("top_p"), std::string::npos) << s;
  std::vector<float> logits = {1.0f, std::numeric_limits<float>::quiet_NaN()};
  EXPECT_FALSE(Sample(logits.data(), 2, SamplingParams{}, 0).ok());
  EXPECT_FALSE(Sample(logits.data(), 0, SamplingParams{}, 0).ok());
  EXPECT_FALSE(Sample(logits.data(), 1, SamplingParams{-2.0f}, 0).ok());
  std::vector<float> inf = {1.0f, std::numeric_limits<float>::infinity(), 3.0f};
  EXPECT_EQ(*Sample(inf.data(), 3, SamplingParams{1.0f, 0, 1.0f, 1}, 5), 1);
}

}  // namespace
}  // namespace janus::cpu
