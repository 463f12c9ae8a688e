// Paged decode attention against a double-precision reference written here (runtime/cpu only
// exposes attention as a whole layer with its projections): o = softmax(q·kᵀ * scale) v over the
// sequence's cached positions, GQA head mapping h -> h / (num_heads / num_kv_heads).
#include "kernels/decode_attention.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/device_info.h"
#include "test/unit/kernels/gpu_test_util.h"

namespace janus::kernels {
namespace {

using testing::Bf16ToFloats;
using testing::RandomFloats;
using testing::RelativeError;
using testing::ToBf16;

struct Case {
  int heads, kv_heads, dim, page_size;
  std::vector<int> lens;
};

// Page id of table entries past a sequence's pages: dereferencing one faults (or reads far out
// of the cache), so a kernel that loads K/V rows past seq_lens[b] cannot pass.
constexpr int32_t kUnusedPage = 1 << 30;

// expect_splits: 0 = any, -1 = more than one, n = exactly n. repeats > 1 reruns the same launch on
// the same workspace and requires bit-identical outputs (the split merge's counters must come
// back to zero after each launch, and the merge order must not depend on block timing). graph:
// the reruns replay one captured CUDA graph of the launch on a second stream instead.
void Check(const Case& c, uint32_t seed, int expect_splits = 0, int repeats = 1,
           bool graph = false) {
  SCOPED_TRACE(::testing::Message() << "heads " << c.heads << " kv " << c.kv_heads << " dim "
                                    << c.dim << " page " << c.page_size << " seed " << seed);
  std::mt19937 rng(seed);
  const int B = static_cast<int>(c.lens.size());
  const int max_len = *std::max_element(c.lens.begin(), c.lens.end());
  const int max_pages = std::max(1, (max_len + c.page_size - 1) / c.page_size);
  const int num_pages = B * max_pages + 3;
  // Pages handed out in a shuffled order so the block table really is an indirection.
  std::vector<int32_t> order(num_pages);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<int32_t> table(static_cast<size_t>(B) * max_pages, kUnusedPage);
  for (int b = 0; b < B; ++b) {
    for (int j = 0; j < (c.lens[b] + c.page_size - 1) / c.page_size; ++j) {
      table[b * max_pages + j] = order[b * max_pages + j];
    }
  }
  const size_t row = static_cast<size_t>(c.kv_heads) * c.dim;
  const size_t cache_elems = static_cast<size_t>(num_pages) * c.page_size * row;
  const std::vector<uint16_t> kc = ToBf16(RandomFloats(rng, cache_elems, -1, 1));
  const std::vector<uint16_t> vc = ToBf16(RandomFloats(rng, cache_elems, -1, 1));
  const std::vector<uint16_t> q = ToBf16(RandomFloats(rng, size_t{1} * B * c.heads * c.dim, -2, 2));
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.dim));
  const std::vector<float> kf = Bf16ToFloats(kc), vf = Bf16ToFloats(vc), qf = Bf16ToFloats(q);

  std::vector<float> want(q.size());
  const int group = c.heads / c.kv_heads;
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < c.heads; ++h) {
      const int kvh = h / group;
      const float* qv = &qf[(static_cast<size_t>(b) * c.heads + h) * c.dim];
      std::vector<double> s(c.lens[b]);
      double mx = -INFINITY;
      for (int j = 0; j < c.lens[b]; ++j) {
        const size_t r = static_cast<size_t>(table[b * max_pages + j / c.page_size]) * c.page_size +
                         j % c.page_size;
        double dot = 0;
        for (int d = 0; d < c.dim; ++d) dot += double{qv[d]} * kf[r * row + kvh * c.dim + d];
        s[j] = dot * scale;
        mx = std::max(mx, s[j]);
      }
      double den = 0;
      for (double& v : s) den += (v = std::exp(v - mx));
      for (int d = 0; d < c.dim; ++d) {
        double num = 0;
        for (int j = 0; j < c.lens[b]; ++j) {
          const size_t r = static_cast<size_t>(table[b * max_pages + j / c.page_size]) * c.page_size +
                           j % c.page_size;
          num += s[j] * vf[r * row + kvh * c.dim + d];
        }
        want[(static_cast<size_t>(b) * c.heads + h) * c.dim + d] =
            c.lens[b] == 0 ? 0.f : static_cast<float>(num / den);
      }
    }
  }

  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_q, DeviceBuffer::FromHost(q));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_k, DeviceBuffer::FromHost(kc));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_v, DeviceBuffer::FromHost(vc));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_table, DeviceBuffer::FromHost(table));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_lens, DeviceBuffer::FromHost(c.lens));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_out, DeviceBuffer::Create(2 * q.size()));
  JANUS_ASSERT_OK(d_out.Fill(0xff));  // bf16 NaN
  DecodeAttentionShape shape{B, c.heads, c.kv_heads, c.dim, c.page_size, max_pages, max_len};
  int sms = 0;
  JANUS_ASSERT_OK(CurrentDeviceInfo(&sms, nullptr));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer ws,
                             DeviceBuffer::Create(DecodeAttentionWorkspaceBytes(shape, sms)));
  // The documented contract: initialise once after allocation. Then poison everything after the
  // counters, so a merge that read a partial nobody wrote would produce NaN.
  JANUS_ASSERT_OK(InitDecodeAttentionWorkspace(shape, ws.get(), ws.bytes(), 0));
  const size_t counter_bytes = DecodeAttentionCounterBytes(shape);
  ASSERT_GE(ws.bytes(), counter_bytes);
  ASSERT_EQ(cudaMemset(static_cast<char*>(ws.get()) + counter_bytes, 0xff,
                       ws.bytes() - counter_bytes),
            cudaSuccess);
  const int splits = DecodeAttentionSplits(shape, sms);
  if (expect_splits > 0) {
    ASSERT_EQ(splits, expect_splits);
  } else if (expect_splits < 0) {
    ASSERT_GT(splits, 1);
  }
  SCOPED_TRACE(::testing::Message() << "splits " << splits);
  DecodeAttentionArgs a;
  a.q = d_q.get<uint16_t>();
  a.k_cache = d_k.get<uint16_t>();
  a.v_cache = d_v.get<uint16_t>();
  a.block_table = d_table.get<int32_t>();
  a.seq_lens = d_lens.get<int32_t>();
  a.scale = scale;
  a.out = d_out.get<uint16_t>();
  a.workspace = ws.get();
  a.workspace_bytes = ws.bytes();
  JANUS_ASSERT_OK(LaunchDecodeAttention(shape, a, 0));
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> out, d_out.ToHost<uint16_t>());
  cudaStream_t stream = nullptr;
  cudaGraph_t g = nullptr;
  cudaGraphExec_t exec = nullptr;
  if (graph && repeats > 1) {
    ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
    ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), cudaSuccess);
    JANUS_ASSERT_OK(LaunchDecodeAttention(shape, a, stream));
    ASSERT_EQ(cudaStreamEndCapture(stream, &g), cudaSuccess);
    ASSERT_EQ(cudaGraphInstantiate(&exec, g, 0), cudaSuccess);
  }
  for (int r = 1; r < repeats; ++r) {
    JANUS_ASSERT_OK(d_out.Fill(0xff));
    if (exec != nullptr) {
      ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
    } else {
      JANUS_ASSERT_OK(LaunchDecodeAttention(shape, a, 0));
    }
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> again, d_out.ToHost<uint16_t>());
    ASSERT_EQ(again, out) << "launch " << r << " differs from launch 0";
  }
  if (exec != nullptr) {
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(g);
    cudaStreamDestroy(stream);
  }
  {  // every launch leaves the merge counters at zero
    std::vector<int32_t> counters(counter_bytes / sizeof(int32_t), -1);
    ASSERT_EQ(cudaMemcpy(counters.data(), ws.get(), counter_bytes, cudaMemcpyDeviceToHost),
              cudaSuccess);
    EXPECT_EQ(std::count(counters.begin(), counters.end(), 0),
              static_cast<std::ptrdiff_t>(counters.size()))
        << "merge counters not reset";
  }
  const std::vector<float> got = Bf16ToFloats(out);
  ASSERT_EQ(testing::CountNonFinite(got), 0u) << "unwritten outputs";
  EXPECT_LT(RelativeError(got, want), 1e-2);
  for (int b = 0; b < B; ++b) {  // per sequence too: a wrong split must not hide in the total
    const size_t n = static_cast<size_t>(c.heads) * c.dim;
    std::vector<float> g(got.begin() + b * n, got.begin() + (b + 1) * n);
    std::vector<float> w(want.begin() + b * n, want.begin() + (b + 1) * n);
    EXPECT_LT(RelativeError(g, w), 1.5e-2) << "sequence " << b << " len " << c.lens[b];
  }
}

TEST(DecodeAttention, GqaGroupsAndTileEdges) {
  JANUS_SKIP_WITHOUT_GPU();
  Check({32, 8, 128, 16, {1, 127, 128, 129, 300, 1000}}, 1);
  Check({8, 8, 128, 16, {5, 257}}, 2);
  Check({16, 2, 128, 16, {64, 200}}, 3);
  Check({16, 8, 128, 16, {33, 1}}, 4);
}

TEST(DecodeAttention, HeadDims64And256OddPageSize) {
  JANUS_SKIP_WITHOUT_GPU();
  Check({8, 2, 64, 7, {100, 3, 513}}, 11);
  Check({4, 1, 256, 5, {77, 260}}, 12);
}

TEST(DecodeAttention, LongContextManySplits) {
  JANUS_SKIP_WITHOUT_GPU();
  Check({32, 8, 128, 16, {4096}}, 21);
  Check({32, 8, 128, 64, {5000, 1, 4095}}, 22);
}

// Batch 1 at long contexts: the grid is one wave of splits whose lengths are not multiples of the
// tile (each split's last tile partial); page ids are read one tile ahead of the loads.
TEST(DecodeAttention, BatchOneLongContextOneWave) {
  JANUS_SKIP_WITHOUT_GPU();
  Check({32, 8, 128, 16, {16384}}, 51);
  Check({32, 8, 128, 16, {8191}}, 52);
  Check({32, 8, 128, 7, {4097}}, 53);
  Check({16, 2, 128, 16, {65}}, 54);
}

// More (sequence, kv head) pairs than resident blocks: the split count comes from the
// wave-quantisation search (1..8 splits), with lengths around the split and page edges.
TEST(DecodeAttention, ManySequencesWaveChoice) {
  JANUS_SKIP_WITHOUT_GPU();
  std::vector<int> lens(80);
  for (int i = 0; i < 80; ++i) lens[i] = 1 + (i * 97) % 700;
  lens[3] = 0;
  Check({32, 8, 128, 16, lens}, 61);
  std::vector<int> lens2(300);
  for (int i = 0; i < 300; ++i) lens2[i] = 1 + (i * 53) % 300;
  Check({16, 8, 64, 5, lens2}, 62);
}

TEST(DecodeAttention, EmptySequenceGivesZeros) {
  JANUS_SKIP_WITHOUT_GPU();
  Check({8, 2, 128, 16, {0, 50, 0}}, 31);
}

// One split per sequence (max_seq_len <= one tile): the split block normalises and writes o
// itself, empty sequences included; no counter is touched.
TEST(DecodeAttention, SingleSplitWritesDirectly) {
  JANUS_SKIP_WITHOUT_GPU();
  Check({32, 8, 128, 16, {100, 0, 128, 1}}, 71, /*expect_splits=*/1, /*repeats=*/2);
  Check({8, 1, 64, 7, {0}}, 72, /*expect_splits=*/1);
  Check({16, 2, 256, 5, {77, 3}}, 73, /*expect_splits=*/1);
}

// The fused merge: the last split block of each (sequence, kv head) merges; the counters reset
// so that the same launch repeated on the same workspace gives bit-identical output.
TEST(DecodeAttention, FusedMergeRepeatedLaunchesAreIdentical) {
  JANUS_SKIP_WITHOUT_GPU();
  Check({32, 8, 128, 16, {4096}}, 81, /*expect_splits=*/-1, /*repeats=*/3);
  Check({32, 8, 128, 16, {3000, 17, 0, 1500}}, 82, -1, 3);
  Check({8, 8, 64, 16, {700, 0}}, 83, -1, 3);
}

// Sequences whose every split is empty inside a multi-split launch: the merge sees only
// m = -inf partials and must write zeros (never NaN from 0/0 or poisoned partials).
TEST(DecodeAttention, EmptySequencesInMultiSplitLaunch) {
  JANUS_SKIP_WITHOUT_GPU();
  Check({8, 2, 128, 16, {0, 3000, 0}}, 91, -1, 2);
  Check({16, 8, 128, 16, {0, 0, 0, 600}}, 92, -1);
}

// The split cap (128 splits): one (sequence, kv head) pair, long enough for 128 splits of 128
// tokens; the merge reads all 128 weights per head, staging the partials in 4 chunks.
TEST(DecodeAttention, MaxSplits) {
  JANUS_SKIP_WITHOUT_GPU();
  Check({4, 1, 128, 16, {16384}}, 95, -1, 2);
  Check({8, 1, 64, 16, {20000}}, 96, -1);
}

// Batch 1 at the benchmarked contexts (33 splits of 32-token tiles on 132 SMs, so the 4-stage
// pipeline runs its prologue, steady state and drain; 32k has 32 tiles a split).
TEST(DecodeAttention, BatchOneBenchContexts) {
  JANUS_SKIP_WITHOUT_GPU();
  Check({32, 8, 128, 16, {4096}}, 101, -1, 2);
  Check({32, 8, 128, 16, {16384}}, 102, -1, 2);
  Check({32, 8, 128, 16, {32768}}, 103, -1, 2);
  Check({32, 8, 128, 16, {32767}}, 104, -1);  // the last split one token short: partial tile
}

// Pages that do not divide the tile (16/32/64 tokens for head_dim 256/128/64) or are larger than
// it, page size 1 (every row its own page), and lengths that are not multiples of the tile: one
// tile's rows come from several pages and the last tile of a split is partial.
TEST(DecodeAttention, PageSizesAroundTheTile) {
  JANUS_SKIP_WITHOUT_GPU();
  Check({16, 4, 128, 1, {517, 2}}, 111);
  Check({16, 4, 128, 33, {1000, 31, 33}}, 112);
  Check({16, 4, 128, 31, {1999}}, 113);
  Check({8, 8, 64, 100, {777, 64, 65}}, 114);
  Check({16, 2, 256, 48, {2049, 15, 16, 17}}, 115);
  Check({8, 1, 256, 3, {95, 1, 16, 17}}, 116);
  Check({8, 2, 64, 128, {4000}}, 117);
}

// Every (head_dim, group) instantiation with splits of several tiles (2 / 4 / 8 tiles of a
// ~126-token split for head_dim 64 / 128 / 256: the steady-state issue path for 256) and a
// second, short sequence whose later splits are empty.
TEST(DecodeAttention, AllDimsAndGroupsMultiTileSplits) {
  JANUS_SKIP_WITHOUT_GPU();
  uint32_t seed = 120;
  for (int dim : {64, 128, 256}) {
    for (int group : {1, 2, 4, 8}) {
      Check({2 * group, 2, dim, 16, {3001, 250}}, ++seed, -1);
    }
  }
}

// More pairs than SMs: the wave search picks a few long splits (7 splits of ~300 tokens for 160
// pairs on 132 SMs), so every block runs many pipeline iterations; group 8 / head_dim 256 is the
// largest shared-memory and register footprint.
TEST(DecodeAttention, FewLongSplitsManyPipelineStages) {
  JANUS_SKIP_WITHOUT_GPU();
  std::vector<int> lens(20);
  for (int i = 0; i < 20; ++i) lens[i] = 1500 + (i * 211) % 600;
  lens[7] = 0;
  Check({32, 8, 128, 16, lens}, 131, 0, 2);
  std::vector<int> lens2(20);
  for (int i = 0; i < 20; ++i) lens2[i] = 700 + (i * 97) % 400;
  Check({64, 8, 256, 16, lens2}, 132);
  Check({8, 8, 64, 7, lens2}, 133);
}

// The merge stages the partials through shared memory in chunks of 64 KB: 8 splits for group 8 /
// head_dim 256, so 63 splits take 8 chunks; the second sequence has one non-empty split.
TEST(DecodeAttention, MergeInSeveralChunks) {
  JANUS_SKIP_WITHOUT_GPU();
  Check({16, 2, 256, 16, {8000, 100}}, 141, -1, 2);
  Check({16, 4, 128, 16, {12000}}, 142, -1);  // group 4, d128: 32 splits a chunk
}

// Captured once, replayed: no host sync or allocation inside the launcher, and the counters
// reset by each replay let the next one merge correctly.
TEST(DecodeAttention, CudaGraphReplaysAreIdentical) {
  JANUS_SKIP_WITHOUT_GPU();
  Check({32, 8, 128, 16, {4096}}, 151, -1, 3, /*graph=*/true);
  Check({32, 8, 128, 16, {100, 0, 128, 1}}, 152, 1, 3, /*graph=*/true);
  Check({16, 2, 64, 7, {3000, 0, 77}}, 153, -1, 3, /*graph=*/true);
}

// Batch 1 with 8 KV heads at long contexts (~33 splits a pair on 132 SMs): repeated launches
// and graph replays give bit-identical output (the merge sums in split order, whatever the
// timing).
TEST(DecodeAttention, BatchOneLongContextsRepeatAndReplay) {
  JANUS_SKIP_WITHOUT_GPU();
  const Case a{32, 8, 128, 16, {4096}};
  Check(a, 201, -1, 3);
  Check(a, 202, -1, 3, /*graph=*/true);
  const Case b{32, 8, 128, 16, {16384}};
  Check(b, 203, -1, 3, /*graph=*/true);
  const Case c{32, 8, 128, 16, {32767}};  // last split's last tile partial
  Check(c, 204, -1, 2);
}

// Few pairs with every head_dim and group size, odd page sizes, splits that are not multiples
// of the tile (64/32/16 tokens at head_dim 64/128/256), and sequences whose splits are partly
// or all empty.
TEST(DecodeAttention, ShapesAndEmptySplitsFewPairs) {
  JANUS_SKIP_WITHOUT_GPU();
  const std::vector<Case> cases = {
      {16, 4, 128, 16, {5000, 0}},   // 8 pairs; the second sequence's splits are all empty
      {8, 4, 64, 7, {3000, 100}},    // group 2; all but one of the second sequence's splits empty
      {48, 6, 256, 5, {2500}},       // group 8, head_dim 256: the largest footprint
      {5, 5, 64, 16, {6000}},        // group 1, head_dim 64
      {32, 8, 128, 1, {2100}},       // page size 1
      {64, 8, 64, 33, {4099}},       // group 8, head_dim 64, pages across tiles
      {12, 6, 128, 16, {2049}},      // 17 x 121 tokens, the last 113 (132 SMs)
  };
  uint32_t seed = 210;
  for (const Case& c : cases) Check(c, ++seed, -1, 2);
}

// Short sequences with few pairs: a handful of splits, some under a tile.
TEST(DecodeAttention, ShortSequencesFewPairs) {
  JANUS_SKIP_WITHOUT_GPU();
  Check({32, 8, 128, 16, {129}}, 221, 0, 2);  // 2 splits of 65 and 64 tokens
  Check({32, 8, 128, 1, {300}}, 222, 0, 2);   // 3 splits of 100
  Check({16, 8, 256, 7, {1000}}, 223, 0, 2);  // 8 splits of 125
  Check({8, 8, 64, 16, {128}}, 224, 1);       // one split: direct write, no merge
}

// Batch >= 8: 8 sequences at 4k (4 splits a pair on 132 SMs) and 64 sequences of mixed lengths
// (the wave search).
TEST(DecodeAttention, MergeBatch8And64) {
  JANUS_SKIP_WITHOUT_GPU();
  Check({32, 8, 128, 16, std::vector<int>(8, 4096)}, 231, -1, 2);
  std::vector<int> lens(64);
  for (int i = 0; i < 64; ++i) lens[i] = 1 + (i * 131) % 900;
  Check({32, 8, 128, 16, lens}, 232, 0, 2, /*graph=*/true);
}

// The split policy on a 132-SM part (host-side, runs without a GPU): few (sequence, kv head)
// pairs get about two blocks per SM, at least one 128-token tile a split and at most 128 splits;
// many pairs the count in 1..8 with the least wave-quantised time at 3 blocks per SM.
TEST(DecodeAttention, SplitPolicy) {
  auto splits = [](int batch, int kv_heads, int ctx) {
    return DecodeAttentionSplits({batch, 4 * kv_heads, kv_heads, 128, 16, ctx / 16 + 1, ctx}, 132);
  };
  EXPECT_EQ(splits(1, 8, 4096), 32);     // 264 / 8 = 33, but only 32 tiles of 128
  EXPECT_EQ(splits(1, 8, 16384), 33);    // about two blocks per SM
  EXPECT_EQ(splits(1, 1, 32768), 128);   // 264 wanted, capped
  EXPECT_EQ(splits(1, 8, 100), 1);       // shorter than one tile
  EXPECT_EQ(splits(8, 8, 4096), 4);      // 64 pairs < 132 SMs: 264 / 64
  EXPECT_EQ(splits(64, 8, 4096), 3);     // 512 pairs: 1536 blocks in 4 waves of 396
  EXPECT_EQ(splits(64, 8, 128), 1);      // one tile: nothing to split
}

TEST(DecodeAttention, AppendKvWritesThePagedSlot) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(41);
  const int B = 3, kv = 2, dim = 64, page = 4, max_pages = 3, num_pages = 12;
  DecodeAttentionShape shape{B, 8, kv, dim, page, max_pages, max_pages * page};
  std::vector<int32_t> table = {5, 2, 9, 0, 1, 3, 11, 7, 6};
  std::vector<int32_t> pos = {0, 6, 11};
  const size_t row = size_t{1} * kv * dim;
  const std::vector<uint16_t> kn = ToBf16(RandomFloats(rng, B * row, -1, 1));
  const std::vector<uint16_t> vn = ToBf16(RandomFloats(rng, B * row, -1, 1));
  std::vector<uint16_t> cache(size_t{1} * num_pages * page * row, 0x1234);
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_k, DeviceBuffer::FromHost(cache));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_v, DeviceBuffer::FromHost(cache));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_kn, DeviceBuffer::FromHost(kn));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_vn, DeviceBuffer::FromHost(vn));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_t, DeviceBuffer::FromHost(table));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_p, DeviceBuffer::FromHost(pos));
  JANUS_ASSERT_OK(LaunchAppendKv(shape, d_kn.get<uint16_t>(), d_vn.get<uint16_t>(),
                                 d_p.get<int32_t>(), d_t.get<int32_t>(), d_k.get<uint16_t>(),
                                 d_v.get<uint16_t>(), 0));
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> k, d_k.ToHost<uint16_t>());
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> v, d_v.ToHost<uint16_t>());
  std::vector<uint16_t> want_k = cache, want_v = cache;
  for (int b = 0; b < B; ++b) {
    const size_t slot = static_cast<size_t>(table[b * max_pages + pos[b] / page]) * page + pos[b] % page;
    std::copy(kn.begin() + b * row, kn.begin() + (b + 1) * row, want_k.begin() + slot * row);
    std::copy(vn.begin() + b * row, vn.begin() + (b + 1) * row, want_v.begin() + slot * row);
  }
  EXPECT_EQ(k, want_k);
  EXPECT_EQ(v, want_v);
}

TEST(DecodeAttention, RejectsBadArguments) {
  DecodeAttentionArgs a;
  EXPECT_EQ(LaunchDecodeAttention({1, 6, 4, 128, 16, 4, 64}, a, 0).code(),
            absl::StatusCode::kInvalidArgument);  // 4 does not divide 6
  EXPECT_EQ(LaunchDecodeAttention({1, 8, 2, 128, 16, 2, 64}, a, 0).code(),
            absl::StatusCode::kInvalidArgument);  // 2 pages of 16 < 64
  EXPECT_EQ(LaunchDecodeAttention({1, 8, 2, 128, 16, 4, 64}, a, 0).code(),
            absl::StatusCode::kInvalidArgument);  // null pointers
  EXPECT_EQ(InitDecodeAttentionWorkspace({64, 8, 8, 128, 16, 4, 64}, nullptr, 16, 0).code(),
            absl::StatusCode::kInvalidArgument);  // 16 bytes < the 2048 counter bytes
  // Misaligned q: rejected before anything is launched (the kernel reads 16-byte pieces).
  alignas(16) static uint16_t host[64];
  a.q = host + 1;
  a.k_cache = a.v_cache = a.out = host;
  a.block_table = a.seq_lens = reinterpret_cast<const int32_t*>(host);
  EXPECT_EQ(LaunchDecodeAttention({1, 8, 2, 128, 16, 4, 64}, a, 0).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace janus::kernels
