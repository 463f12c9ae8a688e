// General paged attention (prefill chunks and decode rows mixed, GQA and MLA latent form) against
// a double-precision reference written here over the same bf16 inputs: for row (sequence s,
// position p) and head h, o = softmax(q·kⱼᵀ * scale) vⱼ over j = 0..p of s, kv head h / group.
// Every cache slot holds random data, including positions after a row's own (causality is
// checked) and the pages past a sequence's end; unused block-table entries are -1.
#include "kernels/paged_attention.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/device_info.h"
#include "kernels/paged_attention_mma.h"
#include "test/unit/kernels/gpu_test_util.h"

namespace janus::kernels {
namespace {

using testing::Bf16ToFloats;
using testing::RandomFloats;
using testing::ToBf16;

struct Case {
  int heads, kv_heads, qk, v, page;
  bool alias = false;       // v_cache == k_cache, v = the first v elements of the key row (MLA)
  int64_t k_stride = 0;     // 0: dense (kv_heads * qk)
  int64_t v_stride = 0;     // 0: dense (kv_heads * v); ignored with alias
  std::vector<std::vector<int>> seqs;  // positions of each sequence's query rows
  int kv_splits = 0;
  bool shuffle_rows = true;  // false: the rows of each sequence in order, sequence after sequence
  bool expect_mma = false;   // the launch must take the tensor-core path (paged_attention_mma.h)
};

// Host data of a launch, its device copies and the reference output.
struct Scenario {
  Case c;
  int rows = 0, max_pages = 0;
  int64_t ks = 0, vs = 0;  // token strides
  std::vector<int32_t> table, row_seq, row_pos;
  std::vector<uint16_t> q, kc, vc;  // vc empty with alias
  std::vector<float> want;          // [rows, heads, v]
  float scale = 0.f;
  DeviceBuffer d_q, d_k, d_v, d_table, d_seq, d_pos, d_out;

  PagedAttentionShape Shape() const {
    PagedAttentionShape s;
    s.rows = rows;
    s.num_heads = c.heads;
    s.num_kv_heads = c.kv_heads;
    s.qk_dim = c.qk;
    s.v_dim = c.v;
    s.page_size = c.page;
    s.max_pages_per_seq = max_pages;
    s.kv_splits = c.kv_splits;
    return s;
  }
  PagedAttentionArgs Args() const {
    PagedAttentionArgs a;
    a.q = d_q.get<uint16_t>();
    a.k_cache = d_k.get<uint16_t>();
    a.v_cache = c.alias ? d_k.get<uint16_t>() : d_v.get<uint16_t>();
    a.k_token_stride = ks;
    a.v_token_stride = vs;
    a.row_seq = d_seq.get<int32_t>();
    a.row_pos = d_pos.get<int32_t>();
    a.block_table = d_table.get<int32_t>();
    a.scale = scale;
    a.out = d_out.get<uint16_t>();
    return a;
  }
};

// Builds the host side: shuffled page ids (two spare pages of random data past each sequence's
// last position), the rows of all sequences in shuffled order, random caches and q.
void BuildHost(const Case& c, uint32_t seed, Scenario* sc) {
  std::mt19937 rng(seed);
  sc->c = c;
  sc->ks = c.k_stride > 0 ? c.k_stride : int64_t{c.kv_heads} * c.qk;
  sc->vs = c.alias ? sc->ks : (c.v_stride > 0 ? c.v_stride : int64_t{c.kv_heads} * c.v);
  const int num_seqs = static_cast<int>(c.seqs.size());
  std::vector<int> pages(num_seqs);
  int total_pages = 0;
  for (int s = 0; s < num_seqs; ++s) {
    const int last = *std::max_element(c.seqs[s].begin(), c.seqs[s].end());
    pages[s] = (last + 1 + c.page - 1) / c.page + 2;
    sc->max_pages = std::max(sc->max_pages, pages[s] + 1);  // at least one -1 entry per row
    total_pages += pages[s];
  }
  const int pool = total_pages + 5;
  std::vector<int32_t> ids(pool);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  sc->table.assign(static_cast<size_t>(num_seqs) * sc->max_pages, -1);
  for (int s = 0, next = 0; s < num_seqs; ++s) {
    for (int j = 0; j < pages[s]; ++j) sc->table[s * sc->max_pages + j] = ids[next++];
  }
  std::vector<std::pair<int, int>> rows;
  for (int s = 0; s < num_seqs; ++s) {
    for (int p : c.seqs[s]) rows.emplace_back(s, p);
  }
  if (c.shuffle_rows) std::shuffle(rows.begin(), rows.end(), rng);
  sc->rows = static_cast<int>(rows.size());
  for (const auto& [s, p] : rows) {
    sc->row_seq.push_back(s);
    sc->row_pos.push_back(p);
  }
  const size_t slots = static_cast<size_t>(pool) * c.page;
  sc->kc = ToBf16(RandomFloats(rng, slots * sc->ks, -1, 1));
  if (!c.alias) sc->vc = ToBf16(RandomFloats(rng, slots * sc->vs, -1, 1));
  sc->q = ToBf16(RandomFloats(rng, static_cast<size_t>(sc->rows) * c.heads * c.qk, -2, 2));
  sc->scale = 1.0f / std::sqrt(static_cast<float>(c.qk));
}

// The double-precision reference over the bf16 values the kernel sees.
void ComputeReference(Scenario* sc) {
  const Case& c = sc->c;
  const std::vector<float> kf = Bf16ToFloats(sc->kc), qf = Bf16ToFloats(sc->q);
  const std::vector<float> vf = c.alias ? kf : Bf16ToFloats(sc->vc);
  const int group = c.heads / c.kv_heads;
  sc->want.assign(static_cast<size_t>(sc->rows) * c.heads * c.v, 0.f);
  for (int r = 0; r < sc->rows; ++r) {
    const int s = sc->row_seq[r], pos = sc->row_pos[r];
    std::vector<size_t> slot(pos + 1);
    for (int j = 0; j <= pos; ++j) {
      slot[j] = static_cast<size_t>(sc->table[s * sc->max_pages + j / c.page]) * c.page +
                j % c.page;
    }
    for (int h = 0; h < c.heads; ++h) {
      const int kvh = h / group;
      const float* qv = &qf[(static_cast<size_t>(r) * c.heads + h) * c.qk];
      std::vector<double> p(pos + 1);
      double mx = -INFINITY;
      for (int j = 0; j <= pos; ++j) {
        const float* kv = &kf[slot[j] * sc->ks + static_cast<size_t>(kvh) * c.qk];
        double dot = 0;
        for (int d = 0; d < c.qk; ++d) dot += double{qv[d]} * kv[d];
        p[j] = dot * sc->scale;
        mx = std::max(mx, p[j]);
      }
      double den = 0;
      for (double& x : p) den += (x = std::exp(x - mx));
      std::vector<double> o(c.v, 0.0);
      for (int j = 0; j <= pos; ++j) {
        const float* vv = &vf[slot[j] * sc->vs + static_cast<size_t>(kvh) * c.v];
        for (int d = 0; d < c.v; ++d) o[d] += p[j] * vv[d];
      }
      float* w = &sc->want[(static_cast<size_t>(r) * c.heads + h) * c.v];
      for (int d = 0; d < c.v; ++d) w[d] = static_cast<float>(o[d] / den);
    }
  }
}

// Copies the scenario to the device (output poisoned with 0xff: bf16 NaN).
absl::Status Upload(Scenario* sc) {
  JANUS_ASSIGN_OR_RETURN(sc->d_q, DeviceBuffer::FromHost(sc->q));
  JANUS_ASSIGN_OR_RETURN(sc->d_k, DeviceBuffer::FromHost(sc->kc));
  if (!sc->c.alias) {
    JANUS_ASSIGN_OR_RETURN(sc->d_v, DeviceBuffer::FromHost(sc->vc));
  }
  JANUS_ASSIGN_OR_RETURN(sc->d_table, DeviceBuffer::FromHost(sc->table));
  JANUS_ASSIGN_OR_RETURN(sc->d_seq, DeviceBuffer::FromHost(sc->row_seq));
  JANUS_ASSIGN_OR_RETURN(sc->d_pos, DeviceBuffer::FromHost(sc->row_pos));
  JANUS_ASSIGN_OR_RETURN(sc->d_out, DeviceBuffer::Create(sc->want.size() * sizeof(uint16_t)));
  return sc->d_out.Fill(0xff);
}

// Per (row, head) relative error below 5e-3 (bf16 rounding of the output alone is <= 2^-9).
void ExpectMatches(const Scenario& sc, const std::vector<uint16_t>& out_bits) {
  const std::vector<float> got = Bf16ToFloats(out_bits);
  ASSERT_EQ(got.size(), sc.want.size());
  ASSERT_EQ(testing::CountNonFinite(got), 0u) << "unwritten (poisoned) outputs";
  const Case& c = sc.c;
  int bad = 0;
  for (int r = 0; r < sc.rows; ++r) {
    for (int h = 0; h < c.heads; ++h) {
      const size_t off = (static_cast<size_t>(r) * c.heads + h) * c.v;
      const std::vector<float> g(got.begin() + off, got.begin() + off + c.v);
      const std::vector<float> w(sc.want.begin() + off, sc.want.begin() + off + c.v);
      const double err = testing::RelativeError(g, w);
      if (!(err < 5e-3) && ++bad <= 5) {
        ADD_FAILURE() << "row " << r << " (sequence " << sc.row_seq[r] << ", position "
                      << sc.row_pos[r] << ") head " << h << ": relative error " << err;
      }
    }
  }
  EXPECT_EQ(bad, 0) << "(row, head) pairs off the reference";
  EXPECT_LT(testing::RelativeError(got, sc.want), 1e-2);
}

// repeats > 1 relaunches on the same buffers (re-poisoned) and requires bit-identical output.
void Check(const Case& c, uint32_t seed, int repeats = 1) {
  SCOPED_TRACE(::testing::Message() << "heads " << c.heads << "/" << c.kv_heads << " qk " << c.qk
                                    << " v " << c.v << " page " << c.page << " alias " << c.alias
                                    << " kv_splits " << c.kv_splits << " seed " << seed);
  Scenario sc;
  BuildHost(c, seed, &sc);
  ComputeReference(&sc);
  JANUS_ASSERT_OK(Upload(&sc));
  int sms = 0;
  JANUS_ASSERT_OK(CurrentDeviceInfo(&sms, nullptr));
  SCOPED_TRACE(::testing::Message() << "rows " << sc.rows << " splits "
                                    << PagedAttentionSplits(sc.Shape(), sms));
  if (c.expect_mma) {
    int device = 0, major = 0;
    ASSERT_EQ(cudaGetDevice(&device), cudaSuccess);
    ASSERT_EQ(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device),
              cudaSuccess);
    ASSERT_GE(sc.rows, kPagedAttentionMmaMinRows);
    ASSERT_TRUE(PagedAttentionMmaFits(sc.Shape(), sc.Args(), major));
  }
  JANUS_ASSERT_OK(LaunchPagedAttention(sc.Shape(), sc.Args(), 0));
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> out, sc.d_out.ToHost<uint16_t>());
  ExpectMatches(sc, out);
  for (int i = 1; i < repeats; ++i) {
    JANUS_ASSERT_OK(sc.d_out.Fill(0xff));
    JANUS_ASSERT_OK(LaunchPagedAttention(sc.Shape(), sc.Args(), 0));
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> again, sc.d_out.ToHost<uint16_t>());
    ASSERT_EQ(again, out) << "launch " << i << " differs from launch 0";
  }
}

// The batch of the brief: a prefill chunk (positions 7..19) of one sequence, a whole prompt
// (0..30) of another, decode rows at 0, 1, 200 and 1000 of four more.
std::vector<std::vector<int>> MixedBatch() {
  std::vector<int> chunk(13), prompt(31);
  std::iota(chunk.begin(), chunk.end(), 7);
  std::iota(prompt.begin(), prompt.end(), 0);
  return {chunk, prompt, {0}, {1}, {200}, {1000}};
}

Case Gqa(int heads, int kv, int dim, int page) {
  Case c{heads, kv, dim, dim, page};
  c.seqs = MixedBatch();
  return c;
}

TEST(PagedAttention, GqaMixedBatch) {
  JANUS_SKIP_WITHOUT_GPU();
  Check(Gqa(8, 2, 16, 16), 1);
  Check(Gqa(32, 8, 128, 16), 2);
  Check(Gqa(6, 3, 16, 5), 3);
  Check(Gqa(4, 4, 8, 5), 4);
  Check(Gqa(8, 2, 16, 5), 5);
  Check(Gqa(32, 8, 128, 5), 6);
}

// Group sizes that do not fill a power of two (3 -> 4 heads per block, 6 -> 8) and groups past
// 16 heads (several head chunks per kv head, the last one partial).
TEST(PagedAttention, GqaGroupShapes) {
  JANUS_SKIP_WITHOUT_GPU();
  Check(Gqa(12, 4, 32, 16), 11);
  Check(Gqa(12, 2, 64, 16), 12);
  Check(Gqa(40, 2, 32, 16), 13);
  Check(Gqa(16, 1, 64, 7), 14);
  Check(Gqa(2, 1, 256, 16), 15);
}

// Head dims that are not multiples of 8 (2-byte staging, odd padding), q/k and v dims that
// differ, and token strides larger than the heads (another tensor interleaved in the slot).
TEST(PagedAttention, OddDimsAndStrides) {
  JANUS_SKIP_WITHOUT_GPU();
  Case c{4, 2, 24, 16, 16};
  c.seqs = MixedBatch();
  Check(c, 21);
  c = {6, 2, 7, 5, 5};
  c.seqs = MixedBatch();
  Check(c, 22);
  c = {8, 2, 12, 20, 16, false, 30, 44};
  c.seqs = MixedBatch();
  Check(c, 23);
  c = {8, 4, 1, 1, 3};
  c.seqs = {{0, 1, 2, 9}, {40}};
  Check(c, 24);
  c = {4, 1, 128, 96, 16, false, 136, 104};  // aligned strides: 16-byte staging
  c.seqs = MixedBatch();
  Check(c, 25);
}

// DeepSeek MLA in latent form: one kv head, key = [c_kv | k_pe], value = c_kv (aliased rows).
TEST(PagedAttention, MlaAliasedSmall) {
  JANUS_SKIP_WITHOUT_GPU();
  for (int page : {16, 5}) {
    Case c{4, 1, 48, 32, page, true};
    c.seqs = MixedBatch();
    Check(c, 31 + page);
  }
  Case c{16, 1, 40, 32, 16, true, 48};  // latent row padded to 48 elements
  c.seqs = MixedBatch();
  Check(c, 39);
}

TEST(PagedAttention, MlaAliasedLarge) {
  JANUS_SKIP_WITHOUT_GPU();
  Case c{16, 1, 576, 512, 16, true};
  c.seqs = MixedBatch();
  Check(c, 41);
  c.heads = 128;  // eight head chunks per kv head
  c.seqs = {{5, 6, 7}, {300}, {64}};
  Check(c, 42);
  c = {16, 1, 576, 512, 5, false};  // the same sizes with a separate V cache
  c.seqs = {{0, 1, 2, 3}, {100}};
  Check(c, 43);
}

// A long context (no shared memory grows with the sequence): decode rows and a prefill chunk
// around position 5000.
TEST(PagedAttention, LongRows) {
  JANUS_SKIP_WITHOUT_GPU();
  Case c{32, 8, 128, 128, 16};
  c.seqs = {{4990, 4991, 4995, 5000}, {5000}, {3}};
  Check(c, 51);
  c = {16, 1, 576, 512, 16, true};
  c.seqs = {{5000}, {4097}};
  Check(c, 52);
  c = {8, 2, 16, 16, 5};
  c.seqs = {{5000}};
  Check(c, 53);
}

// Every explicit split count gives the reference, and each launch is bit-reproducible (the
// cluster merge reads partials in a fixed order).
TEST(PagedAttention, SplitCountsAndDeterminism) {
  JANUS_SKIP_WITHOUT_GPU();
  for (int splits : {1, 2, 4, 8}) {
    Case c{16, 1, 576, 512, 16, true};
    c.seqs = {{0}, {33}, {700}, {2000}};
    c.kv_splits = splits;
    Check(c, 60 + splits, /*repeats=*/3);
    Case g = Gqa(32, 8, 128, 16);
    g.kv_splits = splits;
    Check(g, 70 + splits, /*repeats=*/2);
  }
  Case c{8, 2, 64, 64, 16};  // automatic: one sequence, few blocks -> several splits
  c.seqs = {{3000}};
  Check(c, 80, /*repeats=*/3);
  int sms = 0;
  JANUS_ASSERT_OK(CurrentDeviceInfo(&sms, nullptr));
  PagedAttentionShape s{1, 8, 2, 64, 64, 16, 200};
  EXPECT_GT(PagedAttentionSplits(s, sms), 1);
  s.rows = 4096;
  EXPECT_EQ(PagedAttentionSplits(s, sms), 1);
}

// The tensor-core path (>= 64 rows, head_dim 64 / 128, separate V): prefill rows in order (one
// pass per 64-row block, tiles past a warp's rows skipped) and shuffled among decode rows (a
// block walks every sequence among its rows), GQA and MHA, pages smaller and larger than a tile,
// padded token strides, a partial last block.
TEST(PagedAttention, TensorCoreRows) {
  JANUS_SKIP_WITHOUT_GPU();
  std::vector<int> prompt(300), chunk(70);
  std::iota(prompt.begin(), prompt.end(), 0);
  std::iota(chunk.begin(), chunk.end(), 1000);
  for (bool shuffle : {false, true}) {
    Case c{32, 8, 128, 128, 16};
    c.seqs = {prompt, chunk, {0}, {63}, {64}, {4999}};
    c.shuffle_rows = shuffle;
    c.expect_mma = true;
    Check(c, 100 + shuffle, /*repeats=*/2);
    c = {8, 2, 64, 64, 5};
    c.seqs = {prompt, {7}, chunk};
    c.shuffle_rows = shuffle;
    c.expect_mma = true;
    Check(c, 102 + shuffle);
    c = {6, 6, 128, 128, 100, false, 6 * 128 + 8, 6 * 128 + 16};
    c.seqs = {chunk, {3, 4, 5}};
    c.shuffle_rows = shuffle;
    c.expect_mma = true;
    Check(c, 104 + shuffle);
  }
  // Enough (row block, head) pairs for 128-row blocks (8 warps).
  int sms = 0;
  JANUS_ASSERT_OK(CurrentDeviceInfo(&sms, nullptr));
  std::vector<int> long_prompt(400);
  std::iota(long_prompt.begin(), long_prompt.end(), 0);
  for (bool shuffle : {false, true}) {
    Case c{96, 12, 128, 128, 16};
    c.seqs = {long_prompt, {50}, {2000}};
    c.shuffle_rows = shuffle;
    c.expect_mma = true;
    PagedAttentionShape s{402, 96, 12, 128, 128, 16, 1};
    ASSERT_EQ(PagedAttentionMmaRowsPerBlock(s, sms), 128) << sms << " SMs";
    Check(c, 106 + shuffle);
    c = {128, 16, 64, 64, 7};
    c.seqs = {std::vector<int>(long_prompt.begin(), long_prompt.begin() + 300), {9}};
    c.shuffle_rows = shuffle;
    c.expect_mma = true;
    s = {301, 128, 16, 64, 64, 7, 1};
    ASSERT_EQ(PagedAttentionMmaRowsPerBlock(s, sms), 128) << sms << " SMs";
    Check(c, 108 + shuffle);
  }
}

// Which launches the tensor-core path takes and its block size: host-side logic, no GPU needed
// (anything it refuses runs the CUDA-core kernel).
TEST(PagedAttention, TensorCorePathChoice) {
  auto ptr = [](uintptr_t v) { return reinterpret_cast<uint16_t*>(v); };  // never dereferenced
  const PagedAttentionShape s{128, 32, 8, 128, 128, 16, 8};
  PagedAttentionArgs a;
  a.q = ptr(0x1000);
  a.k_cache = ptr(0x2000);
  a.v_cache = ptr(0x3000);
  a.out = ptr(0x4000);
  a.k_token_stride = a.v_token_stride = 8 * 128;
  EXPECT_TRUE(PagedAttentionMmaFits(s, a, 9));
  EXPECT_TRUE(PagedAttentionMmaFits(s, a, 8));
  EXPECT_FALSE(PagedAttentionMmaFits(s, a, 7)) << "bf16 mma.sync needs sm_80";
  PagedAttentionShape t = s;
  t.qk_dim = t.v_dim = 64;
  EXPECT_TRUE(PagedAttentionMmaFits(t, a, 9));
  for (const auto& [qk, v] : {std::pair{96, 96}, std::pair{256, 256}, std::pair{128, 64},
                              std::pair{576, 512}}) {
    t.qk_dim = qk;
    t.v_dim = v;
    EXPECT_FALSE(PagedAttentionMmaFits(t, a, 9)) << qk << "/" << v;
  }
  t = s;
  t.kv_splits = 1;
  EXPECT_TRUE(PagedAttentionMmaFits(t, a, 9));
  t.kv_splits = 2;
  EXPECT_FALSE(PagedAttentionMmaFits(t, a, 9)) << "explicit splits stay on the cluster kernel";
  PagedAttentionArgs b = a;
  b.v_cache = b.k_cache;  // MLA latent rows (value aliases key)
  EXPECT_FALSE(PagedAttentionMmaFits(s, b, 9));
  b = a;
  b.q = ptr(0x1008);
  EXPECT_FALSE(PagedAttentionMmaFits(s, b, 9)) << "q must be 16-byte aligned";
  b = a;
  b.out = ptr(0x4002);
  EXPECT_FALSE(PagedAttentionMmaFits(s, b, 9)) << "out must be 4-byte aligned";
  b = a;
  b.v_token_stride = 8 * 128 + 4;
  EXPECT_FALSE(PagedAttentionMmaFits(s, b, 9)) << "token strides must keep rows 16-byte aligned";
  // 128-row blocks only while they still give two blocks per SM.
  EXPECT_EQ(PagedAttentionMmaRowsPerBlock({4096, 32, 8, 128, 128, 16, 256}, 132), 128);
  EXPECT_EQ(PagedAttentionMmaRowsPerBlock({1024, 32, 8, 128, 128, 16, 64}, 132), 64);
  EXPECT_EQ(PagedAttentionMmaRowsPerBlock({1024, 33, 3, 128, 128, 16, 64}, 132), 128);
}

// Launches captured into a CUDA graph and replayed give the reference.
TEST(PagedAttention, CapturedInGraph) {
  JANUS_SKIP_WITHOUT_GPU();
  Case c{16, 1, 48, 32, 16, true};
  c.seqs = MixedBatch();
  Scenario sc;
  BuildHost(c, 90, &sc);
  ComputeReference(&sc);
  JANUS_ASSERT_OK(Upload(&sc));
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  // One eager launch first (as a runtime runs a step before capturing it): module loading is not
  // what this test is about.
  JANUS_ASSERT_OK(LaunchPagedAttention(sc.Shape(), sc.Args(), stream));
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), cudaSuccess);
  const absl::Status launched = LaunchPagedAttention(sc.Shape(), sc.Args(), stream);
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
  JANUS_ASSERT_OK(launched);
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  for (int i = 0; i < 2; ++i) {
    JANUS_ASSERT_OK(sc.d_out.Fill(0xff));
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);  // the fill ran on the legacy stream
    ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> out, sc.d_out.ToHost<uint16_t>());
    ExpectMatches(sc, out);
  }
  EXPECT_EQ(cudaGraphExecDestroy(exec), cudaSuccess);
  EXPECT_EQ(cudaGraphDestroy(graph), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(stream), cudaSuccess);
}

// LaunchPagedKvWrite: rows land in their (page, slot) at dst_offset, every other element of the
// cache is untouched; strided sources; 16-byte and 2-byte paths.
void CheckKvWrite(int width, int64_t src_stride, int64_t token_stride, int64_t dst_offset,
                  uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << "width " << width << " src_stride " << src_stride
                                    << " token_stride " << token_stride << " offset "
                                    << dst_offset);
  std::mt19937 rng(seed);
  const int page = 4, max_pages = 3, num_pages = 10;
  const std::vector<int32_t> table = {5, 2, 9, 0, 1, 3, 8, 7, 6};  // 3 sequences
  const std::vector<int32_t> row_seq = {2, 0, 1, 0, 2};
  const std::vector<int32_t> row_pos = {11, 0, 6, 5, 4};
  const int rows = static_cast<int>(row_seq.size());
  const std::vector<uint16_t> src = ToBf16(RandomFloats(rng, rows * src_stride, -1, 1));
  const std::vector<uint16_t> cache =
      ToBf16(RandomFloats(rng, size_t{1} * num_pages * page * token_stride, -1, 1));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_src, DeviceBuffer::FromHost(src));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_cache, DeviceBuffer::FromHost(cache));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_table, DeviceBuffer::FromHost(table));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_seq, DeviceBuffer::FromHost(row_seq));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_pos, DeviceBuffer::FromHost(row_pos));
  JANUS_ASSERT_OK(LaunchPagedKvWrite(d_src.get<uint16_t>(), src_stride, rows, width,
                                     d_seq.get<int32_t>(), d_pos.get<int32_t>(),
                                     d_table.get<int32_t>(), max_pages, page,
                                     d_cache.get<uint16_t>(), token_stride, dst_offset, 0));
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> got, d_cache.ToHost<uint16_t>());
  std::vector<uint16_t> want = cache;
  for (int r = 0; r < rows; ++r) {
    const int64_t slot =
        int64_t{table[row_seq[r] * max_pages + row_pos[r] / page]} * page + row_pos[r] % page;
    std::copy(src.begin() + r * src_stride, src.begin() + r * src_stride + width,
              want.begin() + slot * token_stride + dst_offset);
  }
  EXPECT_EQ(got, want);
}

TEST(PagedKvWrite, WritesRowsIntoTheirSlots) {
  JANUS_SKIP_WITHOUT_GPU();
  CheckKvWrite(64, 80, 128, 16, 101);  // 16-byte path
  CheckKvWrite(576, 576, 576, 0, 102);
  CheckKvWrite(13, 17, 20, 3, 103);    // 2-byte path
  CheckKvWrite(64, 72, 128, 60, 104);  // aligned sizes, misaligned offset: 2-byte path
}

// The runtime's MLA use: c_kv and k_pe written by two calls into one latent row (dst_offset),
// from strided sources, then attention over the cache built that way.
TEST(PagedKvWrite, MlaLatentThenAttention) {
  JANUS_SKIP_WITHOUT_GPU();
  const int lora = 32, rope = 16, width = lora + rope;
  Case c{8, 1, width, lora, 5, true};
  c.seqs = {{0, 1, 2, 3, 4, 5, 6}, {11}};
  Scenario sc;
  BuildHost(c, 111, &sc);
  ComputeReference(&sc);
  JANUS_ASSERT_OK(Upload(&sc));
  // The rows' own tokens are written by the kernel under test: poison their slots first, and
  // take the values to write from the host cache (which the reference used).
  std::vector<uint16_t> ckv(static_cast<size_t>(sc.rows) * 40);
  std::vector<uint16_t> kpe(static_cast<size_t>(sc.rows) * 24);
  std::vector<uint16_t> poisoned = sc.kc;
  for (int r = 0; r < sc.rows; ++r) {
    const int64_t slot = int64_t{sc.table[sc.row_seq[r] * sc.max_pages + sc.row_pos[r] / c.page]} *
                             c.page + sc.row_pos[r] % c.page;
    for (int d = 0; d < width; ++d) {
      (d < lora ? ckv[r * 40 + d] : kpe[r * 24 + d - lora]) = sc.kc[slot * sc.ks + d];
      poisoned[slot * sc.ks + d] = 0xffff;
    }
  }
  JANUS_ASSERT_OK_AND_ASSIGN(sc.d_k, DeviceBuffer::FromHost(poisoned));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_ckv, DeviceBuffer::FromHost(ckv));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_kpe, DeviceBuffer::FromHost(kpe));
  JANUS_ASSERT_OK(LaunchPagedKvWrite(d_ckv.get<uint16_t>(), 40, sc.rows, lora,
                                     sc.d_seq.get<int32_t>(), sc.d_pos.get<int32_t>(),
                                     sc.d_table.get<int32_t>(), sc.max_pages, c.page,
                                     sc.d_k.get<uint16_t>(), sc.ks, 0, 0));
  JANUS_ASSERT_OK(LaunchPagedKvWrite(d_kpe.get<uint16_t>(), 24, sc.rows, rope,
                                     sc.d_seq.get<int32_t>(), sc.d_pos.get<int32_t>(),
                                     sc.d_table.get<int32_t>(), sc.max_pages, c.page,
                                     sc.d_k.get<uint16_t>(), sc.ks, lora, 0));
  JANUS_ASSERT_OK(LaunchPagedAttention(sc.Shape(), sc.Args(), 0));
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> k_after, sc.d_k.ToHost<uint16_t>());
  EXPECT_EQ(k_after, sc.kc);
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> out, sc.d_out.ToHost<uint16_t>());
  ExpectMatches(sc, out);
}

// Argument errors come back before any CUDA call: these run without a GPU.
PagedAttentionShape GoodShape() { return {3, 8, 2, 16, 16, 16, 4}; }

PagedAttentionArgs GoodArgs() {
  static uint16_t dummy[8];
  static int32_t ints[8];
  PagedAttentionArgs a;
  a.q = a.k_cache = a.v_cache = dummy;
  a.out = dummy;
  a.row_seq = a.row_pos = a.block_table = ints;
  a.k_token_stride = a.v_token_stride = 32;
  a.scale = 0.25f;
  return a;
}

TEST(PagedAttention, RejectsBadArguments) {
  const auto code = [](const PagedAttentionShape& s, const PagedAttentionArgs& a) {
    return LaunchPagedAttention(s, a, nullptr).code();
  };
  constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
  const PagedAttentionArgs good = GoodArgs();
  PagedAttentionShape s = GoodShape();
  s.num_kv_heads = 3;  // does not divide 8
  EXPECT_EQ(code(s, good), kInvalid);
  s = GoodShape();
  s.num_kv_heads = 0;
  EXPECT_EQ(code(s, good), kInvalid);
  s = GoodShape();
  s.num_heads = 0;
  EXPECT_EQ(code(s, good), kInvalid);
  for (int qk : {0, -1, 577}) {
    s = GoodShape();
    s.qk_dim = qk;
    EXPECT_EQ(code(s, good), kInvalid) << "qk_dim " << qk;
  }
  for (int v : {0, 513}) {
    s = GoodShape();
    s.v_dim = v;
    EXPECT_EQ(code(s, good), kInvalid) << "v_dim " << v;
  }
  s = GoodShape();
  s.page_size = 0;
  EXPECT_EQ(code(s, good), kInvalid);
  s = GoodShape();
  s.max_pages_per_seq = 0;
  EXPECT_EQ(code(s, good), kInvalid);
  s = GoodShape();
  s.rows = -1;
  EXPECT_EQ(code(s, good), kInvalid);
  for (int splits : {-1, 3, 16}) {
    s = GoodShape();
    s.kv_splits = splits;
    EXPECT_EQ(code(s, good), kInvalid) << "kv_splits " << splits;
  }
  PagedAttentionArgs a = GoodArgs();
  a.k_token_stride = 31;  // < 2 kv heads * 16
  EXPECT_EQ(code(GoodShape(), a), kInvalid);
  a = GoodArgs();
  a.v_cache = nullptr;  // not aliased: v_token_stride must hold the heads
  a.v_token_stride = 8;
  EXPECT_EQ(code(GoodShape(), a), kInvalid);
  a = GoodArgs();
  a.scale = NAN;
  EXPECT_EQ(code(GoodShape(), a), kInvalid);
  // Null pointers with rows > 0, each in turn.
  for (int which = 0; which < 7; ++which) {
    a = GoodArgs();
    switch (which) {
      case 0: a.q = nullptr; break;
      case 1: a.k_cache = nullptr; break;
      case 2: a.v_cache = nullptr; break;
      case 3: a.row_seq = nullptr; break;
      case 4: a.row_pos = nullptr; break;
      case 5: a.block_table = nullptr; break;
      case 6: a.out = nullptr; break;
    }
    EXPECT_EQ(code(GoodShape(), a), kInvalid) << "null pointer " << which;
  }
  // rows == 0 is a no-op, null pointers included.
  s = GoodShape();
  s.rows = 0;
  PagedAttentionArgs none;
  none.k_token_stride = none.v_token_stride = 32;
  EXPECT_TRUE(LaunchPagedAttention(s, none, nullptr).ok());
}

TEST(PagedKvWrite, RejectsBadArguments) {
  static uint16_t buf[8];
  static int32_t ints[8];
  constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
  const auto call = [&](const uint16_t* src, int64_t src_stride, int rows, int width,
                        const int32_t* seq, int max_pages, int page, uint16_t* cache,
                        int64_t token_stride, int64_t offset) {
    return LaunchPagedKvWrite(src, src_stride, rows, width, seq, ints, ints, max_pages, page,
                              cache, token_stride, offset, nullptr)
        .code();
  };
  EXPECT_EQ(call(buf, 16, 2, 0, ints, 4, 16, buf, 16, 0), kInvalid);    // width 0
  EXPECT_EQ(call(buf, 8, 2, 16, ints, 4, 16, buf, 16, 0), kInvalid);    // src stride < width
  EXPECT_EQ(call(buf, 16, 2, 16, ints, 4, 16, buf, 20, 8), kInvalid);   // offset + width > stride
  EXPECT_EQ(call(buf, 16, 2, 16, ints, 4, 16, buf, 20, -1), kInvalid);  // negative offset
  EXPECT_EQ(call(buf, 16, 2, 16, ints, 4, 0, buf, 16, 0), kInvalid);    // page_size 0
  EXPECT_EQ(call(buf, 16, 2, 16, ints, 0, 16, buf, 16, 0), kInvalid);   // no pages
  EXPECT_EQ(call(buf, 16, -1, 16, ints, 4, 16, buf, 16, 0), kInvalid);  // rows < 0
  EXPECT_EQ(call(nullptr, 16, 2, 16, ints, 4, 16, buf, 16, 0), kInvalid);
  EXPECT_EQ(call(buf, 16, 2, 16, nullptr, 4, 16, buf, 16, 0), kInvalid);
  EXPECT_EQ(call(buf, 16, 2, 16, ints, 4, 16, nullptr, 16, 0), kInvalid);
  EXPECT_TRUE(LaunchPagedKvWrite(nullptr, 16, 0, 16, nullptr, nullptr, nullptr, 4, 16, nullptr,
                                 16, 0, nullptr)
                  .ok());  // rows == 0: nothing to do
}

}  // namespace
}  // namespace janus::kernels
