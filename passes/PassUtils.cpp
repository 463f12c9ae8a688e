//===- PassUtils.cpp - Helpers shared by the janus passes ----------------===//

#include "passes/PassUtils.h"

using namespace mlir;
using namespace mlir::janus;

FailureOr<func::FuncOp> mlir::janus::getForwardFunc(ModuleOp module) {
  auto forward = module.lookupSymbol<func::FuncOp>("forward");
  if (!forward || forward.isExternal())
    return module.emitError(
        "expects a func.func @forward with a body (an imported janus module)");
  if (!forward.getBody().hasOneBlock())
    return forward.emitError("expects @forward to have a single block");
  return forward;
}

FailureOr<int64_t> mlir::janus::resolveClusterGpus(
    ModuleOp module, llvm::StringRef clusterName,
    const ::mlir::detail::PassOptions::Option<int64_t> &option,
    llvm::StringRef flag) {
  if (auto cluster = module.lookupSymbol<ClusterOp>(clusterName)) {
    int64_t gpus = cluster.getNumGpus();
    if (option.hasValue() && option.getValue() != gpus)
      return module.emitError()
             << "option '--" << flag << "=" << option.getValue()
             << "' disagrees with janus.cluster @" << clusterName << " ("
             << gpus << " GPUs)";
    return gpus;
  }
  int64_t gpus = option.getValue();
  if (gpus < 1)
    return module.emitError()
           << "option '--" << flag << "=" << gpus << "': the "
           << (clusterName == kMoeCluster ? "MoE" : "attention")
           << " sub-cluster needs at least one GPU";
  return gpus;
}

FailureOr<int64_t> mlir::janus::resolveGpusPerNode(
    ModuleOp module,
    const ::mlir::detail::PassOptions::Option<int64_t> &option) {
  for (llvm::StringRef name : {kAttentionCluster, kMoeCluster}) {
    if (auto cluster = module.lookupSymbol<ClusterOp>(name)) {
      int64_t gpn = cluster.getGpusPerNode();
      if (option.hasValue() && option.getValue() != gpn)
        return module.emitError()
               << "option '--gpus-per-node=" << option.getValue()
               << "' disagrees with janus.cluster @" << name << " (" << gpn
               << " GPUs per node)";
      return gpn;
    }
  }
  if (option.getValue() < 1)
    return module.emitError() << "option '--gpus-per-node=" << option.getValue()
                              << "': a node needs at least one GPU";
  return option.getValue();
}

std::string mlir::janus::placementSymbolName(int64_t layer) {
  return "experts_l" + std::to_string(layer);
}

PlacementOp mlir::janus::findPlacement(ModuleOp module, int64_t layer) {
  for (auto placement : module.getOps<PlacementOp>())
    if (static_cast<int64_t>(placement.getLayer()) == layer)
      return placement;
  return nullptr;
}
