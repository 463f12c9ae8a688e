// absl::Status helpers for CUDA and cuBLAS calls, usable from .cc and .cu files alike.
// Every CUDA call in kernels/, the kernel tests and janus-bench goes through these macros, so an
// error names the failing expression, the file and line, and the CUDA error name.
#ifndef JANUS_KERNELS_CUDA_STATUS_H_
#define JANUS_KERNELS_CUDA_STATUS_H_

#include <cuda_runtime_api.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/base/status.h"  // JANUS_RETURN_IF_ERROR, JANUS_ASSIGN_OR_RETURN

namespace janus::kernels {

inline absl::Status CudaErrorStatus(cudaError_t error, const char* expr, const char* file,
                                    int line) {
  return absl::InternalError(absl::StrCat(file, ":", line, ": ", expr, " failed: ",
                                          cudaGetErrorName(error), " (",
                                          cudaGetErrorString(error), ")"));
}

// OK, or an Internal error naming `what` and the CUDA error.
inline absl::Status CudaStatusOf(cudaError_t error, const char* what) {
  if (error == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat(what, ": ", cudaGetErrorName(error), " (", cudaGetErrorString(error), ")"));
}

}  // namespace janus::kernels

// Returns an absl::Status naming file, line and the CUDA error when `expr` is not cudaSuccess.
#define JANUS_CUDA_RETURN_IF_ERROR(expr)                                                  \
  do {                                                                                    \
    const cudaError_t _janus_cuda_error = (expr);                                         \
    if (_janus_cuda_error != cudaSuccess) {                                               \
      return ::janus::kernels::CudaErrorStatus(_janus_cuda_error, #expr, __FILE__, __LINE__); \
    }                                                                                     \
  } while (0)

// After a <<<...>>> launch: configuration errors (too much shared memory, bad grid) surface here.
#define JANUS_CUDA_RETURN_IF_LAUNCH_ERROR() JANUS_CUDA_RETURN_IF_ERROR(cudaGetLastError())

// Returns InvalidArgument with `message...` (absl::StrCat arguments) unless `cond` holds.
#define JANUS_KERNEL_CHECK_ARG(cond, ...)                                           \
  do {                                                                              \
    if (!(cond)) return ::absl::InvalidArgumentError(::absl::StrCat(__VA_ARGS__));  \
  } while (0)

#endif  // JANUS_KERNELS_CUDA_STATUS_H_
