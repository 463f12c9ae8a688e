// Replica scheduling of one MoE layer on the GPU: for every (row, k) expert id, the MoE rank that
// serves it and the replica's slot on that rank. Bit-for-bit the CPU reference
// (runtime/cpu/scheduler.h, docs/ARCHITECTURE.md "Activation-balanced scheduling"): every MoE rank
// runs it on the same ids and gets the same table without talking to the others.
#ifndef JANUS_KERNELS_SCHEDULER_H_
#define JANUS_KERNELS_SCHEDULER_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace janus::kernels {

enum class ScheduleAlgorithm { kActivationBalanced = 0, kFirstReplica = 1 };

// Device copies of plan.fbs Placement: expert e's replicas are [replica_offsets[e],
// replica_offsets[e+1]); replica r lives on rank replica_rank[r] in slot replica_slot[r]. The tables
// must be valid (runtime/cpu ValidatePlacement on the host copy): the kernel does not re-check them.
struct DevicePlacement {
  int num_experts = 0;
  int num_ranks = 0;
  int num_replicas = 0;                     // replica_offsets[num_experts]
  const int32_t* replica_offsets = nullptr;  // [num_experts + 1]
  const int32_t* replica_rank = nullptr;     // [num_replicas]
  const int32_t* replica_slot = nullptr;     // [num_replicas]; may be null when `slot` is not asked for
};

// Device outputs; everything but `assignment` may be null.
struct ScheduleOutputs {
  int32_t* assignment = nullptr;        // [rows * top_k] the serving rank (-1 for an invalid id)
  int32_t* slot = nullptr;              // [rows * top_k] the serving replica's slot on that rank
                                        //   (the first replica of the expert on that rank)
  int32_t* expert_rank = nullptr;       // [num_experts] rank chosen per expert, -1 if not activated
  int32_t* experts_per_rank = nullptr;  // [num_ranks] load[g]: distinct activated experts
  int32_t* pairs_per_rank = nullptr;    // [num_ranks] (row, k) pairs served
  int32_t* rows_per_rank = nullptr;     // [num_ranks] rows with at least one pair served
  int32_t* a_max = nullptr;             // [1] max of experts_per_rank
  int32_t* num_invalid_ids = nullptr;   // [1] ids outside [0, num_experts) (CPU: InvalidArgument)
};

// Shared memory the kernel needs for this placement (the launcher checks it fits the device).
size_t ScheduleSharedBytes(const DevicePlacement& placement);

// Enqueues the scheduler on `stream` (one thread block; no host synchronisation). rows >= 0,
// top_k > 0. Argument errors are returned before anything is enqueued.
absl::Status LaunchSchedule(ScheduleAlgorithm algorithm, const DevicePlacement& placement,
                            const int32_t* ids, int rows, int top_k, const ScheduleOutputs& out,
                            cudaStream_t stream);

}  // namespace janus::kernels

#endif  // JANUS_KERNELS_SCHEDULER_H_
