// Properties of the current CUDA device that launchers size their grids with.
#ifndef JANUS_KERNELS_DEVICE_INFO_H_
#define JANUS_KERNELS_DEVICE_INFO_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace janus::kernels {

// Multiprocessor count and per-block opt-in shared memory of the current device (cached per
// device; either pointer may be null).
absl::Status CurrentDeviceInfo(int* num_sms, int* max_smem_per_block);

// True when the current device runs the library's Hopper warpgroup-MMA kernels (wgmma): compute
// capability 9.0 and this build has sm_90 code (asked once per device). The kernels themselves
// exist only in sm_90a builds (CMAKE_CUDA_ARCHITECTURES 90a, as every build script here uses);
// an sm_90 image without the `a` features cannot be told apart and would trap.
absl::StatusOr<bool> WgmmaAvailable();

}  // namespace janus::kernels

#endif  // JANUS_KERNELS_DEVICE_INFO_H_
