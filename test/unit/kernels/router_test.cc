// The router kernel against runtime/cpu Route(). The kernel is fed the logits cpu::Linear computes
// (the same function Route uses inside), so ids must match exactly and weights to fp32 rounding.
#include "kernels/router.h"

#include <cmath>
#include <random>
#include <vector>

#include "runtime/cpu/moe.h"
#include "test/unit/kernels/gpu_test_util.h"

namespace janus::kernels {
namespace {

using testing::RandomFloats;

void Check(const cpu::RouterConfig& c, bool with_bias, int rows, int hidden, uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << "experts " << c.num_experts << " top_k " << c.top_k
                                    << " n_group " << c.n_group << " seed " << seed);
  std::mt19937 rng(seed);
  const std::vector<float> x = RandomFloats(rng, size_t{1} * rows * hidden, -1, 1);
  const std::vector<float> gate = RandomFloats(rng, size_t{1} * c.num_experts * hidden, -0.3f, 0.3f);
  const std::vector<float> bias = RandomFloats(rng, c.num_experts, -0.05f, 0.05f);
  const cpu::WeightView gv = cpu::F32View(gate.data(), {c.num_experts, hidden});
  const cpu::WeightView bv = cpu::F32View(bias.data(), {c.num_experts});
  std::vector<float> want_w(size_t{1} * rows * c.top_k);
  std::vector<int32_t> want_ids(want_w.size());
  JANUS_ASSERT_OK(cpu::Route(c, gv, with_bias ? &bv : nullptr, x.data(), rows, want_w.data(),
                             want_ids.data()));
  std::vector<float> logits(size_t{1} * rows * c.num_experts);
  JANUS_ASSERT_OK(cpu::Linear(x.data(), rows, gv, nullptr, logits.data()));

  RouterParams p;
  p.num_experts = c.num_experts;
  p.top_k = c.top_k;
  p.scoring = c.scoring == cpu::RouterScoring::kSigmoid ? RouterScoringFn::kSigmoid
                                                        : RouterScoringFn::kSoftmax;
  p.norm_topk_prob = c.norm_topk_prob;
  p.routed_scaling_factor = c.routed_scaling_factor;
  p.n_group = c.n_group;
  p.topk_group = c.topk_group;
  p.group_scoring = c.group_scoring == cpu::GroupScoring::kMax ? RouterGroupScoring::kMax
                                                               : RouterGroupScoring::kTop2Sum;
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_l, DeviceBuffer::FromHost(logits));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_b, DeviceBuffer::FromHost(bias));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_w, DeviceBuffer::Create(4 * want_w.size()));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_i, DeviceBuffer::Create(4 * want_w.size()));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_bad, DeviceBuffer::FromHost(std::vector<int32_t>{0}));
  JANUS_ASSERT_OK(d_w.Fill(0xff));
  JANUS_ASSERT_OK(d_i.Fill(0x7f));
  JANUS_ASSERT_OK(LaunchRouter(p, d_l.get<float>(), with_bias ? d_b.get<float>() : nullptr, rows,
                               d_w.get<float>(), d_i.get<int32_t>(), d_bad.get<int32_t>(), 0));
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<float> got_w, d_w.ToHost<float>());
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> got_ids, d_i.ToHost<int32_t>());
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> bad, d_bad.ToHost<int32_t>());
  EXPECT_EQ(bad[0], 0);
  ASSERT_EQ(got_ids, want_ids);
  for (size_t i = 0; i < want_w.size(); ++i) {
    ASSERT_NEAR(got_w[i], want_w[i], 1e-5f * std::max(1.0f, std::fabs(want_w[i]))) << "pair " << i;
  }
}

cpu::RouterConfig Config(int experts, int top_k, cpu::RouterScoring scoring, bool norm,
                         float scale, int n_group, int topk_group, cpu::GroupScoring gs) {
  cpu::RouterConfig c;
  c.num_experts = experts;
  c.top_k = top_k;
  c.scoring = scoring;
  c.norm_topk_prob = norm;
  c.routed_scaling_factor = scale;
  c.n_group = n_group;
  c.topk_group = topk_group;
  c.group_scoring = gs;
  return c;
}

TEST(RouterKernel, SoftmaxModels) {
  JANUS_SKIP_WITHOUT_GPU();
  using S = cpu::RouterScoring;
  using G = cpu::GroupScoring;
  Check(Config(8, 2, S::kSoftmax, true, 1.f, 1, 1, G::kTop2Sum), false, 64, 128, 1);     // Mixtral
  Check(Config(128, 8, S::kSoftmax, true, 1.f, 1, 1, G::kTop2Sum), false, 77, 256, 2);   // Qwen3
  Check(Config(60, 4, S::kSoftmax, false, 1.f, 1, 1, G::kTop2Sum), false, 33, 128, 3);   // Qwen2
  Check(Config(64, 8, S::kSoftmax, false, 1.f, 1, 1, G::kTop2Sum), false, 5, 64, 4);     // OLMoE
  Check(Config(512, 10, S::kSoftmax, true, 1.f, 1, 1, G::kTop2Sum), false, 9, 64, 5);    // wide
}

TEST(RouterKernel, DeepseekGroupLimited) {
  JANUS_SKIP_WITHOUT_GPU();
  using S = cpu::RouterScoring;
  using G = cpu::GroupScoring;
  // V3: sigmoid, correction bias, top2-sum groups, renormalised, scaled.
  Check(Config(256, 8, S::kSigmoid, true, 2.5f, 8, 4, G::kTop2Sum), true, 100, 128, 11);
  // V2: softmax, max groups, not renormalised, scaled.
  Check(Config(160, 6, S::kSoftmax, false, 16.f, 8, 3, G::kMax), false, 50, 128, 12);
  // top_k beyond the kept experts picks masked ones (0 for softmax, -inf for sigmoid), lower ids
  // first.
  Check(Config(16, 6, S::kSoftmax, false, 1.f, 4, 1, G::kMax), false, 20, 32, 13);
  Check(Config(16, 6, S::kSigmoid, true, 1.f, 4, 1, G::kTop2Sum), true, 20, 32, 14);
}

TEST(RouterKernel, NonFiniteLogitsAreFlagged) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(21);
  const int rows = 6, E = 32, K = 4;
  std::vector<float> logits = RandomFloats(rng, rows * E, -1, 1);
  logits[2 * E + 5] = NAN;
  logits[4 * E + 31] = INFINITY;
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_l, DeviceBuffer::FromHost(logits));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_w, DeviceBuffer::Create(4 * rows * K));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_i, DeviceBuffer::Create(4 * rows * K));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_bad, DeviceBuffer::FromHost(std::vector<int32_t>{0}));
  RouterParams p;
  p.num_experts = E;
  p.top_k = K;
  JANUS_ASSERT_OK(LaunchRouter(p, d_l.get<float>(), nullptr, rows, d_w.get<float>(),
                               d_i.get<int32_t>(), d_bad.get<int32_t>(), 0));
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> ids, d_i.ToHost<int32_t>());
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> bad, d_bad.ToHost<int32_t>());
  EXPECT_EQ(bad[0], 2);
  for (int k = 0; k < K; ++k) {
    EXPECT_EQ(ids[2 * K + k], -1);
    EXPECT_EQ(ids[4 * K + k], -1);
    EXPECT_GE(ids[0 * K + k], 0);
  }
}

TEST(RouterKernel, RejectsBadArguments) {
  float f = 0;
  int32_t i = 0;
  RouterParams p;
  p.num_experts = 600;  // > 512
  p.top_k = 2;
  EXPECT_EQ(LaunchRouter(p, &f, nullptr, 1, &f, &i, nullptr, 0).code(),
            absl::StatusCode::kInvalidArgument);
  p.num_experts = 64;
  p.n_group = 5;  // does not divide 64
  EXPECT_EQ(LaunchRouter(p, &f, nullptr, 1, &f, &i, nullptr, 0).code(),
            absl::StatusCode::kInvalidArgument);
  p.n_group = 8;
  p.topk_group = 9;
  EXPECT_EQ(LaunchRouter(p, &f, nullptr, 1, &f, &i, nullptr, 0).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace janus::kernels
