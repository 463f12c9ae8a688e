#include "kernels/device_info.h"

#include <mutex>
#include <vector>

#include "kernels/common.cuh"

namespace janus::kernels {
namespace {

// Built with the same architectures as every kernel of the library: whether the device has an
// image of it says whether the build has code for the device.
__global__ void ProbeKernel() {}

struct Info {
  bool valid = false;
  int sms = 0;
  int smem = 0;
  bool wgmma = false;
};

// The current device's properties, asked once per device: they cannot change while the process
// runs.
absl::StatusOr<Info> CurrentInfo() {
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
    int major = 0, minor = 0;
    JANUS_CUDA_RETURN_IF_ERROR(
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    JANUS_CUDA_RETURN_IF_ERROR(
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
    bool wgmma = major == 9 && minor == 0;
    cudaFuncAttributes attr{};
    if (wgmma && cudaFuncGetAttributes(&attr, ProbeKernel) != cudaSuccess) {
      (void)cudaGetLastError();  // no image for this device: not a sticky error
      wgmma = false;
    }
    info.wgmma = wgmma && attr.binaryVersion == 90;
    info.valid = true;
  }
  return info;
}

}  // namespace

absl::Status CurrentDeviceInfo(int* num_sms, int* max_smem_per_block) {
  JANUS_ASSIGN_OR_RETURN(const Info info, CurrentInfo());
  if (num_sms != nullptr) *num_sms = info.sms;
  if (max_smem_per_block != nullptr) *max_smem_per_block = info.smem;
  return absl::OkStatus();
}

absl::StatusOr<bool> WgmmaAvailable() {
  JANUS_ASSIGN_OR_RETURN(const Info info, CurrentInfo());
  return info.wgmma;
}

}  // namespace janus::kernels

