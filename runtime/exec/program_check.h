// What the cpu backend checks about a plan's programs before any rank thread
// starts, and small plan helpers the ranks share.
#ifndef JANUS_RUNTIME_EXEC_PROGRAM_CHECK_H_
#define JANUS_RUNTIME_EXEC_PROGRAM_CHECK_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/cpu/kv_cache.h"
#include "runtime/cpu/rope.h"
#include "runtime/exec/comm.h"
#include "runtime/schema/plan_generated.h"

namespace janus::exec {

// Checks that the cpu backend can run the plan's programs on this deployment:
// known instructions allowed for their role, operand counts, register indices,
// and dispatch/combine instructions that match one to one between the two
// programs in kind, layer, strategy, phase and operand count (so no rank can
// wait for a message that never comes). Errors name the role, the instruction
// and why.
absl::Status CheckProgramsRunnable(const plan::Plan& plan,
                                   const Topology& topology);

// The KV cache layers the attention program needs (widths 0 for layers without
// attention).
absl::StatusOr<std::vector<cpu::KvLayerSpec>> KvLayerSpecs(
    const plan::Plan& plan);

const char* RoleName(plan::Role role);
// "AttentionParams layer 3".
std::string InstrName(const plan::Instr& instr);
const plan::Program* ProgramOf(const plan::Plan& plan, plan::Role role);
cpu::RopeConfig ToRopeConfig(const plan::Rope& rope);
// Whether two RoPE configurations give the same tables (backends build one per distinct config).
bool SameRope(const cpu::RopeConfig& a, const cpu::RopeConfig& b);
// For each instruction of `program`, the registers it reads for the last time
// (freed after it runs by both backends). The program's output register is never
// listed, nor a register the instruction also writes.
std::vector<std::vector<int>> LastReads(const plan::Program& program);

}  // namespace janus::exec

#endif  // JANUS_RUNTIME_EXEC_PROGRAM_CHECK_H_
