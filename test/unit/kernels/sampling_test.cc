// GPU sampling against runtime/cpu Argmax and Sample (same seeds and step counters).
#include "kernels/sampling.h"

#include <cmath>
#include <random>
#include <vector>

#include "runtime/cpu/sampler.h"
#include "test/unit/kernels/gpu_test_util.h"

namespace janus::kernels {
namespace {

using testing::RandomFloats;

TEST(Argmax, MatchesCpuIncludingTies) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(1);
  for (int vocab : {7, 1000, 32001, 151936}) {
    const int rows = 9;
    std::vector<float> logits = RandomFloats(rng, size_t{1} * rows * vocab, -20, 20);
    // Row 1: the maximum appears twice; row 2: all -inf; row 3: one +inf; row 4: all equal.
    const float m = 100.f;
    logits[size_t{1} * vocab + vocab / 3] = m;
    logits[size_t{1} * vocab + vocab / 2] = m;
    for (int i = 0; i < vocab; ++i) logits[size_t{2} * vocab + i] = -INFINITY;
    logits[size_t{3} * vocab + vocab - 1] = INFINITY;
    for (int i = 0; i < vocab; ++i) logits[size_t{4} * vocab + i] = 0.5f;
    JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_l, DeviceBuffer::FromHost(logits));
    JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_t, DeviceBuffer::Create(4 * rows));
    JANUS_ASSERT_OK(d_t.Fill(0x7f));
    JANUS_ASSERT_OK(LaunchArgmax(d_l.get<float>(), rows, vocab, d_t.get<int32_t>(), nullptr, 0));
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    JANUS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> got, d_t.ToHost<int32_t>());
    for (int r = 0; r < rows; ++r) {
      absl::StatusOr<int32_t> want = cpu::Argmax(&logits[size_t{1} * r * vocab], vocab);
      ASSERT_TRUE(want.ok()) << want.status();
      EXPECT_EQ(got[r], *want) << "vocab " << vocab << " row " << r;
      cpu::SamplingParams greedy;
      EXPECT_EQ(got[r], *cpu::Sample(&logits[size_t{1} * r * vocab], vocab, greedy, 0));
    }
  }
}

TEST(Argmax, UnalignedRowsAndNaN) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(2);
  const int rows = 5, vocab = 1001;  // odd vocab: rows after the first are not 16-byte aligned
  std::vector<float> logits = RandomFloats(rng, size_t{1} * rows * vocab, -5, 5);
  logits[size_t{3} * vocab + 17] = NAN;
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_l, DeviceBuffer::FromHost(logits));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_t, DeviceBuffer::Create(4 * rows));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_n, DeviceBuffer::FromHost(std::vector<int32_t>{0}));
  JANUS_ASSERT_OK(LaunchArgmax(d_l.get<float>(), rows, vocab, d_t.get<int32_t>(),
                               d_n.get<int32_t>(), 0));
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> got, d_t.ToHost<int32_t>());
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> nan_rows, d_n.ToHost<int32_t>());
  EXPECT_EQ(nan_rows[0], 1);
  for (int r = 0; r < rows; ++r) {
    if (r == 3) {
      EXPECT_EQ(got[r], -1);
      continue;
    }
    EXPECT_EQ(got[r], *cpu::Argmax(&logits[size_t{1} * r * vocab], vocab)) << "row " << r;
  }
}

struct SampleCase {
  int vocab;
  float temperature;
  int top_k;
  float top_p;
};

void CheckSample(const SampleCase& c, uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << "vocab " << c.vocab << " T " << c.temperature << " top_k "
                                    << c.top_k << " top_p " << c.top_p);
  std::mt19937 rng(seed);
  const int rows = 64;
  std::vector<float> logits = RandomFloats(rng, size_t{1} * rows * c.vocab, -4, 4);
  // A few exact ties and a masked (-inf) block, as real logits have.
  for (int r = 0; r < rows; r += 3) {
    logits[size_t{1} * r * c.vocab + 1] = logits[size_t{1} * r * c.vocab + 2];
    for (int i = 0; i < c.vocab / 10; ++i) logits[size_t{1} * r * c.vocab + c.vocab - 1 - i] = -INFINITY;
  }
  std::vector<uint64_t> seeds(rows), steps(rows);
  for (int r = 0; r < rows; ++r) {
    seeds[r] = 1000 + r % 5;
    steps[r] = 17 * r + seed;
  }
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_l, DeviceBuffer::FromHost(logits));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_seed, DeviceBuffer::FromHost(seeds));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_step, DeviceBuffer::FromHost(steps));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_t, DeviceBuffer::Create(4 * rows));
  JANUS_ASSERT_OK(d_t.Fill(0x7f));
  SamplingConfig config{c.temperature, c.top_k, c.top_p};
  JANUS_ASSERT_OK(LaunchSample(d_l.get<float>(), rows, c.vocab, config, d_seed.get<uint64_t>(),
                               d_step.get<uint64_t>(), d_t.get<int32_t>(), nullptr, 0));
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> got, d_t.ToHost<int32_t>());
  for (int r = 0; r < rows; ++r) {
    cpu::SamplingParams p;
    p.temperature = c.temperature;
    p.top_k = c.top_k;
    p.top_p = c.top_p;
    p.seed = seeds[r];
    absl::StatusOr<int32_t> want = cpu::Sample(&logits[size_t{1} * r * c.vocab], c.vocab, p, steps[r]);
    ASSERT_TRUE(want.ok()) << want.status();
    EXPECT_EQ(got[r], *want) << "row " << r;
  }
}

TEST(Sample, TopKTopPTemperatureMatchCpu) {
  JANUS_SKIP_WITHOUT_GPU();
  uint32_t seed = 1;
  for (int vocab : {151936, 32000}) {
    CheckSample({vocab, 0.7f, 50, 1.0f}, seed++);
    CheckSample({vocab, 1.0f, 20, 0.9f}, seed++);
    CheckSample({vocab, 1.3f, 1024, 0.5f}, seed++);
    CheckSample({vocab, 0.6f, 7, 0.95f}, seed++);
    CheckSample({vocab, 1.0f, 1, 1.0f}, seed++);  // top_k 1: greedy
    CheckSample({vocab, 0.0f, 0, 1.0f}, seed++);  // temperature 0: greedy, any vocab
  }
  CheckSample({1000, 1.0f, 0, 0.8f}, seed++);      // all candidates (vocab <= 1024)
  CheckSample({300, 2.0f, 0, 1.0f}, seed++);
}

TEST(Sample, RejectsLargeCandidateSetsAndBadParams) {
  float f = 0;
  int32_t t = 0;
  uint64_t u = 0;
  EXPECT_EQ(LaunchSample(&f, 1, 151936, {1.0f, 0, 0.9f}, &u, &u, &t, nullptr, 0).code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(LaunchSample(&f, 1, 151936, {1.0f, 2000, 1.0f}, &u, &u, &t, nullptr, 0).code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(LaunchSample(&f, 1, 100, {-1.0f, 5, 1.0f}, &u, &u, &t, nullptr, 0).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LaunchSample(&f, 1, 100, {1.0f, 5, 0.0f}, &u, &u, &t, nullptr, 0).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LaunchSample(&f, 1, 100, {1.0f, -1, 1.0f}, &u, &u, &t, nullptr, 0).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Argmax, RejectsBadArguments) {
  float f = 0;
  int32_t t = 0;
  EXPECT_EQ(LaunchArgmax(&f, 1, 0, &t, nullptr, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LaunchArgmax(nullptr, 1, 4, &t, nullptr, 0).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace janus::kernels
