// The read floor: how long the device takes to stream N bytes it has never cached, with a kernel
// that does nothing else (16-byte loads, eight in flight per thread, a whole wave of blocks).
// The kernel rows are memory-bound calls of 5-150 MB, where a kernel's launch, its first memory
// latency and its tail are not small against the transfer: these rows say which fraction of the
// copy bandwidth is reachable at each size at all, in the same graph-replay timing.
#include <algorithm>

#include "absl/strings/str_format.h"
#include "bench/bench_runners.h"
#include "kernels/common.cuh"
#include "kernels/device_buffer.h"

namespace janus::bench {
namespace {

constexpr int kThreads = 512;
constexpr int kUnroll = 8;

__global__ void __launch_bounds__(kThreads) ReadKernel(const uint4* __restrict__ src, size_t n16,
                                                       unsigned* __restrict__ sink) {
  unsigned acc = 0;
  const size_t stride = static_cast<size_t>(gridDim.x) * kThreads;
  size_t i = static_cast<size_t>(blockIdx.x) * kThreads + threadIdx.x;
  for (; i + (kUnroll - 1) * stride < n16; i += kUnroll * stride) {
    uint4 v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) v[u] = kernels::device::LoadStreaming16(src + i + u * stride);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) acc ^= v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
  }
  for (; i < n16; i += stride) {
    const uint4 v = kernels::device::LoadStreaming16(src + i);
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x9e3779b9u) *sink = acc;  // keeps the loads; practically never taken
}

}  // namespace

absl::Status RunReadFloor(const Options& opt, const Limits& limits, Table& table,
                          cudaStream_t stream) {
  int per_sm = 0;
  JANUS_CUDA_RETURN_IF_ERROR(
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, ReadKernel, kThreads, 0));
  const int grid = std::max(1, per_sm) * limits.num_sms;
  JANUS_ASSIGN_OR_RETURN(kernels::DeviceBuffer sink, kernels::DeviceBuffer::Create(16));
  // Sizes of the kernel rows: MLA decode h16 batch 1, GQA decode batch 1 at 4k, the Qwen3 expert
  // FFN at 1 token (8 experts) and 8-64 tokens (16 experts), and a large read.
  const double mb[] = {4.72, 16.78, 75.50, 150.99, 1073.74};
  for (double m : mb) {
    const size_t bytes = static_cast<size_t>(m * 1e6) / 16 * 16;
    const int sets = RotationSets(static_cast<double>(bytes), opt.quick ? 4 : 16);
    JANUS_ASSIGN_OR_RETURN(kernels::DeviceBuffer src,
                           kernels::DeviceBuffer::Create(bytes * static_cast<size_t>(sets)));
    JANUS_RETURN_IF_ERROR(
        FillRandomBf16(src.get<uint16_t>(), bytes * sets / 2, 9, 1.f, stream));
    auto fn = [&](int rep, cudaStream_t s) -> absl::Status {
      const auto* base =
          reinterpret_cast<const uint4*>(src.get<unsigned char>() + bytes * (rep % sets));
      ReadKernel<<<grid, kThreads, 0, s>>>(base, bytes / 16, sink.get<unsigned>());
      JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
      return absl::OkStatus();
    };
    JANUS_ASSIGN_OR_RETURN(double us, TimeGraphUs(fn, std::max(sets, 2), opt.quick ? 5 : 20,
                                                  stream));
    table.Add({"limit.read", absl::StrFormat("%.2f MB streamed once (read only)", m), us,
               static_cast<double>(bytes), 0, "the reachable fraction at this size"});
  }
  return absl::OkStatus();
}

}  // namespace janus::bench
