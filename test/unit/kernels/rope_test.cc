// RoPE against runtime/cpu RopeTable::Apply (default, YaRN; half-split and interleaved).
#include "kernels/rope.h"

#include <random>
#include <vector>

#include "runtime/cpu/rope.h"
#include "test/unit/kernels/gpu_test_util.h"

namespace janus::kernels {
namespace {

using testing::Bf16ToFloats;
using testing::RandomFloats;
using testing::RelativeError;
using testing::ToBf16;

void Check(const cpu::RopeConfig& config, int head_dim, int rows, int hq, int hk, int max_pos,
           uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << "rotary " << config.rotary_dim << " head_dim " << head_dim
                                    << " style " << static_cast<int>(config.style));
  absl::StatusOr<cpu::RopeTable> table = cpu::RopeTable::Create(config, max_pos);
  ASSERT_TRUE(table.ok()) << table.status();
  const int half = config.rotary_dim / 2;
  std::vector<float> cos(static_cast<size_t>(max_pos) * half), sin(cos.size());
  for (int p = 0; p < max_pos; ++p) table->CosSin(p, &cos[p * half], &sin[p * half]);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> pos_d(0, max_pos - 1);
  std::vector<int32_t> pos(rows);
  for (int& p : pos) p = pos_d(rng);
  const std::vector<uint16_t> q = ToBf16(RandomFloats(rng, size_t{1} * rows * hq * head_dim, -2, 2));
  const std::vector<uint16_t> k = ToBf16(RandomFloats(rng, size_t{1} * rows * hk * head_dim, -2, 2));
  std::vector<float> want_q = Bf16ToFloats(q), want_k = Bf16ToFloats(k);
  for (int r = 0; r < rows; ++r) {
    for (int h = 0; h < hq; ++h) table->Apply(&want_q[(size_t{1} * r * hq + h) * head_dim], pos[r]);
    for (int h = 0; h < hk; ++h) table->Apply(&want_k[(size_t{1} * r * hk + h) * head_dim], pos[r]);
  }
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_q, DeviceBuffer::FromHost(q));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_k, DeviceBuffer::FromHost(k));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_pos, DeviceBuffer::FromHost(pos));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_cos, DeviceBuffer::FromHost(cos));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_sin, DeviceBuffer::FromHost(sin));
  RopeShape s;
  s.rows = rows;
  s.num_q_heads = hq;
  s.num_k_heads = hk;
  s.head_dim = head_dim;
  s.rotary_dim = config.rotary_dim;
  s.max_positions = max_pos;
  s.layout = config.style == cpu::RopeStyle::kInterleaved ? RopeLayout::kInterleaved
                                                          : RopeLayout::kHalfSplit;
  JANUS_ASSERT_OK(LaunchRope(s, d_q.get<uint16_t>(), d_k.get<uint16_t>(), d_pos.get<int32_t>(),
                             d_cos.get<float>(), d_sin.get<float>(), 0));
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> gq, d_q.ToHost<uint16_t>());
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> gk, d_k.ToHost<uint16_t>());
  EXPECT_LT(RelativeError(Bf16ToFloats(gq), want_q), 4e-3);
  EXPECT_LT(RelativeError(Bf16ToFloats(gk), want_k), 4e-3);
  // Dims past rotary_dim are bit-identical.
  for (int r = 0; r < rows; ++r) {
    for (int h = 0; h < hq; ++h) {
      for (int d = config.rotary_dim; d < head_dim; ++d) {
        const size_t i = (size_t{1} * r * hq + h) * head_dim + d;
        ASSERT_EQ(gq[i], q[i]);
      }
    }
  }
}

TEST(Rope, HalfSplitDefault) {
  JANUS_SKIP_WITHOUT_GPU();
  cpu::RopeConfig c;
  c.theta = 1e6f;
  c.rotary_dim = 128;
  Check(c, 128, 37, 32, 4, 4096, 1);
}

TEST(Rope, HalfSplitPartialRotary) {
  JANUS_SKIP_WITHOUT_GPU();
  cpu::RopeConfig c;
  c.rotary_dim = 32;
  Check(c, 128, 9, 8, 2, 512, 2);
}

TEST(Rope, InterleavedYarnDeepseek) {
  JANUS_SKIP_WITHOUT_GPU();
  cpu::RopeConfig c;
  c.theta = 10000.f;
  c.style = cpu::RopeStyle::kInterleaved;
  c.scaling = cpu::RopeScaling::kYarn;
  c.factor = 40.f;
  c.original_max_position = 4096;
  c.beta_fast = 32.f;
  c.beta_slow = 1.f;
  c.mscale = 1.f;
  c.mscale_all_dim = 1.f;
  c.rotary_dim = 64;
  Check(c, 64, 21, 16, 1, 8192, 3);   // MLA q_rope / k_rope heads
  Check(c, 192, 5, 4, 0, 8192, 4);    // rotary part of a wider head, no k
}

TEST(Rope, PositionOutsideTableGivesNaN) {
  JANUS_SKIP_WITHOUT_GPU();
  std::vector<uint16_t> q(64, 0x3f80);
  std::vector<int32_t> pos = {100};
  std::vector<float> table(16 * 32, 0.5f);
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_q, DeviceBuffer::FromHost(q));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_p, DeviceBuffer::FromHost(pos));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_t, DeviceBuffer::FromHost(table));
  RopeShape s;
  s.rows = 1;
  s.num_q_heads = 1;
  s.head_dim = 64;
  s.rotary_dim = 64;
  s.max_positions = 16;
  JANUS_ASSERT_OK(LaunchRope(s, d_q.get<uint16_t>(), nullptr, d_p.get<int32_t>(),
                             d_t.get<float>(), d_t.get<float>(), 0));
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> got, d_q.ToHost<uint16_t>());
  for (uint16_t v : got) EXPECT_TRUE(std::isnan(Bf16ToFloat(v)));
}

TEST(Rope, RejectsBadArguments) {
  RopeShape s;
  s.rows = 1;
  s.num_q_heads = 1;
  s.head_dim = 64;
  s.max_positions = 8;
  s.rotary_dim = 65;
  uint16_t d[64];
  int32_t p = 0;
  float t = 0;
  EXPECT_EQ(LaunchRope(s, d, nullptr, &p, &t, &t, 0).code(), absl::StatusCode::kInvalidArgument);
  s.rotary_dim = 128;  // > head_dim
  EXPECT_EQ(LaunchRope(s, d, nullptr, &p, &t, &t, 0).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace janus::kernels
