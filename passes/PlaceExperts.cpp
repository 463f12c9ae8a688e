//===- PlaceExperts.cpp - janus-place-experts -----------------------------===//
//
// Emits one janus.placement per MoE layer: how many replicas each expert gets
// and which MoE GPU (and slot) holds each. The algorithm is in Placement.cpp;
// this pass gathers its inputs (the profile or uniform load, the MoE GPU count,
// the slot count) and reports impossible deployments naming the option at
// fault.
//
//===----------------------------------------------------------------------===//

#include "passes/ActivationProfile.h"
#include "passes/PassUtils.h"
#include "passes/Passes.h"
#include "passes/Placement.h"

#include "mlir/IR/Builders.h"
#include "llvm/Support/Debug.h"

#include <map>

#define DEBUG_TYPE "janus-place-experts"

namespace mlir::janus {
#define GEN_PASS_DEF_JANUSPLACEEXPERTSPASS
#include "passes/Passes.h.inc"
} // namespace mlir::janus

using namespace mlir;
using namespace mlir::janus;

namespace {

SmallVector<int32_t> toI32(const std::vector<int64_t> &values) {
  SmallVector<int32_t> out;
  for (int64_t v : values)
    out.push_back(static_cast<int32_t>(v));
  return out;
}

struct JanusPlaceExpertsPass
    : public mlir::janus::impl::JanusPlaceExpertsPassBase<
          JanusPlaceExpertsPass> {
  using Base::Base;

  void runOnOperation() override;

private:
  LogicalResult checkProfile(ModuleOp module, const ActivationProfile &profile,
                             const std::map<int64_t, ExpertsOp> &layers);
};

LogicalResult JanusPlaceExpertsPass::checkProfile(
    ModuleOp module, const ActivationProfile &profile,
    const std::map<int64_t, ExpertsOp> &layers) {
  auto modelType = module->getAttrOfType<StringAttr>("janus.model_type");
  auto numLayers = module->getAttrOfType<IntegerAttr>("janus.num_layers");
  if (!modelType || !numLayers)
    return module.emitError()
           << "option '--activation-profile=" << activationProfile.getValue()
           << "' needs the module attributes janus.model_type and "
              "janus.num_layers to check the profile against";
  SmallVector<int64_t> moeLayers;
  ExpertsOp first = layers.begin()->second;
  int64_t numExperts = first.getNumExperts();
  for (auto [layer, constExperts] : layers) {
    ExpertsOp experts = constExperts;
    moeLayers.push_back(layer);
    if (static_cast<int64_t>(experts.getNumExperts()) != numExperts)
      return experts.emitOpError()
             << "has " << experts.getNumExperts() << " experts where layer "
             << layers.begin()->first << " has " << numExperts
             << "; an activation profile has one num_experts";
  }
  if (llvm::Error error =
          checkProfileMatchesModel(profile, modelType.getValue(),
                                   numLayers.getInt(), numExperts, moeLayers))
    return module.emitError()
           << "option '--activation-profile=" << activationProfile.getValue()
           << "': " << llvm::toString(std::move(error));
  return success();
}

void JanusPlaceExpertsPass::runOnOperation() {
  ModuleOp module = getOperation();
  std::map<int64_t, ExpertsOp> layers;
  WalkResult walk = module.walk([&](ExpertsOp experts) {
    auto [it, inserted] =
        layers.insert({static_cast<int64_t>(experts.getLayer()), experts});
    if (!inserted) {
      experts.emitOpError()
          << "is the second janus.experts of layer " << experts.getLayer();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return signalPassFailure();

  FailureOr<int64_t> numGpus =
      resolveClusterGpus(module, kMoeCluster, moeGpus, "moe-gpus");
  if (failed(numGpus))
    return signalPassFailure();
  if (expertSlotsPerGpu < 0) {
    module.emitError() << "option '--expert-slots-per-gpu="
                       << expertSlotsPerGpu.getValue()
                       << "' must be >= 0 (0 picks the default)";
    return signalPassFailure();
  }
  if (layers.empty())
    return; // a dense model: nothing to place

  std::optional<ActivationProfile> profile;
  if (!activationProfile.empty()) {
    llvm::Expected<ActivationProfile> read =
        readActivationProfile(activationProfile);
    if (!read) {
      module.emitError() << "option '--activation-profile="
                         << activationProfile.getValue()
                         << "': " << llvm::toString(read.takeError());
      return signalPassFailure();
    }
    profile = std::move(*read);
    if (failed(checkProfile(module, *profile, layers)))
      return signalPassFailure();
  }

  FailureOr<func::FuncOp> forward = getForwardFunc(module);
  if (failed(forward))
    return signalPassFailure();
  OpBuilder builder(&getContext());
  builder.setInsertionPoint(*forward);
  for (auto [layer, constExperts] : layers) {
    ExpertsOp experts = constExperts;
    if (findPlacement(module, layer)) {
      experts.emitOpError()
          << "already has a janus.placement for layer " << layer;
      return signalPassFailure();
    }
    int64_t numExperts = experts.getNumExperts();
    int64_t slots = expertSlotsPerGpu > 0
                        ? static_cast<int64_t>(expertSlotsPerGpu)
                        : defaultSlotsPerGpu(numExperts, *numGpus);
    if (*numGpus * slots < numExperts) {
      module.emitError() << "options '--moe-gpus=" << *numGpus
                         << "' x '--expert-slots-per-gpu=" << slots << "' give "
                         << *numGpus * slots << " expert slots, fewer than the "
                         << numExperts << " experts of MoE layer " << layer
                         << " (every expert needs at least one replica)";
      return signalPassFailure();
    }
    LayerDemand demand = profile ? profile->demand(*profile->findLayer(layer))
                                 : uniformDemand(numExperts);
    std::string error;
    std::optional<ExpertPlacement> placement =
        placeExperts(demand, *numGpus, slots, error);
    if (!placement) {
      experts.emitOpError() << "cannot be placed: " << error;
      return signalPassFailure();
    }
    std::string invalid = verifyPlacement(*placement);
    if (!invalid.empty()) {
      experts.emitOpError() << "internal error: invalid placement: " << invalid;
      return signalPassFailure();
    }
    LLVM_DEBUG({
      PlacementCost cost = evaluatePlacement(demand, *placement);
      llvm::dbgs() << "layer " << layer << ": " << placement->replicaGpu.size()
                   << " replicas, max GPU load " << cost.maxGpuLoad << " (mean "
                   << cost.meanGpuLoad << "), co-activation cost "
                   << cost.coactivationCost << "\n";
    });
    PlacementOp::create(
        builder, experts.getLoc(), placementSymbolName(layer), layer,
        numExperts, *numGpus, slots, toI32(placement->replicaOffsets),
        toI32(placement->replicaGpu), toI32(placement->replicaSlot));
  }
}

} // namespace
