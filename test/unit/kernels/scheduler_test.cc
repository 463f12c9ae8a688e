// The CUDA scheduler against runtime/cpu's ScheduleActivationBalanced / ScheduleFirstReplica: the
// assignment and every statistic must be equal bit for bit.
#include "kernels/scheduler.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "runtime/cpu/scheduler.h"
#include "test/support/random_routing.h"
#include "test/unit/kernels/gpu_test_util.h"

namespace janus::kernels {
namespace {

using testing::HasGpu;

struct HostPlacement {
  int num_experts = 0;
  int num_ranks = 0;
  std::vector<int32_t> offsets, rank, slot;
};

// Every expert gets one replica on a random rank; `extra` extra replicas go to random experts
// (on a rank the expert already has when `allow_same_rank` and the dice say so).
HostPlacement MakePlacement(std::mt19937& rng, int experts, int ranks, int extra,
                            bool allow_same_rank) {
  std::vector<std::vector<int>> reps(experts);
  std::uniform_int_distribution<int> rank_d(0, ranks - 1), expert_d(0, experts - 1);
  for (int e = 0; e < experts; ++e) reps[e].push_back(rank_d(rng));
  for (int i = 0; i < extra; ++i) {
    auto& r = reps[expert_d(rng)];
    if (static_cast<int>(r.size()) >= ranks && !allow_same_rank) continue;
    int g = rank_d(rng);
    while (!allow_same_rank && std::find(r.begin(), r.end(), g) != r.end()) g = rank_d(rng);
    r.push_back(g);
  }
  HostPlacement p;
  p.num_experts = experts;
  p.num_ranks = ranks;
  std::vector<int> next_slot(ranks, 0);
  p.offsets.push_back(0);
  for (int e = 0; e < experts; ++e) {
    for (int g : reps[e]) {
      p.rank.push_back(g);
      p.slot.push_back(next_slot[g]++);
    }
    p.offsets.push_back(static_cast<int32_t>(p.rank.size()));
  }
  return p;
}

struct GpuResult {
  std::vector<int32_t> assignment, slot, expert_rank, experts_per_rank, pairs, rows;
  int32_t a_max = -7, invalid = -7;
};

absl::StatusOr<GpuResult> RunGpu(ScheduleAlgorithm algorithm, const HostPlacement& hp,
                                 const std::vector<int32_t>& ids, int rows, int top_k) {
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_off, DeviceBuffer::FromHost(hp.offsets));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_rank, DeviceBuffer::FromHost(hp.rank));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_slot, DeviceBuffer::FromHost(hp.slot));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_ids, DeviceBuffer::FromHost(ids));
  const size_t P = static_cast<size_t>(rows) * top_k;
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer assignment, DeviceBuffer::Create(4 * P));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer slot, DeviceBuffer::Create(4 * P));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer expert_rank, DeviceBuffer::Create(4 * hp.num_experts));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer stats, DeviceBuffer::Create(4 * (3 * hp.num_ranks + 2)));
  // 0x7f7f7f7f poison: not a rank, not -1.
  for (DeviceBuffer* b : {&assignment, &slot, &expert_rank, &stats}) {
    JANUS_RETURN_IF_ERROR(b->Fill(0x7f));
  }
  DevicePlacement p;
  p.num_experts = hp.num_experts;
  p.num_ranks = hp.num_ranks;
  p.num_replicas = static_cast<int>(hp.rank.size());
  p.replica_offsets = d_off.get<int32_t>();
  p.replica_rank = d_rank.get<int32_t>();
  p.replica_slot = d_slot.get<int32_t>();
  const int G = hp.num_ranks;
  ScheduleOutputs out;
  out.assignment = assignment.get<int32_t>();
  out.slot = slot.get<int32_t>();
  out.expert_rank = expert_rank.get<int32_t>();
  out.experts_per_rank = stats.get<int32_t>();
  out.pairs_per_rank = stats.get<int32_t>() + G;
  out.rows_per_rank = stats.get<int32_t>() + 2 * G;
  out.a_max = stats.get<int32_t>() + 3 * G;
  out.num_invalid_ids = stats.get<int32_t>() + 3 * G + 1;
  JANUS_RETURN_IF_ERROR(LaunchSchedule(algorithm, p, d_ids.get<int32_t>(), rows, top_k, out, 0));
  JANUS_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
  GpuResult r;
  JANUS_ASSIGN_OR_RETURN(r.assignment, assignment.ToHost<int32_t>());
  JANUS_ASSIGN_OR_RETURN(r.slot, slot.ToHost<int32_t>());
  JANUS_ASSIGN_OR_RETURN(r.expert_rank, expert_rank.ToHost<int32_t>());
  JANUS_ASSIGN_OR_RETURN(std::vector<int32_t> s, stats.ToHost<int32_t>());
  r.experts_per_rank.assign(s.begin(), s.begin() + G);
  r.pairs.assign(s.begin() + G, s.begin() + 2 * G);
  r.rows.assign(s.begin() + 2 * G, s.begin() + 3 * G);
  r.a_max = s[3 * G];
  r.invalid = s[3 * G + 1];
  return r;
}

void ExpectMatchesCpu(ScheduleAlgorithm algorithm, const HostPlacement& hp,
                      const std::vector<int32_t>& ids, int rows, int top_k) {
  cpu::PlacementView view{hp.num_experts, hp.num_ranks, hp.offsets.data(), hp.rank.data()};
  std::vector<int32_t> want(ids.size());
  cpu::ScheduleStats stats;
  const absl::Status s =
      algorithm == ScheduleAlgorithm::kActivationBalanced
          ? cpu::ScheduleActivationBalanced(view, ids.data(), rows, top_k, want.data(), &stats)
          : cpu::ScheduleFirstReplica(view, ids.data(), rows, top_k, want.data(), &stats);
  ASSERT_TRUE(s.ok()) << s;
  JANUS_ASSERT_OK_AND_ASSIGN(GpuResult got, RunGpu(algorithm, hp, ids, rows, top_k));
  ASSERT_EQ(got.assignment, want);
  // Slot: the first replica of the expert on the chosen rank; expert_rank: the rank of any of its
  // pairs (all pairs of one expert go to one rank), -1 for experts nobody chose.
  std::vector<int32_t> want_expert_rank(hp.num_experts, -1);
  for (size_t i = 0; i < ids.size(); ++i) {
    const int e = ids[i];
    want_expert_rank[e] = want[i];
    int want_slot = -1;
    for (int r = hp.offsets[e]; r < hp.offsets[e + 1] && want_slot < 0; ++r) {
      if (hp.rank[r] == want[i]) want_slot = hp.slot[r];
    }
    ASSERT_EQ(got.slot[i], want_slot) << "pair " << i << " expert " << e;
  }
  EXPECT_EQ(got.expert_rank, want_expert_rank);
  EXPECT_EQ(got.experts_per_rank, stats.experts_per_rank);
  EXPECT_EQ(got.pairs, stats.pairs_per_rank);
  EXPECT_EQ(got.rows, stats.rows_per_rank);
  EXPECT_EQ(got.a_max, stats.a_max);
  EXPECT_EQ(got.invalid, 0);
}

TEST(SchedulerKernel, MatchesCpuAtBenchmarkShape) {
  JANUS_SKIP_WITHOUT_GPU();
  for (int seed = 0; seed < 6; ++seed) {
    std::mt19937 rng(1000 + seed);
    // 160 experts, 8 ranks, ~1.25 replicas per expert.
    const HostPlacement hp = MakePlacement(rng, 160, 8, 40, false);
    for (int rows : {1, 3, 64, 256, 4096}) {
      SCOPED_TRACE(::testing::Message() << "seed " << seed << " rows " << rows);
      const std::vector<int32_t> ids = janus::test_support::RandomRouting(rng, rows, 8, 160, seed % 2 ? 1.2 : 0.3);
      ExpectMatchesCpu(ScheduleAlgorithm::kActivationBalanced, hp, ids, rows, 8);
    }
  }
}

TEST(SchedulerKernel, ManyTiesAndReplicasOnOneRank) {
  JANUS_SKIP_WITHOUT_GPU();
  for (int seed = 0; seed < 20; ++seed) {
    std::mt19937 rng(2000 + seed);
    const HostPlacement hp = MakePlacement(rng, 16, 4, 40, /*allow_same_rank=*/true);
    const int rows = 1 + seed;
    const std::vector<int32_t> ids = janus::test_support::RandomRouting(rng, rows, 2, 16, 0.0);
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    ExpectMatchesCpu(ScheduleAlgorithm::kActivationBalanced, hp, ids, rows, 2);
  }
}

TEST(SchedulerKernel, EveryExpertReplicated) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(3000);
  const HostPlacement hp = MakePlacement(rng, 256, 32, 3 * 256, false);
  const std::vector<int32_t> ids = janus::test_support::RandomRouting(rng, 512, 8, 256, 0.8);
  ExpectMatchesCpu(ScheduleAlgorithm::kActivationBalanced, hp, ids, 512, 8);
}

// More than 64 ranks takes the single-thread greedy path.
TEST(SchedulerKernel, WideDeploymentScalarPath) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(4000);
  for (int ranks : {63, 64, 65, 96}) {
    const HostPlacement hp = MakePlacement(rng, 384, ranks, 300, false);
    const std::vector<int32_t> ids = janus::test_support::RandomRouting(rng, 300, 8, 384, 0.5);
    SCOPED_TRACE(::testing::Message() << "ranks " << ranks);
    ExpectMatchesCpu(ScheduleAlgorithm::kActivationBalanced, hp, ids, 300, 8);
  }
}

TEST(SchedulerKernel, FirstReplicaMatchesCpu) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(5000);
  const HostPlacement hp = MakePlacement(rng, 160, 8, 40, false);
  const std::vector<int32_t> ids = janus::test_support::RandomRouting(rng, 256, 8, 160, 0.7);
  ExpectMatchesCpu(ScheduleAlgorithm::kFirstReplica, hp, ids, 256, 8);
}

TEST(SchedulerKernel, ZeroRowsGivesZeroStats) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(6000);
  const HostPlacement hp = MakePlacement(rng, 32, 4, 8, false);
  JANUS_ASSERT_OK_AND_ASSIGN(GpuResult got,
                             RunGpu(ScheduleAlgorithm::kActivationBalanced, hp, {}, 0, 8));
  EXPECT_EQ(got.experts_per_rank, std::vector<int32_t>(4, 0));
  EXPECT_EQ(got.pairs, std::vector<int32_t>(4, 0));
  EXPECT_EQ(got.rows, std::vector<int32_t>(4, 0));
  EXPECT_EQ(got.a_max, 0);
  EXPECT_EQ(got.expert_rank, std::vector<int32_t>(32, -1));
}

// Where the CPU returns InvalidArgument, the kernel (which cannot return a status without a host
// synchronisation) marks the pair -1 and counts it; the valid pairs are scheduled as without them.
TEST(SchedulerKernel, InvalidIdsAreCountedAndMarked) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(7000);
  const HostPlacement hp = MakePlacement(rng, 64, 8, 16, false);
  std::vector<int32_t> ids = janus::test_support::RandomRouting(rng, 40, 4, 64, 0.5);
  std::vector<int32_t> bad = {3, 17, 80, 159};
  ids[bad[0]] = -1;
  ids[bad[1]] = 64;
  ids[bad[2]] = 1 << 30;
  ids[bad[3]] = -100;
  JANUS_ASSERT_OK_AND_ASSIGN(GpuResult got,
                             RunGpu(ScheduleAlgorithm::kActivationBalanced, hp, ids, 40, 4));
  EXPECT_EQ(got.invalid, 4);
  for (int i : bad) {
    EXPECT_EQ(got.assignment[i], -1);
    EXPECT_EQ(got.slot[i], -1);
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] >= 0 && ids[i] < 64) {
      EXPECT_GE(got.assignment[i], 0);
      EXPECT_LT(got.assignment[i], 8);
    }
  }
}

TEST(SchedulerKernel, RepeatedRunsAreIdentical) {
  JANUS_SKIP_WITHOUT_GPU();
  std::mt19937 rng(8000);
  const HostPlacement hp = MakePlacement(rng, 160, 8, 40, false);
  const std::vector<int32_t> ids = janus::test_support::RandomRouting(rng, 4096, 8, 160, 0.3);
  JANUS_ASSERT_OK_AND_ASSIGN(GpuResult a,
                             RunGpu(ScheduleAlgorithm::kActivationBalanced, hp, ids, 4096, 8));
  for (int i = 0; i < 5; ++i) {
    JANUS_ASSERT_OK_AND_ASSIGN(GpuResult b,
                               RunGpu(ScheduleAlgorithm::kActivationBalanced, hp, ids, 4096, 8));
    ASSERT_EQ(a.assignment, b.assignment);
    ASSERT_EQ(a.slot, b.slot);
  }
}

// Argument errors come back before any CUDA call, so this runs without a GPU too.
TEST(SchedulerKernel, RejectsBadArguments) {
  int32_t dummy = 0;
  DevicePlacement p;
  p.num_experts = 4;
  p.num_ranks = 2;
  p.num_replicas = 4;
  p.replica_offsets = &dummy;
  p.replica_rank = &dummy;
  ScheduleOutputs out;
  out.assignment = &dummy;
  EXPECT_EQ(LaunchSchedule(ScheduleAlgorithm::kActivationBalanced, p, &dummy, 1, 0, out, 0).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LaunchSchedule(ScheduleAlgorithm::kActivationBalanced, p, &dummy, -1, 2, out, 0).code(),
            absl::StatusCode::kInvalidArgument);
  ScheduleOutputs no_out;
  EXPECT_EQ(
      LaunchSchedule(ScheduleAlgorithm::kActivationBalanced, p, &dummy, 1, 2, no_out, 0).code(),
      absl::StatusCode::kInvalidArgument);
  out.slot = &dummy;  // slots without a replica_slot table
  EXPECT_EQ(LaunchSchedule(ScheduleAlgorithm::kActivationBalanced, p, &dummy, 1, 2, out, 0).code(),
            absl::StatusCode::kInvalidArgument);
  p.num_replicas = 3;  // fewer replicas than experts
  out.slot = nullptr;
  EXPECT_EQ(LaunchSchedule(ScheduleAlgorithm::kActivationBalanced, p, &dummy, 1, 2, out, 0).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace janus::kernels
