// The generation engine: loads a verified plan onto a backend (backend.h: cpu or cuda) and
// generates tokens for batches of requests.
//
// The engine is the host: it admits requests (round-robin over the backend's attention
// instances, up to max_batch sequences in flight, each with its worst case of KV blocks reserved
// up front), builds each step's rows (prefill chunks and decode tokens of all running sequences),
// hands them to the backend and samples from the logits it returns. Results depend neither on the deployment shape nor on
// which other requests share a batch (beyond the rounding of the MoE
// partial-sum reduction across ranks, ~1e-7 relative).
#ifndef JANUS_RUNTIME_EXEC_ENGINE_H_
#define JANUS_RUNTIME_EXEC_ENGINE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/cpu/sampler.h"
#include "runtime/exec/backend.h"
#include "runtime/exec/profile.h"
#include "runtime/plan/plan.h"

namespace janus::exec {

struct GenerationRequest {
  std::vector<int32_t> prompt;
  cpu::SamplingParams sampling;  // temperature 0: greedy
  int max_new_tokens = 16;
  bool stop_at_eos = false;  // stop after generating one of the model's eos ids
  bool return_prefill_logits = false;  // logits at every prompt position
  bool return_decode_logits =
      false;  // the logits each generated token was chosen from
  // The expert ids each fed row was routed to (needs EngineOptions.record_activations).
  bool return_routing = false;
};

struct GenerationResult {
  std::vector<int32_t> tokens;
  std::vector<std::vector<float>> prefill_logits;
  std::vector<std::vector<float>> decode_logits;
  bool stopped_at_eos = false;
  // Per fed row (the prompt's positions, then each generated token fed back): the top_k expert
  // ids of every MoE layer, layer after layer.
  std::vector<std::vector<int32_t>> routing;
};

class Engine {
 public:
  // Verifies the checkpoint against the plan (VerifyCheckpointMatches) and
  // creates the backend (which checks it can run the deployment and its
  // programs and loads the weights). The engine keeps its own copy of the plan.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(
      const LoadedPlan& plan, EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Runs the requests to completion, batched (one Generate at a time: the
  // engine is not thread safe), and returns one result per request in order.
  // InvalidArgument (naming the request, and the position or field) for: an
  // empty prompt, a token id outside [0, vocab), prompt + max_new_tokens beyond
  // max_position_embeddings or the KV cache, max_new_tokens < 0, bad sampling
  // parameters. An error inside a rank aborts every rank and is returned; the
  // engine then refuses further work (FailedPrecondition).
  absl::StatusOr<std::vector<GenerationResult>> Generate(
      const std::vector<GenerationRequest>& requests);

  const plan::Plan& plan() const { return plan_->plan(); }
  const Topology& topology() const { return topology_; }
  int vocab_size() const { return plan().model()->vocab_size(); }
  int64_t kv_tokens_per_rank() const {
    return static_cast<int64_t>(kv_blocks_per_rank_) * options_.kv_block_size;
  }
  const EngineOptions& options() const { return options_; }
  // Counters and profile accumulated over every Generate call so far.
  const EngineStats& stats() const { return stats_; }
  const ActivationRecorder& activation_profile() const { return *activations_; }
  // The backend (tests downcast the cpu one to see its transport).
  const Backend& backend() const { return *backend_; }

 private:
  struct Sequence;
  Engine() = default;

  absl::Status ValidateRequest(size_t i,
                               const GenerationRequest& request) const;
  absl::Status RunStep(std::vector<Sequence*>& running);
  absl::Status RecordRouting(const std::vector<std::vector<Sequence*>>& row_sequence,
                             const StepOutput& out);

  std::unique_ptr<LoadedPlan> plan_;
  EngineOptions options_;
  Topology topology_;
  std::unique_ptr<Backend> backend_;
  int kv_blocks_per_rank_ = 0;
  std::vector<int> free_blocks_;  // per attention instance, host-side reservation
  std::vector<std::vector<int64_t>>
      release_;  // per attention instance, sequences to free
  int64_t next_sequence_ = 0;
  int next_attention_rank_ = 0;
  EngineStats stats_;
  std::unique_ptr<ActivationRecorder> activations_;
};

}  // namespace janus::exec

#endif  // JANUS_RUNTIME_EXEC_ENGINE_H_
