// Generic grouped expert FFN (any hidden / inter): see kernels/expert_ffn_generic.h.
#include <algorithm>
#include <cstdint>
#include <initializer_list>

#include "kernels/common.cuh"
#include "kernels/expert_ffn_generic.h"

namespace janus::kernels {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kRowsPerWarp = 4;                     // outputs per warp: 4 dot products share x / h
constexpr int kRowsPerBlock = kWarps * kRowsPerWarp;
constexpr int kMaxDim = 65535 * kRowsPerBlock;      // grid.y covers hidden / inter in blocks of 16

struct GenericParams {
  int top_k, hidden, inter, num_slots, my_rank;
  const uint16_t* x;
  const float* weights;
  const int32_t* slots;
  const int32_t* ranks;  // null: every pair is local
  const uint16_t* gate;
  const uint16_t* up;
  const uint16_t* down;
  uint16_t* h;  // [pairs, inter], pair-indexed (pairs that are not local are never written)
  float* out;
  int32_t* num_invalid;
};

size_t Align256(size_t n) { return (n + 255) / 256 * 256; }

// W consecutive bf16 values through the read-only path (nothing read here is written by the same
// launch).
template <int W>
__device__ __forceinline__ void LoadBf16(const uint16_t* p, float (&f)[W]) {
  using device::Bf16Hi;
  using device::Bf16Lo;
  if constexpr (W == 8) {
    const uint4 v = __ldg(reinterpret_cast<const uint4*>(p));
    f[0] = Bf16Lo(v.x), f[1] = Bf16Hi(v.x), f[2] = Bf16Lo(v.y), f[3] = Bf16Hi(v.y);
    f[4] = Bf16Lo(v.z), f[5] = Bf16Hi(v.z), f[6] = Bf16Lo(v.w), f[7] = Bf16Hi(v.w);
  } else if constexpr (W == 4) {
    const uint2 v = __ldg(reinterpret_cast<const uint2*>(p));
    f[0] = Bf16Lo(v.x), f[1] = Bf16Hi(v.x), f[2] = Bf16Lo(v.y), f[3] = Bf16Hi(v.y);
  } else if constexpr (W == 2) {
    const unsigned int v = __ldg(reinterpret_cast<const unsigned int*>(p));
    f[0] = Bf16Lo(v), f[1] = Bf16Hi(v);
  } else {
    static_assert(W == 1, "vector width");
    f[0] = device::Bf16ToFloat(__ldg(reinterpret_cast<const unsigned short*>(p)));
  }
}

// The fast path's SiLU (expert_ffn.cu), so both paths round the same h.
__device__ __forceinline__ float Silu(float v) { return v / (1.0f + __expf(-v)); }

// Block (pair, group of 16 intermediate rows); warp w owns rows i0 .. i0+3.
template <int W>
__global__ void __launch_bounds__(kThreads) GenericGateUpKernel(GenericParams p) {
  const int pair = blockIdx.x;
  if (p.ranks != nullptr && p.ranks[pair] != p.my_rank) return;
  const int slot = p.slots[pair];
  if (slot < 0 || slot >= p.num_slots) {
    if (p.num_invalid != nullptr && blockIdx.y == 0 && threadIdx.x == 0) {
      atomicAdd(p.num_invalid, 1);
    }
    return;
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int i0 = (blockIdx.y * kWarps + warp) * kRowsPerWarp;
  if (i0 >= p.inter) return;  // no block barriers below: idle warps may leave
  const uint16_t* xr = p.x + static_cast<int64_t>(pair / p.top_k) * p.hidden;
  const uint16_t* g[kRowsPerWarp];
  const uint16_t* u[kRowsPerWarp];
#pragma unroll
  for (int j = 0; j < kRowsPerWarp; ++j) {
    const int i = min(i0 + j, p.inter - 1);  // rows past inter repeat the last one, unwritten
    const int64_t off = (static_cast<int64_t>(slot) * p.inter + i) * p.hidden;
    g[j] = p.gate + off;
    u[j] = p.up + off;
  }
  float ag[kRowsPerWarp] = {}, au[kRowsPerWarp] = {};
  const int vecs = p.hidden / W;
  for (int v = lane; v < vecs; v += 32) {
    float xv[W];
    LoadBf16<W>(xr + v * W, xv);
#pragma unroll
    for (int j = 0; j < kRowsPerWarp; ++j) {
      float gv[W], uv[W];
      LoadBf16<W>(g[j] + v * W, gv);
      LoadBf16<W>(u[j] + v * W, uv);
#pragma unroll
      for (int e = 0; e < W; ++e) {
        ag[j] = fmaf(xv[e], gv[e], ag[j]);
        au[j] = fmaf(xv[e], uv[e], au[j]);
      }
    }
  }
  uint16_t* hr = p.h + static_cast<int64_t>(pair) * p.inter;
#pragma unroll
  for (int j = 0; j < kRowsPerWarp; ++j) {
    const float gs = device::WarpSum(ag[j]);
    const float us = device::WarpSum(au[j]);
    if (lane == j && i0 + j < p.inter) hr[i0 + j] = device::FloatToBf16(Silu(gs) * us);
  }
}

// Block (row, group of 16 hidden columns); warp w owns columns c0 .. c0+3 and sums the row's
// local pairs in k order: acc = fma(w[r,k], h[r,k]·down_s[c], acc), as the fast path's combine.
// No __launch_bounds__: with (128) ptxas of CUDA 13.0 spilled 4 bytes in the W = 4 variant.
template <int W>
__global__ void GenericDownCombineKernel(GenericParams p) {
  const int row = blockIdx.x;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int c0 = (blockIdx.y * kWarps + warp) * kRowsPerWarp;
  if (c0 >= p.hidden) return;
  float acc[kRowsPerWarp] = {};
  const int vecs = p.inter / W;
  for (int k = 0; k < p.top_k; ++k) {
    const int pair = row * p.top_k + k;
    if (p.ranks != nullptr && p.ranks[pair] != p.my_rank) continue;
    const int slot = p.slots[pair];
    if (slot < 0 || slot >= p.num_slots) continue;
    const uint16_t* hr = p.h + static_cast<int64_t>(pair) * p.inter;
    const uint16_t* d[kRowsPerWarp];
#pragma unroll
    for (int j = 0; j < kRowsPerWarp; ++j) {
      const int c = min(c0 + j, p.hidden - 1);
      d[j] = p.down + (static_cast<int64_t>(slot) * p.hidden + c) * p.inter;
    }
    float dot[kRowsPerWarp] = {};
    for (int v = lane; v < vecs; v += 32) {
      float hv[W];
      LoadBf16<W>(hr + v * W, hv);
#pragma unroll
      for (int j = 0; j < kRowsPerWarp; ++j) {
        float dv[W];
        LoadBf16<W>(d[j] + v * W, dv);
#pragma unroll
        for (int e = 0; e < W; ++e) dot[j] = fmaf(hv[e], dv[e], dot[j]);
      }
    }
    const float wk = p.weights[pair];
#pragma unroll
    for (int j = 0; j < kRowsPerWarp; ++j) acc[j] = __fmaf_rn(wk, device::WarpSum(dot[j]), acc[j]);
  }
  float* out = p.out + static_cast<int64_t>(row) * p.hidden;
#pragma unroll
  for (int j = 0; j < kRowsPerWarp; ++j) {
    if (lane == j && c0 + j < p.hidden) out[c0 + j] = acc[j];
  }
}

// Widest bf16 vector (8, 4, 2 or 1 elements) that `len` and every pointer allow.
int VecWidth(int64_t len, std::initializer_list<const void*> ptrs) {
  uint64_t m = static_cast<uint64_t>(len) * 2;
  for (const void* ptr : ptrs) m |= reinterpret_cast<uintptr_t>(ptr);
  return m % 16 == 0 ? 8 : m % 8 == 0 ? 4 : m % 4 == 0 ? 2 : 1;
}

}  // namespace

size_t GenericGroupedFfnWorkspaceBytes(const GroupedFfnShape& s) {
  if (s.rows <= 0 || s.top_k <= 0 || s.inter <= 0) return 0;
  return Align256(sizeof(uint16_t) * static_cast<size_t>(s.rows) * s.top_k * s.inter);
}

absl::Status LaunchGenericGroupedExpertFfn(const GroupedFfnShape& s, const GroupedFfnArgs& a,
                                           cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(s.rows >= 0 && s.top_k > 0 && s.num_slots > 0,
                         "expert ffn: bad sizes (rows ", s.rows, ", top_k ", s.top_k, ", slots ",
                         s.num_slots, ")");
  JANUS_KERNEL_CHECK_ARG(s.hidden > 0 && s.hidden <= kMaxDim && s.inter > 0 && s.inter <= kMaxDim,
                         "expert ffn: hidden (", s.hidden, ") and inter (", s.inter,
                         ") must be in [1, ", kMaxDim, "]");
  JANUS_KERNEL_CHECK_ARG(static_cast<int64_t>(s.rows) * s.top_k < (int64_t{1} << 31),
                         "expert ffn: rows * top_k overflows int32");
  if (s.rows == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(a.x && a.weights && a.slots && a.gate && a.up && a.down && a.out,
                         "expert ffn: a required pointer is null");
  JANUS_KERNEL_CHECK_ARG(a.workspace != nullptr && IsAligned(a.workspace, 256),
                         "expert ffn: workspace must be non-null and 256-byte aligned");
  const size_t need = GenericGroupedFfnWorkspaceBytes(s);
  JANUS_KERNEL_CHECK_ARG(a.workspace_bytes >= need, "expert ffn: workspace has ",
                         a.workspace_bytes, " bytes, needs ", need);
  JANUS_KERNEL_CHECK_ARG(IsAligned(a.x, 2) && IsAligned(a.gate, 2) && IsAligned(a.up, 2) &&
                             IsAligned(a.down, 2) && IsAligned(a.out, 4) &&
                             IsAligned(a.weights, 4) && IsAligned(a.slots, 4) &&
                             IsAligned(a.ranks, 4) && IsAligned(a.num_invalid_slots, 4),
                         "expert ffn: misaligned pointer");
  GenericParams p;
  p.top_k = s.top_k;
  p.hidden = s.hidden;
  p.inter = s.inter;
  p.num_slots = s.num_slots;
  p.my_rank = a.my_rank;
  p.x = a.x;
  p.weights = a.weights;
  p.slots = a.slots;
  p.ranks = a.ranks;
  p.gate = a.gate;
  p.up = a.up;
  p.down = a.down;
  p.h = static_cast<uint16_t*>(a.workspace);
  p.out = a.out;
  p.num_invalid = a.num_invalid_slots;
  const dim3 grid_gu(static_cast<unsigned>(s.rows * s.top_k),
                     static_cast<unsigned>(CeilDiv(s.inter, kRowsPerBlock)));
  const dim3 grid_down(static_cast<unsigned>(s.rows),
                       static_cast<unsigned>(CeilDiv(s.hidden, kRowsPerBlock)));
  JANUS_DISPATCH_VEC_WIDTH(VecWidth(s.hidden, {a.x, a.gate, a.up}), W,
                           { GenericGateUpKernel<W><<<grid_gu, kThreads, 0, stream>>>(p); });
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  JANUS_DISPATCH_VEC_WIDTH(VecWidth(s.inter, {a.down, a.workspace}), W,
                           { GenericDownCombineKernel<W><<<grid_down, kThreads, 0, stream>>>(p); });
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

}  // namespace janus::kernels
