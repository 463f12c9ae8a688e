#include "runtime/cpu/moe.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"
#include "test/unit/runtime/cpu/test_util.h"

namespace janus::cpu {
namespace {

using testing::MakeWeight;
using testing::OwnedWeight;

// A router whose logits equal x exactly: the gate is the identity (hidden = num_experts).
struct IdentityGate {
  explicit IdentityGate(int e) : w(static_cast<size_t>(e) * e, 0.0f) {
    for (int i = 0; i < e; ++i) w[i * e + i] = 1.0f;
    view = F32View(w.data(), {e, e});
  }
  std::vector<float> w;
  WeightView view;
};

struct Routed {
  std::vector<int32_t> ids;
  std::vector<float> weights;
};

Routed RouteOne(const RouterConfig& c, const std::vector<float>& logits,
                const std::vector<float>* bias = nullptr) {
  IdentityGate gate(c.num_experts);
  Routed out;
  out.ids.resize(c.top_k);
  out.weights.resize(c.top_k);
  WeightView bv;
  if (bias) bv = F32View(bias->data(), {c.num_experts});
  absl::Status s = Route(c, gate.view, bias ? &bv : nullptr, logits.data(), 1, out.weights.data(),
                         out.ids.data());
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

std::vector<double> Softmax(const std::vector<float>& l) {
  double m = -1e300, sum = 0;
  for (float v : l) m = std::max(m, double(v));
  std::vector<double> p(l.size());
  for (size_t i = 0; i < l.size(); ++i) sum += p[i] = std::exp(l[i] - m);
  for (double& v : p) v /= sum;
  return p;
}

double Sig(double x) { return 1 / (1 + std::exp(-x)); }

TEST(RouterTest, SoftmaxTopKRenormalised) {  // Mixtral, Qwen3/OLMoE with norm_topk_prob
  RouterConfig c{4, 2, RouterScoring::kSoftmax, true};
  std::vector<float> logits = {1.0f, 3.0f, 2.0f, 0.5f};
  Routed r = RouteOne(c, logits);
  EXPECT_EQ(r.ids, (std::vector<int32_t>{1, 2}));
  const double e3 = std::exp(3.0), e2 = std::exp(2.0);
  EXPECT_NEAR(r.weights[0], e3 / (e3 + e2), 1e-6);
  EXPECT_NEAR(r.weights[1], e2 / (e3 + e2), 1e-6);
}

TEST(RouterTest, SoftmaxTopKWithoutRenormalisation) {  // Qwen2-MoE
  RouterConfig c{4, 2, RouterScoring::kSoftmax, false};
  std::vector<float> logits = {1.0f, 3.0f, 2.0f, 0.5f};
  Routed r = RouteOne(c, logits);
  auto p = Softmax(logits);
  EXPECT_EQ(r.ids, (std::vector<int32_t>{1, 2}));
  EXPECT_NEAR(r.weights[0], p[1], 1e-6);
  EXPECT_NEAR(r.weights[1], p[2], 1e-6);
}

TEST(RouterTest, TiesGoToTheLowerExpertId) {
  RouterConfig c{4, 2, RouterScoring::kSoftmax, true};
  Routed r = RouteOne(c, {2.0f, 2.0f, 1.0f, 2.0f});
  EXPECT_EQ(r.ids, (std::vector<int32_t>{0, 1}));
  EXPECT_NEAR(r.weights[0], 0.5, 1e-7);
}

// DeepSeek-V3: sigmoid, correction bias for selection only, top2_sum groups, renormalised (+1e-20),
// scaled. Without the bias, group 2 (expert 4, score 0.88) would win.
TEST(RouterTest, SigmoidBiasTop2SumGroups) {
  RouterConfig c{8, 2, RouterScoring::kSigmoid, true, 2.5f, 4, 2, GroupScoring::kTop2Sum};
  std::vector<float> logits = {0.0f, 0.0f, 1.0f, -1.0f, 2.0f, -3.0f, 0.5f, 0.5f};
  std::vector<float> bias = {0.0f, 0.5f, 0.0f, 0.0f, -1.0f, 0.0f, 0.0f, 0.0f};
  // c = [0.5, 1.0, 0.731, 0.269, -0.119, 0.047, 0.622, 0.622]; groups: 1.5, 1.0, -0.072, 1.245
  // -> keep groups 0 and 3 -> top-2 of {e0 .5, e1 1.0, e6 .622, e7 .622} = e1, e6 (tie: lower id).
  Routed r = RouteOne(c, logits, &bias);
  EXPECT_EQ(r.ids, (std::vector<int32_t>{1, 6}));
  const double s1 = Sig(0.0), s6 = Sig(0.5);  // un-biased scores
  EXPECT_NEAR(r.weights[0], 2.5 * s1 / (s1 + s6), 1e-6);
  EXPECT_NEAR(r.weights[1], 2.5 * s6 / (s1 + s6), 1e-6);
}

// DeepSeek-V2 group_limited_greedy: softmax, group max, no renormalisation, routed scaling.
TEST(RouterTest, SoftmaxGroupMax) {
  RouterConfig c{6, 2, RouterScoring::kSoftmax, false, 1.5f, 3, 1, GroupScoring::kMax};
  std::vector<float> logits = {0.0f, 3.0f, 0.0f, 2.5f, 2.6f, 0.0f};
  Routed r = RouteOne(c, logits);  // group 0 (max e1) wins; e4 would win ungrouped
  auto p = Softmax(logits);
  EXPECT_EQ(r.ids, (std::vector<int32_t>{1, 0}));
  EXPECT_NEAR(r.weights[0], 1.5 * p[1], 1e-6);
  EXPECT_NEAR(r.weights[1], 1.5 * p[0], 1e-6);
  // top2_sum over 2 groups: g0 = p0 + p1 and g2 = p4 + p5 beat g1 = p2 + p3.
  c.group_scoring = GroupScoring::kTop2Sum;
  c.topk_group = 2;
  r = RouteOne(c, logits);
  EXPECT_EQ(r.ids, (std::vector<int32_t>{1, 4}));
}

// More experts requested than the kept groups hold: V2 (softmax) fills with masked 0.0 scores and
// weight 0; V3 (sigmoid) fills with -inf-masked experts and gathers their un-masked scores.
TEST(RouterTest, MaskedGroupsFillTheRestDeterministically) {
  std::vector<float> logits = {1.0f, 2.0f, 3.0f, 0.0f};
  RouterConfig v2{4, 3, RouterScoring::kSoftmax, false, 1.0f, 2, 1, GroupScoring::kMax};
  Routed r = RouteOne(v2, logits);  // group 1 (max e2) kept
  auto p = Softmax(logits);
  EXPECT_EQ(r.ids, (std::vector<int32_t>{2, 3, 0}));
  EXPECT_NEAR(r.weights[0], p[2], 1e-6);
  EXPECT_NEAR(r.weights[1], p[3], 1e-6);
  EXPECT_EQ(r.weights[2], 0.0f);

  RouterConfig v3{4, 3, RouterScoring::kSigmoid, false, 1.0f, 2, 1, GroupScoring::kTop2Sum};
  r = RouteOne(v3, logits);  // groups: s0 + s1 = 1.612 > s2 + s3 = 1.453 -> group 0 kept
  EXPECT_EQ(r.ids, (std::vector<int32_t>{1, 0, 2}));
  EXPECT_NEAR(r.weights[0], Sig(2), 1e-6);
  EXPECT_NEAR(r.weights[1], Sig(1), 1e-6);
  EXPECT_NEAR(r.weights[2], Sig(3), 1e-6);
}

TEST(RouterTest, ScalingAppliesAfterNormalisation) {
  RouterConfig c{4, 2, RouterScoring::kSigmoid, true, 3.0f};
  std::vector<float> logits = {0.2f, -0.4f, 1.5f, 0.9f};
  Routed r = RouteOne(c, logits);
  EXPECT_EQ(r.ids, (std::vector<int32_t>{2, 3}));
  EXPECT_NEAR(r.weights[0] + r.weights[1], 3.0, 1e-6);
  EXPECT_NEAR(r.weights[0], 3 * Sig(1.5) / (Sig(1.5) + Sig(0.9)), 1e-6);
}

TEST(RouterTest, BatchedRowsMatchRandomReference) {
  const int e = 16, hidden = 32, rows = 6, k = 4;
  OwnedWeight gate = MakeWeight({e, hidden}, 50, DType::kBF16);
  std::vector<float> x = testing::Random(rows * hidden, 51);
  RouterConfig c{e, k, RouterScoring::kSoftmax, true};
  std::vector<float> w(rows * k);
  std::vector<int32_t> ids(rows * k);
  ASSERT_TRUE(Route(c, gate.view(), nullptr, x.data(), rows, w.data(), ids.data()).ok());
  auto logits = testing::RefLinear(testing::ToDouble(x), rows, gate.values, e, hidden);
  for (int r = 0; r < rows; ++r) {
    std::vector<float> lr(logits.begin() + r * e, logits.begin() + (r + 1) * e);
    auto p = Softmax(lr);
    std::vector<int> order(e);
    for (int i = 0; i < e; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
    double sum = 0;
    for (int i = 0; i < k; ++i) sum += p[order[i]];
    for (int i = 0; i < k; ++i) {
      EXPECT_EQ(ids[r * k + i], order[i]) << "row " << r;
      EXPECT_NEAR(w[r * k + i], p[order[i]] / sum, 1e-5);
    }
  }
}

TEST(RouterTest, ErrorsNameTheProblem) {
  IdentityGate gate(4);
  std::vector<float> x = {1, 2, 3, 4}, w(4);
  std::vector<int32_t> ids(4);
  RouterConfig c{4, 5, RouterScoring::kSoftmax, true};
  EXPECT_NE(Route(c, gate.view, nullptr, x.data(), 1, w.data(), ids.data()).message().find("top_k"),
            std::string::npos);
  c = RouterConfig{4, 2, RouterScoring::kSoftmax, true, 1.0f, 3, 1};
  EXPECT_NE(Route(c, gate.view, nullptr, x.data(), 1, w.data(), ids.data()).message().find("n_group"),
            std::string::npos);
  c = RouterConfig{4, 2, RouterScoring::kSigmoid, true, 1.0f, 4, 2, GroupScoring::kTop2Sum};
  EXPECT_FALSE(Route(c, gate.view, nullptr, x.data(), 1, w.data(), ids.data()).ok());
  c = RouterConfig{5, 2, RouterScoring::kSoftmax, true};
  EXPECT_FALSE(Route(c, gate.view, nullptr, x.data(), 1, w.data(), ids.data()).ok());  // gate shape
  c = RouterConfig{4, 2, RouterScoring::kSoftmax, true};
  std::vector<float> bad_bias(3, 0.0f);
  WeightView bv = F32View(bad_bias.data(), {3});
  EXPECT_FALSE(Route(c, gate.view, &bv, x.data(), 1, w.data(), ids.data()).ok());
  x[2] = std::numeric_limits<float>::quiet_NaN();
  absl::Status s = Route(c, gate.view, nullptr, x.data(), 1, w.data(), ids.data());
  EXPECT_NE(s.message().find("non-finite logit"), std::string::npos) << s;
}

class ExpertsTest : public ::testing::Test {
 protected:
  static constexpr int kExperts = 5, kHidden = 16, kInter = 24, kRows = 4, kTopK = 2;

  void SetUp() override {
    for (int e = 0; e < kExperts; ++e) {
      gate_.push_back(MakeWeight({kInter, kHidden}, 10 * e + 1, DType::kBF16));
      up_.push_back(MakeWeight({kInter, kHidden}, 10 * e + 2, DType::kBF16));
      down_.push_back(MakeWeight({kHidden, kInter}, 10 * e + 3, DType::kBF16));
    }
    x_ = testing::Random(kRows * kHidden, 99);
    weights_ = testing::Random(kRows * kTopK, 98);
  }

  ExpertWeightsFn Fn() {
    return [this](int e) -> absl::StatusOr<ExpertWeights> {
      if (e >= kExperts) return absl::NotFoundError("no such expert");
      return ExpertWeights{gate_[e].view(), up_[e].view(), down_[e].view()};
    };
  }

  std::vector<double> Reference(const std::vector<int32_t>& ids, const std::vector<int32_t>* assignment,
                                int rank) {
    std::vector<double> out(kRows * kHidden, 0.0);
    for (int r = 0; r < kRows; ++r) {
      std::vector<double> xr(x_.begin() + r * kHidden, x_.begin() + (r + 1) * kHidden);
      for (int k = 0; k < kTopK; ++k) {
        if (assignment && (*assignment)[r * kTopK + k] != rank) continue;
        const int e = ids[r * kTopK + k];
        auto g = testing::RefLinear(xr, 1, gate_[e].values, kInter, kHidden);
        auto u = testing::RefLinear(xr, 1, up_[e].values, kInter, kHidden);
        for (int i = 0; i < kInter; ++i) g[i] = testing::RefSilu(g[i]) * u[i];
        auto d = testing::RefLinear(g, 1, down_[e].values, kHidden, kInter);
        for (int i = 0; i < kHidden; ++i) out[r * kHidden + i] += weights_[r * kTopK + k] * d[i];
      }
    }
    return out;
  }

  std::vector<OwnedWeight> gate_, up_, down_;
  std::vector<float> x_, weights_;
};

TEST_F(ExpertsTest, AllLocalMatchesReference) {
  std::vector<int32_t> ids = {0, 3, 3, 1, 4, 0, 2, 3};
  std::vector<float> out(kRows * kHidden, 123.0f);  // must be overwritten
  ASSERT_TRUE(Experts(x_.data(), kRows, kHidden, weights_.data(), ids.data(), kTopK, nullptr, 0,
                      Fn(), out.data()).ok());
  EXPECT_LT(testing::RelError(out, Reference(ids, nullptr, 0)), 1e-5);
}

TEST_F(ExpertsTest, RankPartialsSumToTheWhole) {
  std::vector<int32_t> ids = {0, 3, 3, 1, 4, 0, 2, 3};
  std::vector<int32_t> assignment = {0, 1, 1, 1, 0, 0, 1, 1};  // row 1 lives entirely on rank 1
  std::vector<float> p0(kRows * kHidden), p1(kRows * kHidden), all(kRows * kHidden);
  ASSERT_TRUE(Experts(x_.data(), kRows, kHidden, weights_.data(), ids.data(), kTopK, assignment.data(),
                      0, Fn(), p0.data()).ok());
  ASSERT_TRUE(Experts(x_.data(), kRows, kHidden, weights_.data(), ids.data(), kTopK, assignment.data(),
                      1, Fn(), p1.data()).ok());
  ASSERT_TRUE(Experts(x_.data(), kRows, kHidden, weights_.data(), ids.data(), kTopK, nullptr, 0, Fn(),
                      all.data()).ok());
  EXPECT_LT(testing::RelError(p0, Reference(ids, &assignment, 0)), 1e-5);
  EXPECT_LT(testing::RelError(p1, Reference(ids, &assignment, 1)), 1e-5);
  for (int i = 0; i < kHidden; ++i) EXPECT_EQ(p0[kHidden + i], 0.0f);
  for (int i = 0; i < kRows * kHidden; ++i) EXPECT_NEAR(p0[i] + p1[i], all[i], 1e-5);
  // A rank serving nothing returns zeros without asking for any expert.
  std::vector<float> none(kRows * kHidden, 1.0f);
  ExpertWeightsFn fail = [](int) -> absl::StatusOr<ExpertWeights> { return absl::InternalError("x"); };
  ASSERT_TRUE(Experts(x_.data(), kRows, kHidden, weights_.data(), ids.data(), kTopK, assignment.data(),
                      7, fail, none.data()).ok());
  for (float v : none) EXPECT_EQ(v, 0.0f);
}

TEST_F(ExpertsTest, ErrorsPropagate) {
  std::vector<int32_t> ids = {0, 5, 3, 1, 4, 0, 2, 3};
  std::vector<float> out(kRows * kHidden);
  absl::Status s = Experts(x_.data(), kRows, kHidden, weights_.data(), ids.data(), kTopK, nullptr, 0,
                           Fn(), out.data());
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find("expert 5"), std::string::npos) << s;
  ids[1] = -2;
  EXPECT_FALSE(Experts(x_.data(), kRows, kHidden, weights_.data(), ids.data(), kTopK, nullptr, 0, Fn(),
                       out.data()).ok());
  ids[1] = 1;
  ExpertWeightsFn wrong = [this](int e) -> absl::StatusOr<ExpertWeights> {
    return ExpertWeights{gate_[e].view(), up_[e].view(), gate_[e].view()};  // down has the wrong shape
  };
  s = Experts(x_.data(), kRows, kHidden, weights_.data(), ids.data(), kTopK, nullptr, 0, wrong, out.data());
  EXPECT_NE(s.message().find("down"), std::string::npos) << s;
}

}  // namespace
}  // namespace janus::cpu
