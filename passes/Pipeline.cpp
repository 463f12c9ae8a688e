//===- Pipeline.cpp - The janus-compile pipeline --------------------------===//
//
// partition -> place -> comm -> schedule; janus-compile stops after any of them
// (--compile-to) and exportPlan (ExportPlan.cpp) lowers the scheduled module to
// the plan.
//
//===----------------------------------------------------------------------===//

#include "passes/Pipeline.h"
#include "passes/Passes.h"

#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/StringSwitch.h"

using namespace mlir;
using namespace mlir::janus;

std::optional<CompilePhase>
mlir::janus::parseCompilePhase(llvm::StringRef name) {
  return llvm::StringSwitch<std::optional<CompilePhase>>(name)
      .Case("import", CompilePhase::Import)
      .Case("partition", CompilePhase::Partition)
      .Case("place", CompilePhase::Place)
      .Case("comm", CompilePhase::Comm)
      .Case("schedule", CompilePhase::Schedule)
      .Case("plan", CompilePhase::Plan)
      .Default(std::nullopt);
}

void mlir::janus::buildJanusPipeline(OpPassManager &pm,
                                     const DeploymentOptions &options,
                                     CompilePhase stopAfter) {
  auto reaches = [&](CompilePhase phase) {
    return static_cast<int>(stopAfter) >= static_cast<int>(phase);
  };
  if (!reaches(CompilePhase::Partition))
    return;
  JanusPartitionPassOptions partition;
  partition.attentionGpus = options.attentionGpus;
  partition.moeGpus = options.moeGpus;
  partition.gpusPerNode = options.gpusPerNode;
  partition.gating = options.gating;
  pm.addPass(createJanusPartitionPass(partition));
  if (!reaches(CompilePhase::Place))
    return;
  JanusPlaceExpertsPassOptions place;
  place.moeGpus = options.moeGpus;
  place.expertSlotsPerGpu = options.expertSlotsPerGpu;
  place.activationProfile = options.activationProfile;
  pm.addPass(createJanusPlaceExpertsPass(place));
  if (!reaches(CompilePhase::Comm))
    return;
  JanusInsertCommPassOptions comm;
  comm.attentionGpus = options.attentionGpus;
  comm.moeGpus = options.moeGpus;
  comm.gpusPerNode = options.gpusPerNode;
  comm.comm = options.comm;
  comm.intraNodeGBps = options.intraNodeGBps;
  comm.interNodeGBps = options.interNodeGBps;
  comm.intraNodeLatencyUs = options.intraNodeLatencyUs;
  comm.interNodeLatencyUs = options.interNodeLatencyUs;
  pm.addPass(createJanusInsertCommPass(comm));
  if (!reaches(CompilePhase::Schedule))
    return;
  pm.addPass(createJanusInsertSchedulerPass());
}

namespace {
struct JanusPipelineOptions : public PassPipelineOptions<JanusPipelineOptions> {
  Option<int64_t> attentionGpus{
      *this, "attention-gpus",
      llvm::cl::desc("GPUs in the attention sub-cluster"), llvm::cl::init(1)};
  Option<int64_t> moeGpus{*this, "moe-gpus",
                          llvm::cl::desc("GPUs in the MoE sub-cluster"),
                          llvm::cl::init(1)};
  Option<int64_t> gpusPerNode{*this, "gpus-per-node",
                              llvm::cl::desc("GPUs per node"),
                              llvm::cl::init(8)};
  Option<int64_t> expertSlotsPerGpu{
      *this, "expert-slots-per-gpu",
      llvm::cl::desc(
          "Expert slots per MoE GPU (0: every expert once plus a margin)"),
      llvm::cl::init(0)};
  Option<std::string> activationProfile{
      *this, "activation-profile", llvm::cl::desc("JSON activation profile")};
  Option<std::string> gating{*this, "gating",
                             llvm::cl::desc("moe (default) or attention"),
                             llvm::cl::init("moe")};
  Option<std::string> comm{*this, "comm",
                           llvm::cl::desc("auto, direct, two-phase or relay"),
                           llvm::cl::init("auto")};
  Option<double> intraNodeGBps{
      *this, "intra-node-gbps",
      llvm::cl::desc("Intra-node bandwidth per GPU (GB/s)"),
      llvm::cl::init(450.0)};
  Option<double> interNodeGBps{
      *this, "inter-node-gbps",
      llvm::cl::desc("Inter-node bandwidth per GPU (GB/s)"),
      llvm::cl::init(50.0)};
  Option<double> intraNodeLatencyUs{*this, "intra-node-latency-us",
                                    llvm::cl::desc("Intra-node latency (us)"),
                                    llvm::cl::init(3.0)};
  Option<double> interNodeLatencyUs{*this, "inter-node-latency-us",
                                    llvm::cl::desc("Inter-node latency (us)"),
                                    llvm::cl::init(10.0)};
};
} // namespace

void mlir::janus::registerJanusPipelines() {
  PassPipelineRegistration<JanusPipelineOptions>(
      "janus-pipeline",
      "Partition, place experts, insert communication and the scheduler "
      "(janus-compile's "
      "pipeline up to the plan)",
      [](OpPassManager &pm, const JanusPipelineOptions &o) {
        DeploymentOptions options;
        options.attentionGpus = o.attentionGpus;
        options.moeGpus = o.moeGpus;
        options.gpusPerNode = o.gpusPerNode;
        options.expertSlotsPerGpu = o.expertSlotsPerGpu;
        options.activationProfile = o.activationProfile;
        options.gating = o.gating;
        options.comm = o.comm;
        options.intraNodeGBps = o.intraNodeGBps;
        options.interNodeGBps = o.interNodeGBps;
        options.intraNodeLatencyUs = o.intraNodeLatencyUs;
        options.interNodeLatencyUs = o.interNodeLatencyUs;
        buildJanusPipeline(pm, options, CompilePhase::Schedule);
      });
}
