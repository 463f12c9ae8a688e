// A rank's weights: views of exactly the plan weights its program reads,
// memory-mapped from the checkpoint (zero copy: each view points into the
// rank's own mapping of the safetensors file, and the CPU kernels convert
// bf16/f16 rows while they use them), or generated deterministically for
// synthetic plans. MoE ranks hold only the routed experts the placement puts on
// them; attention ranks hold everything but the routed experts.
#ifndef JANUS_RUNTIME_EXEC_WEIGHTS_H_
#define JANUS_RUNTIME_EXEC_WEIGHTS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/cpu/tensor.h"
#include "runtime/io/safetensors.h"
#include "runtime/schema/plan_generated.h"

namespace janus::exec {

// The weight indices (into Plan.weights) the program of `role` reads on rank
// `index` of its role: every weight field of every instruction, except that
// ExpertsParams contribute only the experts with a replica on this MoE rank
// (per the instruction's placement).
std::vector<int> WeightsUsedByRank(const plan::Plan& plan, plan::Role role,
                                   int index);

// The synthetic value of weight `name` (deterministic in (seed, name),
// independent of the rank and the deployment): norm weights (names containing
// "norm") are 1 + U(-0.1, 0.1), biases U(-0.02, 0.02), matrices U(-a, a) with a
// = sqrt(3 / cols) (unit variance after a matmul).
std::vector<float> SyntheticWeight(int64_t seed, absl::string_view name,
                                   const std::vector<int64_t>& shape);

class WeightStore {
 public:
  // Maps (or generates) the weights `indices` of `plan`. Real plans read the
  // checkpoint in PlanCheckpointDir(plan, checkpoint_dir_override); every
  // weight must be found in its file with the plan's dtype, shape and byte
  // range.
  static absl::StatusOr<std::unique_ptr<WeightStore>> Create(
      const plan::Plan& plan, const std::vector<int>& indices,
      const std::string& checkpoint_dir_override = "");

  WeightStore(const WeightStore&) = delete;
  WeightStore& operator=(const WeightStore&) = delete;

  // The view of weight `index`, or null when the rank does not hold it (or
  // index is -1).
  const cpu::WeightView* Find(int index) const;
  // Same, but NotFound naming the weight when it is absent.
  absl::StatusOr<const cpu::WeightView*> Get(int index) const;

  int num_resident() const { return static_cast<int>(views_.size()); }
  // Bytes of checkpoint data this rank's views cover (synthetic: the generated
  // floats).
  int64_t resident_bytes() const { return resident_bytes_; }

 private:
  WeightStore() = default;

  const plan::Plan* plan_ = nullptr;
  std::vector<std::unique_ptr<SafetensorsFile>>
      files_;  // by plan file index; null if unused
  std::map<int, std::vector<float>> synthetic_;  // by weight index
  std::map<int, cpu::WeightView> views_;         // stable addresses
  int64_t resident_bytes_ = 0;
};

}  // namespace janus::exec

#endif  // JANUS_RUNTIME_EXEC_WEIGHTS_H_
