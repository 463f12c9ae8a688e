// janus-bench plumbing: device random fills, graph-based timing, the measured ceilings and the
// result table.
#ifndef JANUS_BENCH_BENCH_UTIL_H_
#define JANUS_BENCH_BENCH_UTIL_H_

#include <algorithm>
#include <cmath>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/device_buffer.h"

namespace janus::bench {

// Fills n bf16 values with a hash of (seed, index) mapped to [-scale, scale), never zero.
absl::Status FillRandomBf16(uint16_t* data, size_t n, uint64_t seed, float scale,
                            cudaStream_t stream);

// Median microseconds of one call of `fn(rep)`. Each sample is one replay of a CUDA graph that
// holds `reps_per_graph` calls back to back (rep = 0, 1, ...: callers rotate input sets with it),
// timed with events and divided by reps_per_graph; launch gaps between kernels are a graph's, not
// the host's. fn(0) first runs once outside the capture and is synchronised (its errors, lazy
// module loading and kernel attribute calls surface there, not inside a capture); one replay then
// runs as warm-up.
absl::StatusOr<double> TimeGraphUs(const std::function<absl::Status(int rep, cudaStream_t)>& fn,
                                   int reps_per_graph, int samples, cudaStream_t stream);

// Median microseconds of `fn` timed with events around each call (for long operations).
absl::StatusOr<double> TimeEventsUs(const std::function<absl::Status(cudaStream_t)>& fn,
                                    int warmup, int reps, cudaStream_t stream);

struct Limits {
  double hbm_gbps = 0;     // device-to-device copy, bytes read + written
  double bf16_tflops = 0;  // cuBLAS bf16 GEMM 8192^3
  int num_sms = 0;
  std::string device;
};

// Copies of the inputs to rotate through so that together they exceed L2 several times.
inline int RotationSets(double bytes_per_call, int cap) {
  return std::clamp(static_cast<int>(std::ceil(200e6 / std::max(bytes_per_call, 1.0))), 1, cap);
}

// Page ids 0 .. num_pages - 1 in a random order, on the device: the block tables of a fragmented
// paged cache (callers slice it per sequence and rotation set).
inline absl::StatusOr<kernels::DeviceBuffer> ShuffledPages(int num_pages, std::mt19937& rng) {
  std::vector<int32_t> order(num_pages);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  return kernels::DeviceBuffer::FromHost(order);
}

struct Row {
  std::string kernel;
  std::string shape;
  double us = 0;
  double bytes = 0;   // minimal bytes through device memory (0: not memory-bound)
  double flops = 0;   // 0: not reported
  std::string note;   // e.g. target
};

class Table {
 public:
  explicit Table(const Limits& limits) : limits_(limits) {}
  void Add(Row row);
  // Prints the rows as a fixed-width table (also called incrementally by the runners).
  void PrintRow(const Row& row) const;
  void PrintHeader() const;
  const std::vector<Row>& rows() const { return rows_; }

 private:
  Limits limits_;
  std::vector<Row> rows_;
};

}  // namespace janus::bench

#endif  // JANUS_BENCH_BENCH_UTIL_H_
