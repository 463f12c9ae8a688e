// Shared device helpers of the kernel families: status macros (via cuda_status.h), JANUS_DISPATCH_*
// switches that turn runtime values into template arguments, 16-byte loads, bf16 conversions, the
// bf16 tensor-core MMAs, ldmatrix and cp.async wrappers. Included by the .cu files only.
#ifndef JANUS_KERNELS_COMMON_CUH_
#define JANUS_KERNELS_COMMON_CUH_

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.h"
#include "kernels/device_info.h"

// JANUS_DISPATCH_*: `__VA_ARGS__` is compiled once per case with NAME a constexpr. An unsupported
// value returns InvalidArgument from the enclosing launcher (never a silent fallback).
#define JANUS_DISPATCH_CASE_(NAME, V, ...) \
  case V: {                                \
    constexpr int NAME = V;                \
    __VA_ARGS__;                           \
  } break;
#define JANUS_DISPATCH_DEFAULT_(what, value)                                              \
  default:                                                                                \
    return ::absl::InvalidArgumentError(                                                  \
        ::absl::StrCat(__FILE__, ":", __LINE__, ": unsupported ", what, " ", (value)));

#define JANUS_DISPATCH_BOOL(value, NAME, ...) \
  if (value) {                                \
    constexpr bool NAME = true;               \
    __VA_ARGS__;                              \
  } else {                                    \
    constexpr bool NAME = false;              \
    __VA_ARGS__;                              \
  }

// Values 1, 2, 4 or 8; `what` names the value in the error.
#define JANUS_DISPATCH_1248_(what, value, NAME, ...) \
  switch (value) {                                   \
    JANUS_DISPATCH_CASE_(NAME, 1, __VA_ARGS__)       \
    JANUS_DISPATCH_CASE_(NAME, 2, __VA_ARGS__)       \
    JANUS_DISPATCH_CASE_(NAME, 4, __VA_ARGS__)       \
    JANUS_DISPATCH_CASE_(NAME, 8, __VA_ARGS__)       \
    JANUS_DISPATCH_DEFAULT_(what, value)             \
  }

// Elements per vector access (bf16 launchers pick the widest the pointers and lengths allow).
#define JANUS_DISPATCH_VEC_WIDTH(value, NAME, ...) \
  JANUS_DISPATCH_1248_("vector width", value, NAME, __VA_ARGS__)

// Tiles of 8 tokens (the n of an m16n8k16 MMA) held per pass: 1, 2, 4 or 8.
#define JANUS_DISPATCH_TOKEN_TILES(value, NAME, ...) \
  JANUS_DISPATCH_1248_("token tile count", value, NAME, __VA_ARGS__)

#define JANUS_DISPATCH_HEAD_DIM(value, NAME, ...) \
  switch (value) {                                \
    JANUS_DISPATCH_CASE_(NAME, 64, __VA_ARGS__)   \
    JANUS_DISPATCH_CASE_(NAME, 128, __VA_ARGS__)  \
    JANUS_DISPATCH_CASE_(NAME, 256, __VA_ARGS__)  \
    JANUS_DISPATCH_DEFAULT_("head_dim", value)    \
  }

#define JANUS_DISPATCH_GQA_GROUP(value, NAME, ...) \
  JANUS_DISPATCH_1248_("GQA group size (num_heads / num_kv_heads)", value, NAME, __VA_ARGS__)

namespace janus::kernels {

// Whether `ptr` is a multiple of `bytes` (a power of two): the launchers' alignment checks.
inline bool IsAligned(const void* ptr, uintptr_t bytes) {
  return reinterpret_cast<uintptr_t>(ptr) % bytes == 0;
}

inline int CeilDiv(int64_t a, int64_t b) { return static_cast<int>((a + b - 1) / b); }

namespace device {

__device__ __forceinline__ float Bf16Lo(uint32_t v) { return __uint_as_float(v << 16); }
__device__ __forceinline__ float Bf16Hi(uint32_t v) { return __uint_as_float(v & 0xffff0000u); }
__device__ __forceinline__ float Bf16ToFloat(uint16_t v) {
  return __uint_as_float(static_cast<uint32_t>(v) << 16);
}
// Round to nearest even (NaN preserved), as torch and runtime/base/dtype.h do.
__device__ __forceinline__ uint16_t FloatToBf16(float f) {
  return __bfloat16_as_ushort(__float2bfloat16_rn(f));
}
__device__ __forceinline__ uint32_t PackBf16x2(float lo, float hi) {
  return static_cast<uint32_t>(FloatToBf16(lo)) | (static_cast<uint32_t>(FloatToBf16(hi)) << 16);
}

// 16-byte read of data read exactly once (weights, KV): no L1 allocation, 256 B L2 prefetch.
__device__ __forceinline__ uint4 LoadStreaming16(const void* ptr) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(ptr));
  return v;
}
// 16-byte read-only read that may hit L1 (activations shared by several warps).
__device__ __forceinline__ uint4 Load16(const void* ptr) {
  return __ldg(reinterpret_cast<const uint4*>(ptr));
}

// D = A(16x16, row) * B(16x8, col) + D, bf16 inputs, fp32 accumulators (PTX fragment layout).
__device__ __forceinline__ void MmaBf16(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                        uint32_t a3, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// D = A(16x8, row) * B(8x8, col) + D (m16n8k8), bf16 inputs, fp32 accumulators.
__device__ __forceinline__ void MmaBf16K8(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t b0) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5}, {%6}, "
      "{%0, %1, %2, %3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(b0));
}

// ldmatrix from a shared-memory address (lane 8 i + j gives row j of 8x8 matrix i): 4 or 2
// matrices, or 4 transposed.
__device__ __forceinline__ void Ldsm4(uint32_t addr, uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void Ldsm2(uint32_t addr, uint32_t& r0, uint32_t& r1) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];"
               : "=r"(r0), "=r"(r1)
               : "r"(addr));
}
__device__ __forceinline__ void Ldsm4T(uint32_t addr, uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

__device__ __forceinline__ uint32_t SmemAddress(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte cp.async to a shared-memory address; `.L2::256B` asks L2 to fetch the whole 256-byte
// line pair (weights: the row's next K step follows).
__device__ __forceinline__ void CpAsync16Prefetch256(uint32_t dst, const void* src) {
  asm volatile("cp.async.cg.shared.global.L2::256B [%0], [%1], 16;" ::"r"(dst), "l"(src)
               : "memory");
}
__device__ __forceinline__ void CpAsync16To(uint32_t dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(dst), "l"(src) : "memory");
}
// The same with src_bytes (0 zero-fills the 16 destination bytes without reading src).
__device__ __forceinline__ void CpAsync16To(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src),
               "r"(src_bytes));
}

// cp.async 16 bytes global -> shared; src_bytes = 0 zero-fills the destination.
__device__ __forceinline__ void CpAsync16(void* smem, const void* gmem, int src_bytes) {
  const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(s), "l"(gmem), "r"(src_bytes));
}
__device__ __forceinline__ void CpAsyncCommit() { asm volatile("cp.async.commit_group;"); }
template <int N>
__device__ __forceinline__ void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(N));
}

// Programmatic dependent launch (sm_90). A kernel launched with
// cudaLaunchAttributeProgrammaticStreamSerialization may start while the previous kernel on the
// stream still runs, once every block of that kernel has called LaunchDependents (or exited). It
// must call GridDependencyWait before touching anything the previous kernel writes, or writing
// anything it reads: the wait returns when that kernel has completed and its writes are visible.
// Inputs made by kernels before the previous one are complete already (the previous kernel itself
// started after them). Both are no-ops in a kernel launched without the attribute.
__device__ __forceinline__ void GridDependencyWait() {
  asm volatile("griddepcontrol.wait;" ::: "memory");
}
__device__ __forceinline__ void LaunchDependents() {
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
}

}  // namespace device

// Launches `kernel` as a programmatic dependent of the stream's previous kernel (see
// GridDependencyWait above: the kernel must wait before touching that kernel's outputs).
template <typename... KernelArgs, typename... Args>
cudaError_t LaunchProgrammaticDependent(void (*kernel)(KernelArgs...), dim3 grid, dim3 block,
                                        size_t smem, cudaStream_t stream, Args&&... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  return cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
}

namespace device {

// One tile of an online softmax in the log2 domain for a row with running max m and sum l: m
// becomes max(m, tile_max), l is rescaled; the caller rescales its accumulators by `alpha` and
// weighs the tile's scores as 2^(s - base). base is m, or 0 while the row has seen nothing (m =
// -inf), which keeps -inf - -inf out.
struct SoftmaxStep {
  float alpha, base;
};
__device__ __forceinline__ SoftmaxStep OnlineSoftmaxStep(float& m, float& l, float tile_max) {
  const float m_new = fmaxf(m, tile_max);
  const float base = m_new == -INFINITY ? 0.f : m_new;
  const float alpha = exp2f(m - base);
  m = m_new;
  l *= alpha;
  return {alpha, base};
}

// The bf16 weights 2^(s0 - base), 2^(s1 - base) of two scores, as P·V's MMA operand takes them;
// l adds the rounded weights, so the numerator and the denominator of the softmax agree.
__device__ __forceinline__ __nv_bfloat162 RoundedWeights(float s0, float s1, float base,
                                                         float& l) {
  const __nv_bfloat162 w = __floats2bfloat162_rn(exp2f(s0 - base), exp2f(s1 - base));
  l += __low2float(w) + __high2float(w);
  return w;
}

// Max / sum over the 4 lanes of a quad (the lanes sharing an MMA accumulator row).
__device__ __forceinline__ float QuadMax(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float QuadSum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}
__device__ __forceinline__ float WarpMax(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

}  // namespace device
}  // namespace janus::kernels

#endif  // JANUS_KERNELS_COMMON_CUH_
