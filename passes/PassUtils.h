//===- PassUtils.h - Helpers shared by the janus passes ---------*- C++ -*-===//
//
// Internal to passes/: how the passes find the deployment facts an earlier pass
// already wrote into the module (the clusters), and reconcile them with their
// own options.
//
//===----------------------------------------------------------------------===//
#ifndef JANUS_PASSES_PASSUTILS_H
#define JANUS_PASSES_PASSUTILS_H

#include "dialects/janus/IR/JanusOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::janus {

inline constexpr llvm::StringLiteral kAttentionCluster = "attention";
inline constexpr llvm::StringLiteral kMoeCluster = "moe";
/// Module attribute janus-insert-comm records the topology cost model
/// parameters in.
inline constexpr llvm::StringLiteral kCommConfigAttr = "janus.comm_config";

/// The `@forward` function of an imported module, or an error on `module`.
FailureOr<func::FuncOp> getForwardFunc(ModuleOp module);

/// The GPU count of a sub-cluster: the `janus.cluster`'s when the module has
/// one (an explicitly set option must agree with it), else the option's. Fails,
/// naming `--<flag>`, when < 1.
FailureOr<int64_t>
resolveClusterGpus(ModuleOp module, llvm::StringRef clusterName,
                   const ::mlir::detail::PassOptions::Option<int64_t> &option,
                   llvm::StringRef flag);

/// gpus_per_node, from the clusters when present (they agree), else from the
/// option.
FailureOr<int64_t>
resolveGpusPerNode(ModuleOp module,
                   const ::mlir::detail::PassOptions::Option<int64_t> &option);

/// Name of the placement symbol for MoE layer `layer`.
std::string placementSymbolName(int64_t layer);

/// Finds the `janus.placement` of `layer`, or null.
PlacementOp findPlacement(ModuleOp module, int64_t layer);

} // namespace mlir::janus

#endif // JANUS_PASSES_PASSUTILS_H
