//===- CommCostModel.h - Attention <-> MoE communication cost ---*- C++ -*-===//
//
// Predicts the time of one layer's dispatch (attention -> every MoE GPU) for
// each strategy, so janus-insert-comm can pick one. Free of MLIR. The model
// (docs/passes.md has the derivation):
//  - A GPU that sends (or receives) k messages of b bytes in total over link
//  class c
//    (intra-node NVLink, inter-node NIC) is busy  latency_c + k * overhead + b
//    / bandwidth_c. Messages to different peers overlap their latency but not
//    their bytes or issue overhead.
//  - A step lasts as long as its busiest sender or receiver; steps run one
//  after another.
//  - Attention and MoE sub-clusters never share a node: attention -> MoE
//  traffic is inter-node.
//  - A second phase starts only when the first has landed: it pays a
//  synchronisation cost.
// Combine mirrors dispatch over the same routes, so it is predicted to cost the
// same.
//
//===----------------------------------------------------------------------===//
#ifndef JANUS_PASSES_COMMCOSTMODEL_H
#define JANUS_PASSES_COMMCOSTMODEL_H

#include <cstdint>
#include <optional>
#include <string>

namespace mlir::janus {

enum class CommRoute { Direct, TwoPhase, Relay };

/// "direct", "two_phase", "relay" (the IR spelling).
const char *commRouteName(CommRoute strategy);
/// Accepts the flag spelling ("two-phase") and the IR spelling ("two_phase").
std::optional<CommRoute> parseCommRoute(const std::string &name);

struct Topology {
  int64_t attentionGpus = 1;
  int64_t moeGpus = 1;
  int64_t gpusPerNode = 8;
  double intraNodeGBps = 450.0;
  double interNodeGBps = 50.0;
  double intraNodeLatencyUs = 3.0;
  double interNodeLatencyUs = 10.0;
  double messageOverheadUs = 1.0; ///< issue cost per message, not overlapped
  double phaseSyncUs =
      5.0; ///< a second phase waits for the first to land everywhere
};

/// Predicted time of each phase of one dispatch; `total` is their sum.
/// Single-phase strategies (direct) use phase0 only.
struct CommCost {
  double phase0Us = 0;
  double phase1Us = 0;
  int numPhases = 1;
  double totalUs() const { return phase0Us + phase1Us; }
};

/// `bytesPerAttentionGpu`: the rows one attention GPU sends per layer.
CommCost predictCommCost(CommRoute strategy, const Topology &topology,
                         double bytesPerAttentionGpu);

/// The cheapest strategy (ties: direct, then two_phase, then relay).
CommRoute chooseCommRoute(const Topology &topology,
                          double bytesPerAttentionGpu);

/// Nodes a sub-cluster of `gpus` GPUs spans.
inline int64_t numNodes(int64_t gpus, int64_t gpusPerNode) {
  return (gpus + gpusPerNode - 1) / gpusPerNode;
}

} // namespace mlir::janus

#endif // JANUS_PASSES_COMMCOSTMODEL_H
