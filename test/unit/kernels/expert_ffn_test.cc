// The grouped expert FFN against runtime/cpu Experts() on random bf16 data.
#include "kernels/expert_ffn.h"

#include <algorithm>
#include <random>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/device_info.h"
#include "kernels/expert_ffn_generic.h"
#include "kernels/expert_ffn_paths.h"
#include "runtime/cpu/moe.h"
#include "test/unit/kernels/gpu_test_util.h"

namespace janus::kernels {
namespace {

using testing::Bf16ToFloats;
using testing::RandomFloats;
using testing::RelativeError;
using testing::ToBf16;

struct Case {
  int rows, top_k, hidden, inter, slots;
  int ranks;  // > 1: pairs are spread over ranks, this rank is rank 1
  int hot = -1;  // >= 0: every row routes its k = hot % top_k pair to slot 0 (one expert gets all)
  int invalid = 0;       // pairs given a slot outside [0, slots) (skipped, counted when local)
  bool generic = false;  // call LaunchGenericGroupedExpertFfn directly, whatever the shape
  FfnPath path = FfnPath::kAuto;  // a forced fast path (kAuto: what the shape and GPU pick)
};

struct Result {
  std::vector<float> got, want;
  std::vector<char> row_has_local;
};

// launches > 1: the call is repeated on the same workspace and output (the gate/up launch must
// reset the down launch's per-group counters; the result must not change).
absl::StatusOr<Result> RunFfn(const Case& c, uint32_t seed, int launches = 1) {
  std::mt19937 rng(seed);
  const int P = c.rows * c.top_k;
  const float wscale = 1.0f / std::sqrt(static_cast<float>(c.hidden));
  const std::vector<uint16_t> x = ToBf16(RandomFloats(rng, size_t{1} * c.rows * c.hidden, -1, 1));
  const size_t mat = size_t{1} * c.inter * c.hidden;
  const std::vector<uint16_t> gate = ToBf16(RandomFloats(rng, mat * c.slots, -2 * wscale, 2 * wscale));
  const std::vector<uint16_t> up = ToBf16(RandomFloats(rng, mat * c.slots, -2 * wscale, 2 * wscale));
  const float dscale = 1.0f / std::sqrt(static_cast<float>(c.inter));
  const std::vector<uint16_t> down = ToBf16(RandomFloats(rng, mat * c.slots, -2 * dscale, 2 * dscale));
  const std::vector<float> weights = RandomFloats(rng, P, 0.05f, 1.0f);
  std::vector<int32_t> slots(P), ranks(P);
  std::uniform_int_distribution<int> rank_d(0, c.ranks - 1);
  for (int r = 0; r < c.rows; ++r) {
    std::vector<int> perm(c.slots);
    for (int s = 0; s < c.slots; ++s) perm[s] = s;
    std::shuffle(perm.begin(), perm.end(), rng);
    if (c.hot >= 0) {  // move slot 0 to position hot % top_k (top-k slots stay distinct)
      const int at = static_cast<int>(std::find(perm.begin(), perm.end(), 0) - perm.begin());
      std::swap(perm[at], perm[c.hot % c.top_k]);
    }
    for (int k = 0; k < c.top_k; ++k) {
      slots[r * c.top_k + k] = perm[k];
      ranks[r * c.top_k + k] = rank_d(rng);
    }
  }
  const int my_rank = c.ranks > 1 ? 1 : 0;
  // Invalid slots on distinct pairs, alternately negative and past the table. The CPU reference
  // (which rejects them) sees those pairs as another rank's: the kernel must skip them alike.
  std::vector<int32_t> cpu_ranks(P, my_rank);
  if (c.ranks > 1) cpu_ranks = ranks;
  std::vector<int> order(P);
  for (int i = 0; i < P; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  int want_invalid = 0;
  for (int i = 0; i < std::min(c.invalid, P); ++i) {
    const int p = order[i];
    slots[p] = i % 2 ? -1 - i : c.slots + i;
    if (c.ranks == 1 || ranks[p] == my_rank) ++want_invalid;
    cpu_ranks[p] = -1;
  }
  const bool cpu_filter = c.ranks > 1 || c.invalid > 0;

  Result res;
  res.want.resize(size_t{1} * c.rows * c.hidden);
  const std::vector<float> xf = Bf16ToFloats(x);
  cpu::ExpertWeightsFn get = [&](int e) -> absl::StatusOr<cpu::ExpertWeights> {
    cpu::ExpertWeights w;
    w.gate = {DType::kBF16, gate.data() + e * mat, {c.inter, c.hidden}};
    w.up = {DType::kBF16, up.data() + e * mat, {c.inter, c.hidden}};
    w.down = {DType::kBF16, down.data() + e * mat, {c.hidden, c.inter}};
    return w;
  };
  JANUS_RETURN_IF_ERROR(cpu::Experts(xf.data(), c.rows, c.hidden, weights.data(), slots.data(),
                                     c.top_k, cpu_filter ? cpu_ranks.data() : nullptr, my_rank,
                                     get, res.want.data()));
  res.row_has_local.assign(c.rows, 0);
  for (int i = 0; i < P; ++i) {
    if (cpu_ranks[i] == my_rank) res.row_has_local[i / c.top_k] = 1;
  }

  JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_x, DeviceBuffer::FromHost(x));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_gate, DeviceBuffer::FromHost(gate));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_up, DeviceBuffer::FromHost(up));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_down, DeviceBuffer::FromHost(down));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_w, DeviceBuffer::FromHost(weights));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_slots, DeviceBuffer::FromHost(slots));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_ranks, DeviceBuffer::FromHost(ranks));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_out, DeviceBuffer::Create(4 * res.want.size()));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_invalid, DeviceBuffer::FromHost(std::vector<int32_t>{0}));
  GroupedFfnShape shape{c.rows, c.top_k, c.hidden, c.inter, c.slots};
  const size_t ws_bytes =
      c.generic ? GenericGroupedFfnWorkspaceBytes(shape) : GroupedFfnWorkspaceBytes(shape);
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer ws, DeviceBuffer::Create(ws_bytes));
  JANUS_RETURN_IF_ERROR(ws.Fill(0xff));  // stale workspace must not matter
  JANUS_RETURN_IF_ERROR(d_out.Fill(0xff));
  GroupedFfnArgs a;
  a.x = d_x.get<uint16_t>();
  a.weights = d_w.get<float>();
  a.slots = d_slots.get<int32_t>();
  a.ranks = c.ranks > 1 ? d_ranks.get<int32_t>() : nullptr;
  a.my_rank = my_rank;
  a.gate = d_gate.get<uint16_t>();
  a.up = d_up.get<uint16_t>();
  a.down = d_down.get<uint16_t>();
  a.out = d_out.get<float>();
  a.workspace = ws.get();
  a.workspace_bytes = ws.bytes();
  a.num_invalid_slots = d_invalid.get<int32_t>();
  for (int l = 0; l < launches; ++l) {
    JANUS_RETURN_IF_ERROR(c.generic ? LaunchGenericGroupedExpertFfn(shape, a, 0)
                                    : LaunchGroupedExpertFfnOnPath(shape, a, c.path, 0));
  }
  JANUS_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
  JANUS_ASSIGN_OR_RETURN(res.got, d_out.ToHost<float>());
  JANUS_ASSIGN_OR_RETURN(std::vector<int32_t> invalid, d_invalid.ToHost<int32_t>());
  if (invalid[0] != want_invalid * launches) {
    return absl::InternalError(absl::StrCat("kernel counted ", invalid[0], " invalid slots, want ",
                                            want_invalid * launches));
  }
  return res;
}

void Check(const Case& c, uint32_t seed, int launches = 1) {
  SCOPED_TRACE(::testing::Message() << "rows " << c.rows << " top_k " << c.top_k << " hidden "
                                    << c.hidden << " inter " << c.inter << " slots " << c.slots
                                    << " ranks " << c.ranks << " hot " << c.hot << " invalid "
                                    << c.invalid << " generic " << c.generic << " path "
                                    << FfnPathName(c.path) << " seed " << seed);
  JANUS_ASSERT_OK_AND_ASSIGN(Result r, RunFfn(c, seed, launches));
  ASSERT_EQ(testing::CountNonFinite(r.got), 0u) << "unwritten (poisoned) outputs";
  // bf16 weights and inputs on both sides; the GPU rounds silu(g)*u to bf16 (as a bf16 model does).
  EXPECT_LT(RelativeError(r.got, r.want), 1e-2);
  for (int row = 0; row < c.rows; ++row) {
    if (r.row_has_local[row]) continue;
    for (int h = 0; h < c.hidden; ++h) {
      ASSERT_EQ(r.got[size_t{1} * row * c.hidden + h], 0.0f) << "row " << row << " has no local pair";
    }
  }
}

TEST(GroupedExpertFfn, DecodeSizesMatchCpu) {
  JANUS_SKIP_WITHOUT_GPU();
  uint32_t seed = 1;
  for (int rows : {1, 2, 7, 8, 9, 16, 31, 64}) {
    Check({rows, 4, 256, 128, 8, 1}, seed++);
  }
}

TEST(GroupedExpertFfn, MultiPassBeyond64TokensPerExpert) {
  JANUS_SKIP_WITHOUT_GPU();
  Check({100, 2, 128, 64, 2, 1}, 11);   // 100 tokens on each of 2 slots: two passes
  Check({200, 8, 192, 192, 12, 1}, 12); // 192: K not a multiple of the 256-wide staged chunk
}

TEST(GroupedExpertFfn, OddShapesAndManySlots) {
  JANUS_SKIP_WITHOUT_GPU();
  Check({5, 8, 320, 320, 64, 1}, 21);  // many inactive slots
  Check({33, 6, 64, 64, 6, 1}, 22);    // single K step
  Check({3, 1, 1024, 704, 4, 1}, 23);
}

TEST(GroupedExpertFfn, OnlyLocalPairsOfThisRank) {
  JANUS_SKIP_WITHOUT_GPU();
  Check({24, 4, 256, 128, 16, 4}, 31);  // ~1/4 of the pairs local, some rows none
  Check({1, 2, 128, 64, 4, 8}, 32);
}

TEST(GroupedExpertFfn, RealisticQwen3Slice) {
  JANUS_SKIP_WITHOUT_GPU();
  Check({16, 8, 2048, 768, 16, 1}, 41);
}

// 33..64 rows select the 64-token variant (128-element staged chunks, two chunks per weight ring);
// K step counts that are odd or smaller than a ring exercise its partial last chunk and ring.
TEST(GroupedExpertFfn, SixtyFourTokenVariantEdges) {
  JANUS_SKIP_WITHOUT_GPU();
  uint32_t seed = 61;
  for (int rows : {33, 40, 63, 64, 65, 128}) {
    Check({rows, 8, 320, 192, 12, 1}, seed++);  // 5 and 3 K steps
  }
  Check({64, 1, 64, 64, 3, 1}, seed++);      // top_k 1, a single K step (one chunk of a ring)
  Check({64, 8, 192, 320, 8, 1}, seed++);    // top_k = slots: every expert gets every token
  Check({48, 2, 448, 128, 64, 1}, seed++);   // most of 64 slots get no token
  Check({64, 4, 2048, 768, 16, 4}, seed++);  // Qwen3 shape, remote pairs, some rows none
}

TEST(GroupedExpertFfn, OneExpertGetsAllTokens) {
  JANUS_SKIP_WITHOUT_GPU();
  uint32_t seed = 71;
  for (int rows : {8, 32, 64, 65, 128}) {
    for (int top_k : {1, 8}) {
      Case c{rows, top_k, 256, 192, 16, 1};
      c.hot = rows % top_k;  // the hot slot sits at varying k
      Check(c, seed++);
    }
  }
  Case deep{64, 2, 7168, 256, 3, 1};  // DeepSeek-V3 hidden (112 K steps), slot 0 at k 1 everywhere
  deep.hot = 1;
  Check(deep, seed++);
}

TEST(GroupedExpertFfn, RepeatedRunsAreBitIdentical64Tokens) {
  JANUS_SKIP_WITHOUT_GPU();
  Case c{64, 8, 320, 192, 16, 1};
  c.hot = 2;
  JANUS_ASSERT_OK_AND_ASSIGN(Result a, RunFfn(c, 81));
  for (int i = 0; i < 3; ++i) {
    JANUS_ASSERT_OK_AND_ASSIGN(Result b, RunFfn(c, 81));
    ASSERT_EQ(a.got, b.got);
  }
}

TEST(GroupedExpertFfn, RepeatedRunsAreBitIdentical) {
  JANUS_SKIP_WITHOUT_GPU();
  const Case c{48, 8, 256, 192, 16, 1};
  JANUS_ASSERT_OK_AND_ASSIGN(Result a, RunFfn(c, 51));
  for (int i = 0; i < 3; ++i) {
    JANUS_ASSERT_OK_AND_ASSIGN(Result b, RunFfn(c, 51));
    ASSERT_EQ(a.got, b.got);
  }
}

// The four-launch path (more than 64 pairs) with each of its streaming kernel sets: wgmma (skipped
// where the GPU lacks it) and mma.sync (the fallback elsewhere). Pass widths 16/32/48/64, slots
// with more tokens than one pass (two and three passes), a single K step for gate/up (hidden 64)
// and for down (inter 64, fewer steps than the ring), DeepSeek-V3's hidden, remote pairs.
TEST(GroupedExpertFfn, FourLaunchPathWithEachKernelSet) {
  JANUS_SKIP_WITHOUT_GPU();
  JANUS_ASSERT_OK_AND_ASSIGN(const bool have_wgmma, WgmmaAvailable());
  for (FfnPath path : {FfnPath::kFourLaunchWgmma, FfnPath::kFourLaunchMmaSync}) {
    if (path == FfnPath::kFourLaunchWgmma && !have_wgmma) continue;
    uint32_t seed = 151;
    std::vector<Case> cases = {
        {9, 8, 256, 128, 16, 1},    {24, 8, 320, 192, 12, 1},  {40, 8, 320, 192, 12, 1},
        {64, 8, 2048, 768, 16, 1},  {65, 4, 192, 320, 8, 1},   {128, 2, 256, 128, 4, 1},
        {200, 8, 192, 192, 12, 1},  {33, 6, 64, 64, 6, 1},     {48, 2, 448, 128, 64, 1},
        {64, 4, 2048, 768, 16, 4},  {40, 8, 7168, 256, 12, 1}, {12, 8, 128, 1088, 70, 1},
    };
    Case hot{130, 2, 256, 192, 8, 1};  // one slot gets all 130 rows: three 64-token passes
    hot.hot = 1;
    cases.push_back(hot);
    Case bad = cases[1];
    bad.invalid = 7;
    cases.push_back(bad);
    for (Case c : cases) {
      c.path = path;
      Check(c, seed++);
    }
    // Bit-identical from run to run (and with repeated launches on one workspace).
    Case c{64, 8, 320, 192, 16, 1, 2};
    c.path = path;
    JANUS_ASSERT_OK_AND_ASSIGN(Result a, RunFfn(c, 171));
    JANUS_ASSERT_OK_AND_ASSIGN(Result b, RunFfn(c, 171, 3));
    ASSERT_EQ(a.got, b.got);
  }
}

// The fused two-launch paths (<= 64 pairs and slots) with each kernel set, forced: one and two
// token tiles, many slots and slot 63, DeepSeek-V3's hidden, remote pairs, invalid slots, one hot
// slot. Each gives bit for bit what the four-launch path with the same kernels gives (same
// per-pair arithmetic, same k-ordered combine), also over repeated launches on one workspace.
TEST(GroupedExpertFfn, FusedPathsWithEachKernelSet) {
  JANUS_SKIP_WITHOUT_GPU();
  JANUS_ASSERT_OK_AND_ASSIGN(const bool have_wgmma, WgmmaAvailable());
  for (FfnPath path : {FfnPath::kFusedWgmma, FfnPath::kFused}) {
    if (path == FfnPath::kFusedWgmma && !have_wgmma) continue;
    uint32_t seed = 191;
    std::vector<Case> cases = {
        {1, 8, 2048, 768, 16, 1}, {2, 8, 2048, 768, 16, 1}, {8, 8, 2048, 768, 16, 1},
        {3, 4, 192, 1024, 8, 1},  {8, 8, 7168, 256, 32, 1}, {2, 8, 320, 192, 64, 2},
        {16, 4, 128, 64, 8, 4},   {64, 1, 192, 128, 4, 1},
    };
    Case hot{32, 2, 256, 128, 8, 1};
    hot.hot = 1;
    cases.push_back(hot);
    Case bad{6, 8, 256, 128, 16, 1};
    bad.invalid = 9;
    cases.push_back(bad);
    for (Case c : cases) {
      c.path = path;
      Check(c, seed++);
    }
    Case c{8, 8, 2048, 768, 16, 1};
    c.path = path;
    JANUS_ASSERT_OK_AND_ASSIGN(Result fused, RunFfn(c, 211, 3));
    c.path = path == FfnPath::kFused ? FfnPath::kFourLaunchMmaSync : FfnPath::kFourLaunchWgmma;
    JANUS_ASSERT_OK_AND_ASSIGN(Result four, RunFfn(c, 211));
    ASSERT_EQ(fused.got, four.got);
  }
  Case fused_too_many{9, 8, 128, 64, 16, 1};  // 72 pairs
  fused_too_many.path = FfnPath::kFused;
  EXPECT_EQ(RunFfn(fused_too_many, 1).status().code(), absl::StatusCode::kInvalidArgument);
  fused_too_many.path = FfnPath::kFusedWgmma;
  EXPECT_EQ(RunFfn(fused_too_many, 1).status().code(),
            have_wgmma ? absl::StatusCode::kInvalidArgument
                       : absl::StatusCode::kFailedPrecondition);
}

// rows * top_k <= 64 and slots <= 64 take the fused two-launch path (grouping in every gate/up
// block, combine in the down launch); past either limit the four-launch path runs. Both sides of
// both limits.
TEST(GroupedExpertFfn, FusedAndSeparateGroupingPaths) {
  JANUS_SKIP_WITHOUT_GPU();
  Check({8, 8, 192, 128, 16, 1}, 91);     // 64 pairs: fused
  Check({64, 1, 192, 128, 4, 1}, 96);     // 64 pairs, 64 rows (8-tile variant), fused
  Check({9, 8, 192, 128, 16, 1}, 92);     // 72 pairs: four launches
  Check({6, 8, 128, 64, 64, 1}, 93);      // 64 slots: fused
  Check({6, 8, 128, 64, 65, 1}, 94);      // 65 slots: four launches
  Check({16, 4, 128, 64, 8, 4}, 95);      // fused, remote pairs, some rows none
  Case hot{32, 2, 256, 128, 8, 1};        // fused, one slot gets all 32 rows
  hot.hot = 1;
  Check(hot, 97);
}

// One-tile fused calls (<= 8 rows): small and large intermediate sizes, items beyond one per block
// (DeepSeek-V3 hidden), 64 slots (slot 63 may be active) with remote pairs, one hot slot.
TEST(GroupedExpertFfn, OneTileFusedShapes) {
  JANUS_SKIP_WITHOUT_GPU();
  uint32_t seed = 131;
  for (int rows : {1, 3, 8}) {
    Check({rows, 8, 2048, 768, 16, 1}, seed++);   // Qwen3-30B-A3B
    Check({rows, 4, 192, 1024, 8, 1}, seed++);
    Check({rows, 4, 192, 1088, 8, 1}, seed++);
  }
  Check({8, 8, 7168, 256, 32, 1}, seed++);        // 32 slots x 224 items: several per block
  Check({2, 8, 256, 64, 64, 2}, seed++);          // slot 63 may be active; remote pairs
  Case hot{8, 1, 512, 128, 64, 1};                // every row on one slot
  hot.hot = 0;
  Check(hot, seed++);
}

// Repeated calls on one workspace (no re-poisoning in between) give bit-identical results: the
// done counters of the fused combine are reset by every call, never carried over.
TEST(GroupedExpertFfn, RepeatedLaunchesOnOneWorkspaceAreBitIdentical) {
  JANUS_SKIP_WITHOUT_GPU();
  for (const Case& c : {Case{1, 8, 2048, 768, 16, 1}, Case{8, 8, 2048, 768, 16, 1},
                        Case{64, 8, 2048, 768, 16, 1}, Case{10, 6, 320, 192, 16, 2},
                        Case{200, 8, 192, 192, 12, 1}}) {
    SCOPED_TRACE(::testing::Message() << "rows " << c.rows << " slots " << c.slots);
    JANUS_ASSERT_OK_AND_ASSIGN(Result once, RunFfn(c, 101));
    JANUS_ASSERT_OK_AND_ASSIGN(Result thrice, RunFfn(c, 101, 3));
    ASSERT_EQ(once.got, thrice.got);
    Check(c, 101, 2);
  }
}

// No local pair at all (every slot invalid): no expert work, and `out` (poisoned) must still be 0
// everywhere, on the fused (32 pairs), the four-launch (80 pairs) and the generic path.
TEST(GroupedExpertFfn, NothingLocalWritesZeros) {
  JANUS_SKIP_WITHOUT_GPU();
  // (hidden, inter): the fast paths, then the generic one.
  for (const auto& [rows, hidden, inter] : {std::tuple{4, 128, 64}, std::tuple{10, 128, 64},
                                            std::tuple{4, 96, 48}, std::tuple{10, 72, 40}}) {
    SCOPED_TRACE(::testing::Message() << "rows " << rows << " hidden " << hidden << " inter "
                                      << inter);
    const int top_k = 8, slots_n = 2;
    std::vector<uint16_t> ones(size_t{1} * slots_n * hidden * inter, 0x3f80);
    std::vector<uint16_t> x(size_t{1} * rows * hidden, 0x3f80);
    std::vector<float> w(size_t{1} * rows * top_k, 1.0f);
    std::vector<int32_t> slots(size_t{1} * rows * top_k, slots_n);  // all out of range
    JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_mat, DeviceBuffer::FromHost(ones));
    JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_x, DeviceBuffer::FromHost(x));
    JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_w, DeviceBuffer::FromHost(w));
    JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_s, DeviceBuffer::FromHost(slots));
    JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_out, DeviceBuffer::Create(4 * rows * hidden));
    JANUS_ASSERT_OK(d_out.Fill(0xff));
    JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_inv, DeviceBuffer::FromHost(std::vector<int32_t>{0}));
    GroupedFfnShape shape{rows, top_k, hidden, inter, slots_n};
    JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer ws,
                               DeviceBuffer::Create(GroupedFfnWorkspaceBytes(shape)));
    JANUS_ASSERT_OK(ws.Fill(0xff));
    GroupedFfnArgs a;
    a.x = d_x.get<uint16_t>();
    a.weights = d_w.get<float>();
    a.slots = d_s.get<int32_t>();
    a.gate = a.up = a.down = d_mat.get<uint16_t>();
    a.out = d_out.get<float>();
    a.workspace = ws.get();
    a.workspace_bytes = ws.bytes();
    a.num_invalid_slots = d_inv.get<int32_t>();
    JANUS_ASSERT_OK(LaunchGroupedExpertFfn(shape, a, 0));
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    JANUS_ASSERT_OK_AND_ASSIGN(std::vector<float> out, d_out.ToHost<float>());
    for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], 0.0f) << "at " << i;
    JANUS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> inv, d_inv.ToHost<int32_t>());
    EXPECT_EQ(inv[0], rows * top_k);
  }
}

TEST(GroupedExpertFfn, InvalidSlotsAreCounted) {
  JANUS_SKIP_WITHOUT_GPU();
  const int rows = 4, top_k = 2, hidden = 64, inter = 64, slots_n = 2;
  std::vector<uint16_t> zeros(size_t{1} * slots_n * hidden * inter, 0x3f80);  // 1.0
  std::vector<uint16_t> x(size_t{1} * rows * hidden, 0x3f80);
  std::vector<float> w(rows * top_k, 1.0f);
  std::vector<int32_t> slots = {0, 1, 2, 1, -1, 0, 1, 5};  // three invalid
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_mat, DeviceBuffer::FromHost(zeros));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_x, DeviceBuffer::FromHost(x));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_w, DeviceBuffer::FromHost(w));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_s, DeviceBuffer::FromHost(slots));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_out, DeviceBuffer::Create(4 * rows * hidden));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_inv, DeviceBuffer::FromHost(std::vector<int32_t>{0}));
  GroupedFfnShape shape{rows, top_k, hidden, inter, slots_n};
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer ws, DeviceBuffer::Create(GroupedFfnWorkspaceBytes(shape)));
  GroupedFfnArgs a;
  a.x = d_x.get<uint16_t>();
  a.weights = d_w.get<float>();
  a.slots = d_s.get<int32_t>();
  a.gate = a.up = a.down = d_mat.get<uint16_t>();
  a.out = d_out.get<float>();
  a.workspace = ws.get();
  a.workspace_bytes = ws.bytes();
  a.num_invalid_slots = d_inv.get<int32_t>();
  JANUS_ASSERT_OK(LaunchGroupedExpertFfn(shape, a, 0));
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> inv, d_inv.ToHost<int32_t>());
  EXPECT_EQ(inv[0], 3);
}

// Argument errors come back before any CUDA call (no GPU needed).
TEST(GroupedExpertFfn, RejectsBadArguments) {
  GroupedFfnArgs a;
  EXPECT_EQ(LaunchGroupedExpertFfn({4, 2, 100, 64, 2}, a, 0).code(),
            absl::StatusCode::kInvalidArgument);  // generic path (100 % 64 != 0), null pointers
  EXPECT_EQ(LaunchGroupedExpertFfn({4, 0, 64, 64, 2}, a, 0).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LaunchGroupedExpertFfn({4, 2, 64, 64, 2}, a, 0).code(),
            absl::StatusCode::kInvalidArgument);  // null pointers
  static uint16_t dummy[64] __attribute__((aligned(256)));
  static float fdummy[64] __attribute__((aligned(256)));
  static int32_t idummy[64] __attribute__((aligned(256)));
  a.x = a.gate = a.up = a.down = dummy;
  a.weights = fdummy;
  a.out = fdummy;
  a.slots = idummy;
  a.workspace = idummy;
  a.workspace_bytes = 16;  // too small
  EXPECT_EQ(LaunchGroupedExpertFfn({4, 2, 64, 64, 2}, a, 0).code(),
            absl::StatusCode::kInvalidArgument);
}

// hidden or inter not a multiple of 64: the generic path (kernels/expert_ffn_generic.h), against
// the same CPU reference. The shapes pick every access width (hidden 96: 16 bytes; 100 / 52: 8;
// 90: 4; 45, 7, 3: 2).
TEST(GroupedExpertFfn, GenericPathOddShapesMatchCpu) {
  JANUS_SKIP_WITHOUT_GPU();
  uint32_t seed = 201;
  for (const Case& c : {Case{5, 2, 96, 48, 4, 1}, Case{7, 4, 128, 160, 8, 1},
                        Case{3, 3, 72, 40, 6, 1}, Case{1, 1, 96, 48, 2, 1},
                        Case{70, 8, 96, 48, 16, 1}, Case{9, 2, 100, 52, 4, 1},
                        Case{6, 3, 90, 45, 5, 1}, Case{4, 2, 7, 3, 3, 1},
                        Case{2, 2, 64, 48, 4, 1}, Case{2, 2, 96, 64, 4, 1}}) {
    Check(c, seed++);
  }
}

TEST(GroupedExpertFfn, GenericPathRanksAndInvalidSlots) {
  JANUS_SKIP_WITHOUT_GPU();
  uint32_t seed = 221;
  for (Case c : {Case{24, 4, 96, 48, 16, 4}, Case{10, 6, 72, 40, 8, 2},
                 Case{8, 2, 128, 160, 4, 1}, Case{3, 2, 96, 48, 4, 8}}) {
    Check(c, seed++);  // some rows have no local pair
    c.invalid = 5;
    Check(c, seed++);
  }
}

// The generic kernels on fast-path shapes (called directly) agree with the CPU too, so the two
// paths compute the same function; invalid slots are counted the same way on both.
TEST(GroupedExpertFfn, GenericPathOnFastPathShapes) {
  JANUS_SKIP_WITHOUT_GPU();
  uint32_t seed = 241;
  for (Case c : {Case{16, 8, 256, 128, 16, 1}, Case{64, 4, 2048, 768, 16, 4},
                 Case{100, 2, 128, 64, 2, 1}}) {
    for (bool generic : {false, true}) {
      c.generic = generic;
      c.invalid = 0;
      Check(c, seed);
      c.invalid = 6;
      Check(c, seed + 1);
    }
    seed += 2;
  }
}

TEST(GroupedExpertFfn, GenericPathRepeatedLaunchesAreBitIdentical) {
  JANUS_SKIP_WITHOUT_GPU();
  Case c{33, 4, 96, 160, 8, 2};
  c.invalid = 2;
  JANUS_ASSERT_OK_AND_ASSIGN(Result once, RunFfn(c, 261));
  JANUS_ASSERT_OK_AND_ASSIGN(Result again, RunFfn(c, 261));
  JANUS_ASSERT_OK_AND_ASSIGN(Result thrice, RunFfn(c, 261, 3));
  ASSERT_EQ(once.got, again.got);
  ASSERT_EQ(once.got, thrice.got);
}

// The generic path's own checks (no GPU needed): sizes, pointers, workspace, alignment.
TEST(GroupedExpertFfn, GenericPathRejectsBadArguments) {
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  alignas(256) static uint16_t dummy[4096];
  alignas(256) static float fdummy[64];
  alignas(256) static int32_t idummy[64];
  alignas(256) static unsigned char ws[4096];
  GroupedFfnArgs a;
  a.x = a.gate = a.up = a.down = dummy;
  a.weights = fdummy;
  a.out = fdummy;
  a.slots = idummy;
  a.workspace = ws;
  a.workspace_bytes = sizeof(ws);
  EXPECT_EQ(LaunchGroupedExpertFfn({4, 2, -96, 48, 2}, a, 0).code(), kInvalid);
  EXPECT_EQ(LaunchGroupedExpertFfn({4, 2, 96, -48, 2}, a, 0).code(), kInvalid);
  EXPECT_EQ(LaunchGroupedExpertFfn({4, 2, 0, 64, 2}, a, 0).code(), kInvalid);   // fast path's check
  EXPECT_EQ(LaunchGroupedExpertFfn({4, 0, 96, 48, 2}, a, 0).code(), kInvalid);
  EXPECT_EQ(LaunchGroupedExpertFfn({4, 2, 96, 48, 0}, a, 0).code(), kInvalid);
  EXPECT_EQ(LaunchGroupedExpertFfn({-1, 2, 96, 48, 2}, a, 0).code(), kInvalid);
  EXPECT_EQ(LaunchGroupedExpertFfn({4, 2, 2000000, 48, 2}, a, 0).code(), kInvalid);  // > grid.y
  const GroupedFfnShape ok{4, 2, 96, 48, 2};
  EXPECT_EQ(GroupedFfnWorkspaceBytes(ok), GenericGroupedFfnWorkspaceBytes(ok));
  EXPECT_EQ(GenericGroupedFfnWorkspaceBytes(ok), 768u);  // 8 pairs * 48 bf16
  EXPECT_EQ(GenericGroupedFfnWorkspaceBytes({3, 1, 96, 45, 2}), 512u);  // 270 B, rounded up
  GroupedFfnArgs b = a;
  b.workspace_bytes = 512;  // too small
  EXPECT_EQ(LaunchGroupedExpertFfn(ok, b, 0).code(), kInvalid);
  b = a;
  b.workspace = ws + 16;  // not 256-byte aligned
  EXPECT_EQ(LaunchGroupedExpertFfn(ok, b, 0).code(), kInvalid);
  b = a;
  b.x = reinterpret_cast<const uint16_t*>(reinterpret_cast<const char*>(dummy) + 1);
  EXPECT_EQ(LaunchGroupedExpertFfn(ok, b, 0).code(), kInvalid);  // odd address
  b = a;
  b.out = reinterpret_cast<float*>(dummy + 1);  // 2-byte aligned float
  EXPECT_EQ(LaunchGroupedExpertFfn(ok, b, 0).code(), kInvalid);
  b = a;
  b.down = nullptr;
  EXPECT_EQ(LaunchGroupedExpertFfn(ok, b, 0).code(), kInvalid);
  EXPECT_TRUE(LaunchGroupedExpertFfn({0, 2, 96, 48, 2}, GroupedFfnArgs{}, 0).ok());  // no rows
}

}  // namespace
}  // namespace janus::kernels
