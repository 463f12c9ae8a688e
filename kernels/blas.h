// Dense projections through cuBLAS: a move-only handle and the one GEMM shape the model needs,
// y[m, n] = x[m, k] · w[n, k]ᵀ (torch nn.Linear layout), bf16 operands, fp32 accumulation, bf16 or
// fp32 output. The handle type is opaque so callers need no cuBLAS headers.
#ifndef JANUS_KERNELS_BLAS_H_
#define JANUS_KERNELS_BLAS_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace janus::kernels {

class BlasHandle {
 public:
  static absl::StatusOr<BlasHandle> Create();

  BlasHandle() = default;
  BlasHandle(BlasHandle&& other) noexcept;
  BlasHandle& operator=(BlasHandle&& other) noexcept;
  BlasHandle(const BlasHandle&) = delete;
  BlasHandle& operator=(const BlasHandle&) = delete;
  ~BlasHandle();

  void* raw() const { return handle_; }  // cublasHandle_t

 private:
  void* handle_ = nullptr;
};

enum class GemmOutput { kBf16 = 0, kF32 = 1 };

// Row-major, densely packed. m, n, k > 0 (m == 0 is a no-op).
absl::Status GemmBf16(const BlasHandle& handle, const uint16_t* x, const uint16_t* w, int m, int n,
                      int k, GemmOutput output, void* y, cudaStream_t stream);

}  // namespace janus::kernels

#endif  // JANUS_KERNELS_BLAS_H_
