// Replica assignment for the routed experts of one MoE layer: which MoE rank serves each (row, k).
// This is the CPU reference of the CUDA scheduling kernel; the two must agree bit for bit.
//
// Activation-balanced (docs/ARCHITECTURE.md "Activation-balanced scheduling"):
//  1. count[e] = number of (row, k) pairs routed to expert e; the activated experts are those with
//     count > 0.
//  2. Every activated expert with exactly one replica goes to that replica's rank;
//     load[g] = number of distinct activated experts assigned to rank g so far.
//  3. Activated experts with several replicas, ordered by descending count, ties by ascending expert
//     id, each go to the rank with the smallest load among the ranks holding one of its replicas,
//     ties to the lowest rank index; that rank's load is incremented.
//  4. assignment[r, k] = the rank chosen for ids[r, k].
// a_max = max_g load[g] (what the layer's time follows).
// FirstReplica: every expert goes to the rank of its first replica (replica_offsets[e]).
#ifndef JANUS_RUNTIME_CPU_SCHEDULER_H_
#define JANUS_RUNTIME_CPU_SCHEDULER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"

namespace janus::cpu {

// Mirrors plan.fbs Placement: expert e's replicas are [replica_offsets[e], replica_offsets[e+1]);
// replica r lives on MoE rank replica_rank[r]. replica_offsets has num_experts + 1 entries.
struct PlacementView {
  int num_experts = 0;
  int num_ranks = 0;
  const int32_t* replica_offsets = nullptr;
  const int32_t* replica_rank = nullptr;
};

struct ScheduleStats {
  std::vector<int32_t> experts_per_rank;  // load[g]: distinct activated experts served by rank g
  int32_t a_max = 0;                      // max over ranks of experts_per_rank
  std::vector<int32_t> pairs_per_rank;    // (row, k) pairs served by rank g
  std::vector<int32_t> rows_per_rank;     // distinct rows with at least one pair on rank g
};

// Offsets start at 0, are non-decreasing, every expert has >= 1 replica, ranks in [0, num_ranks).
absl::Status ValidatePlacement(const PlacementView& placement);

// assignment = [rows, top_k]. InvalidArgument for a bad placement or an id outside
// [0, num_experts) (naming the row and k). `stats` may be null.
absl::Status ScheduleActivationBalanced(const PlacementView& placement, const int32_t* ids,
                                        int rows, int top_k, int32_t* assignment,
                                        ScheduleStats* stats);
absl::Status ScheduleFirstReplica(const PlacementView& placement, const int32_t* ids, int rows,
                                  int top_k, int32_t* assignment, ScheduleStats* stats);

}  // namespace janus::cpu

#endif  // JANUS_RUNTIME_CPU_SCHEDULER_H_
