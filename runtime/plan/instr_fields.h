// Generic views of an instruction's parameters, shared by the verifier and the
// dumpers (and usable by anyone who needs "every weight an instruction reads"
// without a switch of their own).
#ifndef JANUS_RUNTIME_PLAN_INSTR_FIELDS_H_
#define JANUS_RUNTIME_PLAN_INSTR_FIELDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/schema/plan_generated.h"

namespace janus {

struct WeightField {
  std::string name;  // "q", "gate[3]", ...
  int32_t index;     // into Plan.weights; -1 = absent
};

// Every weight index the instruction holds, absent ones (-1) included, in
// schema order. ExpertsParams' per-expert lists appear as "gate[e]", "up[e]",
// "down[e]".
std::vector<WeightField> InstrWeightFields(const plan::Instr& instr);

// The placement index the instruction refers to, or -1 (ScheduleParams,
// ExpertsParams).
int32_t InstrPlacement(const plan::Instr& instr);

// The `layer` field of the instruction's params (attention, router, schedule,
// experts, dispatch, combine), or -1 for ops without one.
int32_t InstrLayer(const plan::Instr& instr);

}  // namespace janus

#endif  // JANUS_RUNTIME_PLAN_INSTR_FIELDS_H_
