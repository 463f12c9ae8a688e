// janus-bench: times every kernel family at decode shapes against the device's measured ceilings
// (device-to-device copy bandwidth, cuBLAS bf16 GEMM rate) and prints one table.
//   janus-bench [--filter=SUBSTRING] [--quick]
// Columns: median time of one call (CUDA-graph replays, inputs rotated so they do not sit in L2),
// the minimal bytes (or flops) of the call, the achieved rate and its fraction of the ceiling.
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "bench/bench_runners.h"
#include "bench/bench_util.h"
#include "kernels/blas.h"
#include "kernels/cuda_status.h"
#include "kernels/device_buffer.h"
#include "kernels/device_info.h"

namespace janus::bench {
namespace {

absl::Status MeasureLimits(const Options& opt, Limits* limits, Table* table_for_rows,
                           cudaStream_t stream) {
  cudaDeviceProp prop{};
  JANUS_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, 0));
  limits->device = prop.name;
  limits->num_sms = prop.multiProcessorCount;
  std::printf("device: %s, %d SMs, L2 %d MB, %.1f GB\n", prop.name, prop.multiProcessorCount,
              prop.l2CacheSize >> 20, prop.totalGlobalMem / 1e9);
  // HBM: a 1 GiB device-to-device copy moves 2 GiB (read + write).
  const size_t copy_bytes = opt.quick ? (size_t{256} << 20) : (size_t{1} << 30);
  JANUS_ASSIGN_OR_RETURN(kernels::DeviceBuffer src, kernels::DeviceBuffer::Create(copy_bytes));
  JANUS_ASSIGN_OR_RETURN(kernels::DeviceBuffer dst, kernels::DeviceBuffer::Create(copy_bytes));
  JANUS_RETURN_IF_ERROR(FillRandomBf16(src.get<uint16_t>(), copy_bytes / 2, 1, 1.f, stream));
  JANUS_ASSIGN_OR_RETURN(double copy_us, TimeEventsUs(
      [&](cudaStream_t s) -> absl::Status {
        JANUS_CUDA_RETURN_IF_ERROR(
            cudaMemcpyAsync(dst.get(), src.get(), copy_bytes, cudaMemcpyDeviceToDevice, s));
        return absl::OkStatus();
      },
      3, opt.quick ? 5 : 20, stream));
  limits->hbm_gbps = 2.0 * copy_bytes / (copy_us * 1e3);
  // Matrix rate: bf16 GEMM 8192^3 on random data.
  const int n = 8192;
  const size_t mat = size_t{1} * n * n;
  JANUS_ASSIGN_OR_RETURN(kernels::DeviceBuffer a, kernels::DeviceBuffer::Create(2 * mat));
  JANUS_ASSIGN_OR_RETURN(kernels::DeviceBuffer b, kernels::DeviceBuffer::Create(2 * mat));
  JANUS_ASSIGN_OR_RETURN(kernels::DeviceBuffer c, kernels::DeviceBuffer::Create(2 * mat));
  JANUS_RETURN_IF_ERROR(FillRandomBf16(a.get<uint16_t>(), mat, 2, 1.f, stream));
  JANUS_RETURN_IF_ERROR(FillRandomBf16(b.get<uint16_t>(), mat, 3, 1.f, stream));
  JANUS_ASSIGN_OR_RETURN(kernels::BlasHandle blas, kernels::BlasHandle::Create());
  JANUS_ASSIGN_OR_RETURN(double gemm_us, TimeEventsUs(
      [&](cudaStream_t s) {
        return kernels::GemmBf16(blas, a.get<uint16_t>(), b.get<uint16_t>(), n, n, n,
                                 kernels::GemmOutput::kBf16, c.get(), s);
      },
      3, opt.quick ? 5 : 20, stream));
  limits->bf16_tflops = 2.0 * n * n * n / (gemm_us * 1e6);
  std::printf("measured limits: HBM copy %.0f GB/s (read+write), bf16 GEMM %.1f TFLOP/s\n\n",
              limits->hbm_gbps, limits->bf16_tflops);
  Table t(*limits);
  t.PrintHeader();
  Row copy_row{"limit.hbm_copy", "1 GiB d2d (bytes read + written)", copy_us, 2.0 * copy_bytes, 0,
               "defines 100% for bytes"};
  if (opt.quick) copy_row.shape = "256 MiB d2d (bytes read + written)";
  t.PrintRow(copy_row);
  t.PrintRow({"limit.gemm_bf16", "8192x8192x8192 cuBLAS", gemm_us, 0, 2.0 * n * n * n,
              "defines 100% for flops"});
  *table_for_rows = t;
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--filter=", 9) == 0) {
      opt.filter = argv[i] + 9;
    } else if (std::strcmp(argv[i], "--quick") == 0) {
      opt.quick = true;
    } else {
      std::fprintf(stderr, "janus-bench: unknown argument '%s' (use --filter=SUBSTRING, --quick)\n",
                   argv[i]);
      return 2;
    }
  }
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "janus-bench: no CUDA device\n");
    return 1;
  }
  cudaStream_t stream;
  if (cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) != cudaSuccess) {
    std::fprintf(stderr, "janus-bench: cannot create a stream\n");
    return 1;
  }
  Limits limits;
  Table table(limits);
  const absl::Status limits_status = MeasureLimits(opt, &limits, &table, stream);
  if (!limits_status.ok()) {
    std::fprintf(stderr, "janus-bench: measuring the limits failed: %s\n",
                 limits_status.ToString().c_str());
    return 1;
  }
  int failures = 0;
  for (const auto& [name, runner] : AllRunners()) {
    if (!opt.filter.empty() && name.find(opt.filter) == std::string::npos) continue;
    const absl::Status s = runner(opt, limits, table, stream);
    if (!s.ok()) {
      std::printf("%-22s FAILED: %s\n", name.c_str(), s.ToString().c_str());
      ++failures;
      (void)cudaGetLastError();  // clear a sticky launch error before the next group
    }
  }
  (void)cudaStreamDestroy(stream);
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace janus::bench

int main(int argc, char** argv) { return janus::bench::Main(argc, argv); }
