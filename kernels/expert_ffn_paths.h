// The grouped expert FFN's launch paths (kernels/expert_ffn.h), chosen by shape and device in
// LaunchGroupedExpertFfn; private to kernels/, the kernel tests and janus-bench, which force each
// path to compare them.
#ifndef JANUS_KERNELS_EXPERT_FFN_PATHS_H_
#define JANUS_KERNELS_EXPERT_FFN_PATHS_H_

#include <cuda_runtime_api.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/expert_ffn.h"

namespace janus::kernels {

enum class FfnPath {
  kAuto,               // what LaunchGroupedExpertFfn picks
  kFused,              // <= 64 pairs and slots: gate/up (grouping in every block), down + combine;
                       // mma.sync (any sm_80+ device)
  kFusedWgmma,         // the same two launches on wgmma (sm_90 devices, sm_90a builds)
  kFourLaunchMmaSync,  // grouping, gate/up, down, un-permute on mma.sync
  kFourLaunchWgmma,    // the same four launches on wgmma
};

const char* FfnPathName(FfnPath path);

// The path `kAuto` takes for this shape on the current device.
absl::StatusOr<FfnPath> ChooseFfnPath(const GroupedFfnShape& shape);

// LaunchGroupedExpertFfn on a given path of the fast (multiple-of-64) shapes. A path the shape or
// device does not allow is InvalidArgument / FailedPrecondition.
absl::Status LaunchGroupedExpertFfnOnPath(const GroupedFfnShape& shape, const GroupedFfnArgs& args,
                                          FfnPath path, cudaStream_t stream);

}  // namespace janus::kernels

#endif  // JANUS_KERNELS_EXPERT_FFN_PATHS_H_
