// Hopper warpgroup MMA (wgmma.mma_async, sm_90a only) with both operands in shared memory, and the
// fences it needs. Included by .cu files whose kernels guard their bodies with JANUS_HAS_WGMMA:
// these helpers must only be called from code compiled for sm_90a.
//
// Layout used by every caller: an operand tile is R rows of 64 bf16 (128 bytes: one K step), rows
// K-major, with the 128-byte swizzle: row r's 16-byte chunk c lives at
//   r * 128 + ((c ^ (r % 8)) * 16)
// from a 1024-byte-aligned tile base (TMA's SWIZZLE_128B pattern). A k16 slice of the K step
// starts 32 bytes further in (the hardware applies the XOR to the computed address).
#ifndef JANUS_KERNELS_WGMMA_CUH_
#define JANUS_KERNELS_WGMMA_CUH_

#include <cstdint>

#include "kernels/common.cuh"  // SmemAddress, the cp.async wrappers

// True in device code compiled for the sm_90a feature set (wgmma, setmaxnreg, ...).
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define JANUS_HAS_WGMMA 1
#else
#define JANUS_HAS_WGMMA 0
#endif

namespace janus::kernels::device {

// cp.async writes through the generic proxy; wgmma reads shared memory through the async proxy.
// Each writer thread fences after its cp.async.wait_group and before the barrier that hands the
// tile to the MMA.
__device__ __forceinline__ void FenceProxyAsyncShared() {
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
}
__device__ __forceinline__ void WgmmaFence() {
  asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
}
__device__ __forceinline__ void WgmmaCommit() {
  asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
}
template <int N>
__device__ __forceinline__ void WgmmaWait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(N) : "memory");
}
// Orders accumulator registers around the asynchronous MMAs: the compiler must neither read them
// before wgmma.wait_group nor move their initialisation after the MMA is issued.
template <int R>
__device__ __forceinline__ void FenceAccumulators(float (&d)[R]) {
#pragma unroll
  for (int i = 0; i < R; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

// Shared-memory matrix descriptor (PTX ISA, "Matrix Descriptor Format") for a K-major tile in the
// layout above: start address >> 4 (bits 0-13), leading byte offset 1 (unused with swizzling),
// stride byte offset 1024 >> 4 (one 8-row x 128-byte swizzle atom to the next, bits 32-45), base
// offset 0 (1024-aligned tiles), swizzle mode 1 = 128 bytes (bits 62-63). Adding 2 advances the
// start by 32 bytes: the next k16 slice.
__device__ __forceinline__ uint64_t SmemDescriptor128B(uint32_t smem_addr) {
  return static_cast<uint64_t>((smem_addr & 0x3FFFF) >> 4) | (uint64_t{1} << 16) |
         (uint64_t{1024 >> 4} << 32) | (uint64_t{1} << 62);
}

// D[64 x N] += A[64 x 16] * B[16 x N]: bf16 operands from shared memory (descriptors), fp32
// accumulators in registers. Warp w of the warpgroup holds rows 16w + lane / 4 (d[4j], d[4j+1])
// and 16w + 8 + lane / 4 (d[4j+2], d[4j+3]) of columns 8j + 2 (lane % 4) + {0, 1}.
template <int N>
struct Wgmma;

template <>
struct Wgmma<16> {
  static __device__ __forceinline__ void Run(float (&d)[8], uint64_t a, uint64_t b) {
    asm volatile(
        "wgmma.mma_async.sync.aligned.m64n16k16.f32.bf16.bf16 {"
        "%0, %1, %2, %3, %4, %5, %6, %7"
        "}, %8, %9, 1, 1, 1, 0, 0;"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]),
          "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7])
        : "l"(a), "l"(b));
  }
};

template <>
struct Wgmma<32> {
  static __device__ __forceinline__ void Run(float (&d)[16], uint64_t a, uint64_t b) {
    asm volatile(
        "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, "
        "%8, %9, %10, %11, %12, %13, %14, %15"
        "}, %16, %17, 1, 1, 1, 0, 0;"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]),
          "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]),
          "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
        : "l"(a), "l"(b));
  }
};

template <>
struct Wgmma<48> {
  static __device__ __forceinline__ void Run(float (&d)[24], uint64_t a, uint64_t b) {
    asm volatile(
        "wgmma.mma_async.sync.aligned.m64n48k16.f32.bf16.bf16 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, "
        "%8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23"
        "}, %24, %25, 1, 1, 1, 0, 0;"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]),
          "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]),
          "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]),
          "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23])
        : "l"(a), "l"(b));
  }
};

template <>
struct Wgmma<64> {
  static __device__ __forceinline__ void Run(float (&d)[32], uint64_t a, uint64_t b) {
    asm volatile(
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, "
        "%8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, "
        "%24, %25, %26, %27, %28, %29, %30, %31"
        "}, %32, %33, 1, 1, 1, 0, 0;"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]),
          "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]),
          "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]),
          "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]),
          "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
        : "l"(a), "l"(b));
  }
};
}  // namespace janus::kernels::device

#endif  // JANUS_KERNELS_WGMMA_CUH_
