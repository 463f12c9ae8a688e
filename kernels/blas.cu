#include <cublas_v2.h>

#include <utility>

#include "kernels/blas.h"
#include "kernels/common.cuh"

#define JANUS_CUBLAS_RETURN_IF_ERROR(expr)                                                   \
  do {                                                                                       \
    const cublasStatus_t _janus_blas_status = (expr);                                        \
    if (_janus_blas_status != CUBLAS_STATUS_SUCCESS) {                                       \
      return ::absl::InternalError(::absl::StrCat(__FILE__, ":", __LINE__, ": ", #expr,      \
                                                  " failed: ",                               \
                                                  cublasGetStatusName(_janus_blas_status))); \
    }                                                                                        \
  } while (0)

namespace janus::kernels {

absl::StatusOr<BlasHandle> BlasHandle::Create() {
  cublasHandle_t h = nullptr;
  JANUS_CUBLAS_RETURN_IF_ERROR(cublasCreate(&h));
  BlasHandle out;
  out.handle_ = h;
  return out;
}

BlasHandle::BlasHandle(BlasHandle&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)) {}

BlasHandle& BlasHandle::operator=(BlasHandle&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) cublasDestroy(static_cast<cublasHandle_t>(handle_));
    handle_ = std::exchange(other.handle_, nullptr);
  }
  return *this;
}

BlasHandle::~BlasHandle() {
  if (handle_ != nullptr) cublasDestroy(static_cast<cublasHandle_t>(handle_));
}

absl::Status GemmBf16(const BlasHandle& handle, const uint16_t* x, const uint16_t* w, int m, int n,
                      int k, GemmOutput output, void* y, cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(handle.raw() != nullptr, "gemm: no cuBLAS handle");
  JANUS_KERNEL_CHECK_ARG(m >= 0 && n > 0 && k > 0, "gemm: bad sizes (m ", m, ", n ", n, ", k ", k,
                         ")");
  if (m == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(x && w && y, "gemm: a required pointer is null");
  auto h = static_cast<cublasHandle_t>(handle.raw());
  JANUS_CUBLAS_RETURN_IF_ERROR(cublasSetStream(h, stream));
  const float alpha = 1.0f, beta = 0.0f;
  // Column-major view: yᵀ[n, m] = w[n, k] · xᵀ[k, m], i.e. op(A) = Wᵀ of the [k, n] buffer.
  JANUS_CUBLAS_RETURN_IF_ERROR(cublasGemmEx(
      h, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &alpha, w, CUDA_R_16BF, k, x, CUDA_R_16BF, k, &beta, y,
      output == GemmOutput::kF32 ? CUDA_R_32F : CUDA_R_16BF, n, CUBLAS_COMPUTE_32F,
      CUBLAS_GEMM_DEFAULT));
  return absl::OkStatus();
}

}  // namespace janus::kernels
