#include <mutex>
#include <vector>

#include "kernels/common.cuh"

namespace janus::kernels {
namespace {

// Built with the same architectures as every kernel of the library: whether the device has an
// image of it says whether the build has code for the device.
__global__ void ProbeKernel() {}

}  // namespace

absl::Status CurrentDeviceInfo(int* num_sms, int* max_smem_per_block) {
  struct Info {
    bool valid = false;
    int sms = 0;
    int smem = 0;
  };
  static std::mutex mu;
  static std::vector<Info> cache;
  int device = 0;
  JANUS_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(mu);
  if (static_cast<int>(cache.size()) <= device) cache.resize(device + 1);
  Info& info = cache[device];
  if (!info.valid) {
    JANUS_CUDA_RETURN_IF_ERROR(
        cudaDeviceGetAttribute(&info.sms, cudaDevAttrMultiProcessorCount, device));
    JANUS_CUDA_RETURN_IF_ERROR(
        cudaDeviceGetAttribute(&info.smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    info.valid = true;
  }
  if (num_sms != nullptr) *num_sms = info.sms;
  if (max_smem_per_block != nullptr) *max_smem_per_block = info.smem;
  return absl::OkStatus();
}

absl::StatusOr<bool> WgmmaAvailable() {
  // Per device, asked once: the answer cannot change while the process runs.
  static std::mutex mu;
  static std::vector<int8_t> cache;  // -1 unknown, else 0 / 1
  int device = 0;
  JANUS_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(mu);
  if (static_cast<int>(cache.size()) <= device) cache.resize(device + 1, -1);
  if (cache[device] < 0) {
    int major = 0, minor = 0;
    JANUS_CUDA_RETURN_IF_ERROR(
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    JANUS_CUDA_RETURN_IF_ERROR(
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
    bool available = major == 9 && minor == 0;
    cudaFuncAttributes attr{};
    if (available && cudaFuncGetAttributes(&attr, ProbeKernel) != cudaSuccess) {
      (void)cudaGetLastError();  // no image for this device: not a sticky error
      available = false;
    }
    cache[device] = available && attr.binaryVersion == 90;
  }
  return cache[device] == 1;
}

}  // namespace janus::kernels
