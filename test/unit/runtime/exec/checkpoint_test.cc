// The real Mixtral, tied-embedding Mixtral and Qwen2-MoE fixtures, on plans
// built in code (see test_plans.h), reproduce transformers' logits
// (reference.json) on four deployment shapes and all three communication
// strategies. (janus-compile's plans of all eight fixtures are checked by
// test/tools/run-reference-*.test.)
#include <cstdio>
#include <filesystem>
#include <string>
#include <tuple>

#include "gtest/gtest.h"
#include "runtime/exec/engine.h"
#include "runtime/io/reference.h"
#include "test/unit/runtime/exec/test_plans.h"

namespace janus::exec {
namespace {

using plan::CommStrategy;
using testing::GreedyRequests;
using testing::MakeShape;
using testing::RelativeError;
using testing::Shape;

class CheckpointTest
    : public ::testing::TestWithParam<std::tuple<std::string, int>> {};

TEST_P(CheckpointTest, MatchesTransformersReference) {
  const auto [fixture, shape_index] = GetParam();
  const std::string dir = testing::FixturesDir() + "/" + fixture;
  if (!std::filesystem::exists(dir + "/reference.json"))
    GTEST_SKIP() << "no fixture " << dir;
  auto model = testing::CheckpointModel(dir);
  ASSERT_TRUE(model.ok()) << model.status();
  const Shape shapes[] = {MakeShape(1, 1, 8, CommStrategy::Direct, 1),
                          MakeShape(2, 3, 8, CommStrategy::Direct, 1),
                          MakeShape(3, 2, 2, CommStrategy::TwoPhase, 2),
                          MakeShape(2, 3, 2, CommStrategy::Relay, 2)};
  auto plan = testing::LoadPlan(*model, shapes[shape_index]);
  ASSERT_TRUE(plan.ok()) << plan.status();
  auto engine = Engine::Create(*plan);
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto ref = ReadReferenceFile(dir + "/reference.json");
  ASSERT_TRUE(ref.ok()) << ref.status();
  std::vector<GenerationRequest> requests;
  for (const auto& c : ref->cases)
    requests.push_back(
        GreedyRequests({c.prompt}, static_cast<int>(c.greedy.size()))[0]);
  auto results = (*engine)->Generate(requests);
  ASSERT_TRUE(results.ok()) << results.status();
  double worst = 0;
  for (size_t i = 0; i < ref->cases.size(); ++i) {
    const auto& c = ref->cases[i];
    const auto& got = (*results)[i];
    EXPECT_EQ(got.tokens, c.greedy) << "case " << i;
    for (size_t r = 0; r < c.prefill_logits.size(); ++r)
      worst = std::max(
          worst, RelativeError(got.prefill_logits[r], c.prefill_logits[r]));
    for (size_t r = 0;
         r < c.decode_logits.size() && r < got.decode_logits.size(); ++r) {
      worst = std::max(worst,
                       RelativeError(got.decode_logits[r], c.decode_logits[r]));
    }
  }
  EXPECT_LE(worst, 1e-4);
  RecordProperty("max_relative_error", std::to_string(worst));
  std::printf("%s shape %d: max relative row error %.3g\n", fixture.c_str(),
              shape_index, worst);
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, CheckpointTest,
    ::testing::Combine(::testing::Values("mixtral_tiny", "mixtral_tied_tiny",
                                         "qwen2moe_tiny"),
                       ::testing::Values(0, 1, 2, 3)));

}  // namespace
}  // namespace janus::exec
