#include "kernels/common.cuh"
#include "kernels/rms_norm.h"

namespace janus::kernels {
namespace {

constexpr int kThreads = 256;

template <int kVec, bool kResidual>
__global__ void __launch_bounds__(kThreads) RmsNormKernel(const uint16_t* x, uint16_t* residual,
                                                          const uint16_t* __restrict__ weight,
                                                          int width, float eps, uint16_t* y) {
  const int64_t row = blockIdx.x;
  const int vecs = width / 8;
  const uint4* xr = reinterpret_cast<const uint4*>(x + row * width);
  uint4* rr = kResidual ? reinterpret_cast<uint4*>(residual + row * width) : nullptr;
  float v[kVec][8];
  float ss = 0.f;
#pragma unroll
  for (int i = 0; i < kVec; ++i) {
    const int c = threadIdx.x + i * kThreads;
    if (c >= vecs) continue;
    const uint4 a = xr[c];
    const uint32_t aw[4] = {a.x, a.y, a.z, a.w};
    uint32_t sum_bits[4];
    uint32_t rw[4] = {0, 0, 0, 0};
    if constexpr (kResidual) {
      const uint4 r = rr[c];
      rw[0] = r.x, rw[1] = r.y, rw[2] = r.z, rw[3] = r.w;
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      float lo = device::Bf16Lo(aw[j]), hi = device::Bf16Hi(aw[j]);
      if constexpr (kResidual) {
        // The stored residual is bf16; normalise exactly what is stored.
        sum_bits[j] = device::PackBf16x2(lo + device::Bf16Lo(rw[j]), hi + device::Bf16Hi(rw[j]));
        lo = device::Bf16Lo(sum_bits[j]);
        hi = device::Bf16Hi(sum_bits[j]);
      }
      v[i][2 * j] = lo;
      v[i][2 * j + 1] = hi;
      ss += lo * lo + hi * hi;
    }
    if constexpr (kResidual) rr[c] = make_uint4(sum_bits[0], sum_bits[1], sum_bits[2], sum_bits[3]);
  }
  __shared__ float warp_sums[kThreads / 32];
  ss = device::WarpSum(ss);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = ss;
  __syncthreads();
  float total = 0.f;
#pragma unroll
  for (int w = 0; w < kThreads / 32; ++w) total += warp_sums[w];
  const float inv = rsqrtf(total / width + eps);
  const uint4* wr = reinterpret_cast<const uint4*>(weight);
  uint4* yr = reinterpret_cast<uint4*>(y + row * width);
#pragma unroll
  for (int i = 0; i < kVec; ++i) {
    const int c = threadIdx.x + i * kThreads;
    if (c >= vecs) continue;
    const uint4 w = wr[c];
    const uint32_t ww[4] = {w.x, w.y, w.z, w.w};
    uint32_t out[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      out[j] = device::PackBf16x2(v[i][2 * j] * inv * device::Bf16Lo(ww[j]),
                                  v[i][2 * j + 1] * inv * device::Bf16Hi(ww[j]));
    }
    yr[c] = make_uint4(out[0], out[1], out[2], out[3]);
  }
}

template <int kVec, bool kResidual>
void Launch(const uint16_t* x, uint16_t* residual, const uint16_t* weight, int rows, int width,
            float eps, uint16_t* y, cudaStream_t stream) {
  RmsNormKernel<kVec, kResidual><<<rows, kThreads, 0, stream>>>(x, residual, weight, width, eps, y);
}

}  // namespace

absl::Status LaunchRmsNorm(const uint16_t* x, uint16_t* residual, const uint16_t* weight, int rows,
                           int width, float eps, uint16_t* y, cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(rows >= 0 && width > 0 && width % 8 == 0 && width <= 8 * 8 * kThreads,
                         "rms norm: width ", width, " must be a positive multiple of 8, <= ",
                         8 * 8 * kThreads);
  JANUS_KERNEL_CHECK_ARG(eps >= 0.f, "rms norm: eps ", eps, " is negative");
  if (rows == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(x && weight && y, "rms norm: a required pointer is null");
  const int vec = CeilDiv(width / 8, kThreads);
  const int kv = vec <= 1 ? 1 : vec <= 2 ? 2 : vec <= 4 ? 4 : 8;
  JANUS_DISPATCH_BOOL(residual != nullptr, kResidual, {
    switch (kv) {
      JANUS_DISPATCH_CASE_(kVec, 1, Launch<kVec, kResidual>(x, residual, weight, rows, width, eps, y, stream))
      JANUS_DISPATCH_CASE_(kVec, 2, Launch<kVec, kResidual>(x, residual, weight, rows, width, eps, y, stream))
      JANUS_DISPATCH_CASE_(kVec, 4, Launch<kVec, kResidual>(x, residual, weight, rows, width, eps, y, stream))
      JANUS_DISPATCH_CASE_(kVec, 8, Launch<kVec, kResidual>(x, residual, weight, rows, width, eps, y, stream))
      JANUS_DISPATCH_DEFAULT_("rms norm vector count", kv)
    }
  });
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

}  // namespace janus::kernels
