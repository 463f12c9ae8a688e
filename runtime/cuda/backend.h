// The cuda backend: a whole plan on one GPU. The attention program runs as written; at each
// layer's dispatch the MoE program's instructions of that layer run right there on the same
// device (router, activation-balanced scheduler over the plan's placement, grouped expert FFN
// over the stacked replica table), and the combine delivers their sum. One attention instance.
//
// Activations are bf16 (a bf16 model's numerics: every projection rounds its output to bf16;
// accumulation in fp32), router scores and expert partial sums fp32, logits fp32. Memory:
// weights, then activations sized by a profiling step of max_batch * prefill_chunk rows, then the
// paged KV cache from what --gpu-memory-fraction leaves (or --kv-cache-tokens). Decode steps of
// each batch size are captured in a CUDA graph the second time they occur and replayed after.
// See docs/cuda-backend.md.
#ifndef JANUS_RUNTIME_CUDA_BACKEND_H_
#define JANUS_RUNTIME_CUDA_BACKEND_H_

#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/blas.h"
#include "kernels/device_buffer.h"
#include "runtime/cuda/device_model.h"
#include "runtime/cuda/device_pool.h"
#include "runtime/exec/backend.h"

namespace janus::cuda {

// Registers "cuda" with exec::RegisterBackend (call once before Engine::Create).
void RegisterCudaBackend();

class CudaBackend final : public exec::Backend {
 public:
  static absl::StatusOr<std::unique_ptr<exec::Backend>> Create(const plan::Plan& plan,
                                                               const exec::Topology& topology,
                                                               const exec::EngineOptions& options);
  ~CudaBackend() override;

  int num_instances() const override { return 1; }
  int kv_blocks_per_instance() const override { return num_blocks_; }
  int prefill_chunk() const override { return chunk_; }
  absl::Status Step(std::vector<exec::InstanceStep>& steps, exec::StepOutput* out) override;
  absl::Status Release(std::vector<std::vector<int64_t>>& sequences) override;
  absl::Status Failed() const override { return failed_; }
  void Abort(const absl::Status& status) override;

  // What the backend measured, for janus-run --summary and the tests.
  struct MemoryReport {
    int64_t weight_bytes = 0;
    int64_t activation_bytes = 0;  // the pool after the profiling step
    int64_t kv_bytes = 0;
    int64_t kv_tokens = 0;
    int graphs = 0;  // decode graphs captured so far
    int64_t graph_replays = 0;
  };
  MemoryReport memory_report() const;

 private:
  // Per attention layer (the plan's `layer` field): where its K and V live in the cache.
  struct LayerCache {
    int64_t k_offset = 0, v_offset = 0;  // elements into kv_
    int64_t k_stride = 0, v_stride = 0;  // elements per token slot
    int64_t width = 0;                   // elements per token of this layer (k + v, or MLA's one row)
  };
  struct StepShape {
    int rows = 0, seqs = 0, logit_rows = 0;
    bool decode_only = false;  // one row per sequence, every row wants logits
    int table_pages = 0;       // the longest block-table row of the step
  };

  CudaBackend() = default;
  absl::Status Init(const plan::Plan& plan, const exec::Topology& topology,
                    const exec::EngineOptions& options);
  absl::Status PlanKvLayout();
  absl::Status Profile();
  absl::Status AllocateKv(int64_t blocks);
  absl::Status Fail(absl::Status status);

  // Host side of a step: pages for every row, the input arrays (staged, then one copy).
  absl::Status PrepareInputs(const exec::InstanceStep& step, StepShape* shape);
  absl::Status UploadInputs(const StepShape& shape);
  // Enqueues the attention program (and the MoE layers at their dispatches) on stream_.
  absl::Status RunProgram(const StepShape& shape);
  absl::Status RunDecodeGraph(const StepShape& shape);
  absl::Status CopyLogits(const DeviceTensor& logits, int rows, exec::StepOutput* out);
  // Steps whose logits nobody reads: the tokens drawn on the device (argmax, or LaunchSample with
  // the rows' seeds and step counters, cpu::Sample's procedure), [rows] ints back.
  absl::Status CopySampled(const DeviceTensor& logits, int rows, const exec::InstanceStep& step,
                           exec::StepOutput* out);

  // The instructions (ops.cc).
  absl::Status ExecuteAttention(int pc, const plan::Instr& instr);
  absl::Status RunMoeLayer(int layer, const std::vector<DeviceTensor>& inputs, DeviceTensor* out);
  absl::Status Gqa(int pc, const plan::AttentionParams& p, const DeviceTensor& x, DeviceTensor* y);
  absl::Status Mla(int pc, const plan::MlaParams& p, const DeviceTensor& x, DeviceTensor* y);
  absl::Status PagedMla(int T, int H, int L, int R, const DeviceTensor& q_full, const uint16_t* c,
                        int64_t stride, float scale, DeviceTensor* lat);
  absl::Status Mlp(int pc, const plan::MlpParams& p, const DeviceTensor& x, DeviceTensor* y);
  absl::Status Router(const plan::RouterParams& p, const DeviceTensor& x, DeviceTensor* weights,
                      DeviceTensor* ids);
  // `report`: record the step's statistics / expert ids for this layer (an explicit schedule).
  absl::Status Schedule(int layer, int placement, const DeviceTensor& ids, bool first_replica,
                        bool report, DeviceTensor* assignment, DeviceTensor* slot);
  absl::Status Experts(const plan::ExpertsParams& p, const DeviceTensor& x,
                       const DeviceTensor& weights, const DeviceTensor& ids,
                       const DeviceTensor& assignment, const DeviceTensor& slot, DeviceTensor* y);
  absl::Status Gemm(const DeviceTensor& x, const DeviceWeight& w, DType out_dtype, DeviceTensor* y,
                    const char* what);
  absl::StatusOr<DeviceTensor> New(int64_t rows, int64_t cols, DType dtype, const char* what);

  const plan::Plan* plan_ = nullptr;
  const plan::Program* attention_ = nullptr;
  const plan::Program* moe_ = nullptr;
  exec::Topology topology_;
  exec::EngineOptions options_;
  absl::Status failed_;
  int device_ = 0;
  int num_sms_ = 0;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;  // around each step's program
  kernels::BlasHandle blas_;
  kernels::DeviceBuffer blas_workspace_;
  std::unique_ptr<DeviceModel> model_;
  DevicePool pool_;

  // Limits fixed at creation (every device address below depends only on them).
  int chunk_ = 0;        // prefill tokens per sequence per step
  int max_rows_ = 0;     // rows per step: max_batch * chunk
  int max_seqs_ = 0;     // sequences per step: max_batch
  int max_context_ = 0;  // positions per sequence
  int max_pages_ = 0;    // pages per sequence: ceil(max_context / block)
  int block_ = 0;

  // KV cache: one allocation, per-layer regions of [num_blocks * block, width] bf16.
  std::map<int, LayerCache> layers_;
  int64_t kv_elements_per_token_ = 0;
  kernels::DeviceBuffer kv_;
  int num_blocks_ = 0;
  std::vector<int> free_blocks_;
  std::map<int64_t, std::vector<int>> pages_;  // engine sequence -> its pages

  // Step inputs: host staging (pinned) and one device copy, at fixed offsets.
  struct Inputs {
    int32_t* ids = nullptr;          // [max_rows]
    int32_t* row_seq = nullptr;      // [max_rows] step-local sequence of the row
    int32_t* row_pos = nullptr;      // [max_rows]
    int32_t* logit_rows = nullptr;   // [max_rows] rows that want logits
    int32_t* seq_lens = nullptr;     // [max_seqs] positions cached after the step
    int32_t* block_table = nullptr;  // [max_seqs, max_pages]
  };
  Inputs CarveInputs(void* base) const;
  size_t InputBytes() const;
  void* host_inputs_ = nullptr;  // cudaMallocHost
  kernels::DeviceBuffer device_inputs_buffer_;
  Inputs host_, dev_;

  // Step state while the program runs.
  StepShape shape_;
  std::vector<DeviceTensor> registers_;
  std::vector<std::vector<int>> release_after_;  // attention program
  std::map<int, std::vector<int>> moe_pcs_;      // MoE program instructions by layer
  std::map<int, DeviceTensor> combined_;         // layer -> MoE output (bf16)
  bool collecting_ = false;                      // stats or activations this step
  exec::StepOutput* step_out_ = nullptr;

  // Decode graphs by batch size; their logits buffers stay theirs. A batch size is run eagerly
  // the first time (warming the pool) and captured the second.
  std::map<int, cudaGraphExec_t> graphs_;
  std::map<int, DeviceTensor> graph_logits_;
  std::map<int, int> decode_seen_;
  int64_t graph_replays_ = 0;
  // Split-KV decode attention workspaces by batch size (initialised once).
  std::map<int, kernels::DeviceBuffer> decode_workspaces_;
  std::map<int, kernels::DeviceBuffer> mla_workspaces_;  // MLA decode, by batch size
  void* host_logits_ = nullptr;  // cudaMallocHost, grows
  size_t host_logits_bytes_ = 0;
  int64_t activation_bytes_ = 0;
};

}  // namespace janus::cuda

#endif  // JANUS_RUNTIME_CUDA_BACKEND_H_
