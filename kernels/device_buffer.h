// Move-only owner of a cudaMalloc'd allocation, for the kernel tests, janus-bench and callers that
// need scratch space (workspaces). Create returns an error instead of throwing; the destructor frees
// and never throws.
#ifndef JANUS_KERNELS_DEVICE_BUFFER_H_
#define JANUS_KERNELS_DEVICE_BUFFER_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/cuda_status.h"

namespace janus::kernels {

class DeviceBuffer {
 public:
  static absl::StatusOr<DeviceBuffer> Create(size_t bytes) {
    DeviceBuffer b;
    if (bytes > 0) JANUS_CUDA_RETURN_IF_ERROR(cudaMalloc(&b.ptr_, bytes));
    b.bytes_ = bytes;
    return b;
  }
  // Allocates and copies `values` to the device.
  template <typename T>
  static absl::StatusOr<DeviceBuffer> FromHost(const std::vector<T>& values) {
    absl::StatusOr<DeviceBuffer> b = Create(values.size() * sizeof(T));
    if (!b.ok()) return b.status();
    if (!values.empty()) {
      JANUS_CUDA_RETURN_IF_ERROR(
          cudaMemcpy(b->ptr_, values.data(), values.size() * sizeof(T), cudaMemcpyHostToDevice));
    }
    return b;
  }

  DeviceBuffer() = default;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(o.bytes_) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      Reset();
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = o.bytes_;
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { Reset(); }

  template <typename T = void>
  T* get() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

  // Copies the whole buffer back as `T`s.
  template <typename T>
  absl::StatusOr<std::vector<T>> ToHost() const {
    std::vector<T> out(bytes_ / sizeof(T));
    if (!out.empty()) {
      JANUS_CUDA_RETURN_IF_ERROR(
          cudaMemcpy(out.data(), ptr_, out.size() * sizeof(T), cudaMemcpyDeviceToHost));
    }
    return out;
  }
  // Fills every byte with `byte` (tests poison outputs with 0xff: NaN for floats and bf16, -1 for
  // int32, so an unwritten element is caught).
  absl::Status Fill(int byte) {
    if (bytes_ > 0) JANUS_CUDA_RETURN_IF_ERROR(cudaMemset(ptr_, byte, bytes_));
    return absl::OkStatus();
  }

 private:
  void Reset() {
    if (ptr_ != nullptr) (void)cudaFree(ptr_);  // an error here has nowhere to go
    ptr_ = nullptr;
    bytes_ = 0;
  }

  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace janus::kernels

#endif  // JANUS_KERNELS_DEVICE_BUFFER_H_
