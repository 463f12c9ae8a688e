// RMSNorm, optionally fused with the residual add that precedes it in every decoder layer:
//   with residual:  sum = bf16(x + residual); residual <- sum; y = bf16(sum * rsqrt(mean(sum²) + eps) * w)
//   without:        y = bf16(x * rsqrt(mean(x²) + eps) * w)
// fp32 arithmetic as runtime/cpu RmsNorm (the weight multiplies last). One block per row; the row
// stays in registers between the two passes, so x and residual are read once.
#ifndef JANUS_KERNELS_RMS_NORM_H_
#define JANUS_KERNELS_RMS_NORM_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace janus::kernels {

// x, residual, y: [rows, width] bf16; weight: [width] bf16. width a multiple of 8, <= 16384.
// residual may be null (plain RMSNorm). y may alias x (not residual).
absl::Status LaunchRmsNorm(const uint16_t* x, uint16_t* residual, const uint16_t* weight, int rows,
                           int width, float eps, uint16_t* y, cudaStream_t stream);

}  // namespace janus::kernels

#endif  // JANUS_KERNELS_RMS_NORM_H_
