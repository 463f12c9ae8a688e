#include "runtime/cuda/device_pool.h"

#include <cuda_runtime_api.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace janus::cuda {
namespace {

constexpr size_t kGranule = 512;
constexpr double kMiB = 1024.0 * 1024.0;

}  // namespace

std::string DeviceMemoryString() {
  size_t free_bytes = 0, total = 0;
  if (cudaMemGetInfo(&free_bytes, &total) != cudaSuccess) {
    (void)cudaGetLastError();
    return "device memory unknown";
  }
  return absl::StrCat(static_cast<int64_t>(free_bytes / kMiB), " MiB free of ",
                      static_cast<int64_t>(total / kMiB), " MiB");
}

DevicePool::~DevicePool() {
  for (auto& [ptr, size] : size_of_) (void)cudaFree(ptr);
}

absl::StatusOr<std::shared_ptr<void>> DevicePool::Allocate(size_t bytes, absl::string_view what) {
  bytes = std::max(kGranule, (bytes + kGranule - 1) / kGranule * kGranule);
  void* ptr = nullptr;
  auto it = free_.lower_bound(bytes);
  if (it != free_.end()) {
    ptr = it->second;
    free_.erase(it);
  } else {
    const cudaError_t error = cudaMalloc(&ptr, bytes);
    if (error != cudaSuccess) {
      (void)cudaGetLastError();
      return absl::ResourceExhaustedError(absl::StrCat(
          "out of GPU memory: ", static_cast<int64_t>(bytes / kMiB), " MiB for ", what,
          " (", cudaGetErrorName(error), "; ", DeviceMemoryString(), ", ",
          static_cast<int64_t>(reserved_ / kMiB),
          " MiB held for activations); lower --max-batch or --prefill-chunk, or raise "
          "--gpu-memory-fraction"));
    }
    size_of_[ptr] = bytes;
    reserved_ += bytes;
  }
  in_use_ += size_of_[ptr];
  peak_ = std::max(peak_, in_use_);
  return std::shared_ptr<void>(ptr, [this](void* p) { Release(p); });
}

void DevicePool::Release(void* ptr) {
  const size_t bytes = size_of_.at(ptr);
  in_use_ -= bytes;
  free_.emplace(bytes, ptr);
}

std::string DeviceTensor::ShapeString() const {
  return absl::StrCat(DTypeName(dtype), "[", rows, ", ", cols, "]");
}

absl::StatusOr<DeviceTensor> NewTensor(DevicePool& pool, int64_t rows, int64_t cols, DType dtype,
                                       absl::string_view what) {
  DeviceTensor t;
  t.rows = rows;
  t.cols = cols;
  t.dtype = dtype;
  auto buffer = pool.Allocate(std::max<size_t>(1, t.bytes()), what);
  if (!buffer.ok()) return buffer.status();
  t.buffer = std::move(*buffer);
  return t;
}

}  // namespace janus::cuda
