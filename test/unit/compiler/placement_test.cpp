// Unit tests of the expert placement algorithm (passes/Placement.h): every
// expert placed, slot limits kept, hot experts replicated, co-activated experts
// kept apart (better than round-robin, measured both by the algorithm's own
// objective and by simulating the runtime's activation-balancing scheduler on
// held-out batches), determinism and the error paths.
#include "passes/Placement.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <vector>

namespace mlir::janus {
namespace {

std::vector<int64_t> replicasPerGpu(const ExpertPlacement &p) {
  std::vector<int64_t> count(p.numGpus, 0);
  for (int64_t g : p.replicaGpu)
    ++count[g];
  return count;
}

LayerDemand randomDemand(std::mt19937 &rng, int64_t numExperts) {
  LayerDemand demand;
  std::uniform_real_distribution<double> load(0.5, 100.0);
  for (int64_t e = 0; e < numExperts; ++e)
    demand.expertLoad.push_back(load(rng));
  std::uniform_int_distribution<int64_t> expert(0, numExperts - 1);
  for (int i = 0; i < 2 * numExperts; ++i) {
    int64_t a = expert(rng), b = expert(rng);
    if (a != b)
      demand.coactivation.push_back({a, b, load(rng)});
  }
  return demand;
}

TEST(PlacementTest, DefaultSlotsAreEveryExpertOncePlusAMargin) {
  EXPECT_EQ(defaultSlotsPerGpu(8, 1), 8 + 2);
  EXPECT_EQ(defaultSlotsPerGpu(8, 2), 4 + 1);
  EXPECT_EQ(defaultSlotsPerGpu(8, 3), 3 + 1);
  EXPECT_EQ(defaultSlotsPerGpu(64, 8), 8 + 2);
  EXPECT_EQ(defaultSlotsPerGpu(256, 32), 8 + 2);
  EXPECT_EQ(defaultSlotsPerGpu(4, 8), 1 + 1);
  for (int64_t e = 1; e <= 70; ++e)
    for (int64_t m = 1; m <= 12; ++m)
      EXPECT_GT(m * defaultSlotsPerGpu(e, m), e)
          << e << " experts on " << m << " GPUs";
}

// Property sweep over random shapes and demands, including the tightest slot
// count.
TEST(PlacementTest, EveryExpertPlacedWithinSlotLimits) {
  std::mt19937 rng(1234);
  for (int64_t numExperts : {1, 2, 3, 7, 8, 16, 60, 64}) {
    for (int64_t numGpus : {1, 2, 3, 5, 8}) {
      int64_t tight = (numExperts + numGpus - 1) / numGpus;
      for (int64_t slots :
           {tight, tight + 1, defaultSlotsPerGpu(numExperts, numGpus),
            tight + 7}) {
        LayerDemand demand = randomDemand(rng, numExperts);
        std::string error;
        std::optional<ExpertPlacement> p =
            placeExperts(demand, numGpus, slots, error);
        ASSERT_TRUE(p) << error;
        EXPECT_EQ(verifyPlacement(*p), "");
        for (int64_t e = 0; e < numExperts; ++e) {
          EXPECT_GE(p->numReplicas(e), 1);
          EXPECT_LE(p->numReplicas(e), numGpus);
        }
        for (int64_t used : replicasPerGpu(*p))
          EXPECT_LE(used, slots);
        // Every slot that can usefully hold a replica is used.
        EXPECT_EQ(static_cast<int64_t>(p->replicaGpu.size()),
                  std::min(numGpus * slots, numExperts * numGpus));
      }
    }
  }
}

TEST(PlacementTest, HotExpertsGetMoreReplicas) {
  // Zipf-like loads: expert 0 is by far the hottest.
  LayerDemand demand;
  for (int e = 0; e < 16; ++e)
    demand.expertLoad.push_back(1000.0 / (e + 1));
  std::string error;
  std::optional<ExpertPlacement> p =
      placeExperts(demand, 4, 6, error); // 24 slots, 8 spare
  ASSERT_TRUE(p) << error;
  EXPECT_EQ(p->numReplicas(0), 4); // on every GPU
  EXPECT_GE(p->numReplicas(1), 2);
  EXPECT_EQ(p->numReplicas(15), 1);
  for (int e = 0; e + 1 < 16; ++e)
    EXPECT_GE(p->numReplicas(e), p->numReplicas(e + 1)) << "expert " << e;
  // Load per replica after replication: the spare slots went where they cut the
  // peak most.
  double peak = 0;
  for (int e = 0; e < 16; ++e)
    peak = std::max(peak, demand.expertLoad[e] / p->numReplicas(e));
  EXPECT_LE(peak, 1000.0 / 4 + 1e-9);
  EXPECT_LT(
      evaluatePlacement(demand, *p).maxGpuLoad,
      evaluatePlacement(demand, roundRobinPlacement(16, 4, 6)).maxGpuLoad);
}

TEST(PlacementTest, UniformDemandIsBalanced) {
  std::string error;
  std::optional<ExpertPlacement> p =
      placeExperts(uniformDemand(8), 3, 3, error);
  ASSERT_TRUE(p) << error;
  std::vector<int64_t> used = replicasPerGpu(*p);
  EXPECT_EQ(used, (std::vector<int64_t>{3, 3, 3}));
  PlacementCost cost = evaluatePlacement(uniformDemand(8), *p);
  EXPECT_NEAR(cost.maxGpuLoad, 8.0 / 3, 0.5 + 1e-9);
}

// The activation-balancing scheduler of ARCHITECTURE.md, written independently
// of the compiler: returns a_max, the largest number of distinct experts any
// GPU runs for this batch.
int64_t scheduleAMax(const ExpertPlacement &p,
                     const std::vector<std::vector<int64_t>> &batch) {
  std::map<int64_t, int64_t> tokens; // expert -> tokens
  for (const auto &choice : batch)
    for (int64_t e : choice)
      ++tokens[e];
  std::vector<int64_t> load(p.numGpus, 0);
  std::vector<std::pair<int64_t, int64_t>> multi; // (-tokens, expert)
  for (auto [e, n] : tokens) {
    if (p.numReplicas(e) == 1)
      ++load[p.replicaGpu[p.replicaOffsets[e]]];
    else
      multi.push_back({-n, e});
  }
  std::sort(multi.begin(), multi.end());
  for (auto [negTokens, e] : multi) {
    int64_t best = -1;
    for (int64_t r = p.replicaOffsets[e]; r < p.replicaOffsets[e + 1]; ++r) {
      int64_t g = p.replicaGpu[r];
      if (best < 0 || load[g] < load[best] ||
          (load[g] == load[best] && g < best))
        best = g;
    }
    ++load[best];
  }
  return *std::max_element(load.begin(), load.end());
}

// Tokens choose top-2 experts as a correlated pair (e, e + 8): exactly the
// pairs round-robin over 8 GPUs puts on one GPU. Popularity is skewed towards
// low pair indices.
std::vector<int64_t> sampleToken(std::mt19937 &rng) {
  std::discrete_distribution<int> pair({40, 25, 15, 8, 5, 3, 2, 2});
  std::uniform_int_distribution<int> noise(0, 15);
  int p = pair(rng);
  std::bernoulli_distribution correlated(0.85);
  int64_t a = p, b = p + 8;
  if (!correlated(rng)) {
    b = noise(rng);
    if (b == a)
      b = (a + 1) % 16;
  }
  return {a, b};
}

TEST(PlacementTest, CoactivationBetterThanRoundRobinOnSkewedProfile) {
  constexpr int64_t kExperts = 16, kGpus = 8;
  std::mt19937 rng(42);
  // Record a profile the way the runtime does: expert counts and pairwise
  // co-activation.
  LayerDemand demand;
  demand.expertLoad.assign(kExperts, 0);
  std::map<std::pair<int64_t, int64_t>, double> pairs;
  for (int t = 0; t < 20000; ++t) {
    std::vector<int64_t> c = sampleToken(rng);
    for (int64_t e : c)
      demand.expertLoad[e] += 1;
    pairs[{std::min(c[0], c[1]), std::max(c[0], c[1])}] += 1;
  }
  for (auto [ab, n] : pairs)
    demand.coactivation.push_back({ab.first, ab.second, n});

  // Same slot budget for both: two slots per GPU.
  std::string error;
  std::optional<ExpertPlacement> ours = placeExperts(demand, kGpus, 2, error);
  ASSERT_TRUE(ours) << error;
  ExpertPlacement naive = roundRobinPlacement(kExperts, kGpus, 2);
  ASSERT_EQ(verifyPlacement(naive), "");
  PlacementCost oursCost = evaluatePlacement(demand, *ours);
  PlacementCost naiveCost = evaluatePlacement(demand, naive);
  EXPECT_LT(oursCost.coactivationCost, 0.2 * naiveCost.coactivationCost);
  EXPECT_LE(oursCost.maxGpuLoad, naiveCost.maxGpuLoad);

  // Held-out decode batches of 4 tokens: the scheduler's a_max (what the layer
  // time follows).
  double oursAMax = 0, naiveAMax = 0;
  constexpr int kBatches = 2000;
  for (int b = 0; b < kBatches; ++b) {
    std::vector<std::vector<int64_t>> batch;
    for (int t = 0; t < 4; ++t)
      batch.push_back(sampleToken(rng));
    oursAMax += scheduleAMax(*ours, batch);
    naiveAMax += scheduleAMax(naive, batch);
  }
  EXPECT_LT(oursAMax / kBatches, 0.9 * naiveAMax / kBatches)
      << "ours " << oursAMax / kBatches << " naive " << naiveAMax / kBatches;
}

TEST(PlacementTest, Deterministic) {
  std::mt19937 rng(7);
  LayerDemand demand = randomDemand(rng, 32);
  std::string error;
  std::optional<ExpertPlacement> a = placeExperts(demand, 6, 7, error);
  std::optional<ExpertPlacement> b = placeExperts(demand, 6, 7, error);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->replicaOffsets, b->replicaOffsets);
  EXPECT_EQ(a->replicaGpu, b->replicaGpu);
  EXPECT_EQ(a->replicaSlot, b->replicaSlot);
}

TEST(PlacementTest, ZeroProfileFallsBackToUniform) {
  LayerDemand zero;
  zero.expertLoad.assign(6, 0.0);
  std::string error;
  std::optional<ExpertPlacement> a = placeExperts(zero, 2, 4, error);
  std::optional<ExpertPlacement> b =
      placeExperts(uniformDemand(6), 2, 4, error);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->replicaGpu, b->replicaGpu);
}

TEST(PlacementTest, RejectsImpossibleInput) {
  std::string error;
  EXPECT_FALSE(placeExperts(uniformDemand(8), 3, 2, error));
  EXPECT_NE(error.find("3 MoE GPUs x 2 slots = 6 slots cannot hold 8 experts"),
            std::string::npos)
      << error;
  EXPECT_FALSE(placeExperts(uniformDemand(8), 0, 8, error));
  EXPECT_NE(error.find("at least one GPU"), std::string::npos) << error;
  EXPECT_FALSE(placeExperts(uniformDemand(8), 2, 0, error));
  EXPECT_NE(error.find("at least one expert slot"), std::string::npos) << error;
  EXPECT_FALSE(placeExperts(uniformDemand(0), 2, 4, error));
  LayerDemand bad = uniformDemand(4);
  bad.expertLoad[2] = -1;
  EXPECT_FALSE(placeExperts(bad, 2, 4, error));
  EXPECT_NE(error.find("expert 2"), std::string::npos) << error;
  LayerDemand badPair = uniformDemand(4);
  badPair.coactivation.push_back({1, 9, 3});
  EXPECT_FALSE(placeExperts(badPair, 2, 4, error));
  EXPECT_NE(error.find("(1, 9)"), std::string::npos) << error;
}

TEST(PlacementTest, VerifyCatchesBrokenTables) {
  ExpertPlacement p = roundRobinPlacement(4, 2, 2);
  EXPECT_EQ(verifyPlacement(p), "");
  ExpertPlacement twice = p;
  twice.replicaSlot[2] = 0; // expert 2 onto expert 0's slot
  EXPECT_NE(verifyPlacement(twice).find("used twice"), std::string::npos);
  ExpertPlacement over = p;
  over.replicaSlot[3] = 2;
  EXPECT_NE(verifyPlacement(over).find("outside"), std::string::npos);
}

} // namespace
} // namespace mlir::janus
