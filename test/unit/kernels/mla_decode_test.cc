// LaunchMlaDecode against a double-precision reference of weight-absorbed MLA decode on the same
// bf16 inputs: shuffled pages of several sizes (tiles spanning pages), lengths around the 64-token
// tile, empty sequences next to long ones, 16/32/64-head blocks with padded rows, one split and many
// (several tiles each), poisoned outputs and workspace, graph capture, bit-identical relaunches, and
// argument errors (those run without a GPU). P is rounded to bf16 before PV (as FlashAttention does);
// the expected relative error is ~2e-3, the bound 1e-2.
#include "kernels/mla_decode.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/device_info.h"
#include "test/unit/kernels/gpu_test_util.h"

namespace janus::kernels {
namespace {

using testing::Bf16ToFloats;
using testing::RandomFloats;
using testing::ToBf16;

struct Case {
  int heads;
  std::vector<int> lens;
  int page_size;
};

struct RunInfo {
  int splits = 0;
  int max_tiles_per_split = 0;  // 64-token tiles one block walks for the longest sequence
};

// Launches `c` `launches` times (the output poisoned before each), checks every result against the
// reference and that the launches agree bit for bit.
void RunCase(const Case& c, bool graph, RunInfo* info = nullptr, int launches = 1) {
  std::mt19937 rng(17 + c.heads + static_cast<int>(c.lens.size()));
  const int batch = static_cast<int>(c.lens.size());
  const int max_len = std::max(1, *std::max_element(c.lens.begin(), c.lens.end()));
  const int pages_per_seq = (max_len + c.page_size - 1) / c.page_size;
  const int num_pages = batch * pages_per_seq + 3;
  std::vector<int32_t> order(num_pages);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<int32_t> table(order.begin(), order.begin() + batch * pages_per_seq);
  const size_t cache_elems = size_t{1} * num_pages * c.page_size * kMlaRow;
  const std::vector<uint16_t> cache_bits = ToBf16(RandomFloats(rng, cache_elems, -1.f, 1.f));
  const std::vector<float> cache = Bf16ToFloats(cache_bits);
  const size_t q_elems = size_t{1} * batch * c.heads * kMlaRow;
  const std::vector<uint16_t> q_bits = ToBf16(RandomFloats(rng, q_elems, -1.f, 1.f));
  const std::vector<float> q = Bf16ToFloats(q_bits);
  const float scale = 1.0f / std::sqrt(192.0f);

  MlaDecodeShape shape{batch, c.heads, c.page_size, pages_per_seq, max_len};
  int sms = 0;
  JANUS_ASSERT_OK(CurrentDeviceInfo(&sms, nullptr));
  if (info != nullptr) {
    info->splits = MlaDecodeSplits(shape, sms);
    const int tiles = (max_len + 63) / 64;
    info->max_tiles_per_split = (tiles + info->splits - 1) / info->splits;
  }
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_cache, DeviceBuffer::FromHost(cache_bits));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_q, DeviceBuffer::FromHost(q_bits));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_table, DeviceBuffer::FromHost(table));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_lens, DeviceBuffer::FromHost(c.lens));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_out,
                             DeviceBuffer::Create(2 * size_t{1} * batch * c.heads * kMlaLatent));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer ws,
                             DeviceBuffer::Create(MlaDecodeWorkspaceBytes(shape, sms)));
  JANUS_ASSERT_OK(ws.Fill(0xff));
  MlaDecodeArgs a;
  a.q = d_q.get<uint16_t>();
  a.cache = d_cache.get<uint16_t>();
  a.block_table = d_table.get<int32_t>();
  a.seq_lens = d_lens.get<int32_t>();
  a.scale = scale;
  a.out = d_out.get<uint16_t>();
  a.workspace = ws.get();
  a.workspace_bytes = ws.bytes();
  std::vector<uint16_t> first_bits;
  for (int launch = 0; launch < launches; ++launch) {
    JANUS_ASSERT_OK(d_out.Fill(0xff));
    if (graph) {
      cudaStream_t stream;
      ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
      JANUS_ASSERT_OK(LaunchMlaDecode(shape, a, stream));  // module load outside the capture
      ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
      JANUS_ASSERT_OK(d_out.Fill(0xff));
      cudaGraph_t g;
      cudaGraphExec_t exec;
      ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), cudaSuccess);
      JANUS_ASSERT_OK(LaunchMlaDecode(shape, a, stream));
      ASSERT_EQ(cudaStreamEndCapture(stream, &g), cudaSuccess);
      ASSERT_EQ(cudaGraphInstantiate(&exec, g, 0), cudaSuccess);
      ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
      ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
      cudaGraphExecDestroy(exec);
      cudaGraphDestroy(g);
      cudaStreamDestroy(stream);
    } else {
      JANUS_ASSERT_OK(LaunchMlaDecode(shape, a, nullptr));
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    }
    JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> out_bits, d_out.ToHost<uint16_t>());
    if (launch == 0) {
      first_bits = out_bits;
    } else {
      ASSERT_TRUE(out_bits == first_bits) << "launch " << launch << " differs from the first";
    }
  }
  const std::vector<float> out = Bf16ToFloats(first_bits);

  double worst = 0;
  for (int b = 0; b < batch; ++b) {
    const int len = c.lens[b];
    for (int h = 0; h < c.heads; ++h) {
      const float* qh = &q[(size_t{1} * b * c.heads + h) * kMlaRow];
      std::vector<double> s(len);
      double mx = -INFINITY;
      for (int t = 0; t < len; ++t) {
        const int page = table[b * pages_per_seq + t / c.page_size];
        const float* k = &cache[(size_t{1} * page * c.page_size + t % c.page_size) * kMlaRow];
        double dot = 0;
        for (int d = 0; d < kMlaRow; ++d) dot += static_cast<double>(qh[d]) * k[d];
        s[t] = dot * scale;
        mx = std::max(mx, s[t]);
      }
      std::vector<double> want(kMlaLatent, 0.0);
      double den = 0;
      for (int t = 0; t < len; ++t) {
        const double w = std::exp(s[t] - mx);
        den += w;
        const int page = table[b * pages_per_seq + t / c.page_size];
        const float* v = &cache[(size_t{1} * page * c.page_size + t % c.page_size) * kMlaRow];
        for (int d = 0; d < kMlaLatent; ++d) want[d] += w * v[d];
      }
      const float* got = &out[(size_t{1} * b * c.heads + h) * kMlaLatent];
      double num = 0, norm = 0;
      for (int d = 0; d < kMlaLatent; ++d) {
        const double w = den > 0 ? want[d] / den : 0.0;
        ASSERT_TRUE(std::isfinite(got[d])) << "b " << b << " h " << h << " d " << d;
        num += (got[d] - w) * (got[d] - w);
        norm += w * w;
      }
      if (len == 0) {
        EXPECT_EQ(num, 0.0) << "an empty sequence gives o = 0";
      } else {
        EXPECT_LE(std::sqrt(num / norm), 1e-2) << "b " << b << " len " << len << " h " << h;
        worst = std::max(worst, std::sqrt(num / norm));
      }
    }
  }
  std::printf("heads %d batch %d page %d splits %d: worst relative error %.2e (bound 1e-2)\n",
              c.heads, batch, c.page_size, MlaDecodeSplits(shape, sms), worst);
}

TEST(MlaDecode, MatchesReference16Heads) {
  JANUS_SKIP_WITHOUT_GPU();
  RunCase({16, {1, 31, 33, 1000, 4096, 0, 65}, 16}, false);
}

TEST(MlaDecode, MatchesReference128HeadsOddPages) {
  JANUS_SKIP_WITHOUT_GPU();
  RunCase({128, {7, 300, 2049}, 5}, false);
  RunCase({20, {100, 3}, 64}, false);  // a partial head chunk
}

TEST(MlaDecode, CapturedInAGraph) {
  JANUS_SKIP_WITHOUT_GPU();
  RunCase({16, {500, 12}, 16}, true);
}

// Tiles cross page boundaries (1, 48) or hold several pages (1, 16); lengths around the 64-token
// tile and empty sequences next to long ones.
TEST(MlaDecode, PageSizesAndTileEdges) {
  JANUS_SKIP_WITHOUT_GPU();
  for (int page : {1, 16, 64, 48}) {
    SCOPED_TRACE(page);
    RunCase({16, {1, 63, 64, 65, 0, 4096, 128, 0}, page}, false);
  }
}

TEST(MlaDecode, DeepSeekV3HeadsTileEdges) {
  JANUS_SKIP_WITHOUT_GPU();
  RunCase({128, {1, 63, 64, 65, 0, 4096}, 16}, false);
  RunCase({128, {129, 0, 640}, 48}, false);
}

// 16-, 32- and 64-head blocks, padded rows in each, and a second 64-head group that is partial.
TEST(MlaDecode, HeadCountsPadRows) {
  JANUS_SKIP_WITHOUT_GPU();
  for (int heads : {1, 7, 20, 32, 33, 64, 100}) {
    SCOPED_TRACE(heads);
    RunCase({heads, {65, 0, 700, 1}, 48}, false);
  }
}

// Splits that walk several tiles (the two-stage cp.async pipeline and the running rescale).
TEST(MlaDecode, SplitsOfSeveralTiles) {
  JANUS_SKIP_WITHOUT_GPU();
  RunInfo info;
  RunCase({128, {4096, 0, 1000, 65}, 16}, false, &info);
  EXPECT_GT(info.splits, 1);
  EXPECT_GT(info.max_tiles_per_split, 1);
  RunCase({20, {2000, 1999, 1500, 0, 1, 64, 2000, 777}, 32}, false, &info);
  EXPECT_GT(info.max_tiles_per_split, 1);
}

// As many 16-head sequences as SMs (and 128-head ones): one split, the split kernel normalises and
// writes the output itself, no merge.
TEST(MlaDecode, OneSplitWritesTheOutput) {
  JANUS_SKIP_WITHOUT_GPU();
  int sms = 0;
  JANUS_ASSERT_OK(CurrentDeviceInfo(&sms, nullptr));
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> len(0, 300);
  std::vector<int> lens(sms);
  for (int& l : lens) l = len(rng);
  lens[0] = 300;
  lens[1] = 0;
  RunInfo info;
  RunCase({16, lens, 16}, false, &info);
  EXPECT_EQ(info.splits, 1);
  EXPECT_GT(info.max_tiles_per_split, 1);
  std::uniform_int_distribution<int> short_len(0, 130);
  for (int& l : lens) l = short_len(rng);
  lens[0] = 130;
  RunCase({128, lens, 16}, false, &info);
  EXPECT_EQ(info.splits, 1);
}

TEST(MlaDecode, RepeatedLaunchesBitIdentical) {
  JANUS_SKIP_WITHOUT_GPU();
  RunCase({128, {4096, 17, 0, 999}, 16}, false, nullptr, 3);
  RunCase({16, {4096, 17, 0, 999}, 16}, false, nullptr, 3);
}

TEST(MlaDecode, RejectsBadArguments) {
  MlaDecodeArgs a;
  EXPECT_EQ(LaunchMlaDecode({1, 0, 16, 4, 64}, a, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LaunchMlaDecode({1, 16, 16, 4, 65}, a, nullptr).code(),
            absl::StatusCode::kInvalidArgument);  // more tokens than the table holds
  a.scale = 1.f;
  EXPECT_EQ(LaunchMlaDecode({1, 16, 16, 4, 64}, a, nullptr).code(),
            absl::StatusCode::kInvalidArgument);  // null pointers
  // Misaligned q (cp.async stages it in 16-byte pieces); rejected before any device access.
  alignas(16) static uint16_t fake[64];
  a.q = fake + 1;
  a.cache = fake;
  a.block_table = reinterpret_cast<const int32_t*>(fake);
  a.seq_lens = reinterpret_cast<const int32_t*>(fake);
  a.out = fake;
  a.workspace = fake;
  a.workspace_bytes = 1 << 30;
  EXPECT_EQ(LaunchMlaDecode({1, 16, 16, 4, 64}, a, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace janus::kernels
