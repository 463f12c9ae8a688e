// Dense projections through cuBLAS: a move-only handle and the GEMM shapes the model needs,
// y[m, n] = x[m, k] · w[n, k]ᵀ (torch nn.Linear layout), bf16 operands, fp32 accumulation, bf16 or
// fp32 output, and a strided-batched variant with explicit leading dimensions (DeepSeek MLA weight
// absorption). The handle type is opaque so callers need no cuBLAS headers.
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

// Strided-batched, row-major with explicit row strides (all in elements): for b < batch,
//   Y_b[m, n] = X_b[m, k] · op(W_b),   op(W_b) = W_bᵀ when W_b is stored [n, k] (transpose_w, the
//   nn.Linear layout) or W_b when it is stored [k, n] (!transpose_w),
// X_b = x + b * stride_x (row r at X_b + r * ldx), W_b = w + b * stride_w (row stride ldw),
// Y_b = y + b * stride_y (row stride ldy). bf16 in, fp32 accumulation, bf16 out; only the m x n
// elements of each Y_b are written. ldx >= k, ldy >= n, ldw >= (transpose_w ? k : n), leading
// dimensions < 2^31, strides >= 0 (0 broadcasts one X or W over the batch; the Y_b must not
// overlap). m == 0 or batch == 0 is a no-op.
absl::Status GemmBf16StridedBatched(const BlasHandle& handle, const uint16_t* x, int64_t ldx,
                                    int64_t stride_x, const uint16_t* w, int64_t ldw,
                                    int64_t stride_w, bool transpose_w, int m, int n, int k,
                                    int batch, uint16_t* y, int64_t ldy, int64_t stride_y,
                                    cudaStream_t stream);

}  // namespace janus::kernels

#endif  // JANUS_KERNELS_BLAS_H_
