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

absl::Status GemmBf16StridedBatched(const BlasHandle& handle, const uint16_t* x, int64_t ldx,
                                    int64_t stride_x, const uint16_t* w, int64_t ldw,
                                    int64_t stride_w, bool transpose_w, int m, int n, int k,
                                    int batch, uint16_t* y, int64_t ldy, int64_t stride_y,
                                    cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(m >= 0 && n > 0 && k > 0 && batch >= 0, "batched gemm: bad sizes (m ", m,
                         ", n ", n, ", k ", k, ", batch ", batch, ")");
  const int64_t min_ldw = transpose_w ? k : n;
  constexpr int64_t kMaxLd = (int64_t{1} << 31) - 1;
  JANUS_KERNEL_CHECK_ARG(ldx >= k && ldx <= kMaxLd && ldw >= min_ldw && ldw <= kMaxLd &&
                             ldy >= n && ldy <= kMaxLd,
                         "batched gemm: leading dimensions (ldx ", ldx, ", ldw ", ldw, ", ldy ",
                         ldy, ") must be >= (", k, ", ", min_ldw, ", ", n, ") and < 2^31");
  JANUS_KERNEL_CHECK_ARG(stride_x >= 0 && stride_w >= 0 && stride_y >= 0,
                         "batched gemm: negative batch stride (x ", stride_x, ", w ", stride_w,
                         ", y ", stride_y, ")");
  JANUS_KERNEL_CHECK_ARG(handle.raw() != nullptr, "batched gemm: no cuBLAS handle");
  if (m == 0 || batch == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(x && w && y, "batched gemm: a required pointer is null");
  auto h = static_cast<cublasHandle_t>(handle.raw());
  JANUS_CUBLAS_RETURN_IF_ERROR(cublasSetStream(h, stream));
  const float alpha = 1.0f, beta = 0.0f;
  // Column-major view: Y_bᵀ[n, m] = op(W_b)ᵀ[n, k] · X_bᵀ[k, m]. A row-major [r, c] buffer with row
  // stride ld is a column-major [c, r] one with the same ld, so X_bᵀ is B as stored (op N). W_b
  // stored [n, k] is column-major [k, n] and needs op T; stored [k, n] it is column-major [n, k]
  // = op(W_b)ᵀ already (op N).
  JANUS_CUBLAS_RETURN_IF_ERROR(cublasGemmStridedBatchedEx(
      h, transpose_w ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &alpha, w, CUDA_R_16BF,
      static_cast<int>(ldw), stride_w, x, CUDA_R_16BF, static_cast<int>(ldx), stride_x, &beta, y,
      CUDA_R_16BF, static_cast<int>(ldy), stride_y, batch, CUBLAS_COMPUTE_32F,
      CUBLAS_GEMM_DEFAULT));
  return absl::OkStatus();
}

}  // namespace janus::kernels
