//===- CommCostModel.cpp - Attention <-> MoE communication cost ----------===//

#include "passes/CommCostModel.h"

#include <algorithm>

using namespace mlir::janus;

const char *mlir::janus::commRouteName(CommRoute strategy) {
  switch (strategy) {
  case CommRoute::Direct:
    return "direct";
  case CommRoute::TwoPhase:
    return "two_phase";
  case CommRoute::Relay:
    return "relay";
  }
  return "direct";
}

std::optional<CommRoute> mlir::janus::parseCommRoute(const std::string &name) {
  if (name == "direct")
    return CommRoute::Direct;
  if (name == "two-phase" || name == "two_phase")
    return CommRoute::TwoPhase;
  if (name == "relay")
    return CommRoute::Relay;
  return std::nullopt;
}

namespace {
struct Link {
  double gbps;
  double latencyUs;
};

// Time a GPU is busy sending or receiving `messages` messages of `bytes` in
// total.
double busy(const Link &link, double overheadUs, int64_t messages,
            double bytes) {
  if (messages <= 0)
    return 0;
  // GB/s = 1e3 bytes per microsecond.
  return link.latencyUs + messages * overheadUs + bytes / (link.gbps * 1e3);
}
} // namespace

CommCost mlir::janus::predictCommCost(CommRoute strategy, const Topology &t,
                                      double bytes) {
  const Link intra{std::max(t.intraNodeGBps, 1e-9), t.intraNodeLatencyUs};
  const Link inter{std::max(t.interNodeGBps, 1e-9), t.interNodeLatencyUs};
  const double o = t.messageOverheadUs;
  const int64_t gpn = std::max<int64_t>(t.gpusPerNode, 1);
  const int64_t a = std::max<int64_t>(t.attentionGpus, 1);
  const int64_t m = std::max<int64_t>(t.moeGpus, 1);
  const int64_t attentionNodes = numNodes(a, gpn), moeNodes = numNodes(m, gpn);
  // GPUs on the fullest node of each side.
  const int64_t attentionPerNode = std::min(a, gpn),
                moePerNode = std::min(m, gpn);

  CommCost cost;
  switch (strategy) {
  case CommRoute::Direct: {
    // Every attention GPU sends its rows to every MoE GPU; every MoE GPU hears
    // from all.
    double send = busy(inter, o, m, m * bytes);
    double receive = busy(inter, o, a, a * bytes);
    cost.phase0Us = std::max(send, receive);
    break;
  }
  case CommRoute::TwoPhase: {
    // Phase 0: the node's first attention GPU gathers its node's rows over
    // NVLink.
    cost.phase0Us =
        busy(intra, o, attentionPerNode - 1, (attentionPerNode - 1) * bytes);
    // Phase 1: one bulk transfer per (attention node, MoE node) pair, striped
    // over the nodes' NICs (each attention GPU's NIC carries a 1/G share of its
    // node's rows to every MoE node; each MoE GPU's NIC receives a 1/G share of
    // all rows), then an all-gather inside the MoE node.
    double send = busy(inter, o, moeNodes, moeNodes * bytes);
    double receive = busy(inter, o, attentionNodes, a * bytes / moePerNode);
    double spread = busy(intra, o, moePerNode - 1,
                         (moePerNode - 1) * a * bytes / moePerNode);
    cost.phase1Us = t.phaseSyncUs + std::max(send, receive) + spread;
    cost.numPhases = 2;
    break;
  }
  case CommRoute::Relay: {
    // Phase 0: attention GPU i sends its rows once, to GPU (i mod G) of the
    // relay MoE node.
    int64_t perRelayGpu = (a + moePerNode - 1) / moePerNode;
    double send = busy(inter, o, 1, bytes);
    double receive = busy(inter, o, perRelayGpu, perRelayGpu * bytes);
    cost.phase0Us = std::max(send, receive);
    // Phase 1: every relay GPU forwards its share to the other GPUs of its node
    // (NVLink) and to its peer on every other MoE node (NIC), both at once;
    // peers then share inside their node.
    double share = perRelayGpu * bytes;
    double local = busy(intra, o, moePerNode - 1, (moePerNode - 1) * share);
    double remote = busy(inter, o, moeNodes - 1, (moeNodes - 1) * share);
    double remoteSpread = moeNodes > 1 ? local : 0;
    cost.phase1Us = t.phaseSyncUs + std::max(local, remote) + remoteSpread;
    cost.numPhases = 2;
    break;
  }
  }
  return cost;
}

CommRoute mlir::janus::chooseCommRoute(const Topology &topology, double bytes) {
  CommRoute best = CommRoute::Direct;
  double bestUs = predictCommCost(best, topology, bytes).totalUs();
  for (CommRoute s : {CommRoute::TwoPhase, CommRoute::Relay}) {
    double us = predictCommCost(s, topology, bytes).totalUs();
    if (us < bestUs) {
      best = s;
      bestUs = us;
    }
  }
  return best;
}
