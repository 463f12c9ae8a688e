//===- InsertScheduler.cpp - janus-insert-scheduler -----------------------===//
//
// Gives every MoE layer's experts the activation-balancing scheduler: a
// janus.schedule right before the janus.experts maps the router's (token, k)
// expert ids to the MoE GPU that serves each under the layer's janus.placement;
// the experts op takes that assignment and names the placement, so each MoE GPU
// computes only its share.
//
//===----------------------------------------------------------------------===//

#include "passes/PassUtils.h"
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "janus-insert-scheduler"

namespace mlir::janus {
#define GEN_PASS_DEF_JANUSINSERTSCHEDULERPASS
#include "passes/Passes.h.inc"
} // namespace mlir::janus

using namespace mlir;
using namespace mlir::janus;

namespace {

struct JanusInsertSchedulerPass
    : public mlir::janus::impl::JanusInsertSchedulerPassBase<
          JanusInsertSchedulerPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    OpBuilder builder(&getContext());
    WalkResult walk = module.walk([&](ExpertsOp experts) {
      int64_t layer = experts.getLayer();
      if (experts.getAssignment()) {
        experts.emitOpError()
            << "of layer " << layer << " is already scheduled";
        return WalkResult::interrupt();
      }
      PlacementOp placement = findPlacement(module, layer);
      if (!placement) {
        experts.emitOpError()
            << "of layer " << layer
            << " has no janus.placement: run janus-place-experts first";
        return WalkResult::interrupt();
      }
      if (placement.getNumExperts() != experts.getNumExperts()) {
        experts.emitOpError() << "has " << experts.getNumExperts()
                              << " experts but @" << placement.getSymName()
                              << " places " << placement.getNumExperts();
        return WalkResult::interrupt();
      }
      auto symbol = FlatSymbolRefAttr::get(placement.getSymNameAttr());
      builder.setInsertionPoint(experts);
      auto schedule = ScheduleOp::create(builder, experts.getLoc(),
                                         experts.getIds().getType(),
                                         experts.getIds(), symbol);
      experts.getAssignmentMutable().assign(schedule.getAssignment());
      experts.setPlacementAttr(symbol);
      LLVM_DEBUG(llvm::dbgs() << "layer " << layer << " scheduled with @"
                              << placement.getSymName() << "\n");
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
