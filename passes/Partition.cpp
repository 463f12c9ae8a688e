//===- Partition.cpp - janus-partition ------------------------------------===//
//
// Splits @forward into janus.partition regions bound to the @attention and @moe
// sub-clusters.
//
// Every op is first given a segment: the prologue (embedding), one decoder
// layer (from its input norm — the rms_norm feeding the layer's attention — up
// to the next layer's input norm) or the epilogue (final norm, LM head). A
// dense segment becomes one attention partition. A MoE segment becomes, in this
// order:
//   pre     attention ops that depend on neither the experts nor the shared
//   expert
//           (input norm, attention, residual, post-attention norm; the router
//           with gating=attention)
//   moe     the router (gating=moe) and the routed experts
//   shared  the shared expert: after the MoE partition, so once
//   janus-insert-comm puts the dispatch
//           before the MoE partition and the combine before its first user, the
//           attention side runs the shared expert while the experts compute
//   post    attention ops that consume the experts' output (the adds)
// Weights are re-materialised inside each partition that uses them, so
// partitions only take activations as inputs.
//
//===----------------------------------------------------------------------===//

#include "passes/PassUtils.h"
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "janus-partition"

namespace mlir::janus {
#define GEN_PASS_DEF_JANUSPARTITIONPASS
#include "passes/Passes.h.inc"
} // namespace mlir::janus

using namespace mlir;
using namespace mlir::janus;

namespace {

enum class Side { Attention, Moe };

struct Group {
  Side side;
  std::optional<int64_t> layer;
  SmallVector<Operation *> ops;
};

// A segment of @forward: the prologue, one decoder layer, or the epilogue.
struct Segment {
  std::optional<int64_t> layer;
  SmallVector<Operation *> ops;
};

std::optional<int64_t> attentionLayer(Operation *op) {
  if (auto a = dyn_cast<AttentionOp>(op))
    return a.getLayer();
  if (auto a = dyn_cast<MlaAttentionOp>(op))
    return a.getLayer();
  return std::nullopt;
}

struct JanusPartitionPass
    : public mlir::janus::impl::JanusPartitionPassBase<JanusPartitionPass> {
  using Base::Base;

  void runOnOperation() override;

private:
  LogicalResult validateOptions(ModuleOp module);
  FailureOr<SmallVector<Segment>> segment(func::FuncOp forward);
  FailureOr<SmallVector<Group>> groupSegment(const Segment &segment);
  void buildPartition(OpBuilder &builder, Operation *terminator,
                      const Group &group);
};

LogicalResult JanusPartitionPass::validateOptions(ModuleOp module) {
  if (attentionGpus < 1)
    return module.emitError()
           << "option '--attention-gpus=" << attentionGpus.getValue()
           << "': the attention sub-cluster needs at least one GPU";
  if (moeGpus < 1)
    return module.emitError()
           << "option '--moe-gpus=" << moeGpus.getValue()
           << "': the MoE sub-cluster needs at least one GPU";
  if (gpusPerNode < 1)
    return module.emitError()
           << "option '--gpus-per-node=" << gpusPerNode.getValue()
           << "': a node needs at least one GPU";
  if (gating != "moe" && gating != "attention")
    return module.emitError() << "option '--gating=" << gating.getValue()
                              << "': expected 'moe' or 'attention'";
  return success();
}

FailureOr<SmallVector<Segment>>
JanusPartitionPass::segment(func::FuncOp forward) {
  SmallVector<Segment> segments(1); // the prologue
  bool inEpilogue = false;
  auto startSegment = [&](std::optional<int64_t> layer) {
    if (segments.back().ops.empty())
      segments.back().layer = layer;
    else
      segments.push_back(Segment{layer, {}});
  };
  for (Operation &op : forward.getBody().front().without_terminator()) {
    if (isa<WeightRefOp>(op))
      continue;
    if (!isa<EmbeddingOp, RmsNormOp, AddOp, AttentionOp, MlaAttentionOp, MlpOp,
             SharedExpertOp, RouterOp, ExpertsOp, LmHeadOp>(op))
      return op.emitOpError()
             << "is not a janus model op: janus-partition cannot tell which "
                "sub-cluster runs it";
    if (auto norm = dyn_cast<RmsNormOp>(op)) {
      for (Operation *user : norm->getUsers()) {
        if (std::optional<int64_t> layer = attentionLayer(user)) {
          if (inEpilogue)
            return op.emitOpError(
                "feeds an attention layer after the LM head's final norm");
          startSegment(*layer);
          break;
        }
        if (isa<LmHeadOp>(user)) {
          startSegment(std::nullopt);
          inEpilogue = true;
          break;
        }
      }
    } else if (std::optional<int64_t> layer = attentionLayer(&op)) {
      if (segments.back().layer != layer)
        startSegment(*layer);
    } else if (isa<LmHeadOp>(op) && !inEpilogue) {
      startSegment(std::nullopt);
      inEpilogue = true;
    }
    segments.back().ops.push_back(&op);
  }
  return segments;
}

FailureOr<SmallVector<Group>>
JanusPartitionPass::groupSegment(const Segment &segment) {
  bool routerOnMoe = gating == "moe";
  llvm::SetVector<Operation *> moeOps;
  for (Operation *op : segment.ops)
    if (isa<ExpertsOp>(op) || (routerOnMoe && isa<RouterOp>(op)))
      moeOps.insert(op);

  SmallVector<Group> groups;
  if (moeOps.empty()) {
    groups.push_back(Group{Side::Attention, segment.layer, segment.ops});
    return groups;
  }
  auto experts = llvm::to_vector(llvm::make_filter_range(
      segment.ops, [](Operation *op) { return isa<ExpertsOp>(op); }));
  if (experts.size() != 1) {
    Operation *where = experts.empty() ? moeOps.front() : experts[1];
    return where->emitOpError()
           << "janus-partition expects exactly one janus.experts per "
              "decoder layer, found "
           << experts.size();
  }
  int64_t layer = cast<ExpertsOp>(experts.front()).getLayer();
  if (segment.layer && *segment.layer != layer)
    return experts.front()->emitOpError()
           << "has layer " << layer << " but sits in decoder layer "
           << *segment.layer;

  // Dependence on the MoE partition or on the shared expert, in program order.
  llvm::DenseSet<Operation *> onMoe(moeOps.begin(), moeOps.end()), onShared;
  Group pre{Side::Attention, layer, {}}, moe{Side::Moe, layer, {}},
      shared{Side::Attention, layer, {}}, post{Side::Attention, layer, {}};
  for (Operation *op : segment.ops) {
    if (moeOps.contains(op)) {
      // A MoE op may not consume the shared expert: it would have to run before
      // it.
      for (Value operand : op->getOperands())
        if (Operation *def = operand.getDefiningOp();
            def && onShared.contains(def))
          return op->emitOpError(
              "depends on the shared expert; the MoE partition must not");
      moe.ops.push_back(op);
      continue;
    }
    bool dependsOnMoe = false, dependsOnShared = isa<SharedExpertOp>(op);
    for (Value operand : op->getOperands()) {
      Operation *def = operand.getDefiningOp();
      dependsOnMoe |= def && onMoe.contains(def);
      dependsOnShared |= def && onShared.contains(def);
    }
    if (dependsOnMoe) {
      onMoe.insert(op);
      post.ops.push_back(op);
    } else if (dependsOnShared) {
      onShared.insert(op);
      shared.ops.push_back(op);
    } else {
      pre.ops.push_back(op);
    }
  }
  for (Group *group : {&pre, &moe, &shared, &post})
    if (!group->ops.empty())
      groups.push_back(std::move(*group));
  return groups;
}

void JanusPartitionPass::buildPartition(OpBuilder &builder,
                                        Operation *terminator,
                                        const Group &group) {
  MLIRContext *ctx = &getContext();
  llvm::DenseSet<Operation *> members(group.ops.begin(), group.ops.end());
  llvm::SetVector<Value> inputs;
  llvm::MapVector<Value, WeightRefOp> weights;
  llvm::SetVector<Value> results;
  for (Operation *op : group.ops) {
    for (Value operand : op->getOperands()) {
      Operation *def = operand.getDefiningOp();
      if (def && members.contains(def))
        continue;
      if (auto ref = dyn_cast_or_null<WeightRefOp>(def))
        weights.insert({operand, ref});
      else
        inputs.insert(operand);
    }
    for (Value result : op->getResults())
      for (Operation *user : result.getUsers())
        if (!members.contains(user))
          results.insert(result);
  }

  builder.setInsertionPoint(terminator);
  Location loc = group.ops.front()->getLoc();
  auto cluster = FlatSymbolRefAttr::get(
      ctx, group.side == Side::Attention ? kAttentionCluster : kMoeCluster);
  IntegerAttr layerAttr =
      group.layer ? builder.getI64IntegerAttr(*group.layer) : IntegerAttr();
  SmallVector<Type> resultTypes;
  for (Value result : results)
    resultTypes.push_back(result.getType());
  auto partition = PartitionOp::create(builder, loc, resultTypes, cluster,
                                       layerAttr, inputs.getArrayRef());
  Block *body = new Block();
  partition.getBody().push_back(body);
  for (Value input : inputs)
    body->addArgument(input.getType(), input.getLoc());

  OpBuilder inner = OpBuilder::atBlockBegin(body);
  llvm::DenseMap<Value, Value> clonedWeights;
  for (auto [value, ref] : weights)
    clonedWeights[value] = inner.clone(*ref)->getResult(0);
  for (Operation *op : group.ops)
    op->moveBefore(body, body->end());
  inner.setInsertionPointToEnd(body);
  YieldOp::create(inner, loc, ValueRange(results.getArrayRef()));

  auto inside = [&](OpOperand &use) {
    return partition->isProperAncestor(use.getOwner());
  };
  for (auto [index, input] : llvm::enumerate(inputs.getArrayRef()))
    Value(input).replaceUsesWithIf(body->getArgument(index), inside);
  for (auto [value, clone] : clonedWeights)
    Value(value).replaceUsesWithIf(clone, inside);
  for (auto [index, result] : llvm::enumerate(results.getArrayRef()))
    Value(result).replaceUsesWithIf(
        partition->getResult(index),
        [&](OpOperand &use) { return !partition->isAncestor(use.getOwner()); });
}

void JanusPartitionPass::runOnOperation() {
  ModuleOp module = getOperation();
  if (failed(validateOptions(module)))
    return signalPassFailure();
  if (!module.getOps<ClusterOp>().empty() ||
      !module.getOps<PartitionOp>().empty()) {
    module.emitError(
        "module is already partitioned (it has janus.cluster ops)");
    return signalPassFailure();
  }
  FailureOr<func::FuncOp> forward = getForwardFunc(module);
  if (failed(forward))
    return signalPassFailure();
  for (Operation &op : forward->getBody().front())
    if (isa<PartitionOp>(op)) {
      op.emitOpError(
          "is already in @forward: the module is already partitioned");
      return signalPassFailure();
    }

  FailureOr<SmallVector<Segment>> segments = segment(*forward);
  if (failed(segments))
    return signalPassFailure();
  SmallVector<Group> groups;
  for (const Segment &segment : *segments) {
    if (segment.ops.empty())
      continue;
    FailureOr<SmallVector<Group>> segmentGroups = groupSegment(segment);
    if (failed(segmentGroups))
      return signalPassFailure();
    llvm::append_range(groups, *segmentGroups);
  }

  // The new order must respect dataflow: every operand comes from an earlier
  // group (or the same group, earlier in program order, which moving
  // preserves).
  llvm::DenseMap<Operation *, size_t> groupOf;
  for (auto [index, group] : llvm::enumerate(groups))
    for (Operation *op : group.ops)
      groupOf[op] = index;
  for (auto [index, group] : llvm::enumerate(groups))
    for (Operation *op : group.ops)
      for (Value operand : op->getOperands())
        if (Operation *def = operand.getDefiningOp();
            def && groupOf.count(def) && groupOf[def] > index) {
          op->emitOpError("uses a value that janus-partition schedules after "
                          "it; the layer's "
                          "structure is not one janus-partition understands");
          return signalPassFailure();
        }

  OpBuilder builder(&getContext());
  builder.setInsertionPoint(*forward);
  ClusterOp::create(builder, module.getLoc(), kAttentionCluster,
                    Role::attention, attentionGpus, gpusPerNode);
  ClusterOp::create(builder, module.getLoc(), kMoeCluster, Role::moe, moeGpus,
                    gpusPerNode);

  Operation *terminator = forward->getBody().front().getTerminator();
  for (const Group &group : groups) {
    LLVM_DEBUG(llvm::dbgs() << "partition "
                            << (group.side == Side::Moe ? "moe" : "attention")
                            << " layer " << (group.layer ? *group.layer : -1)
                            << ": " << group.ops.size() << " ops\n");
    buildPartition(builder, terminator, group);
  }
  for (Operation &op : llvm::make_early_inc_range(forward->getBody().front()))
    if (isa<WeightRefOp>(op) && op.use_empty())
      op.erase();
}

} // namespace
