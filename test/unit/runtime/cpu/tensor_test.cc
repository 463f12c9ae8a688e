#include "runtime/cpu/tensor.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "test/unit/runtime/cpu/test_util.h"

namespace janus::cpu {
namespace {

using testing::MakeNormWeight;
using testing::MakeWeight;
using testing::Random;
using testing::RelError;
using testing::ToDouble;

class LinearDtypeTest : public ::testing::TestWithParam<DType> {};

TEST_P(LinearDtypeTest, MatchesDoubleReference) {
  const int rows = 5, in = 37, out = 23;  // odd sizes exercise the vector tails
  auto w = MakeWeight({out, in}, 1, GetParam());
  auto b = MakeWeight({out}, 2, GetParam());
  std::vector<float> x = Random(rows * in, 3);
  std::vector<float> y(rows * out);
  WeightView bv = b.view();
  ASSERT_TRUE(Linear(x.data(), rows, w.view(), &bv, y.data()).ok());
  auto ref = testing::RefLinear(ToDouble(x), rows, w.values, out, in, &b.values);
  EXPECT_LT(RelError(y, ref), 1e-6);
}

INSTANTIATE_TEST_SUITE_P(AllDtypes, LinearDtypeTest,
                         ::testing::Values(DType::kF32, DType::kBF16, DType::kF16));

TEST(LinearTest, RowResultDoesNotDependOnBatch) {
  const int rows = 7, in = 64, out = 16;
  auto w = MakeWeight({out, in}, 4, DType::kBF16);
  std::vector<float> x = Random(rows * in, 5);
  std::vector<float> all(rows * out), one(out);
  ASSERT_TRUE(Linear(x.data(), rows, w.view(), nullptr, all.data()).ok());
  for (int r = 0; r < rows; ++r) {
    ASSERT_TRUE(Linear(x.data() + r * in, 1, w.view(), nullptr, one.data()).ok());
    for (int o = 0; o < out; ++o) EXPECT_EQ(one[o], all[r * out + o]);
  }
}

TEST(LinearTest, RejectsBadShapes) {
  auto w = MakeWeight({4, 3}, 6);
  auto bad_bias = MakeWeight({3}, 7);
  std::vector<float> x(3, 1.0f), y(4);
  WeightView bv = bad_bias.view();
  absl::Status s = Linear(x.data(), 1, w.view(), &bv, y.data());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("shape [3], expected [4]"), std::string::npos) << s;
  WeightView three_d = F32View(w.f32.data(), {2, 2, 3});
  EXPECT_FALSE(Linear(x.data(), 1, three_d, nullptr, y.data()).ok());
  WeightView missing;
  missing.shape = {4, 3};
  EXPECT_FALSE(Linear(x.data(), 1, missing, nullptr, y.data()).ok());
  WeightView ints{DType::kI32, w.f32.data(), {4, 3}};
  EXPECT_FALSE(Linear(x.data(), 1, ints, nullptr, y.data()).ok());
}

TEST(EmbeddingTest, GathersAndUpcasts) {
  auto table = MakeWeight({10, 6}, 8, DType::kBF16);
  std::vector<int32_t> ids = {3, 0, 9, 3};
  std::vector<float> y(ids.size() * 6);
  ASSERT_TRUE(Embedding(table.view(), ids.data(), ids.size(), y.data()).ok());
  for (size_t r = 0; r < ids.size(); ++r) {
    for (int i = 0; i < 6; ++i) EXPECT_EQ(y[r * 6 + i], table.values[ids[r] * 6 + i]);
  }
  ids[2] = 10;
  absl::Status s = Embedding(table.view(), ids.data(), ids.size(), y.data());
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_NE(s.message().find("row 2 has token id 10"), std::string::npos) << s;
  ids[2] = -1;
  EXPECT_EQ(Embedding(table.view(), ids.data(), ids.size(), y.data()).code(),
            absl::StatusCode::kOutOfRange);
}

TEST(LmHeadTest, IsLinearWithoutBias) {
  const int rows = 3, hidden = 20, vocab = 50;
  auto w = MakeWeight({vocab, hidden}, 9, DType::kBF16);
  std::vector<float> x = Random(rows * hidden, 10);
  std::vector<float> y(rows * vocab);
  ASSERT_TRUE(LmHead(x.data(), rows, w.view(), y.data()).ok());
  EXPECT_LT(RelError(y, testing::RefLinear(ToDouble(x), rows, w.values, vocab, hidden)), 1e-6);
}

TEST(RmsNormTest, MatchesReferenceInPlace) {
  const int rows = 4, width = 33;
  auto w = MakeNormWeight(width, 11, DType::kBF16);
  std::vector<float> x = Random(rows * width, 12, 3.0f);
  std::vector<double> ref = ToDouble(x);
  for (int r = 0; r < rows; ++r) testing::RefRmsNorm(&ref[r * width], width, w.values, 1e-5);
  ASSERT_TRUE(RmsNorm(x.data(), rows, width, w.view(), 1e-5f, x.data()).ok());
  EXPECT_LT(RelError(x, ref), 2e-6);
  EXPECT_FALSE(RmsNorm(x.data(), rows, width + 1, w.view(), 1e-5f, x.data()).ok());
}

TEST(ElementwiseTest, AddSiluSigmoidSoftmax) {
  std::vector<float> a = Random(19, 13), b = Random(19, 14), y(19);
  Add(a.data(), b.data(), 19, y.data());
  for (int i = 0; i < 19; ++i) EXPECT_EQ(y[i], a[i] + b[i]);
  for (float v : {-30.0f, -2.5f, -0.1f, 0.3f, 4.0f, 50.0f}) {
    EXPECT_NEAR(Silu(v), testing::RefSilu(v), 1e-6 * std::max(1.0f, std::fabs(v)));
    EXPECT_NEAR(Sigmoid(v), testing::RefSigmoid(v), 1e-7);
  }
  std::vector<float> s = {1.0f, 3.0f, -2.0f, 0.5f, 1000.0f, 999.0f};
  std::vector<double> ref(s.size());
  double sum = 0;
  for (size_t i = 0; i < s.size(); ++i) sum += ref[i] = std::exp(s[i] - 1000.0);
  for (double& r : ref) r /= sum;
  SoftmaxInPlace(s.data(), s.size());
  for (size_t i = 0; i < s.size(); ++i) EXPECT_NEAR(s[i], ref[i], 1e-7);
}

TEST(MlpTest, MatchesReferenceWithAndWithoutSigmoidGate) {
  const int rows = 3, hidden = 24, inter = 40;
  auto gate = MakeWeight({inter, hidden}, 15, DType::kBF16);
  auto up = MakeWeight({inter, hidden}, 16, DType::kBF16);
  auto down = MakeWeight({hidden, inter}, 17, DType::kBF16);
  auto sg = MakeWeight({1, hidden}, 18, DType::kBF16);
  std::vector<float> x = Random(rows * hidden, 19);
  auto xd = ToDouble(x);
  auto g = testing::RefLinear(xd, rows, gate.values, inter, hidden);
  auto u = testing::RefLinear(xd, rows, up.values, inter, hidden);
  for (size_t i = 0; i < g.size(); ++i) g[i] = testing::RefSilu(g[i]) * u[i];
  auto ref = testing::RefLinear(g, rows, down.values, hidden, inter);
  std::vector<float> y(rows * hidden);
  ASSERT_TRUE(Mlp(x.data(), rows, gate.view(), up.view(), down.view(), nullptr, y.data()).ok());
  EXPECT_LT(RelError(y, ref), 1e-5);

  auto s = testing::RefLinear(xd, rows, sg.values, 1, hidden);
  for (int r = 0; r < rows; ++r) {
    for (int i = 0; i < hidden; ++i) ref[r * hidden + i] *= testing::RefSigmoid(s[r]);
  }
  WeightView sgv = sg.view();
  ASSERT_TRUE(Mlp(x.data(), rows, gate.view(), up.view(), down.view(), &sgv, y.data()).ok());
  EXPECT_LT(RelError(y, ref), 1e-5);
  sgv.shape = {hidden};  // a 1-D gate vector is accepted too
  ASSERT_TRUE(Mlp(x.data(), rows, gate.view(), up.view(), down.view(), &sgv, y.data()).ok());
  EXPECT_LT(RelError(y, ref), 1e-5);

  absl::Status bad = Mlp(x.data(), rows, gate.view(), up.view(), gate.view(), nullptr, y.data());
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("mlp down"), std::string::npos) << bad;
}

}  // namespace
}  // namespace janus::cpu
