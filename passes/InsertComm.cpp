//===- InsertComm.cpp - janus-insert-comm ---------------------------------===//
//
// Puts the attention <-> MoE communication around every MoE partition:
// `janus.comm.dispatch` right before it (its inputs become the dispatch's
// results) and `janus.comm.combine` right before the first op that uses its
// output, so whatever janus-partition placed in between (the shared expert)
// overlaps the experts. The strategy is the cost model's cheapest
// (CommCostModel.h) unless --comm forces one; a two-phase strategy is two
// chained ops (phase 0, 1).
//
//===----------------------------------------------------------------------===//

#include "passes/CommCostModel.h"
#include "passes/PassUtils.h"
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/Support/Debug.h"
#include "llvm/Support/Format.h"

#include <cmath>

#define DEBUG_TYPE "janus-insert-comm"

namespace mlir::janus {
#define GEN_PASS_DEF_JANUSINSERTCOMMPASS
#include "passes/Passes.h.inc"
} // namespace mlir::janus

using namespace mlir;
using namespace mlir::janus;

namespace {

struct JanusInsertCommPass
    : public mlir::janus::impl::JanusInsertCommPassBase<JanusInsertCommPass> {
  using Base::Base;

  void runOnOperation() override;

private:
  LogicalResult validateOptions(ModuleOp module);
};

LogicalResult JanusInsertCommPass::validateOptions(ModuleOp module) {
  if (comm != "auto" && !parseCommRoute(comm))
    return module.emitError() << "option '--comm=" << comm.getValue()
                              << "': expected auto, direct, two-phase or relay";
  auto number = [](double value) {
    std::string text;
    llvm::raw_string_ostream(text) << llvm::format("%g", value);
    return text;
  };
  for (auto [flag, value] :
       {std::pair{"intra-node-gbps", intraNodeGBps.getValue()},
        std::pair{"inter-node-gbps", interNodeGBps.getValue()}})
    if (!(value > 0))
      return module.emitError() << "option '--" << flag << "=" << number(value)
                                << "': a bandwidth must be > 0";
  for (auto [flag, value] :
       {std::pair{"intra-node-latency-us", intraNodeLatencyUs.getValue()},
        std::pair{"inter-node-latency-us", interNodeLatencyUs.getValue()}})
    if (!(value >= 0))
      return module.emitError() << "option '--" << flag << "=" << number(value)
                                << "': a latency must be >= 0";
  if (tokensPerAttentionGpu < 1)
    return module.emitError()
           << "option '--tokens-per-attention-gpu="
           << tokensPerAttentionGpu.getValue() << "' must be >= 1";
  return success();
}

void JanusInsertCommPass::runOnOperation() {
  ModuleOp module = getOperation();
  MLIRContext *ctx = &getContext();
  if (failed(validateOptions(module)))
    return signalPassFailure();
  if (!module.lookupSymbol<ClusterOp>(kAttentionCluster) ||
      !module.lookupSymbol<ClusterOp>(kMoeCluster)) {
    module.emitError(
        "expects janus.cluster @attention and @moe: run janus-partition first");
    return signalPassFailure();
  }
  FailureOr<int64_t> attention = resolveClusterGpus(
      module, kAttentionCluster, attentionGpus, "attention-gpus");
  FailureOr<int64_t> moe =
      resolveClusterGpus(module, kMoeCluster, moeGpus, "moe-gpus");
  FailureOr<int64_t> perNode = resolveGpusPerNode(module, gpusPerNode);
  if (failed(attention) || failed(moe) || failed(perNode))
    return signalPassFailure();
  FailureOr<func::FuncOp> forward = getForwardFunc(module);
  if (failed(forward))
    return signalPassFailure();
  if (!forward->getOps<CommDispatchOp>().empty() ||
      !forward->getOps<CommCombineOp>().empty()) {
    module.emitError("@forward already has janus.comm ops");
    return signalPassFailure();
  }

  Topology topology;
  topology.attentionGpus = *attention;
  topology.moeGpus = *moe;
  topology.gpusPerNode = *perNode;
  topology.intraNodeGBps = intraNodeGBps;
  topology.interNodeGBps = interNodeGBps;
  topology.intraNodeLatencyUs = intraNodeLatencyUs;
  topology.interNodeLatencyUs = interNodeLatencyUs;
  std::optional<CommRoute> forced = parseCommRoute(comm);

  OpBuilder builder(ctx);
  for (PartitionOp partition :
       llvm::to_vector(forward->getOps<PartitionOp>())) {
    if (partition.getCluster().getRootReference() != kMoeCluster)
      continue;
    if (!partition.getLayer()) {
      partition.emitOpError("is a MoE partition without a layer");
      return signalPassFailure();
    }
    int64_t layer = *partition.getLayer();
    // Every input row crosses as 4-byte elements (f32 activations, f32 weights,
    // i32 ids).
    double bytesPerToken = 0;
    for (Value input : partition.getInputs()) {
      auto type = dyn_cast<RankedTensorType>(input.getType());
      if (!type || type.getRank() != 2 || type.isDynamicDim(1)) {
        partition.emitOpError()
            << "input " << input.getType()
            << " is not a [tokens, width] tensor with a static width";
        return signalPassFailure();
      }
      bytesPerToken += 4.0 * type.getDimSize(1);
    }
    double bytes = bytesPerToken * tokensPerAttentionGpu;
    CommRoute strategy = forced ? *forced : chooseCommRoute(topology, bytes);
    CommCost cost = predictCommCost(strategy, topology, bytes);
    LLVM_DEBUG(llvm::dbgs()
               << "layer " << layer << ": " << bytes
               << " B per attention GPU -> " << commRouteName(strategy) << " ("
               << cost.totalUs() << " us)\n");
    auto strategyAttr = CommStrategyAttr::get(
        ctx, *symbolizeCommStrategy(commRouteName(strategy)));
    // Microsecond precision beyond a nanosecond is noise; keep the IR readable.
    auto round = [](double us) { return std::round(us * 1000.0) / 1000.0; };
    double phaseUs[2] = {round(cost.phase0Us), round(cost.phase1Us)};

    // Dispatch: phases chained in order.
    builder.setInsertionPoint(partition);
    SmallVector<Value> values(partition.getInputs());
    for (int phase = 0; phase < cost.numPhases; ++phase) {
      auto dispatch = CommDispatchOp::create(
          builder, partition.getLoc(), values, builder.getI64IntegerAttr(layer),
          strategyAttr, builder.getI64IntegerAttr(phase),
          builder.getI64IntegerAttr(cost.numPhases),
          builder.getF64FloatAttr(phaseUs[phase]));
      values.assign(dispatch->result_begin(), dispatch->result_end());
    }
    partition->setOperands(values);

    // Combine: mirrors the dispatch, so its phases cost the dispatch's in
    // reverse order.
    Operation *firstUser = nullptr;
    for (Operation *user : partition->getUsers()) {
      if (user->getBlock() != partition->getBlock()) {
        user->emitOpError("uses a MoE partition's result from a nested region");
        return signalPassFailure();
      }
      if (!firstUser || user->isBeforeInBlock(firstUser))
        firstUser = user;
    }
    if (!firstUser) {
      partition.emitOpError("has no user: nothing to combine");
      return signalPassFailure();
    }
    builder.setInsertionPoint(firstUser);
    values.assign(partition->result_begin(), partition->result_end());
    Operation *firstCombine = nullptr;
    for (int phase = 0; phase < cost.numPhases; ++phase) {
      auto combine = CommCombineOp::create(
          builder, partition.getLoc(), values, builder.getI64IntegerAttr(layer),
          strategyAttr, builder.getI64IntegerAttr(phase),
          builder.getI64IntegerAttr(cost.numPhases),
          builder.getF64FloatAttr(phaseUs[cost.numPhases - 1 - phase]));
      values.assign(combine->result_begin(), combine->result_end());
      if (!firstCombine)
        firstCombine = combine;
    }
    for (auto [result, combined] : llvm::zip(partition->getResults(), values))
      result.replaceAllUsesExcept(combined, firstCombine);
  }

  NamedAttrList config;
  config.append("intra_node_gbps", builder.getF64FloatAttr(intraNodeGBps));
  config.append("inter_node_gbps", builder.getF64FloatAttr(interNodeGBps));
  config.append("intra_node_latency_us",
                builder.getF64FloatAttr(intraNodeLatencyUs));
  config.append("inter_node_latency_us",
                builder.getF64FloatAttr(interNodeLatencyUs));
  config.append("tokens_per_attention_gpu",
                builder.getI64IntegerAttr(tokensPerAttentionGpu));
  module->setAttr(kCommConfigAttr, config.getDictionary(ctx));
}

} // namespace
