#include <mutex>
#include <vector>

#include "kernels/common.cuh"

namespace janus::kernels {

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

}  // namespace janus::kernels
