// The engine's view of a backend: something that runs one model step over the rows of every
// attention instance and returns the logits the rows asked for.
//
// The engine (engine.h) owns admission, KV-block reservation and sampling; a backend owns the
// weights, the KV cache and the execution. Two exist:
//  - "cpu" (cpu_backend.h): every rank of the plan's deployment is a thread, over the in-process
//    transport; one attention instance per attention rank.
//  - "cuda" (runtime/cuda/backend.h): the whole plan on one GPU; one attention instance. It is
//    registered by whoever links it (RegisterCudaBackend), so this library never depends on CUDA.
#ifndef JANUS_RUNTIME_EXEC_BACKEND_H_
#define JANUS_RUNTIME_EXEC_BACKEND_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/cpu/sampler.h"
#include "runtime/exec/profile.h"
#include "runtime/exec/tensor.h"
#include "runtime/exec/topology.h"
#include "runtime/schema/plan_generated.h"

namespace janus::exec {

struct EngineOptions {
  std::string backend = "cpu";  // "cpu" or "cuda" (when built with CUDA)
  int kv_block_size = 16;
  // KV cache capacity per attention instance, in tokens. 0: cpu: max_position_embeddings *
  // max_batch, capped so one rank's cache stays under 4 GiB (and at least
  // max_position_embeddings); cuda: what gpu_memory_fraction leaves after weights and activations.
  int64_t kv_cache_tokens = 0;
  int max_batch = 8;  // sequences in flight at once
  // Most prompt tokens of one sequence per step; 0: the whole prompt (cpu), 512 (cuda, whose
  // activation memory is sized for max_batch * prefill_chunk rows).
  int prefill_chunk = 0;
  std::string checkpoint_dir;  // overrides Plan.checkpoint_dir when non-empty
  bool collect_stats = false;  // scheduler statistics per MoE layer (stats())
  bool record_activations = false;  // activation profile (activation_profile())
  int max_ranks = 256;  // cpu: deployments with more ranks are refused (threads)
  // cpu: a rank that waits longer than this for another rank's message inside a step aborts the
  // run (a guard against hangs; idle ranks and the host waiting for a step are not limited).
  absl::Duration receive_timeout = absl::Seconds(600);
  // cuda: the fraction of the GPU's memory the engine may use (weights, activations, KV cache),
  // as vLLM's --gpu-memory-fraction; the device to use; CUDA graphs for decode steps.
  double gpu_memory_fraction = 0.9;
  int device = 0;
  bool cuda_graphs = true;
};

// One attention instance's share of a step.
struct InstanceStep {
  std::vector<int32_t> ids;  // [T] token ids
  // [T * 3]: (sequence, position, wants logits) per row. Sequences are the engine's ids; rows of
  // one sequence are consecutive positions, in order.
  std::vector<int32_t> rows;
  std::vector<int64_t> release;  // sequences whose KV blocks to free before the step
  // Nobody reads this step's logits and every row that wants them samples with the same
  // `sampling` parameters: the backend may return the sampled ids (StepOutput::tokens) instead of
  // the logits (saving the [rows, vocab] copy). Row i draws with seeds[i] and step_counters[i]
  // (cpu::Sample's generator); greedy parameters mean the argmax.
  bool tokens_only = false;
  cpu::SamplingParams sampling;
  std::vector<uint64_t> seeds, step_counters;  // per logits row, when tokens_only
  int64_t num_rows() const { return static_cast<int64_t>(ids.size()); }
};

struct StepOutput {
  std::vector<Tensor> logits;  // per instance: [rows that want logits, vocab] fp32, row order
  // Per instance, when it answered tokens_only with ids: the token per logits row, as cpu::Sample
  // draws it; empty when it returned logits instead.
  std::vector<std::vector<int32_t>> tokens;
  std::vector<MoeLayerStepStats> stats;  // when collecting stats
  std::vector<std::pair<int, Tensor>> ids_by_layer;  // when recording activations
  // Time the device spent on the step's program (cuda: CUDA events around it; 0 when unknown).
  double device_seconds = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Attention instances the engine spreads sequences over (each with its own KV cache).
  virtual int num_instances() const = 0;
  // KV cache blocks of each instance.
  virtual int kv_blocks_per_instance() const = 0;
  // Most prompt tokens of one sequence per step the engine may send (0: the whole prompt).
  virtual int prefill_chunk() const = 0;
  // The step's rows for every instance (steps.size() == num_instances()).
  virtual absl::Status Step(std::vector<InstanceStep>& steps, StepOutput* out) = 0;
  // Frees finished sequences' KV blocks now rather than with the next step.
  virtual absl::Status Release(std::vector<std::vector<int64_t>>& sequences) = 0;
  // Non-OK once an error stopped the backend (it then refuses work).
  virtual absl::Status Failed() const = 0;
  // Marks the backend failed with `status` (the engine's own errors inside a step).
  virtual void Abort(const absl::Status& status) = 0;
};

// Creates a backend for a verified plan. The plan outlives the backend.
using BackendFactory = std::function<absl::StatusOr<std::unique_ptr<Backend>>(
    const plan::Plan& plan, const Topology& topology, const EngineOptions& options)>;

// Makes `name` available to Engine::Create (replacing an earlier registration). Thread safe.
void RegisterBackend(const std::string& name, BackendFactory factory);
// The factory registered under `name`, or null.
BackendFactory FindBackend(const std::string& name);

}  // namespace janus::exec

#endif  // JANUS_RUNTIME_EXEC_BACKEND_H_
