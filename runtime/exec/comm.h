// Dispatch and combine, built on the transport's point-to-point messages, for
// every strategy of ARCHITECTURE.md ("Runtime execution model").
//
// direct: every attention rank sends its rows to every MoE rank; every MoE
// rank sends each attention rank its rows of its partial sum, and the
// attention rank adds them up (in MoE rank order).
//
// two_phase: dispatch phase 0 gathers a node's rows on the node's first
// attention rank; phase 1 sends one bulk transfer per (attention node, MoE
// node) pair to the MoE node's first rank, which forwards it inside its node.
// Combine mirrors it: phase 0 reduces the partials inside each MoE node and
// sends one bulk transfer per node pair to the attention node's first rank,
// which sums them; phase 1 splits them inside the attention node.
//
// relay: dispatch phase 0 sends every attention rank's rows to the relay (the
// first rank of the first MoE node); phase 1 forwards them to the other MoE
// ranks. Combine phase 0 sends the partials to the relay, which reduces them
// (in MoE rank order); phase 1 returns each attention rank its rows.
//
// An op with num_phases == 1 runs both phases of its strategy at once.
// Whatever the route, every MoE rank receives all rows concatenated in
// attention-rank order, and each attention rank gets back exactly its rows of
// the sum of the MoE ranks' partials. Message headers carry the row segments
// ((source attention index, rows) pairs), so rows are always put back by their
// source.
#ifndef JANUS_RUNTIME_EXEC_COMM_H_
#define JANUS_RUNTIME_EXEC_COMM_H_

#include <cstdint>
#include <map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/exec/tensor.h"
#include "runtime/exec/topology.h"
#include "runtime/exec/transport.h"
#include "runtime/schema/plan_generated.h"

namespace janus::exec {

// One dispatch/combine instruction as the plan states it.
struct CollectiveOp {
  int layer = 0;
  plan::CommStrategy strategy = plan::CommStrategy::Direct;
  int phase = 0;
  int num_phases = 1;
};

// Checks strategy, phase and num_phases are something Communicator can run.
absl::Status ValidateCollectiveOp(const CollectiveOp& op);

// One rank's end of the collectives. Not thread safe: each rank thread owns its
// Communicator.
class Communicator {
 public:
  // `role`/`index`: this rank. `transport` and `topology` must outlive the
  // communicator.
  Communicator(Transport* transport, const Topology* topology, plan::Role role,
               int index);

  // Attention side of dispatch: this rank's rows (tensors of equal row count).
  absl::Status DispatchSend(const CollectiveOp& op,
                            const std::vector<Tensor>& inputs);
  // MoE side of dispatch. Returns true (and fills `outputs`: all rows in
  // attention-rank order, one tensor per dispatched input) in the phase that
  // delivers them, false in a phase that only moves data elsewhere.
  absl::StatusOr<bool> DispatchReceive(const CollectiveOp& op,
                                       std::vector<Tensor>* outputs);

  // MoE side of combine: this rank's partial sum over all rows of the layer's
  // last dispatch.
  absl::Status CombineSend(const CollectiveOp& op, const Tensor& partial);
  // Attention side of combine. Returns true (and fills `y`: the sum over MoE
  // ranks of this rank's rows) in the phase that delivers it.
  absl::StatusOr<bool> CombineReceive(const CollectiveOp& op, Tensor* y);

  // MoE side: rows per attention rank of the layer's last dispatch (empty
  // before one).
  std::vector<int64_t> dispatched_row_counts(int layer) const;

 private:
  struct Segment {
    int source;  // attention index
    int64_t rows;
  };
  // A set of row segments travelling together: tensors hold the segments' rows
  // back to back.
  struct Bundle {
    std::vector<Segment> segments;
    std::vector<Tensor> tensors;
  };

  static Message Pack(const Bundle& bundle);
  static absl::StatusOr<Bundle> Unpack(Message message);
  static absl::Status Merge(Bundle part, Bundle* into);
  // Orders the segments by source and checks every attention rank appears
  // exactly once.
  absl::StatusOr<Bundle> AssembleAll(Bundle bundle) const;
  // The rows of `full` (all attention ranks in order) belonging to `sources`,
  // as one bundle.
  Bundle SelectSources(const Tensor& full, const std::vector<int>& sources,
                       int layer) const;

  absl::Status Send(int dst_rank, uint64_t tag, const Bundle& bundle);
  absl::StatusOr<Bundle> Receive(int src_rank, uint64_t tag);
  absl::Status AddInto(const Tensor& part, Tensor* sum) const;

  absl::Status DispatchSendStage(const CollectiveOp& op, int stage,
                                 const std::vector<Tensor>& inputs);
  absl::StatusOr<bool> DispatchReceiveStage(const CollectiveOp& op, int stage,
                                            std::vector<Tensor>* outputs);
  absl::Status CombineSendStage(const CollectiveOp& op, int stage,
                                const Tensor& partial);
  absl::StatusOr<bool> CombineReceiveStage(const CollectiveOp& op, int stage,
                                           Tensor* y);

  int self_rank() const;
  int AttentionLeaderOf(int index) const;
  int MoeLeaderOf(int index) const;

  Transport* transport_;
  const Topology* topology_;
  plan::Role role_;
  int index_;
  std::vector<std::vector<int>> attention_groups_;
  std::vector<std::vector<int>> moe_groups_;

  // State carried from one phase to the next, and from dispatch to combine, per
  // layer.
  std::map<int, Bundle> pending_dispatch_;
  std::map<int, Tensor> pending_combine_;  // relay: the reduced partials
  std::map<int, Bundle>
      pending_node_sum_;  // two_phase: the attention node's sum
  std::map<int, std::vector<int64_t>> row_counts_;
};

}  // namespace janus::exec

#endif  // JANUS_RUNTIME_EXEC_COMM_H_
