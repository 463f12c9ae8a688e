// GPU sampling against runtime/cpu Argmax and Sample (same seeds and step counters).
#include "kernels/sampling.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
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
  JANUS_ASSERT_OK(
      LaunchArgmax(d_l.get<float>(), rows, vocab, d_t.get<int32_t>(), d_n.get<int32_t>(), 0));
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

// One LaunchSample on device copies of the inputs (workspace from SampleWorkspaceBytes); outputs
// are poisoned first. *nan_rows (if given) receives the NaN row count.
absl::StatusOr<std::vector<int32_t>> GpuSample(const DeviceBuffer& d_logits, int rows, int vocab,
                                               const SamplingConfig& config,
                                               const std::vector<uint64_t>& seeds,
                                               const std::vector<uint64_t>& steps,
                                               int32_t* nan_rows = nullptr) {
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_seed, DeviceBuffer::FromHost(seeds));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_step, DeviceBuffer::FromHost(steps));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_t, DeviceBuffer::Create(4 * rows));
  JANUS_RETURN_IF_ERROR(d_t.Fill(0x7f));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_n, DeviceBuffer::FromHost(std::vector<int32_t>{0}));
  const size_t ws_bytes = SampleWorkspaceBytes(rows, vocab, config);
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer ws, DeviceBuffer::Create(ws_bytes));
  JANUS_RETURN_IF_ERROR(ws.Fill(0x5a));  // the kernels must not depend on its contents
  JANUS_RETURN_IF_ERROR(LaunchSample(
      d_logits.get<float>(), rows, vocab, config, d_seed.get<uint64_t>(), d_step.get<uint64_t>(),
      d_t.get<int32_t>(), d_n.get<int32_t>(), ws.get(), ws_bytes, 0));
  JANUS_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
  if (nan_rows != nullptr) {
    JANUS_ASSIGN_OR_RETURN(std::vector<int32_t> n, d_n.ToHost<int32_t>());
    *nan_rows = n[0];
  }
  return d_t.ToHost<int32_t>();
}

// cpu::Sample's token, and whether the draw was decided within 1e-12 (relative to the kept mass)
// of a cumulative edge: u * total next to an edge of the chosen token's interval, or top_p * total
// next to an edge around the cut. Only there may a GPU sum, associated differently from the CPU's
// sequential double loop (and with a 1-ulp exp), pick another token.
struct Reference {
  int32_t token = -1;
  bool near_edge = false;
};

Reference CpuReference(const float* logits, int vocab, const SamplingConfig& c, uint64_t seed,
                       uint64_t step) {
  cpu::SamplingParams p;
  p.temperature = c.temperature;
  p.top_k = c.top_k;
  p.top_p = c.top_p;
  p.seed = seed;
  Reference ref;
  absl::StatusOr<int32_t> want = cpu::Sample(logits, vocab, p, step);
  if (!want.ok()) return ref;  // NaN: the GPU gives -1
  ref.token = *want;
  const int32_t best = *cpu::Argmax(logits, vocab);
  if (c.temperature == 0 || c.top_k == 1 || !std::isfinite(logits[best])) return ref;
  // The CPU's procedure again, keeping its cumulative sums.
  std::vector<int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [logits](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  int kept = (c.top_k > 0 && c.top_k < vocab) ? c.top_k : vocab;
  const double t = c.temperature;
  const double top = static_cast<double>(logits[order[0]]) / t;
  std::vector<double> cum(kept);
  double total = 0;
  for (int i = 0; i < kept; ++i) {
    total += std::exp(static_cast<double>(logits[order[i]]) / t - top);
    cum[i] = total;
  }
  const double eps = 1e-12 * total;
  auto near = [eps](double a, double b) { return std::abs(a - b) <= eps; };
  if (c.top_p < 1) {
    const double threshold = static_cast<double>(c.top_p) * total;
    int n = 0;
    while (n < kept && cum[n] < threshold) ++n;
    n = std::min(n + 1, kept);
    ref.near_edge |= near(threshold, cum[n - 1]) || (n >= 2 && near(threshold, cum[n - 2]));
    kept = n;
  }
  const double target = cpu::Uniform01(seed, step) * cum[kept - 1];
  int i = 0;
  while (i < kept - 1 && !(target < cum[i])) ++i;
  EXPECT_EQ(order[i], ref.token) << "the test's replica of cpu::Sample disagrees";
  ref.near_edge |= near(target, cum[i]) || (i > 0 && near(target, cum[i - 1]));
  return ref;
}

struct DrawStats {
  int draws = 0;
  int mismatches = 0;
  int near_edge = 0;
};

// Draws `sets` batches (new seeds and step counters each) from the logits and compares every row
// with CpuReference: equal tokens, or a mismatch at a near edge.
void CompareDraws(const std::vector<float>& logits, int rows, int vocab, const SamplingConfig& c,
                  int sets, std::mt19937_64& rng, DrawStats& stats) {
  SCOPED_TRACE(::testing::Message() << "vocab " << vocab << " T " << c.temperature << " top_k "
                                    << c.top_k << " top_p " << c.top_p);
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_l, DeviceBuffer::FromHost(logits));
  for (int s = 0; s < sets; ++s) {
    std::vector<uint64_t> seeds(rows), steps(rows);
    for (int r = 0; r < rows; ++r) {
      seeds[r] = rng();
      steps[r] = rng() % 100000;
    }
    JANUS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> got,
                               GpuSample(d_l, rows, vocab, c, seeds, steps));
    for (int r = 0; r < rows; ++r) {
      const Reference want =
          CpuReference(&logits[size_t{1} * r * vocab], vocab, c, seeds[r], steps[r]);
      ++stats.draws;
      stats.near_edge += want.near_edge;
      if (got[r] == want.token) continue;
      ++stats.mismatches;
      EXPECT_TRUE(want.near_edge) << "row " << r << " set " << s << ": GPU " << got[r] << ", CPU "
                                  << want.token << " (seed " << seeds[r] << ", step " << steps[r]
                                  << ")";
    }
  }
}

void ExpectRareMismatches(const DrawStats& stats) {
  EXPECT_LE(stats.mismatches * 1000, std::max(stats.draws, 1000))
      << stats.mismatches << " mismatches (all at near edges) in " << stats.draws << " draws";
  std::printf("%d draws, %d mismatches, %d decided within 1e-12 of an edge\n", stats.draws,
              stats.mismatches, stats.near_edge);
}

// The small path (<= 1024 candidates) sums in the CPU's order: tokens equal exactly.
void CheckSmallPathExact(const SamplingConfig& c, int vocab, uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << "vocab " << vocab << " T " << c.temperature << " top_k "
                                    << c.top_k << " top_p " << c.top_p);
  std::mt19937 rng(seed);
  const int rows = 64;
  std::vector<float> logits = RandomFloats(rng, size_t{1} * rows * vocab, -4, 4);
  // A few exact ties and a masked (-inf) block, as real logits have.
  for (int r = 0; r < rows; r += 3) {
    logits[size_t{1} * r * vocab + 1] = logits[size_t{1} * r * vocab + 2];
    for (int i = 0; i < vocab / 10; ++i) logits[size_t{1} * r * vocab + vocab - 1 - i] = -INFINITY;
  }
  std::vector<uint64_t> seeds(rows), steps(rows);
  for (int r = 0; r < rows; ++r) {
    seeds[r] = 1000 + r % 5;
    steps[r] = 17 * r + seed;
  }
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_l, DeviceBuffer::FromHost(logits));
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> got,
                             GpuSample(d_l, rows, vocab, c, seeds, steps));
  for (int r = 0; r < rows; ++r) {
    cpu::SamplingParams p;
    p.temperature = c.temperature;
    p.top_k = c.top_k;
    p.top_p = c.top_p;
    p.seed = seeds[r];
    absl::StatusOr<int32_t> want = cpu::Sample(&logits[size_t{1} * r * vocab], vocab, p, steps[r]);
    ASSERT_TRUE(want.ok()) << want.status();
    EXPECT_EQ(got[r], *want) << "row " << r;
  }
}

TEST(Sample, TopKTopPTemperatureMatchCpu) {
  JANUS_SKIP_WITHOUT_GPU();
  uint32_t seed = 1;
  for (int vocab : {151936, 32000}) {
    CheckSmallPathExact({0.7f, 50, 1.0f}, vocab, seed++);
    CheckSmallPathExact({1.0f, 20, 0.9f}, vocab, seed++);
    CheckSmallPathExact({1.3f, 1024, 0.5f}, vocab, seed++);
    CheckSmallPathExact({0.6f, 7, 0.95f}, vocab, seed++);
    CheckSmallPathExact({1.0f, 1, 1.0f}, vocab, seed++);  // top_k 1: greedy
    CheckSmallPathExact({0.0f, 0, 1.0f}, vocab, seed++);  // temperature 0: greedy, any vocab
  }
  CheckSmallPathExact({1.0f, 0, 0.8f}, 1000, seed++);  // all candidates (vocab <= 1024)
  CheckSmallPathExact({2.0f, 0, 1.0f}, 300, seed++);
}

// Uniform logits in [-s, s] (never 0) with a random scale s per row, and a few -inf entries.
std::vector<float> ScaledRandomLogits(std::mt19937& rng, int rows, int vocab) {
  std::vector<float> logits = RandomFloats(rng, size_t{1} * rows * vocab, -1, 1);
  std::uniform_real_distribution<float> scale(0.5f, 12.f);
  for (int r = 0; r < rows; ++r) {
    const float s = scale(rng);
    float* row = &logits[size_t{1} * r * vocab];
    for (int i = 0; i < vocab; ++i) row[i] *= s;
    for (int i = 0; i < vocab / 50; ++i) row[rng() % vocab] = -INFINITY;
  }
  return logits;
}

TEST(Sample, MatchesCpuForAnyCandidateCount) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(11);
  std::mt19937_64 draw_rng(12);
  DrawStats stats;
  for (int vocab : {1000, 4099, 32000, 151936}) {
    const int rows = vocab > 100000 ? 3 : 6;
    const std::vector<float> logits = ScaledRandomLogits(rng, rows, vocab);
    for (int top_k : {0, 1, 50, 1024, 1025, 5000}) {
      for (float top_p : {1.0f, 0.9f, 0.3f}) {
        for (float temperature : {0.7f, 1.3f}) {
          CompareDraws(logits, rows, vocab, {temperature, top_k, top_p}, 2, draw_rng, stats);
        }
      }
    }
  }
  ExpectRareMismatches(stats);
}

// Ties decide the order by id; tie groups larger than one shared-memory gather and outliers that
// squeeze the buckets take the narrowing levels of the large path.
TEST(Sample, TiesAndOutliersMatchCpu) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(21);
  std::mt19937_64 draw_rng(22);
  DrawStats stats;
  for (int vocab : {4099, 32000, 151936}) {
    const int rows = 7;
    std::vector<float> logits = RandomFloats(rng, size_t{1} * rows * vocab, -4, 4);
    auto row = [&](int r) { return &logits[size_t{1} * r * vocab]; };
    const float levels[] = {-1.f, 0.5f, 1.5f, 2.f};
    std::normal_distribution<float> normal(0.f, 3.f);
    for (int i = 0; i < vocab; ++i) {
      row(0)[i] = 0.75f;              // all equal
      row(1)[i] = levels[rng() % 4];  // four huge tie groups
      float x = normal(rng);          // bf16-valued logits, as models produce
      uint32_t bits;
      std::memcpy(&bits, &x, 4);
      bits &= 0xffff0000u;
      std::memcpy(&x, &bits, 4);
      row(2)[i] = x == 0.f ? 0.25f : x;
      row(6)[i] = (rng() % 2) ? 0.f : -0.f;  // +0 and -0 compare equal: ordered by id
    }
    for (int i = 0; i < 5; ++i) row(3)[rng() % vocab] = 9.f;  // a tied maximum
    for (int i = 0; i < 100; ++i) {
      row(4)[rng() % vocab] = -1e30f;  // outliers stretch the logit range
      row(4)[rng() % vocab] = -INFINITY;
    }
    for (int i = 0; i < vocab / 2; ++i) row(5)[rng() % vocab] = -INFINITY;
    for (int top_k : {0, 1025, 5000, 20000}) {
      for (float top_p : {1.0f, 0.9f, 0.3f}) {
        for (float temperature : {0.7f, 1.3f}) {
          CompareDraws(logits, rows, vocab, {temperature, top_k, top_p}, 2, draw_rng, stats);
        }
      }
    }
  }
  ExpectRareMismatches(stats);
}

TEST(Sample, NaNInfiniteAndMaskedRows) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(31);
  for (int vocab : {1000, 32000}) {
    for (const SamplingConfig& c : {SamplingConfig{1.0f, 0, 0.9f}, SamplingConfig{0.8f, 2000, 1.0f},
                                    SamplingConfig{0.8f, 50, 0.9f}}) {
      SCOPED_TRACE(::testing::Message() << "vocab " << vocab << " top_k " << c.top_k);
      const int rows = 5;
      std::vector<float> logits = RandomFloats(rng, size_t{1} * rows * vocab, -3, 3);
      logits[size_t{1} * vocab + vocab / 2] = NAN;                                // row 1: NaN
      logits[size_t{2} * vocab + 7] = INFINITY;                                   // row 2: greedy
      for (int i = 0; i < vocab; ++i) logits[size_t{3} * vocab + i] = -INFINITY;  // row 3: id 0
      logits[size_t{3} * vocab] = 1.f;
      std::swap(logits[size_t{3} * vocab], logits[size_t{3} * vocab + vocab - 1]);
      JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_l, DeviceBuffer::FromHost(logits));
      const std::vector<uint64_t> seeds(rows, 5), steps = {1, 2, 3, 4, 5};
      int32_t nan_rows = -1;
      JANUS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> got,
                                 GpuSample(d_l, rows, vocab, c, seeds, steps, &nan_rows));
      EXPECT_EQ(nan_rows, 1);
      EXPECT_EQ(got[1], -1);
      EXPECT_EQ(got[2], 7);
      EXPECT_EQ(got[3], vocab - 1);  // the only finite logit
      for (int r : {0, 2, 3, 4}) {
        const Reference want =
            CpuReference(&logits[size_t{1} * r * vocab], vocab, c, seeds[r], steps[r]);
        EXPECT_TRUE(got[r] == want.token || want.near_edge) << "row " << r;
      }
    }
  }
}

// A captured LaunchSample replayed with new seeds and step counters (written to the same device
// arrays) gives the tokens of direct launches.
TEST(Sample, CudaGraphReplayMatchesDirectLaunches) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(41);
  std::mt19937_64 draw_rng(42);
  const int rows = 4, vocab = 151936;
  const std::vector<float> logits = ScaledRandomLogits(rng, rows, vocab);
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_l, DeviceBuffer::FromHost(logits));
  for (const SamplingConfig& c : {SamplingConfig{0.8f, 0, 0.9f}, SamplingConfig{1.1f, 5000, 1.0f},
                                  SamplingConfig{0.8f, 50, 0.9f}}) {
    SCOPED_TRACE(::testing::Message() << "top_k " << c.top_k << " top_p " << c.top_p);
    JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_seed, DeviceBuffer::Create(8 * rows));
    JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_step, DeviceBuffer::Create(8 * rows));
    JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_t, DeviceBuffer::Create(4 * rows));
    const size_t ws_bytes = SampleWorkspaceBytes(rows, vocab, c);
    JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer ws, DeviceBuffer::Create(ws_bytes));
    cudaStream_t stream;
    ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
    ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), cudaSuccess);
    const absl::Status launched = LaunchSample(
        d_l.get<float>(), rows, vocab, c, d_seed.get<uint64_t>(), d_step.get<uint64_t>(),
        d_t.get<int32_t>(), nullptr, ws.get(), ws_bytes, stream);
    cudaGraph_t graph;
    ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
    JANUS_ASSERT_OK(launched);
    cudaGraphExec_t exec;
    ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
    for (int replay = 0; replay < 3; ++replay) {
      std::vector<uint64_t> seeds(rows), steps(rows);
      for (int r = 0; r < rows; ++r) {
        seeds[r] = draw_rng();
        steps[r] = draw_rng() % 1000;
      }
      ASSERT_EQ(cudaMemcpy(d_seed.get(), seeds.data(), 8 * rows, cudaMemcpyHostToDevice),
                cudaSuccess);
      ASSERT_EQ(cudaMemcpy(d_step.get(), steps.data(), 8 * rows, cudaMemcpyHostToDevice),
                cudaSuccess);
      JANUS_ASSERT_OK(d_t.Fill(0x7f));
      ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
      ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
      JANUS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> from_graph, d_t.ToHost<int32_t>());
      JANUS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> direct,
                                 GpuSample(d_l, rows, vocab, c, seeds, steps));
      EXPECT_EQ(from_graph, direct) << "replay " << replay;
      for (int r = 0; r < rows; ++r) {
        const Reference want =
            CpuReference(&logits[size_t{1} * r * vocab], vocab, c, seeds[r], steps[r]);
        EXPECT_TRUE(from_graph[r] == want.token || want.near_edge) << "row " << r;
      }
    }
    EXPECT_EQ(cudaGraphExecDestroy(exec), cudaSuccess);
    EXPECT_EQ(cudaGraphDestroy(graph), cudaSuccess);
    EXPECT_EQ(cudaStreamDestroy(stream), cudaSuccess);
  }
}

// Runs without a GPU: every check happens before anything is enqueued.
TEST(Sample, RejectsBadArguments) {
  const SamplingConfig all{1.0f, 0, 0.9f};
  const int vocab = 151936;
  const size_t need = SampleWorkspaceBytes(2, vocab, all);
  EXPECT_GT(need, 0u);
  EXPECT_EQ(SampleWorkspaceBytes(4, vocab, all), 2 * need);
  EXPECT_GT(SampleWorkspaceBytes(2, 4099, {1.0f, 1025, 1.0f}), 0u);
  EXPECT_EQ(SampleWorkspaceBytes(2, vocab, {0.0f, 0, 1.0f}), 0u);   // greedy
  EXPECT_EQ(SampleWorkspaceBytes(2, vocab, {1.0f, 1, 1.0f}), 0u);   // top_k 1: greedy
  EXPECT_EQ(SampleWorkspaceBytes(2, vocab, {1.0f, 50, 1.0f}), 0u);  // <= 1024 candidates
  EXPECT_EQ(SampleWorkspaceBytes(2, 1000, {1.0f, 0, 1.0f}), 0u);
  EXPECT_EQ(SampleWorkspaceBytes(0, vocab, all), 0u);

  alignas(16) unsigned char ws[16];
  float f = 0;
  int32_t t = 0;
  uint64_t u = 0;
  auto launch = [&](int rows, int v, const SamplingConfig& c, void* w, size_t bytes) {
    return LaunchSample(&f, rows, v, c, &u, &u, &t, nullptr, w, bytes, 0).code();
  };
  constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(launch(2, vocab, all, ws, need - 1), kInvalid);   // short workspace
  EXPECT_EQ(launch(2, vocab, all, nullptr, need), kInvalid);  // no workspace
  EXPECT_EQ(launch(2, vocab, all, ws + 8, need), kInvalid);   // misaligned
  EXPECT_EQ(launch(1, kMaxSampleVocab + 1, all, ws, ~size_t{0}), kInvalid);
  EXPECT_EQ(launch(-1, 100, {1.0f, 5, 1.0f}, nullptr, 0), kInvalid);
  EXPECT_EQ(launch(1, 0, {1.0f, 5, 1.0f}, nullptr, 0), kInvalid);
  EXPECT_EQ(launch(1, 100, {-1.0f, 5, 1.0f}, nullptr, 0), kInvalid);
  EXPECT_EQ(launch(1, 100, {NAN, 5, 1.0f}, nullptr, 0), kInvalid);
  EXPECT_EQ(launch(1, 100, {1.0f, 5, 0.0f}, nullptr, 0), kInvalid);
  EXPECT_EQ(launch(1, 100, {1.0f, 5, 1.5f}, nullptr, 0), kInvalid);
  EXPECT_EQ(launch(1, 100, {1.0f, -1, 1.0f}, nullptr, 0), kInvalid);
  EXPECT_EQ(
      LaunchSample(nullptr, 1, 100, {1.0f, 5, 1.0f}, &u, &u, &t, nullptr, nullptr, 0, 0).code(),
      kInvalid);
  EXPECT_EQ(
      LaunchSample(&f, 1, 100, {1.0f, 5, 1.0f}, nullptr, &u, &t, nullptr, nullptr, 0, 0).code(),
      kInvalid);
  EXPECT_TRUE(launch(0, vocab, all, nullptr, 0) == absl::StatusCode::kOk);  // nothing to do
}

TEST(Argmax, RejectsBadArguments) {
  float f = 0;
  int32_t t = 0;
  EXPECT_EQ(LaunchArgmax(&f, 1, 0, &t, nullptr, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LaunchArgmax(nullptr, 1, 4, &t, nullptr, 0).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace janus::kernels
