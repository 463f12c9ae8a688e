#include "runtime/cuda/backend.h"

#include <cublas_v2.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.h"
#include "kernels/device_info.h"
#include "kernels/sampling.h"
#include "runtime/base/status.h"
#include "runtime/exec/program_check.h"

namespace janus::cuda {
namespace {

constexpr int kDefaultChunk = 512;
constexpr size_t kBlasWorkspaceBytes = size_t{32} << 20;
// Device memory kept free beyond the pool and the KV cache: CUDA graphs, cuBLAS, the context's
// own growth.
constexpr int64_t kHeadroomBytes = int64_t{256} << 20;

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
double GiB(int64_t bytes) { return static_cast<double>(bytes) / (1 << 30); }

int LayerOf(const plan::Instr& instr) {
  switch (instr.params_type()) {
    case plan::OpParams::DispatchParams: return instr.params_as_DispatchParams()->layer();
    case plan::OpParams::CombineParams: return instr.params_as_CombineParams()->layer();
    case plan::OpParams::RouterParams: return instr.params_as_RouterParams()->layer();
    case plan::OpParams::ScheduleParams: return instr.params_as_ScheduleParams()->layer();
    case plan::OpParams::ExpertsParams: return instr.params_as_ExpertsParams()->layer();
    default: return -1;
  }
}

}  // namespace

void RegisterCudaBackend() { exec::RegisterBackend("cuda", &CudaBackend::Create); }

absl::StatusOr<std::unique_ptr<exec::Backend>> CudaBackend::Create(
    const plan::Plan& plan, const exec::Topology& topology, const exec::EngineOptions& options) {
  std::unique_ptr<CudaBackend> backend(new CudaBackend());
  JANUS_RETURN_IF_ERROR(backend->Init(plan, topology, options));
  return std::unique_ptr<exec::Backend>(std::move(backend));
}

CudaBackend::~CudaBackend() {
  if (stream_ != nullptr) (void)cudaStreamSynchronize(stream_);
  for (auto& [rows, graph] : graphs_) (void)cudaGraphExecDestroy(graph);
  registers_.clear();
  combined_.clear();
  graph_logits_.clear();
  if (host_inputs_ != nullptr) (void)cudaFreeHost(host_inputs_);
  if (host_logits_ != nullptr) (void)cudaFreeHost(host_logits_);
  if (start_ != nullptr) (void)cudaEventDestroy(start_);
  if (stop_ != nullptr) (void)cudaEventDestroy(stop_);
  if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
}

void CudaBackend::Abort(const absl::Status& status) {
  if (failed_.ok() && !status.ok()) failed_ = status;
}

absl::Status CudaBackend::Fail(absl::Status status) {
  if (!status.ok() && failed_.ok()) {
    failed_ = absl::FailedPreconditionError(
        absl::StrCat("the engine stopped after an error: ", status.message()));
  }
  return status;
}

CudaBackend::MemoryReport CudaBackend::memory_report() const {
  MemoryReport r;
  r.weight_bytes = model_ != nullptr ? model_->bytes() : 0;
  r.activation_bytes = activation_bytes_;
  r.kv_bytes = static_cast<int64_t>(kv_.bytes());
  r.kv_tokens = static_cast<int64_t>(num_blocks_) * block_;
  r.graphs = static_cast<int>(graphs_.size());
  r.graph_replays = graph_replays_;
  return r;
}

absl::Status CudaBackend::Init(const plan::Plan& plan, const exec::Topology& topology,
                               const exec::EngineOptions& options) {
  plan_ = &plan;
  topology_ = topology;
  options_ = options;
  JANUS_RETURN_IF_ERROR(Annotate(exec::CheckProgramsRunnable(plan, topology),
                                 "the cuda backend cannot run this plan"));
  attention_ = exec::ProgramOf(plan, plan::Role::Attention);
  moe_ = exec::ProgramOf(plan, plan::Role::Moe);
  if (attention_ == nullptr) return absl::InvalidArgumentError("the plan has no attention program");

  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    (void)cudaGetLastError();
    return absl::FailedPreconditionError("backend 'cuda': no CUDA device is visible");
  }
  if (options.device < 0 || options.device >= count) {
    return absl::InvalidArgumentError(absl::StrCat("backend 'cuda': device ", options.device,
                                                   " does not exist (", count, " visible)"));
  }
  device_ = options.device;
  JANUS_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
  JANUS_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  JANUS_CUDA_RETURN_IF_ERROR(cudaEventCreate(&start_));
  JANUS_CUDA_RETURN_IF_ERROR(cudaEventCreate(&stop_));
  JANUS_RETURN_IF_ERROR(kernels::CurrentDeviceInfo(&num_sms_, nullptr));
  JANUS_ASSIGN_OR_RETURN(blas_, kernels::BlasHandle::Create());
  // A fixed cuBLAS workspace: graph capture must not see cuBLAS allocate.
  JANUS_ASSIGN_OR_RETURN(blas_workspace_, kernels::DeviceBuffer::Create(kBlasWorkspaceBytes));
  if (cublasSetWorkspace(static_cast<cublasHandle_t>(blas_.raw()), blas_workspace_.get(),
                         kBlasWorkspaceBytes) != CUBLAS_STATUS_SUCCESS) {
    return absl::InternalError("cublasSetWorkspace failed");
  }

  JANUS_ASSIGN_OR_RETURN(model_, DeviceModel::Create(plan, topology, options.checkpoint_dir));

  release_after_ = exec::LastReads(*attention_);
  if (moe_ != nullptr) {
    for (uint32_t pc = 0; pc < moe_->instrs()->size(); ++pc) {
      const int layer = LayerOf(*moe_->instrs()->Get(pc));
      if (layer < 0) {
        return absl::UnimplementedError(absl::StrCat(
            "the cuda backend cannot run MoE instruction ", pc, " (",
            exec::InstrName(*moe_->instrs()->Get(pc)), "): it belongs to no layer"));
      }
      moe_pcs_[layer].push_back(static_cast<int>(pc));
    }
  }

  block_ = options.kv_block_size;
  max_context_ = plan.model()->max_position_embeddings();
  chunk_ = options.prefill_chunk > 0 ? options.prefill_chunk
                                     : std::min(kDefaultChunk, max_context_);
  max_seqs_ = options.max_batch;
  max_rows_ = static_cast<int>(std::min<int64_t>(int64_t{max_seqs_} * chunk_, 1 << 24));
  max_pages_ = static_cast<int>(CeilDiv(max_context_, block_));
  JANUS_RETURN_IF_ERROR(PlanKvLayout());

  JANUS_CUDA_RETURN_IF_ERROR(cudaMallocHost(&host_inputs_, InputBytes()));
  JANUS_ASSIGN_OR_RETURN(device_inputs_buffer_, kernels::DeviceBuffer::Create(InputBytes()));
  host_ = CarveInputs(host_inputs_);
  dev_ = CarveInputs(device_inputs_buffer_.get());

  JANUS_RETURN_IF_ERROR(Profile());
  return absl::OkStatus();
}

absl::Status CudaBackend::PlanKvLayout() {
  int64_t offset = 0;  // elements per token, summed over layers
  for (uint32_t pc = 0; pc < attention_->instrs()->size(); ++pc) {
    const plan::Instr& instr = *attention_->instrs()->Get(pc);
    LayerCache cache;
    int layer = -1;
    if (const auto* p = instr.params_as_AttentionParams()) {
      layer = p->layer();
      cache.k_stride = cache.v_stride = int64_t{p->num_kv_heads()} * p->head_dim();
      cache.width = 2 * cache.k_stride;
    } else if (const auto* p = instr.params_as_MlaParams()) {
      layer = p->layer();
      // One row per token, [latent | rotary key]; the value is the latent (weight absorption).
      cache.k_stride = cache.v_stride = int64_t{p->kv_lora_rank()} + p->qk_rope_head_dim();
      cache.width = cache.k_stride;
    } else {
      continue;
    }
    if (layer < 0 || layers_.count(layer) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("attention instruction ", pc, " uses KV cache layer ", layer,
                       ", which is negative or already used"));
    }
    cache.k_offset = offset;  // scaled to the block count in AllocateKv
    offset += cache.width;
    layers_[layer] = cache;
  }
  kv_elements_per_token_ = offset;
  return absl::OkStatus();
}

absl::Status CudaBackend::AllocateKv(int64_t blocks) {
  kv_ = kernels::DeviceBuffer();
  const int64_t tokens = blocks * block_;
  const int64_t bytes = tokens * kv_elements_per_token_ * 2;
  absl::StatusOr<kernels::DeviceBuffer> kv = kernels::DeviceBuffer::Create(static_cast<size_t>(bytes));
  if (!kv.ok()) {
    (void)cudaGetLastError();
    return absl::ResourceExhaustedError(absl::StrCat(
        "out of GPU memory: a KV cache of ", tokens, " tokens needs ", GiB(bytes),
        " GiB (", DeviceMemoryString(), "); lower --kv-cache-tokens or --gpu-memory-fraction"));
  }
  kv_ = std::move(*kv);
  // Each layer's K region is [tokens, k_stride], then (GQA) its V region.
  int64_t base = 0;
  for (auto& [layer, cache] : layers_) {
    cache.k_offset = base;
    cache.v_offset = cache.width == cache.k_stride ? base : base + tokens * cache.k_stride;
    base += tokens * cache.width;
  }
  num_blocks_ = static_cast<int>(blocks);
  free_blocks_.clear();
  for (int b = num_blocks_ - 1; b >= 0; --b) free_blocks_.push_back(b);
  pages_.clear();
  return absl::OkStatus();
}

// vLLM's recipe: run the largest step the engine may send (max_batch sequences of prefill_chunk
// rows) against a scratch KV cache, keep the activation buffers it needed in the pool, then give
// the KV cache what the memory fraction leaves.
absl::Status CudaBackend::Profile() {
  const int per_seq = std::min(chunk_, max_context_);
  const int seqs = static_cast<int>(std::min<int64_t>(max_seqs_, CeilDiv(max_rows_, per_seq)));
  const int64_t profile_blocks = int64_t{seqs} * CeilDiv(per_seq, block_);
  JANUS_RETURN_IF_ERROR(Annotate(AllocateKv(profile_blocks), "profiling step"));
  exec::InstanceStep step;
  for (int s = 0; s < seqs; ++s) {
    const int rows = std::min(per_seq, max_rows_ - s * per_seq);
    for (int p = 0; p < rows; ++p) {
      step.ids.push_back(0);
      step.rows.insert(step.rows.end(), {-1 - s, p, p == rows - 1 ? 1 : 0});
    }
  }
  StepShape shape;
  JANUS_RETURN_IF_ERROR(PrepareInputs(step, &shape));
  JANUS_RETURN_IF_ERROR(UploadInputs(shape));
  JANUS_RETURN_IF_ERROR(Annotate(RunProgram(shape), absl::StrCat("profiling step (", shape.rows,
                                                                  " rows)")));
  registers_.clear();
  combined_.clear();
  JANUS_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  activation_bytes_ = static_cast<int64_t>(pool_.reserved_bytes());
  kv_ = kernels::DeviceBuffer();

  size_t free_bytes = 0, total = 0;
  JANUS_CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_bytes, &total));
  const int64_t bytes_per_block = int64_t{block_} * kv_elements_per_token_ * 2;
  int64_t blocks = 0;
  if (options_.kv_cache_tokens > 0) {
    blocks = CeilDiv(options_.kv_cache_tokens, block_);
  } else {
    const int64_t used = static_cast<int64_t>(total - free_bytes);
    const int64_t allowed = static_cast<int64_t>(options_.gpu_memory_fraction * total);
    const int64_t budget = allowed - used - kHeadroomBytes;
    blocks = std::max<int64_t>(0, budget / std::max<int64_t>(1, bytes_per_block));
    // No more than every sequence at full context.
    blocks = std::min<int64_t>(blocks, int64_t{max_seqs_} * max_pages_);
    if (blocks < std::min<int64_t>(max_pages_, CeilDiv(per_seq, block_))) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "no GPU memory left for the KV cache: weights ", GiB(model_->bytes()),
          " GiB and activations ", GiB(activation_bytes_), " GiB (for ", max_rows_,
          " rows per step) leave ", GiB(std::max<int64_t>(0, budget)), " GiB of the ",
          GiB(allowed), " GiB that --gpu-memory-fraction=", options_.gpu_memory_fraction,
          " allows; raise it, or lower --max-batch or --prefill-chunk"));
    }
  }
  if (blocks > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError(
        absl::StrCat("a KV cache of ", blocks * block_, " tokens is too large"));
  }
  return AllocateKv(blocks);
}

size_t CudaBackend::InputBytes() const {
  return sizeof(int32_t) * (4 * static_cast<size_t>(max_rows_) + max_seqs_ +
                            static_cast<size_t>(max_seqs_) * max_pages_);
}

CudaBackend::Inputs CudaBackend::CarveInputs(void* base) const {
  auto* p = static_cast<int32_t*>(base);
  Inputs in;
  in.ids = p;
  in.row_seq = in.ids + max_rows_;
  in.row_pos = in.row_seq + max_rows_;
  in.logit_rows = in.row_pos + max_rows_;
  in.seq_lens = in.logit_rows + max_rows_;
  in.block_table = in.seq_lens + max_seqs_;
  return in;
}

absl::Status CudaBackend::Release(std::vector<std::vector<int64_t>>& sequences) {
  for (auto& list : sequences) {
    for (int64_t seq : list) {
      auto it = pages_.find(seq);
      if (it == pages_.end()) continue;
      free_blocks_.insert(free_blocks_.end(), it->second.begin(), it->second.end());
      pages_.erase(it);
    }
    list.clear();
  }
  return absl::OkStatus();
}

absl::Status CudaBackend::PrepareInputs(const exec::InstanceStep& step, StepShape* shape) {
  const int64_t rows = step.num_rows();
  if (rows > max_rows_) {
    return absl::InternalError(absl::StrCat("a step of ", rows, " rows exceeds the ", max_rows_,
                                            " the backend was sized for"));
  }
  shape->rows = static_cast<int>(rows);
  shape->seqs = 0;
  shape->logit_rows = 0;
  std::map<int64_t, int> local;  // engine sequence -> step-local index
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t seq = step.rows[3 * r];
    const int position = step.rows[3 * r + 1];
    if (position < 0 || position >= max_context_) {
      return absl::InternalError(absl::StrCat("row ", r, " has position ", position));
    }
    auto [it, added] = local.emplace(seq, shape->seqs);
    if (added) {
      if (shape->seqs == max_seqs_) {
        return absl::InternalError(
            absl::StrCat("a step of more than ", max_seqs_, " sequences"));
      }
      host_.seq_lens[shape->seqs] = 0;
      ++shape->seqs;
    }
    const int s = it->second;
    std::vector<int>& pages = pages_[seq];
    while (static_cast<int64_t>(pages.size()) * block_ < position + 1) {
      if (free_blocks_.empty()) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "the KV cache is full (", num_blocks_, " blocks of ", block_, " tokens)"));
      }
      pages.push_back(free_blocks_.back());
      free_blocks_.pop_back();
    }
    host_.ids[r] = step.ids[r];
    host_.row_seq[r] = s;
    host_.row_pos[r] = position;
    host_.seq_lens[s] = std::max(host_.seq_lens[s], position + 1);
    if (step.rows[3 * r + 2] != 0) host_.logit_rows[shape->logit_rows++] = static_cast<int32_t>(r);
  }
  // Only the pages the step's sequences have are written (and uploaded): the kernels never
  // dereference a table entry past a sequence's length.
  shape->table_pages = 0;
  for (const auto& [seq, s] : local)
    shape->table_pages = std::max<int>(shape->table_pages, pages_[seq].size());
  for (const auto& [seq, s] : local) {
    const std::vector<int>& pages = pages_[seq];
    int32_t* row = host_.block_table + static_cast<int64_t>(s) * max_pages_;
    std::copy(pages.begin(), pages.end(), row);
    std::fill(row + pages.size(), row + shape->table_pages, 0);
  }
  shape->decode_only = shape->rows > 0 && shape->seqs == shape->rows &&
                       shape->logit_rows == shape->rows;
  return absl::OkStatus();
}

absl::Status CudaBackend::UploadInputs(const StepShape& shape) {
  // Only what the step uses, into the fixed device addresses the graphs read.
  auto copy = [&](int32_t* dst, const int32_t* src, int64_t n) -> absl::Status {
    if (n > 0) {
      JANUS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst, src, n * sizeof(int32_t),
                                                 cudaMemcpyHostToDevice, stream_));
    }
    return absl::OkStatus();
  };
  JANUS_RETURN_IF_ERROR(copy(dev_.ids, host_.ids, shape.rows));
  JANUS_RETURN_IF_ERROR(copy(dev_.row_seq, host_.row_seq, shape.rows));
  JANUS_RETURN_IF_ERROR(copy(dev_.row_pos, host_.row_pos, shape.rows));
  JANUS_RETURN_IF_ERROR(copy(dev_.logit_rows, host_.logit_rows, shape.logit_rows));
  JANUS_RETURN_IF_ERROR(copy(dev_.seq_lens, host_.seq_lens, shape.seqs));
  if (shape.seqs > 0 && shape.table_pages > 0) {
    const size_t pitch = static_cast<size_t>(max_pages_) * sizeof(int32_t);
    JANUS_CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(
        dev_.block_table, pitch, host_.block_table, pitch, shape.table_pages * sizeof(int32_t),
        shape.seqs, cudaMemcpyHostToDevice, stream_));
  }
  return absl::OkStatus();
}

absl::Status CudaBackend::Step(std::vector<exec::InstanceStep>& steps, exec::StepOutput* out) {
  JANUS_RETURN_IF_ERROR(failed_);
  if (steps.size() != 1) return absl::InternalError("the cuda backend has one attention instance");
  exec::InstanceStep& step = steps[0];
  std::vector<std::vector<int64_t>> release = {std::move(step.release)};
  step.release.clear();
  JANUS_RETURN_IF_ERROR(Release(release));
  StepShape shape;
  JANUS_RETURN_IF_ERROR(Fail(PrepareInputs(step, &shape)));
  // The staging area is rewritten next step: the copy must have left before.
  JANUS_RETURN_IF_ERROR(Fail(UploadInputs(shape)));
  collecting_ = options_.collect_stats || options_.record_activations;
  step_out_ = out;
  absl::Status status;
  DeviceTensor logits;
  JANUS_RETURN_IF_ERROR(Fail(kernels::CudaStatusOf(cudaEventRecord(start_, stream_), "event")));
  if (shape.decode_only && options_.cuda_graphs && !collecting_ &&
      decode_seen_[shape.rows]++ > 0) {
    status = RunDecodeGraph(shape);
    if (status.ok()) logits = graph_logits_.at(shape.rows);
  } else {
    status = RunProgram(shape);
    if (status.ok()) logits = registers_[attention_->output()];
  }
  if (status.ok()) status = kernels::CudaStatusOf(cudaEventRecord(stop_, stream_), "event");
  if (status.ok()) {
    status = step.tokens_only ? CopySampled(logits, shape.logit_rows, step, out)
                              : CopyLogits(logits, shape.logit_rows, out);
  }
  if (status.ok()) {
    // The copy back synchronised the stream: both events are complete.
    float ms = 0;
    status = kernels::CudaStatusOf(cudaEventElapsedTime(&ms, start_, stop_), "event time");
    out->device_seconds = 1e-3 * ms;
  }
  registers_.clear();
  combined_.clear();
  step_out_ = nullptr;
  return Fail(status);
}

absl::Status CudaBackend::RunDecodeGraph(const StepShape& shape) {
  auto it = graphs_.find(shape.rows);
  if (it == graphs_.end()) {
    JANUS_CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed));
    absl::Status status = RunProgram(shape);
    cudaGraph_t graph = nullptr;
    const cudaError_t end = cudaStreamEndCapture(stream_, &graph);
    if (!status.ok()) {
      if (graph != nullptr) (void)cudaGraphDestroy(graph);
      return Annotate(status, "capturing the decode graph");
    }
    JANUS_CUDA_RETURN_IF_ERROR(end);
    cudaGraphExec_t exec = nullptr;
    const cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
    (void)cudaGraphDestroy(graph);
    JANUS_CUDA_RETURN_IF_ERROR(inst);
    it = graphs_.emplace(shape.rows, exec).first;
    // The graph writes its logits there on every replay: the buffer stays the graph's.
    graph_logits_[shape.rows] = registers_[attention_->output()];
  } else {
    ++graph_replays_;
  }
  JANUS_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(it->second, stream_));
  return absl::OkStatus();
}

absl::Status CudaBackend::CopyLogits(const DeviceTensor& logits, int rows,
                                     exec::StepOutput* out) {
  const int vocab = plan_->model()->vocab_size();
  if (!logits.defined() || logits.dtype != DType::kF32 || logits.rows != rows ||
      logits.cols != vocab) {
    return absl::InternalError(absl::StrCat("the program's output register holds ",
                                            logits.defined() ? logits.ShapeString() : "nothing",
                                            ", not [", rows, ", ", vocab, "] logits"));
  }
  const size_t bytes = logits.bytes();
  if (bytes > host_logits_bytes_) {
    if (host_logits_ != nullptr) JANUS_CUDA_RETURN_IF_ERROR(cudaFreeHost(host_logits_));
    host_logits_ = nullptr;
    host_logits_bytes_ = 0;
    JANUS_CUDA_RETURN_IF_ERROR(cudaMallocHost(&host_logits_, bytes));
    host_logits_bytes_ = bytes;
  }
  if (bytes > 0) {
    JANUS_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(host_logits_, logits.buffer.get(), bytes, cudaMemcpyDeviceToHost, stream_));
  }
  JANUS_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  exec::Tensor t = exec::Tensor::F32(rows, vocab);
  if (bytes > 0) std::memcpy(t.f32(), host_logits_, bytes);
  out->logits.push_back(std::move(t));
  return absl::OkStatus();
}

absl::Status CudaBackend::CopySampled(const DeviceTensor& logits, int rows,
                                      const exec::InstanceStep& step, exec::StepOutput* out) {
  const int vocab = plan_->model()->vocab_size();
  if (!logits.defined() || logits.dtype != DType::kF32 || logits.rows != rows ||
      logits.cols != vocab || static_cast<int>(step.seeds.size()) != rows ||
      static_cast<int>(step.step_counters.size()) != rows) {
    return absl::InternalError("the step's logits or sampling rows do not match");
  }
  JANUS_ASSIGN_OR_RETURN(DeviceTensor ids, New(1, rows + 1, DType::kI32, "sampled ids"));
  JANUS_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(ids.i32() + rows, 0, sizeof(int32_t), stream_));
  const cpu::SamplingParams& sp = step.sampling;
  if (sp.temperature == 0 || sp.top_k == 1) {
    JANUS_RETURN_IF_ERROR(
        kernels::LaunchArgmax(logits.f32(), rows, vocab, ids.i32(), ids.i32() + rows, stream_));
  } else {
    kernels::SamplingConfig config;
    config.temperature = sp.temperature;
    config.top_k = sp.top_k;
    config.top_p = sp.top_p;
    // Seeds then step counters, one copy; pageable source: the copy completes before the call
    // returns.
    std::vector<uint64_t> host(step.seeds);
    host.insert(host.end(), step.step_counters.begin(), step.step_counters.end());
    JANUS_ASSIGN_OR_RETURN(std::shared_ptr<void> draws,
                           pool_.Allocate(host.size() * sizeof(uint64_t), "sampling seeds"));
    JANUS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(draws.get(), host.data(),
                                               host.size() * sizeof(uint64_t),
                                               cudaMemcpyHostToDevice, stream_));
    const size_t ws_bytes = kernels::SampleWorkspaceBytes(rows, vocab, config);
    std::shared_ptr<void> ws;
    if (ws_bytes > 0) {
      JANUS_ASSIGN_OR_RETURN(ws, pool_.Allocate(ws_bytes, "sampling workspace"));
    }
    const auto* seeds = static_cast<const uint64_t*>(draws.get());
    JANUS_RETURN_IF_ERROR(kernels::LaunchSample(logits.f32(), rows, vocab, config, seeds,
                                                seeds + rows, ids.i32(), ids.i32() + rows,
                                                ws.get(), ws_bytes, stream_));
  }
  std::vector<int32_t> host_ids(rows + 1);
  JANUS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(host_ids.data(), ids.i32(),
                                             host_ids.size() * sizeof(int32_t),
                                             cudaMemcpyDeviceToHost, stream_));
  JANUS_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  if (host_ids[rows] != 0) {
    return absl::InternalError(
        absl::StrCat(host_ids[rows], " logits rows of the step hold NaN (no token drawn)"));
  }
  host_ids.pop_back();
  out->logits.push_back(exec::Tensor());
  out->tokens.resize(1);
  out->tokens[0] = std::move(host_ids);
  return absl::OkStatus();
}

absl::Status CudaBackend::RunProgram(const StepShape& shape) {
  shape_ = shape;
  registers_.assign(attention_->num_registers(), DeviceTensor());
  combined_.clear();
  // Register 0 is the step's token ids: a view of the fixed input array.
  DeviceTensor ids;
  ids.buffer = std::shared_ptr<void>(dev_.ids, [](void*) {});
  ids.rows = shape.rows;
  ids.cols = 1;
  ids.dtype = DType::kI32;
  registers_[0] = ids;
  for (uint32_t pc = 0; pc < attention_->instrs()->size(); ++pc) {
    const plan::Instr& instr = *attention_->instrs()->Get(pc);
    JANUS_RETURN_IF_ERROR(Annotate(ExecuteAttention(static_cast<int>(pc), instr),
                                   absl::StrCat("cuda backend: instruction ", pc, " (",
                                                exec::InstrName(instr), ")")));
    for (int reg : release_after_[pc]) registers_[reg] = DeviceTensor();
  }
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

absl::StatusOr<DeviceTensor> CudaBackend::New(int64_t rows, int64_t cols, DType dtype,
                                              const char* what) {
  return NewTensor(pool_, rows, cols, dtype, what);
}

}  // namespace janus::cuda
