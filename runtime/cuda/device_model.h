// The plan's weights on one GPU, converted to bf16, plus what the kernels need precomputed from
// the plan: concatenated MLP gate|up matrices, every MoE layer's expert slots stacked into one
// table, the placements as device arrays and RoPE cos/sin tables.
//
// Expert tables keep the plan's placement: MoE rank g's slot s is row g * slots_per_rank + s of the
// layer's stacked gate/up/down, so the scheduler's (rank, slot) choice addresses it directly (a
// replicated expert is stored once per replica, as on a real deployment).
#ifndef JANUS_RUNTIME_CUDA_DEVICE_MODEL_H_
#define JANUS_RUNTIME_CUDA_DEVICE_MODEL_H_

#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/device_buffer.h"
#include "kernels/rope.h"
#include "kernels/scheduler.h"
#include "runtime/exec/topology.h"
#include "runtime/schema/plan_generated.h"

namespace janus::cuda {

struct DeviceWeight {
  const uint16_t* data = nullptr;  // bf16, dense
  int64_t rows = 0, cols = 0;      // a 1-D weight has rows 1
};

struct ExpertTable {
  int num_slots = 0;  // num_moe_ranks * slots_per_rank
  int slots_per_rank = 0;
  int inter = 0, hidden = 0;
  const uint16_t* gate = nullptr;  // [num_slots, inter, hidden]
  const uint16_t* up = nullptr;    // [num_slots, inter, hidden]
  const uint16_t* down = nullptr;  // [num_slots, hidden, inter]
  const int32_t* rank_slot_offset = nullptr;  // [num_moe_ranks]: g * slots_per_rank
  kernels::DevicePlacement placement;
};

struct RopeTables {
  const float* cos = nullptr;  // [max_positions, rotary_dim / 2]
  const float* sin = nullptr;
  int rotary_dim = 0;
  int max_positions = 0;
  kernels::RopeLayout layout = kernels::RopeLayout::kHalfSplit;
};

class DeviceModel {
 public:
  // Reads (or generates, for synthetic plans) every weight the programs use and uploads it.
  static absl::StatusOr<std::unique_ptr<DeviceModel>> Create(const plan::Plan& plan,
                                                             const exec::Topology& topology,
                                                             const std::string& checkpoint_dir);

  // NotFound naming the weight when the plan's programs do not use it.
  absl::StatusOr<DeviceWeight> Get(int index) const;
  // Null when index is -1 or absent.
  const DeviceWeight* Find(int index) const;
  // [2 * inter, hidden]: the gate rows, then the up rows, of the MLP instruction at `pc` of the
  // attention program.
  absl::StatusOr<DeviceWeight> GateUp(int pc) const;
  absl::StatusOr<const ExpertTable*> Experts(int placement) const;
  // fp32 copies of the routers' correction biases (selection compares biased scores: bf16 would
  // move ties).
  absl::StatusOr<const float*> F32(int index) const;
  // The RoPE tables of the attention program's instruction `pc`.
  absl::StatusOr<const RopeTables*> Rope(int pc) const;

  int64_t bytes() const { return bytes_; }

 private:
  DeviceModel() = default;
  absl::StatusOr<const uint16_t*> Upload(const std::vector<uint16_t>& host);

  std::vector<kernels::DeviceBuffer> buffers_;
  std::map<int, DeviceWeight> weights_;
  std::map<int, DeviceWeight> gate_up_;
  std::map<int, const float*> f32_;
  std::map<int, ExpertTable> experts_;
  std::map<int, RopeTables> ropes_;
  int64_t bytes_ = 0;
};

}  // namespace janus::cuda

#endif  // JANUS_RUNTIME_CUDA_DEVICE_MODEL_H_
