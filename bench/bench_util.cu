#include "bench/bench_util.h"

#include <algorithm>
#include <cstdio>

#include "kernels/common.cuh"

namespace janus::bench {
namespace {

__global__ void FillKernel(uint16_t* data, size_t n, uint64_t seed, float scale) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    uint64_t z = seed * 0x9E3779B97F4A7C15ull + i;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    float u = static_cast<float>(z >> 40) * (1.0f / 16777216.0f);  // [0, 1)
    float v = (2.f * u - 1.f) * scale;
    if (v == 0.f) v = scale * 0.5f;
    data[i] = kernels::device::FloatToBf16(v);
  }
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

absl::Status FillRandomBf16(uint16_t* data, size_t n, uint64_t seed, float scale,
                            cudaStream_t stream) {
  if (n == 0) return absl::OkStatus();
  FillKernel<<<1024, 256, 0, stream>>>(data, n, seed, scale);
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

absl::StatusOr<double> TimeGraphUs(const std::function<absl::Status(int, cudaStream_t)>& fn,
                                   int reps_per_graph, int samples, cudaStream_t stream) {
  JANUS_RETURN_IF_ERROR(fn(0, stream));
  JANUS_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  cudaGraph_t graph = nullptr;
  JANUS_CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed));
  absl::Status captured = absl::OkStatus();
  for (int r = 0; r < reps_per_graph && captured.ok(); ++r) captured.Update(fn(r, stream));
  const cudaError_t end = cudaStreamEndCapture(stream, &graph);
  JANUS_RETURN_IF_ERROR(captured);
  JANUS_CUDA_RETURN_IF_ERROR(end);
  cudaGraphExec_t exec = nullptr;
  const cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
  (void)cudaGraphDestroy(graph);
  JANUS_CUDA_RETURN_IF_ERROR(inst);
  cudaEvent_t start, stop;
  JANUS_CUDA_RETURN_IF_ERROR(cudaEventCreate(&start));
  JANUS_CUDA_RETURN_IF_ERROR(cudaEventCreate(&stop));
  std::vector<double> us;
  auto run = [&]() -> absl::Status {
    JANUS_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(exec, stream));  // warm-up
    JANUS_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
    for (int s = 0; s < samples; ++s) {
      JANUS_CUDA_RETURN_IF_ERROR(cudaEventRecord(start, stream));
      JANUS_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(exec, stream));
      JANUS_CUDA_RETURN_IF_ERROR(cudaEventRecord(stop, stream));
      JANUS_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(stop));
      float ms = 0;
      JANUS_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, start, stop));
      us.push_back(1000.0 * ms / reps_per_graph);
    }
    return absl::OkStatus();
  };
  const absl::Status status = run();
  (void)cudaEventDestroy(start);
  (void)cudaEventDestroy(stop);
  (void)cudaGraphExecDestroy(exec);
  JANUS_RETURN_IF_ERROR(status);
  return Median(us);
}

absl::StatusOr<double> TimeEventsUs(const std::function<absl::Status(cudaStream_t)>& fn,
                                    int warmup, int reps, cudaStream_t stream) {
  for (int i = 0; i < warmup; ++i) JANUS_RETURN_IF_ERROR(fn(stream));
  JANUS_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  cudaEvent_t start, stop;
  JANUS_CUDA_RETURN_IF_ERROR(cudaEventCreate(&start));
  JANUS_CUDA_RETURN_IF_ERROR(cudaEventCreate(&stop));
  std::vector<double> us;
  absl::Status status = absl::OkStatus();
  for (int i = 0; i < reps && status.ok(); ++i) {
    (void)cudaEventRecord(start, stream);
    status.Update(fn(stream));
    (void)cudaEventRecord(stop, stream);
    const cudaError_t e = cudaEventSynchronize(stop);
    if (e != cudaSuccess) {
      status.Update(kernels::CudaErrorStatus(e, "cudaEventSynchronize", __FILE__, __LINE__));
    }
    float ms = 0;
    (void)cudaEventElapsedTime(&ms, start, stop);
    us.push_back(1000.0 * ms);
  }
  (void)cudaEventDestroy(start);
  (void)cudaEventDestroy(stop);
  JANUS_RETURN_IF_ERROR(status);
  return Median(us);
}

void Table::PrintHeader() const {
  std::printf("%-22s %-44s %10s %11s %12s %7s  %s\n", "kernel", "shape", "median_us", "MB|GFLOP",
              "GB/s|TFLOP/s", "%limit", "note");
  std::fflush(stdout);
}

void Table::PrintRow(const Row& r) const {
  char amount[32] = "-", rate[32] = "-", frac[32] = "-";
  if (r.bytes > 0) {
    std::snprintf(amount, sizeof(amount), "%.2f", r.bytes / 1e6);
    const double gbps = r.bytes / (r.us * 1e3);
    std::snprintf(rate, sizeof(rate), "%.0f GB/s", gbps);
    if (limits_.hbm_gbps > 0) std::snprintf(frac, sizeof(frac), "%.1f", 100 * gbps / limits_.hbm_gbps);
  } else if (r.flops > 0) {
    std::snprintf(amount, sizeof(amount), "%.1f", r.flops / 1e9);
    const double tf = r.flops / (r.us * 1e6);
    std::snprintf(rate, sizeof(rate), "%.1f TF/s", tf);
    if (limits_.bf16_tflops > 0) {
      std::snprintf(frac, sizeof(frac), "%.1f", 100 * tf / limits_.bf16_tflops);
    }
  }
  std::printf("%-22s %-44s %10.2f %11s %12s %7s  %s\n", r.kernel.c_str(), r.shape.c_str(), r.us,
              amount, rate, frac, r.note.c_str());
  std::fflush(stdout);
}

void Table::Add(Row row) {
  PrintRow(row);
  rows_.push_back(std::move(row));
}

}  // namespace janus::bench
