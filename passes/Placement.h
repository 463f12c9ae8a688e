//===- Placement.h - Expert replication and placement -----------*- C++ -*-===//
//
// The algorithm behind janus-place-experts, free of MLIR so it can be
// unit-tested alone.
//
// For one MoE layer with E experts, M MoE GPUs and C slots per GPU:
//  1. Replication: every expert gets one replica; then, while free slots
//  remain, the expert with
//     the highest load per replica (load / replicas; ties: lower id) gets one
//     more, up to M (two replicas of one expert never share a GPU).
//  2. Assignment: replicas are taken in order of decreasing load per replica
//  (ties: expert id,
//     then replica index) and each goes to the GPU, among those with a free
//     slot that do not hold the expert yet, with the lowest score
//         score(g) = load(g) + sum over experts f already on g of coact(e, f) /
//         (r_e * r_f)
//     (ties: fewer used slots, then lower GPU index). Both terms are token
//     counts: load(g) is the tokens g serves, the second term the tokens that
//     would need two of g's experts at once, which is what raises the number of
//     distinct experts a GPU runs per batch.
//  3. Slots: each GPU's replicas take slots 0, 1, ... in ascending expert
//  order.
// Everything is deterministic.
//
//===----------------------------------------------------------------------===//
#ifndef JANUS_PASSES_PLACEMENT_H
#define JANUS_PASSES_PLACEMENT_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mlir::janus {

/// Tokens that chose both expert `a` and expert `b` (a != b).
struct CoactivationPair {
  int64_t a = 0;
  int64_t b = 0;
  double count = 0;
};

/// The demand one MoE layer puts on its experts.
struct LayerDemand {
  std::vector<double> expertLoad; ///< one entry per expert, >= 0
  std::vector<CoactivationPair> coactivation;
};

/// Expert e has replicas [replicaOffsets[e], replicaOffsets[e+1]); replica r
/// lives on MoE GPU replicaGpu[r] in slot replicaSlot[r]. Replicas of one
/// expert are in ascending GPU order.
struct ExpertPlacement {
  int64_t numExperts = 0;
  int64_t numGpus = 0;
  int64_t slotsPerGpu = 0;
  std::vector<int64_t> replicaOffsets;
  std::vector<int64_t> replicaGpu;
  std::vector<int64_t> replicaSlot;

  int64_t numReplicas(int64_t expert) const {
    return replicaOffsets[expert + 1] - replicaOffsets[expert];
  }
};

/// The default slots per MoE GPU: every expert once plus a redundancy margin,
/// ceil(E / M) + max(1, ceil(E / (4 M))).
int64_t defaultSlotsPerGpu(int64_t numExperts, int64_t numGpus);

/// Uniform demand (every expert load 1, no co-activation): used when no profile
/// is given.
LayerDemand uniformDemand(int64_t numExperts);

/// Runs the algorithm above. Returns std::nullopt and sets `error` when the
/// input is impossible (no experts or GPUs, numGpus * slotsPerGpu < numExperts,
/// loads of the wrong length or negative, co-activation pairs out of range).
std::optional<ExpertPlacement> placeExperts(const LayerDemand &demand,
                                            int64_t numGpus,
                                            int64_t slotsPerGpu,
                                            std::string &error);

/// The naive baseline: expert e on GPU e mod M, one replica each.
ExpertPlacement roundRobinPlacement(int64_t numExperts, int64_t numGpus,
                                    int64_t slotsPerGpu);

/// How good a placement is for a demand, in the terms of the objective above.
struct PlacementCost {
  double maxGpuLoad =
      0; ///< max over GPUs of sum of load / replicas of its experts
  double meanGpuLoad = 0;
  double coactivationCost =
      0; ///< sum over co-located pairs of coact(e,f) / (r_e * r_f)
};
PlacementCost evaluatePlacement(const LayerDemand &demand,
                                const ExpertPlacement &placement);

/// Checks the structural invariants (every expert has >= 1 replica, no GPU over
/// its slots, no slot used twice, no expert twice on one GPU). Returns an empty
/// string when valid.
std::string verifyPlacement(const ExpertPlacement &placement);

} // namespace mlir::janus

#endif // JANUS_PASSES_PLACEMENT_H
