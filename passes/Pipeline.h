//===- Pipeline.h - The janus-compile pipeline ------------------*- C++ -*-===//
//
// The deployment options janus-compile exposes as flags, the phases it can stop after, and the
// pipeline that runs them. janus-opt registers the same pipeline as `janus-pipeline`.
//
//===----------------------------------------------------------------------===//
#ifndef JANUS_PASSES_PIPELINE_H
#define JANUS_PASSES_PIPELINE_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/LogicalResult.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <optional>
#include <string>

namespace mlir::janus {

/// Where janus-compile stops (`--compile-to=<phase>`); `plan` writes the FlatBuffers plan, every
/// other phase prints MLIR.
enum class CompilePhase { Import, Partition, Place, Comm, Schedule, Plan };

/// Parses "import" / "partition" / "place" / "comm" / "schedule" / "plan".
std::optional<CompilePhase> parseCompilePhase(llvm::StringRef name);

/// Deployment options (janus-compile flags; the same names as pass options underneath).
struct DeploymentOptions {
  int64_t attentionGpus = 1;     ///< --attention-gpus
  int64_t moeGpus = 1;           ///< --moe-gpus
  int64_t gpusPerNode = 8;       ///< --gpus-per-node
  int64_t expertSlotsPerGpu = 0; ///< --expert-slots-per-gpu; 0: every expert once + margin
  std::string activationProfile; ///< --activation-profile (JSON), empty: uniform load
  std::string gating = "moe";    ///< --gating=moe|attention
  std::string comm = "auto";     ///< --comm=auto|direct|two-phase|relay
  // Topology cost model (H100 cluster defaults: NVLink 4 within a node, 400 Gb/s IB between).
  double intraNodeGBps = 450.0;
  double interNodeGBps = 50.0;
  double intraNodeLatencyUs = 3.0;
  double interNodeLatencyUs = 10.0;
};

/// Adds the passes that take an imported module to the given phase (Import adds nothing; Plan
/// adds everything up to Schedule: the plan itself is written by exportPlan).
void buildJanusPipeline(OpPassManager &pm, const DeploymentOptions &options,
                        CompilePhase stopAfter = CompilePhase::Schedule);

/// Registers `janus-pipeline` (with the deployment options as pipeline options) for janus-opt.
void registerJanusPipelines();

/// Serialises a fully scheduled module into a plan file (runtime/schema/plan.fbs, with the
/// envelope checksum). Emits diagnostics and fails on anything the plan cannot express.
LogicalResult exportPlan(ModuleOp module, llvm::raw_ostream &os);

} // namespace mlir::janus

#endif // JANUS_PASSES_PIPELINE_H
