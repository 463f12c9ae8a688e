// What the MoE ranks measure while they run: the scheduler's per-layer
// statistics (janus-run
// --stats: a_max and tokens per MoE rank) and the activation profile
// janus-compile reads
// (--record-activations; format in docs/ARCHITECTURE.md "Activation profile").
#ifndef JANUS_RUNTIME_EXEC_PROFILE_H_
#define JANUS_RUNTIME_EXEC_PROFILE_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace janus::exec {

// One MoE layer in one step, as the scheduler saw it (identical on every MoE
// rank).
struct MoeLayerStepStats {
  int layer = 0;
  int rows = 0;   // tokens of the step
  int a_max = 0;  // max over MoE ranks of distinct experts computed there
  std::vector<int32_t> experts_per_rank;
  std::vector<int32_t>
      rows_per_rank;  // tokens with at least one expert on the rank
  std::vector<int32_t> pairs_per_rank;  // (token, k) pairs computed on the rank
};

// Flat encodings for the transport's integer header.
void EncodeStepStats(const std::vector<MoeLayerStepStats>& stats,
                     std::vector<int64_t>* out);
// Decodes what EncodeStepStats wrote starting at out[*pos]; advances *pos.
absl::StatusOr<std::vector<MoeLayerStepStats>> DecodeStepStats(
    const std::vector<int64_t>& in, size_t* pos);

// Aggregate over steps, per MoE layer.
struct MoeLayerStats {
  int64_t steps = 0;
  int64_t tokens = 0;
  int64_t a_max_sum = 0;
  int a_max_max = 0;
  std::vector<int64_t> tokens_per_rank;  // summed over steps
  std::vector<int64_t> pairs_per_rank;
  std::vector<int64_t> experts_per_rank;
  int64_t max_tokens_on_a_rank = 0;  // largest single-step value

  double a_max_mean() const {
    return steps == 0 ? 0.0 : static_cast<double>(a_max_sum) / steps;
  }
};

struct EngineStats {
  int64_t steps = 0;
  int64_t rows = 0;  // token rows over all steps
  std::map<int, MoeLayerStats> layers;
  // Wall time inside the backend's Step, for steps of decode rows only (one new token per
  // running sequence) and for the others (prefill chunks, mixed steps).
  int64_t decode_steps = 0, decode_rows = 0;
  double decode_seconds = 0, decode_device_seconds = 0;
  int64_t prefill_steps = 0, prefill_rows = 0;
  double prefill_seconds = 0, prefill_device_seconds = 0;

  void Add(const MoeLayerStepStats& step);
  // A table, one line per MoE layer: a_max mean/max, tokens per MoE rank (mean
  // per step), and the largest per-step token count on one rank.
  std::string ToText() const;
  // Steps, rows, time per step and rows per second, for decode and prefill steps.
  std::string TimingText() const;
  // The step counters and times accumulated since `before` (an earlier copy); no layer stats.
  EngineStats TimingSince(const EngineStats& before) const;
};

// Per MoE layer: tokens routed to each expert, and for each unordered pair i <
// j the tokens that chose both.
class ActivationRecorder {
 public:
  ActivationRecorder(std::string model_type, int num_layers, int num_experts)
      : model_type_(std::move(model_type)),
        num_layers_(num_layers),
        num_experts_(num_experts) {}

  // ids = [rows, top_k] expert ids of one layer's tokens.
  absl::Status Record(int layer, const int32_t* ids, int rows, int top_k);

  std::string ToJson() const;
  absl::Status WriteJson(const std::string& path) const;

 private:
  struct Layer {
    int64_t tokens = 0;
    std::vector<int64_t> expert_counts;
    std::map<std::pair<int, int>, int64_t> coactivation;
  };
  std::string model_type_;
  int num_layers_;
  int num_experts_;
  std::map<int, Layer> layers_;
};

}  // namespace janus::exec

#endif  // JANUS_RUNTIME_EXEC_PROFILE_H_
