// A caching allocator for the activations of the cuda backend. Buffers go back to a free list when
// their last user drops them (DeviceTensor holds a shared_ptr whose deleter returns it here) and
// are handed out again best-fit, so after the first few steps a step allocates nothing: CUDA graphs
// captured once keep pointing at buffers no one else uses while they run (every step runs on one
// stream, in order). Memory goes back to CUDA only when the pool is destroyed.
#ifndef JANUS_RUNTIME_CUDA_DEVICE_POOL_H_
#define JANUS_RUNTIME_CUDA_DEVICE_POOL_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/base/dtype.h"

namespace janus::cuda {

class DevicePool {
 public:
  DevicePool() = default;
  ~DevicePool();
  DevicePool(const DevicePool&) = delete;
  DevicePool& operator=(const DevicePool&) = delete;

  // ResourceExhausted naming `what`, the size and the device's free memory when CUDA has none.
  absl::StatusOr<std::shared_ptr<void>> Allocate(size_t bytes, absl::string_view what);

  size_t reserved_bytes() const { return reserved_; }   // held from CUDA
  size_t in_use_bytes() const { return in_use_; }
  size_t peak_in_use_bytes() const { return peak_; }

 private:
  void Release(void* ptr);

  std::multimap<size_t, void*> free_;          // by size
  std::unordered_map<void*, size_t> size_of_;  // every allocation
  size_t reserved_ = 0, in_use_ = 0, peak_ = 0;
};

// An activation on the device: a [rows, cols] row-major matrix of `dtype` (kBF16, kF32 or kI32).
struct DeviceTensor {
  std::shared_ptr<void> buffer;
  int64_t rows = 0, cols = 0;
  DType dtype = DType::kBF16;

  bool defined() const { return buffer != nullptr; }
  int64_t size() const { return rows * cols; }
  size_t bytes() const { return static_cast<size_t>(size()) * DTypeSize(dtype); }
  template <typename T>
  T* data() const {
    return static_cast<T*>(buffer.get());
  }
  uint16_t* bf16() const { return data<uint16_t>(); }
  float* f32() const { return data<float>(); }
  int32_t* i32() const { return data<int32_t>(); }
  std::string ShapeString() const;
};

absl::StatusOr<DeviceTensor> NewTensor(DevicePool& pool, int64_t rows, int64_t cols, DType dtype,
                                       absl::string_view what);

// "N MiB free of M MiB" for error messages.
std::string DeviceMemoryString();

}  // namespace janus::cuda

#endif  // JANUS_RUNTIME_CUDA_DEVICE_POOL_H_
