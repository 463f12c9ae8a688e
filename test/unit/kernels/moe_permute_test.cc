// Pair grouping, permute and un-permute against a host reference written here (the CPU backend has
// no separate permute step: runtime/cpu Experts() groups pairs by expert internally).
#include "kernels/moe_permute.h"

#include <cmath>
#include <algorithm>
#include <random>
#include <vector>

#include "test/unit/kernels/gpu_test_util.h"

namespace janus::kernels {
namespace {

using testing::RandomFloats;
using testing::ToBf16;

void Check(int rows, int top_k, int slots, int ranks, int hidden, uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << "rows " << rows << " top_k " << top_k << " slots " << slots
                                    << " ranks " << ranks);
  std::mt19937 rng(seed);
  const int P = rows * top_k, my_rank = ranks > 1 ? ranks - 1 : 0;
  std::vector<int32_t> slot(P), rank(P);
  std::uniform_int_distribution<int> sd(0, slots - 1), rd(0, ranks - 1);
  for (int i = 0; i < P; ++i) {
    slot[i] = sd(rng);
    rank[i] = rd(rng);
  }
  const std::vector<uint16_t> x = ToBf16(RandomFloats(rng, size_t{1} * rows * hidden, -1, 1));
  const std::vector<float> w = RandomFloats(rng, P, 0.1f, 1.0f);

  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_s, DeviceBuffer::FromHost(slot));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_r, DeviceBuffer::FromHost(rank));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_x, DeviceBuffer::FromHost(x));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_w, DeviceBuffer::FromHost(w));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer ws, DeviceBuffer::Create(PairGroupingBytes(P, slots)));
  JANUS_ASSERT_OK(ws.Fill(0xff));
  const PairGrouping g = CarvePairGrouping(ws.get(), P, slots);
  JANUS_ASSERT_OK(LaunchGroupPairs(d_s.get<int32_t>(), ranks > 1 ? d_r.get<int32_t>() : nullptr,
                                   my_rank, rows, top_k, slots, g, nullptr, 0));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_xp, DeviceBuffer::Create(size_t{2} * P * hidden));
  JANUS_ASSERT_OK(d_xp.Fill(0xff));
  JANUS_ASSERT_OK(LaunchPermuteRows(d_x.get<uint16_t>(), rows, top_k, hidden, g,
                                    d_xp.get<uint16_t>(), 0));
  // y_perm[pos] = a value derived from the pair so the un-permute can be checked exactly.
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  auto copy = [](const int32_t* src, size_t n) {
    std::vector<int32_t> v(n);
    EXPECT_EQ(cudaMemcpy(v.data(), src, 4 * n, cudaMemcpyDeviceToHost), cudaSuccess);
    return v;
  };
  const std::vector<int32_t> counts = copy(g.counts, slots), offsets = copy(g.offsets, slots + 1);
  const std::vector<int32_t> active = copy(g.active, slots), scalars = copy(g.scalars, 4);
  const std::vector<int32_t> pair_pos = copy(g.pair_pos, P), pos_pair = copy(g.pos_pair, P);

  std::vector<int32_t> want_counts(slots, 0), want_active;
  int local = 0;
  for (int i = 0; i < P; ++i) {
    if (ranks == 1 || rank[i] == my_rank) ++want_counts[slot[i]], ++local;
  }
  for (int s = 0; s < slots; ++s) {
    if (want_counts[s] > 0) want_active.push_back(s);
  }
  EXPECT_EQ(counts, want_counts);
  EXPECT_EQ(scalars[0], static_cast<int>(want_active.size()));
  EXPECT_EQ(scalars[1], local);
  EXPECT_EQ(scalars[2], 0);
  EXPECT_EQ(std::vector<int32_t>(active.begin(), active.begin() + want_active.size()), want_active);
  int run = 0;
  for (int s = 0; s < slots; ++s) {
    EXPECT_EQ(offsets[s], run);
    run += want_counts[s];
  }
  EXPECT_EQ(offsets[slots], run);
  // pair_pos and pos_pair are inverse; each position lies in its slot's range.
  for (int i = 0; i < P; ++i) {
    const bool is_local = ranks == 1 || rank[i] == my_rank;
    if (!is_local) {
      EXPECT_EQ(pair_pos[i], -1);
      continue;
    }
    const int p = pair_pos[i];
    ASSERT_GE(p, offsets[slot[i]]);
    ASSERT_LT(p, offsets[slot[i] + 1]);
    ASSERT_EQ(pos_pair[p], i);
  }
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> xp, d_xp.ToHost<uint16_t>());
  for (int p = 0; p < local; ++p) {
    const int row = pos_pair[p] / top_k;
    ASSERT_TRUE(std::equal(xp.begin() + size_t{1} * p * hidden, xp.begin() + size_t{1} * (p + 1) * hidden,
                           x.begin() + size_t{1} * row * hidden))
        << "position " << p;
  }

  // Un-permute: y_perm random; out[r] = Σ_k w * y_perm[pos] in k order.
  const std::vector<float> yp = RandomFloats(rng, size_t{1} * std::max(local, 1) * hidden, -1, 1);
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_yp, DeviceBuffer::FromHost(yp));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_out, DeviceBuffer::Create(size_t{4} * rows * hidden));
  JANUS_ASSERT_OK(d_out.Fill(0xff));
  JANUS_ASSERT_OK(LaunchUnpermuteRows(d_yp.get<float>(), d_w.get<float>(), rows, top_k, hidden, g,
                                      d_out.get<float>(), 0));
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<float> out, d_out.ToHost<float>());
  for (int r = 0; r < rows; ++r) {
    for (int h = 0; h < hidden; ++h) {
      float acc = 0.f;
      for (int k = 0; k < top_k; ++k) {
        const int p = pair_pos[r * top_k + k];
        // The kernel accumulates with explicit fused multiply-adds; so does this reference.
        if (p >= 0) acc = std::fma(w[r * top_k + k], yp[size_t{1} * p * hidden + h], acc);
      }
      ASSERT_EQ(out[size_t{1} * r * hidden + h], acc) << "row " << r << " col " << h;
    }
  }
}

TEST(MoePermute, GroupPermuteUnpermute) {
  JANUS_SKIP_WITHOUT_GPU();
  Check(1, 8, 16, 1, 64, 1);
  Check(64, 8, 32, 1, 256, 2);
  Check(300, 6, 40, 1, 128, 3);
  Check(4096, 8, 20, 8, 64, 4);   // many pairs, 1/8 local
  Check(7, 2, 100, 4, 8, 5);      // some rows with nothing local
}

TEST(MoePermute, InvalidSlotsAreCountedAndSkipped) {
  JANUS_SKIP_WITHOUT_GPU();
  std::vector<int32_t> slot = {0, 3, -1, 1, 7, 2};
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_s, DeviceBuffer::FromHost(slot));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer ws, DeviceBuffer::Create(PairGroupingBytes(6, 4)));
  JANUS_ASSERT_OK_AND_ASSIGN(DeviceBuffer d_inv, DeviceBuffer::FromHost(std::vector<int32_t>{0}));
  const PairGrouping g = CarvePairGrouping(ws.get(), 6, 4);
  JANUS_ASSERT_OK(LaunchGroupPairs(d_s.get<int32_t>(), nullptr, 0, 3, 2, 4, g,
                                   d_inv.get<int32_t>(), 0));
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  JANUS_ASSERT_OK_AND_ASSIGN(std::vector<int32_t> inv, d_inv.ToHost<int32_t>());
  EXPECT_EQ(inv[0], 2);
  std::vector<int32_t> pos(6);
  ASSERT_EQ(cudaMemcpy(pos.data(), g.pair_pos, 24, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(pos[2], -1);
  EXPECT_EQ(pos[4], -1);
}

}  // namespace
}  // namespace janus::kernels
