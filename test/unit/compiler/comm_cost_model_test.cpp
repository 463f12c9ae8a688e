// Unit tests of the attention <-> MoE communication cost model
// (passes/CommCostModel.h): the formulas against hand-computed values, and the
// strategy `auto` picks in the regimes the design names (few destinations or
// small messages: direct; many nodes: an aggregating strategy).
#include "passes/CommCostModel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <tuple>

namespace mlir::janus {
namespace {

Topology topo(int64_t a, int64_t m, int64_t g) {
  Topology t;
  t.attentionGpus = a;
  t.moeGpus = m;
  t.gpusPerNode = g;
  return t; // H100 defaults: 450/50 GB/s, 3/10 us, 1 us per message, 5 us phase
            // sync
}

constexpr double kMiB = 1 << 20;

TEST(CommCostModelTest, DirectMatchesHandComputation) {
  // 2 attention GPUs -> 3 MoE GPUs, 1 MiB each: each attention GPU sends 3 MiB
  // in 3 messages, each MoE GPU receives 2 MiB in 2, so the senders set the
  // time.
  CommCost c = predictCommCost(CommRoute::Direct, topo(2, 3, 8), kMiB);
  double expected = 10 + 3 * 1.0 + 3 * kMiB / 50e3;
  EXPECT_NEAR(c.phase0Us, expected, 1e-9);
  EXPECT_EQ(c.numPhases, 1);
  EXPECT_EQ(c.phase1Us, 0);
}

TEST(CommCostModelTest, TwoPhaseMatchesHandComputation) {
  // 4 attention GPUs on 2 nodes of 2, 4 MoE GPUs on 2 nodes of 2, 64 KiB per
  // attention GPU.
  double s = 64 * 1024;
  CommCost c = predictCommCost(CommRoute::TwoPhase, topo(4, 4, 2), s);
  EXPECT_EQ(c.numPhases, 2);
  EXPECT_NEAR(c.phase0Us, 3 + 1 + s / 450e3, 1e-9);
  double send = 10 + 2 * 1.0 + 2 * s / 50e3;
  double receive = 10 + 2 * 1.0 + 4 * s / 2 / 50e3;
  double spread = 3 + 1 + 4 * s / 2 / 450e3;
  EXPECT_NEAR(c.phase1Us, 5 + std::max(send, receive) + spread, 1e-9);
  EXPECT_NEAR(c.totalUs(), c.phase0Us + c.phase1Us, 1e-12);
}

TEST(CommCostModelTest, OneToOneIsDirect) {
  EXPECT_EQ(chooseCommRoute(topo(1, 1, 8), kMiB), CommRoute::Direct);
  EXPECT_EQ(chooseCommRoute(topo(1, 1, 8), 64), CommRoute::Direct);
}

TEST(CommCostModelTest, SmallMessagesGoDirect) {
  // One decode token of hidden 2048 per attention GPU: latency dominates, a
  // second hop never pays.
  double bytes = 2048 * 4;
  for (auto [a, m, g] :
       {std::tuple{1, 2, 8}, {2, 3, 8}, {2, 3, 2}, {4, 4, 2}, {8, 8, 8}})
    EXPECT_EQ(chooseCommRoute(topo(a, m, g), bytes), CommRoute::Direct)
        << a << "+" << m << " gpn " << g;
}

TEST(CommCostModelTest, LargeMultiNodeMessagesAggregate) {
  // 64 tokens x 4096 x 4 B = 1 MiB per attention GPU over several nodes: direct
  // re-sends every row once per MoE GPU over the NICs; aggregation sends it
  // once per MoE node.
  double bytes = 64 * 4096 * 4;
  EXPECT_EQ(chooseCommRoute(topo(16, 16, 8), bytes), CommRoute::TwoPhase);
  EXPECT_EQ(chooseCommRoute(topo(32, 64, 8), bytes), CommRoute::TwoPhase);
  EXPECT_EQ(chooseCommRoute(topo(4, 4, 2), bytes), CommRoute::TwoPhase);
  // One MoE node fed by a full attention node: relaying through the MoE node's
  // NICs wins.
  EXPECT_EQ(chooseCommRoute(topo(8, 8, 8), bytes), CommRoute::Relay);
  for (auto [a, m, g] : {std::tuple{16, 16, 8}, {8, 8, 8}, {32, 64, 8}})
    EXPECT_LT(
        predictCommCost(chooseCommRoute(topo(a, m, g), bytes), topo(a, m, g),
                        bytes)
            .totalUs(),
        predictCommCost(CommRoute::Direct, topo(a, m, g), bytes).totalUs());
}

TEST(CommCostModelTest, AutoIsTheCheapest) {
  for (int64_t a : {1, 2, 3, 8, 17})
    for (int64_t m : {1, 2, 5, 8, 40})
      for (int64_t g : {1, 2, 8})
        for (double bytes : {1e3, 1e5, 1e6, 1e7}) {
          Topology t = topo(a, m, g);
          double best =
              predictCommCost(chooseCommRoute(t, bytes), t, bytes).totalUs();
          for (CommRoute s :
               {CommRoute::Direct, CommRoute::TwoPhase, CommRoute::Relay}) {
            CommCost c = predictCommCost(s, t, bytes);
            EXPECT_GT(c.totalUs(), 0);
            EXPECT_LE(best, c.totalUs() + 1e-9);
            // More bytes never cost less.
            EXPECT_LE(c.totalUs(),
                      predictCommCost(s, t, bytes * 2).totalUs() + 1e-9);
          }
        }
}

TEST(CommCostModelTest, FasterLinksAreCheaper) {
  Topology slow = topo(16, 16, 8), fast = slow;
  fast.interNodeGBps = 400;
  for (CommRoute s : {CommRoute::Direct, CommRoute::TwoPhase, CommRoute::Relay})
    EXPECT_LT(predictCommCost(s, fast, kMiB).totalUs(),
              predictCommCost(s, slow, kMiB).totalUs());
}

TEST(CommCostModelTest, StrategyNames) {
  EXPECT_EQ(parseCommRoute("two-phase"), CommRoute::TwoPhase);
  EXPECT_EQ(parseCommRoute("two_phase"), CommRoute::TwoPhase);
  EXPECT_EQ(parseCommRoute("relay"), CommRoute::Relay);
  EXPECT_EQ(parseCommRoute("direct"), CommRoute::Direct);
  EXPECT_FALSE(parseCommRoute("auto"));
  EXPECT_FALSE(parseCommRoute("Direct"));
  EXPECT_STREQ(commRouteName(CommRoute::TwoPhase), "two_phase");
}

} // namespace
} // namespace mlir::janus
