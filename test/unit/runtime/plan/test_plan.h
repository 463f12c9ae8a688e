// A small, valid plan built in code (1 attention + 2 MoE ranks; layer 0 dense,
// layer 1 MoE with 4 experts, 6 replicas; a two-phase dispatch/combine), for
// the plan tests.
#ifndef JANUS_TEST_UNIT_RUNTIME_PLAN_TEST_PLAN_H_
#define JANUS_TEST_UNIT_RUNTIME_PLAN_TEST_PLAN_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "runtime/schema/plan_generated.h"

namespace janus::testing {

// Weight indices of MakeTestPlan().
enum TestWeight : int32_t {
  kEmbed = 0,
  kNorm0 = 1,
  kQ0 = 2,
  kK0 = 3,
  kV0 = 4,
  kO0 = 5,
  kPostNorm0 = 6,
  kMlpGate0 = 7,
  kMlpUp0 = 8,
  kMlpDown0 = 9,
  kNorm1 = 10,
  kQ1 = 11,
  kK1 = 12,
  kV1 = 13,
  kO1 = 14,
  kPostNorm1 = 15,
  kRouter1 = 16,
  kExpertGate1 = 17,
  kExpertUp1 = 21,
  kExpertDown1 = 25,
  kFinalNorm = 29,
  kLmHead = 30,
  kNumTestWeights = 31,
};

std::unique_ptr<plan::PlanT> MakeTestPlan();

// The envelope around plan's nested buffer exactly as SerializePlan builds it,
// but without SerializePlan's invariant checks: what a buggy producer could
// write.
std::string PackUnchecked(const plan::PlanT& plan);

// The envelope SerializePlan would write around arbitrary nested bytes (with
// their checksum).
std::string WrapNested(const std::string& nested);

// Writes <dir>/model.safetensors holding every weight of `plan` (random BF16
// values) and points the plan's checkpoint_dir, files and weights at it.
absl::Status BindToNewCheckpoint(plan::PlanT* plan, const std::string& dir);

}  // namespace janus::testing

#endif  // JANUS_TEST_UNIT_RUNTIME_PLAN_TEST_PLAN_H_
