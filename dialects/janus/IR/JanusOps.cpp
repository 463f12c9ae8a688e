//===- JanusOps.cpp - janus module-level and distribution ops -------------===//
//
// Verifiers of the symbol ops (checkpoint files, weights, clusters, placements) and of the ops
// the distribution passes insert. The compute ops' verifiers live in JanusComputeOps.cpp.
//
//===----------------------------------------------------------------------===//

#include "dialects/janus/IR/JanusOps.h"
#include "dialects/janus/IR/JanusVerify.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseSet.h"

using namespace mlir;
using namespace mlir::janus;
using namespace mlir::janus::detail;

#define GET_OP_CLASSES
#include "dialects/janus/IR/JanusOps.cpp.inc"

//===----------------------------------------------------------------------===//
// CheckpointFileOp
//===----------------------------------------------------------------------===//

LogicalResult CheckpointFileOp::verify() {
  if (getPath().empty())
    return emitOpError("expects a non-empty path");
  if (getSizeAttr().getInt() < 0)
    return emitOpError() << "expects size >= 0, got " << getSizeAttr().getInt();
  return success();
}

//===----------------------------------------------------------------------===//
// WeightOp
//===----------------------------------------------------------------------===//

LogicalResult WeightOp::verify() {
  auto type = cast<RankedTensorType>(getType());
  if (!type.hasStaticShape())
    return emitOpError() << "expects a static shape, got " << type;
  Type element = type.getElementType();
  if (!element.isBF16() && !element.isF16() && !element.isF32())
    return emitOpError() << "expects a bf16, f16 or f32 element type, got "
                         << element;
  size_t numNames = getNames().size();
  if (numNames == 0)
    return emitOpError("expects at least one checkpoint tensor name");
  for (auto [index, name] : llvm::enumerate(getNames()))
    if (cast<StringAttr>(name).getValue().empty())
      return emitOpError() << "expects non-empty names, names[" << index
                           << "] is empty";
  if (!getFiles().empty() && getFiles().size() != numNames)
    return emitOpError() << "expects one file per name (" << numNames
                         << ") or none, got " << getFiles().size();
  if (numNames > 1 && (type.getRank() < 1 ||
                       type.getDimSize(0) != static_cast<int64_t>(numNames)))
    return emitOpError() << "stacks " << numNames
                         << " tensors, so dim 0 must be " << numNames
                         << ", got " << type;
  return success();
}

LogicalResult WeightOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  for (auto [index, file] : llvm::enumerate(getFiles())) {
    auto ref = cast<FlatSymbolRefAttr>(file);
    if (!symbolTable.lookupNearestSymbolFrom<CheckpointFileOp>(*this, ref))
      return emitOpError() << "files[" << index << "] = " << ref
                           << " does not name a janus.checkpoint_file";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// ClusterOp
//===----------------------------------------------------------------------===//

LogicalResult ClusterOp::verify() {
  if (failed(expectAtLeast(*this, "num_gpus", getNumGpusAttr().getInt(), 1)) ||
      failed(expectAtLeast(*this, "gpus_per_node",
                           getGpusPerNodeAttr().getInt(), 1)))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// PlacementOp
//===----------------------------------------------------------------------===//

LogicalResult PlacementOp::verify() {
  int64_t numExperts = getNumExpertsAttr().getInt();
  int64_t numGpus = getNumGpusAttr().getInt();
  int64_t slots = getSlotsPerGpuAttr().getInt();
  if (failed(expectAtLeast(*this, "layer", getLayerAttr().getInt(), 0)) ||
      failed(expectAtLeast(*this, "num_experts", numExperts, 1)) ||
      failed(expectAtLeast(*this, "num_gpus", numGpus, 1)) ||
      failed(expectAtLeast(*this, "slots_per_gpu", slots, 1)))
    return failure();

  ArrayRef<int32_t> offsets = getReplicaOffsets();
  ArrayRef<int32_t> gpus = getReplicaGpu();
  ArrayRef<int32_t> slotOf = getReplicaSlot();
  if (static_cast<int64_t>(offsets.size()) != numExperts + 1)
    return emitOpError() << "expects num_experts + 1 = " << numExperts + 1
                         << " replica_offsets, got " << offsets.size();
  if (offsets.front() != 0)
    return emitOpError() << "expects replica_offsets[0] = 0, got "
                         << offsets.front();
  for (int64_t e = 0; e < numExperts; ++e)
    if (offsets[e + 1] <= offsets[e])
      return emitOpError() << "expert " << e
                           << " has no replica (replica_offsets must increase "
                              "strictly)";
  if (gpus.size() != slotOf.size() ||
      static_cast<int64_t>(gpus.size()) != offsets.back())
    return emitOpError() << "expects replica_gpu and replica_slot to hold "
                         << offsets.back() << " replicas, got " << gpus.size()
                         << " and " << slotOf.size();

  llvm::DenseSet<std::pair<int32_t, int32_t>> usedSlots;
  llvm::DenseSet<std::pair<int64_t, int32_t>> expertOnGpu;
  for (int64_t e = 0; e < numExperts; ++e) {
    for (int32_t r : getReplicasOf(e)) {
      if (gpus[r] < 0 || gpus[r] >= numGpus)
        return emitOpError() << "replica " << r << " of expert " << e
                             << " is on gpu " << gpus[r]
                             << ", outside [0, num_gpus = " << numGpus << ")";
      if (slotOf[r] < 0 || slotOf[r] >= slots)
        return emitOpError() << "replica " << r << " of expert " << e
                             << " is in slot " << slotOf[r]
                             << ", outside [0, slots_per_gpu = " << slots
                             << ")";
      if (!usedSlots.insert({gpus[r], slotOf[r]}).second)
        return emitOpError() << "gpu " << gpus[r] << " slot " << slotOf[r]
                             << " holds more than one replica";
      if (!expertOnGpu.insert({e, gpus[r]}).second)
        return emitOpError() << "expert " << e
                             << " has two replicas on gpu " << gpus[r];
    }
  }
  return success();
}

//===----------------------------------------------------------------------===//
// PartitionOp
//===----------------------------------------------------------------------===//

YieldOp PartitionOp::getYield() {
  return cast<YieldOp>(getBodyBlock().getTerminator());
}

LogicalResult PartitionOp::verify() {
  if (std::optional<uint64_t> layer = getLayer();
      layer && getLayerAttr().getInt() < 0)
    return emitOpError() << "expects layer >= 0, got "
                         << getLayerAttr().getInt();
  Block &body = getBodyBlock();
  if (body.getArgumentTypes() != getInputs().getTypes())
    return emitOpError() << "expects the body's arguments to have the input "
                            "types, got "
                         << body.getNumArguments() << " arguments for "
                         << getInputs().size() << " inputs";
  auto yield = dyn_cast_or_null<YieldOp>(
      body.empty() ? nullptr : &body.back());
  if (!yield)
    return emitOpError("expects the body to end with janus.yield");
  if (yield.getOperandTypes() != getResultTypes())
    return emitOpError() << "yields " << yield.getNumOperands()
                         << " values whose types differ from its "
                         << getNumResults() << " results";
  return success();
}

LogicalResult
PartitionOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  if (!symbolTable.lookupNearestSymbolFrom<ClusterOp>(*this, getClusterAttr()))
    return emitOpError() << "cluster " << getClusterAttr()
                         << " does not name a janus.cluster";
  return success();
}

//===----------------------------------------------------------------------===//
// CommDispatchOp / CommCombineOp
//===----------------------------------------------------------------------===//

template <typename CommOp>
static LogicalResult verifyComm(CommOp op) {
  if (op.getInputs().empty())
    return op.emitOpError("expects at least one input");
  int64_t layer = op.getLayerAttr().getInt();
  int64_t phase = op.getPhaseAttr().getInt();
  int64_t numPhases = op.getNumPhasesAttr().getInt();
  if (failed(expectAtLeast(op, "layer", layer, 0)) ||
      failed(expectAtLeast(op, "num_phases", numPhases, 1)))
    return failure();
  if (phase < 0 || phase >= numPhases)
    return op.emitOpError() << "expects phase in [0, num_phases = "
                            << numPhases << "), got " << phase;
  if (op.getStrategy() == CommStrategy::direct && numPhases != 1)
    return op.emitOpError() << "expects num_phases = 1 with strategy direct, got "
                            << numPhases;
  if (op.getStrategy() == CommStrategy::two_phase && numPhases != 2)
    return op.emitOpError()
           << "expects num_phases = 2 with strategy two_phase, got " << numPhases;
  if (op.getPredictedUs().isNegative())
    return op.emitOpError("expects predicted_us >= 0");
  return success();
}

static LogicalResult inferCommTypes(ValueRange operands,
                                    SmallVectorImpl<Type> &inferred) {
  llvm::append_range(inferred, operands.getTypes());
  return success();
}

LogicalResult CommDispatchOp::verify() { return verifyComm(*this); }
LogicalResult CommCombineOp::verify() { return verifyComm(*this); }

LogicalResult CommDispatchOp::inferReturnTypes(
    MLIRContext *, std::optional<Location>, ValueRange operands, DictionaryAttr,
    OpaqueProperties, RegionRange, SmallVectorImpl<Type> &inferred) {
  return inferCommTypes(operands, inferred);
}

LogicalResult CommCombineOp::inferReturnTypes(
    MLIRContext *, std::optional<Location>, ValueRange operands, DictionaryAttr,
    OpaqueProperties, RegionRange, SmallVectorImpl<Type> &inferred) {
  return inferCommTypes(operands, inferred);
}

//===----------------------------------------------------------------------===//
// ScheduleOp
//===----------------------------------------------------------------------===//

LogicalResult ScheduleOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  auto placement = symbolTable.lookupNearestSymbolFrom<PlacementOp>(
      *this, getPlacementAttr());
  if (!placement)
    return emitOpError() << "placement " << getPlacementAttr()
                         << " does not name a janus.placement";
  if (auto router = getIds().getDefiningOp<RouterOp>()) {
    if (router.getNumExperts() != placement.getNumExperts())
      return emitOpError() << "routes over " << router.getNumExperts()
                           << " experts but placement " << getPlacementAttr()
                           << " places " << placement.getNumExperts();
  }
  return success();
}
