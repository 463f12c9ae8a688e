#include "runtime/cpu/scheduler.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace janus::cpu {
namespace {

struct Placement {
  std::vector<int32_t> offsets, ranks;
  int num_experts, num_ranks;
  PlacementView view() const { return {num_experts, num_ranks, offsets.data(), ranks.data()}; }
};

Placement Make(int num_ranks, const std::vector<std::vector<int32_t>>& replicas) {
  Placement p;
  p.num_experts = static_cast<int>(replicas.size());
  p.num_ranks = num_ranks;
  p.offsets.push_back(0);
  for (const auto& r : replicas) {
    p.ranks.insert(p.ranks.end(), r.begin(), r.end());
    p.offsets.push_back(static_cast<int32_t>(p.ranks.size()));
  }
  return p;
}

bool Holds(const Placement& p, int expert, int rank) {
  for (int r = p.offsets[expert]; r < p.offsets[expert + 1]; ++r) {
    if (p.ranks[r] == rank) return true;
  }
  return false;
}

// e0..e2 single replicas on ranks 0..2; e3 on {0, 1}, e4 on {1, 2}, e5 on all three.
Placement Mixed() { return Make(3, {{0}, {1}, {2}, {0, 1}, {1, 2}, {0, 1, 2}}); }

TEST(SchedulerTest, HandComputedAssignment) {
  Placement p = Mixed();
  // counts: e0 1, e3 3, e4 2, e5 2. Single replica: e0 -> rank 0 (loads 1, 0, 0). Then by count
  // desc, id asc: e3 {0, 1} -> rank 1 (load 0); e4 {1, 2} -> rank 2 (load 0); e5 {0, 1, 2}, loads
  // all 1 -> rank 0. Final loads 2, 1, 1.
  std::vector<int32_t> ids = {3, 0, 3, 4, 5, 3, 4, 5};
  std::vector<int32_t> assignment(ids.size());
  ScheduleStats stats;
  ASSERT_TRUE(ScheduleActivationBalanced(p.view(), ids.data(), 4, 2, assignment.data(), &stats).ok());
  EXPECT_EQ(assignment, (std::vector<int32_t>{1, 0, 1, 2, 0, 1, 2, 0}));
  EXPECT_EQ(stats.experts_per_rank, (std::vector<int32_t>{2, 1, 1}));
  EXPECT_EQ(stats.a_max, 2);
  EXPECT_EQ(stats.pairs_per_rank, (std::vector<int32_t>{3, 3, 2}));
  EXPECT_EQ(stats.rows_per_rank, (std::vector<int32_t>{3, 3, 2}));
}

TEST(SchedulerTest, RandomBatchesRespectPlacementAndAreDeterministic) {
  Placement p = Make(4, {{0}, {1}, {2}, {3}, {0, 2}, {1, 3}, {0, 1, 2, 3}, {2}, {3, 0}, {1}});
  std::mt19937 gen(7);
  for (int trial = 0; trial < 50; ++trial) {
    const int rows = 1 + trial % 9, k = 3;
    std::vector<int32_t> ids;
    for (int r = 0; r < rows; ++r) {
      std::vector<int32_t> pool = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
      std::shuffle(pool.begin(), pool.end(), gen);
      ids.insert(ids.end(), pool.begin(), pool.begin() + k);
    }
    std::vector<int32_t> a(ids.size()), b(ids.size());
    ScheduleStats stats;
    ASSERT_TRUE(ScheduleActivationBalanced(p.view(), ids.data(), rows, k, a.data(), &stats).ok());
    ASSERT_TRUE(ScheduleActivationBalanced(p.view(), ids.data(), rows, k, b.data(), nullptr).ok());
    EXPECT_EQ(a, b);
    std::vector<int32_t> rank_of(10, -1);
    for (size_t i = 0; i < ids.size(); ++i) {
      EXPECT_TRUE(Holds(p, ids[i], a[i])) << "expert " << ids[i] << " on rank " << a[i];
      if (p.offsets[ids[i] + 1] - p.offsets[ids[i]] == 1) {
        EXPECT_EQ(a[i], p.ranks[p.offsets[ids[i]]]);
      }
      // One rank per expert per batch (the schedule is per expert, not per token).
      if (rank_of[ids[i]] < 0) rank_of[ids[i]] = a[i];
      EXPECT_EQ(rank_of[ids[i]], a[i]);
    }
    int pairs = 0;
    for (int g = 0; g < 4; ++g) pairs += stats.pairs_per_rank[g];
    EXPECT_EQ(pairs, rows * k);
  }
}

TEST(SchedulerTest, BalancingReducesAMaxOnASkewedPlacement) {
  // Every expert is replicated on both ranks; first replicas all sit on rank 0.
  Placement p = Make(2, {{0, 1}, {0, 1}, {0, 1}, {0, 1}});
  std::vector<int32_t> ids = {0, 1, 2, 3, 0, 2, 1, 3};
  std::vector<int32_t> first(ids.size()), balanced(ids.size());
  ScheduleStats fs, bs;
  ASSERT_TRUE(ScheduleFirstReplica(p.view(), ids.data(), 4, 2, first.data(), &fs).ok());
  ASSERT_TRUE(ScheduleActivationBalanced(p.view(), ids.data(), 4, 2, balanced.data(), &bs).ok());
  EXPECT_EQ(fs.a_max, 4);
  EXPECT_EQ(fs.experts_per_rank, (std::vector<int32_t>{4, 0}));
  for (int32_t g : first) EXPECT_EQ(g, 0);
  EXPECT_EQ(bs.a_max, 2);
  EXPECT_EQ(bs.experts_per_rank, (std::vector<int32_t>{2, 2}));
  // All counts equal (2): ids in order 0,1,2,3 alternate ranks 0,1,0,1.
  EXPECT_EQ(balanced, (std::vector<int32_t>{0, 1, 0, 1, 0, 0, 1, 1}));
}

TEST(SchedulerTest, HeavierExpertsChooseFirst) {
  Placement p = Make(2, {{0}, {0, 1}, {0, 1}});
  // e0 single -> rank 0 (load 1, 0). e2 has 3 tokens, e1 has 1: e2 picks first -> rank 1, then
  // e1 sees loads 1, 1 -> rank 0.
  std::vector<int32_t> ids = {2, 0, 2, 1, 2, 0};
  std::vector<int32_t> a(ids.size());
  ASSERT_TRUE(ScheduleActivationBalanced(p.view(), ids.data(), 3, 2, a.data(), nullptr).ok());
  EXPECT_EQ(a, (std::vector<int32_t>{1, 0, 1, 0, 1, 0}));
}

TEST(SchedulerTest, InvalidInputsAreRejected) {
  Placement p = Mixed();
  std::vector<int32_t> ids = {0, 6}, a(2);
  absl::Status s = ScheduleActivationBalanced(p.view(), ids.data(), 1, 2, a.data(), nullptr);
  EXPECT_NE(s.message().find("expert id 6"), std::string::npos) << s;
  EXPECT_FALSE(ScheduleFirstReplica(p.view(), ids.data(), 1, 2, a.data(), nullptr).ok());
  Placement empty_expert = Make(2, {{0}, {}, {1}});
  ids = {0, 2};
  s = ScheduleActivationBalanced(empty_expert.view(), ids.data(), 1, 2, a.data(), nullptr);
  EXPECT_NE(s.message().find("expert 1 has no replica"), std::string::npos) << s;
  Placement bad_rank = Make(2, {{0}, {2}});
  EXPECT_FALSE(ValidatePlacement(bad_rank.view()).ok());
  EXPECT_TRUE(ValidatePlacement(p.view()).ok());
}

}  // namespace
}  // namespace janus::cpu
