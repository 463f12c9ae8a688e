// Properties of the current CUDA device that launchers size their grids with.
#ifndef JANUS_KERNELS_DEVICE_INFO_H_
#define JANUS_KERNELS_DEVICE_INFO_H_

#include "absl/status/status.h"

namespace janus::kernels {

// Multiprocessor count and per-block opt-in shared memory of the current device (cached per
// device; either pointer may be null).
absl::Status CurrentDeviceInfo(int* num_sms, int* max_smem_per_block);

}  // namespace janus::kernels

#endif  // JANUS_KERNELS_DEVICE_INFO_H_
