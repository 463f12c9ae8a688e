// One rank of the cpu backend: a thread that owns its weights (WeightStore),
// its register file, its KV cache (attention ranks) and its end of the
// collectives, and runs its role's plan program once per step, in lockstep with
// the other ranks through the transport.
//
// Host <-> rank protocol (the host is transport endpoint num_ranks()).
// Commands carry meta[0] = kStep, kRelease or kShutdown.
// - kStep to an attention rank: tensors = {ids [T,1] i32, rows [T,3] i32
//   (sequence, position, wants logits)}; meta[1] = n, then n sequences whose
//   KV blocks to free before the step.
// - kStep to a MoE rank: nothing else (its rows arrive through dispatch).
// - kRelease (attention ranks): meta[1] = n, then n sequences to free.
// Replies to kStep: an attention rank sends {logits [L, vocab]} for the L rows
// that want them; MoE rank 0 sends in meta the scheduler statistics of each
// MoE layer (when collected), then the layers of the expert id tensors that
// follow (when recording activations). Every other reply is empty.
// Sequences are the host's ids; each attention rank maps them onto its own
// cache's sequences.
#ifndef JANUS_RUNTIME_EXEC_RANK_H_
#define JANUS_RUNTIME_EXEC_RANK_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/cpu/cpu.h"
#include "runtime/exec/comm.h"
#include "runtime/exec/profile.h"
#include "runtime/exec/program_check.h"
#include "runtime/exec/tensor.h"
#include "runtime/exec/transport.h"
#include "runtime/exec/weights.h"
#include "runtime/schema/plan_generated.h"

namespace janus::exec {

inline constexpr uint64_t kCommandTag = uint64_t{3} << 56;
inline constexpr uint64_t kReplyTag = (uint64_t{3} << 56) | 1;
enum RankCommand : int64_t { kStep = 1, kRelease = 2, kShutdown = 3 };

struct RankOptions {
  int kv_block_size = 16;
  int kv_num_blocks = 0;  // per attention rank
  bool collect_stats = false;
  bool record_activations = false;
  std::string checkpoint_dir;  // override of Plan.checkpoint_dir
};

class Rank {
 public:
  static absl::StatusOr<std::unique_ptr<Rank>> Create(
      const plan::Plan& plan, const Topology* topology, Transport* transport,
      plan::Role role, int index, const RankOptions& options);
  Rank(const Rank&) = delete;
  Rank& operator=(const Rank&) = delete;

  // The thread body: serves commands until kShutdown; any error aborts the
  // transport with it (annotated with the rank and the instruction), which
  // unblocks every other rank and the host.
  void Run();

  plan::Role role() const { return role_; }
  int index() const { return index_; }
  int64_t resident_weight_bytes() const { return weights_->resident_bytes(); }

 private:
  Rank() = default;

  absl::Status Serve();
  absl::Status Step(const Message& command, Message* reply);
  absl::Status PrepareRows(const Message& command);
  absl::Status Release(const std::vector<int64_t>& meta, size_t begin);
  absl::Status Execute(int pc, const plan::Instr& instr);

  absl::StatusOr<const Tensor*> Input(const plan::Instr& instr, int k,
                                      DType dtype) const;
  Tensor* Output(const plan::Instr& instr, int k);
  absl::StatusOr<const cpu::WeightView*> Weight(int index) const {
    return weights_->Get(index);
  }
  const cpu::WeightView* Optional(int index) const {
    return weights_->Find(index);
  }

  const plan::Plan* plan_ = nullptr;
  const plan::Program* program_ = nullptr;
  const Topology* topology_ = nullptr;
  Transport* transport_ = nullptr;
  plan::Role role_ = plan::Role::Attention;
  int index_ = 0;
  int self_ = 0;
  int host_ = 0;
  RankOptions options_;

  std::unique_ptr<WeightStore> weights_;
  std::unique_ptr<Communicator> comm_;
  // By instruction index; instructions with the same RoPE configuration share a table.
  std::map<int, std::shared_ptr<const cpu::RopeTable>> ropes_;
  // By instruction index: the registers read for the last time there (freed after it runs).
  std::vector<std::vector<int>> release_after_;

  // Attention ranks: the KV cache and the step's rows.
  std::unique_ptr<cpu::PagedKvCache> cache_;
  std::map<int64_t, int> cache_seq_;  // host sequence -> cache sequence
  cpu::BatchLayout layout_;
  std::vector<int> logit_rows_;
  Tensor step_ids_;

  std::vector<Tensor> registers_;
  // MoE rank 0: what the step measured.
  std::vector<MoeLayerStepStats> step_stats_;
  std::vector<std::pair<int, Tensor>> step_ids_by_layer_;
};

}  // namespace janus::exec

#endif  // JANUS_RUNTIME_EXEC_RANK_H_
