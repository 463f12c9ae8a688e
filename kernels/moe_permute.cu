#include <algorithm>

#include "kernels/common.cuh"
#include "kernels/moe_permute.h"

namespace janus::kernels {
namespace {

constexpr int kGroupThreads = 1024;

size_t Align256(size_t n) { return (n + 255) / 256 * 256; }

struct GroupArgs {
  const int32_t* slots;
  const int32_t* ranks;
  int my_rank, pairs, num_slots;
  PairGrouping g;
  int32_t* num_invalid_out;
};

// One block: count, scan (warp 0, 32 slots at a time), scatter with per-slot cursors. Counts,
// offsets and cursors live in shared memory, so the phases cost shared-memory latency only.
__global__ void __launch_bounds__(kGroupThreads) GroupPairsKernel(GroupArgs a) {
  extern __shared__ int smem_i[];
  int* counts = smem_i;                      // [num_slots]
  int* cursor = counts + a.num_slots;        // [num_slots]
  int* offsets = cursor + a.num_slots;       // [num_slots + 1]
  __shared__ int invalid;
  const int tid = threadIdx.x;
  for (int s = tid; s < a.num_slots; s += kGroupThreads) counts[s] = cursor[s] = 0;
  if (tid == 0) invalid = 0;
  __syncthreads();
  int my_invalid = 0;
  for (int i = tid; i < a.pairs; i += kGroupThreads) {
    const bool local = a.ranks == nullptr || a.ranks[i] == a.my_rank;
    const int s = a.slots[i];
    if (!local) continue;
    if (s < 0 || s >= a.num_slots) {
      ++my_invalid;
      continue;
    }
    atomicAdd(&counts[s], 1);
  }
  if (my_invalid) atomicAdd(&invalid, my_invalid);
  __syncthreads();
  if (tid < 32) {
    const int lane = tid;
    int carry = 0, active = 0;
    for (int base = 0; base < a.num_slots; base += 32) {
      const int s = base + lane;
      const int c = s < a.num_slots ? counts[s] : 0;
      int incl = c;
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const int v = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o) incl += v;
      }
      if (s < a.num_slots) offsets[s] = carry + incl - c;
      const unsigned flags = __ballot_sync(0xffffffffu, c > 0);
      if (c > 0) a.g.active[active + __popc(flags & ((1u << lane) - 1))] = s;
      carry += __shfl_sync(0xffffffffu, incl, 31);
      active += __popc(flags);
    }
    if (lane == 0) {
      offsets[a.num_slots] = carry;
      a.g.scalars[0] = active;
      a.g.scalars[1] = carry;
      a.g.scalars[2] = invalid;
      if (a.num_invalid_out != nullptr) atomicAdd(a.num_invalid_out, invalid);
    }
  }
  __syncthreads();
  for (int s = tid; s <= a.num_slots; s += kGroupThreads) {
    a.g.offsets[s] = offsets[s];
    if (s < a.num_slots) a.g.counts[s] = counts[s];
  }
  for (int i = tid; i < a.pairs; i += kGroupThreads) {
    const bool local = a.ranks == nullptr || a.ranks[i] == a.my_rank;
    const int s = a.slots[i];
    int pos = -1;
    if (local && s >= 0 && s < a.num_slots) {
      pos = offsets[s] + atomicAdd(&cursor[s], 1);
      a.g.pos_pair[pos] = i;
    }
    a.g.pair_pos[i] = pos;
  }
}

// One warp per position, 16-byte copies.
__global__ void PermuteRowsKernel(const uint16_t* __restrict__ x, int hidden, int top_k,
                                  PairGrouping g, uint16_t* __restrict__ x_perm) {
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  const int num_pairs = g.scalars[1];
  for (int pos = warp; pos < num_pairs; pos += gridDim.x * blockDim.x / 32) {
    const int row = g.pos_pair[pos] / top_k;
    const uint4* src = reinterpret_cast<const uint4*>(x + static_cast<int64_t>(row) * hidden);
    uint4* dst = reinterpret_cast<uint4*>(x_perm + static_cast<int64_t>(pos) * hidden);
    for (int v = lane; v < hidden / 8; v += 32) dst[v] = src[v];
  }
}

// Block (row, column group); each thread owns one float4 column and sums the row's pairs in k
// order. The pair positions and the y loads of up to kBatch pairs are issued before the sums, so a
// row costs about one memory latency per kBatch pairs instead of two per pair, and there are
// enough blocks that every multiprocessor has loads in flight at decode batch sizes (one 256-thread
// block per row measured 6.6 us for 32 rows x 2048 on H100).
constexpr int kUnpermuteThreads = 128;
__global__ void __launch_bounds__(kUnpermuteThreads)
    UnpermuteRowsKernel(const float* __restrict__ y_perm, const float* __restrict__ weights,
                        int top_k, int hidden, const int32_t* __restrict__ pair_pos,
                        float* __restrict__ out) {
  constexpr int kBatch = 8;
  const int row = blockIdx.x;
  const int c = (blockIdx.y * kUnpermuteThreads + threadIdx.x) * 4;
  if (c >= hidden) return;
  const int32_t* pos = pair_pos + static_cast<int64_t>(row) * top_k;
  const float* w = weights + static_cast<int64_t>(row) * top_k;
  float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
  for (int k0 = 0; k0 < top_k; k0 += kBatch) {
    int at[kBatch];
    float4 y[kBatch];
#pragma unroll
    for (int i = 0; i < kBatch; ++i) at[i] = k0 + i < top_k ? pos[k0 + i] : -1;
#pragma unroll
    for (int i = 0; i < kBatch; ++i) {
      if (at[i] >= 0) {
        y[i] = *reinterpret_cast<const float4*>(y_perm + static_cast<int64_t>(at[i]) * hidden + c);
      }
    }
#pragma unroll
    for (int i = 0; i < kBatch; ++i) {
      if (at[i] < 0) continue;
      const float wk = w[k0 + i];
      acc.x = __fmaf_rn(wk, y[i].x, acc.x);
      acc.y = __fmaf_rn(wk, y[i].y, acc.y);
      acc.z = __fmaf_rn(wk, y[i].z, acc.z);
      acc.w = __fmaf_rn(wk, y[i].w, acc.w);
    }
  }
  *reinterpret_cast<float4*>(out + static_cast<int64_t>(row) * hidden + c) = acc;
}

}  // namespace

size_t PairGroupingBytes(int pairs, int num_slots) {
  return 3 * Align256(sizeof(int32_t) * (num_slots + 1)) + Align256(sizeof(int32_t) * 4) +
         2 * Align256(sizeof(int32_t) * static_cast<size_t>(pairs));
}

PairGrouping CarvePairGrouping(void* workspace, int pairs, int num_slots) {
  auto* base = static_cast<unsigned char*>(workspace);
  size_t at = 0;
  auto take = [&](size_t bytes) {
    auto* p = reinterpret_cast<int32_t*>(base + at);
    at += Align256(bytes);
    return p;
  };
  PairGrouping g;
  g.counts = take(sizeof(int32_t) * (num_slots + 1));
  g.offsets = take(sizeof(int32_t) * (num_slots + 1));
  g.active = take(sizeof(int32_t) * (num_slots + 1));
  g.scalars = take(sizeof(int32_t) * 4);
  g.pair_pos = take(sizeof(int32_t) * static_cast<size_t>(pairs));
  g.pos_pair = take(sizeof(int32_t) * static_cast<size_t>(pairs));
  return g;
}

absl::Status LaunchGroupPairs(const int32_t* slots, const int32_t* ranks, int my_rank, int rows,
                              int top_k, int num_slots, const PairGrouping& grouping,
                              int32_t* num_invalid_slots, cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(rows >= 0 && top_k > 0 && num_slots > 0, "group pairs: bad sizes (rows ",
                         rows, ", top_k ", top_k, ", slots ", num_slots, ")");
  JANUS_KERNEL_CHECK_ARG(rows == 0 || slots != nullptr, "group pairs: slots is null");
  const size_t smem = sizeof(int) * (3 * static_cast<size_t>(num_slots) + 1);
  int max_smem = 0;
  JANUS_RETURN_IF_ERROR(CurrentDeviceInfo(nullptr, &max_smem));
  JANUS_KERNEL_CHECK_ARG(smem <= static_cast<size_t>(max_smem), "group pairs: ", num_slots,
                         " slots need more shared memory than the device has");
  if (smem > 48 * 1024) {
    JANUS_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(
        GroupPairsKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  }
  GroupArgs a{slots, ranks, my_rank, rows * top_k, num_slots, grouping, num_invalid_slots};
  GroupPairsKernel<<<1, kGroupThreads, smem, stream>>>(a);
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

absl::Status LaunchPermuteRows(const uint16_t* x, int rows, int top_k, int hidden,
                               const PairGrouping& grouping, uint16_t* x_perm, cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(hidden > 0 && hidden % 8 == 0, "permute: hidden ", hidden,
                         " must be a positive multiple of 8");
  JANUS_KERNEL_CHECK_ARG(rows >= 0 && top_k > 0, "permute: bad sizes (rows ", rows, ", top_k ",
                         top_k, ")");
  const int max_pairs = rows * top_k;
  if (max_pairs == 0) return absl::OkStatus();
  constexpr int kThreads = 256;
  const int blocks = CeilDiv(max_pairs, kThreads / 32);
  PermuteRowsKernel<<<blocks, kThreads, 0, stream>>>(x, hidden, top_k, grouping, x_perm);
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

absl::Status LaunchUnpermuteRows(const float* y_perm, const float* weights, int rows, int top_k,
                                 int hidden, const PairGrouping& grouping, float* out,
                                 cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(hidden > 0 && hidden % 4 == 0, "unpermute: hidden ", hidden,
                         " must be a positive multiple of 4");
  JANUS_KERNEL_CHECK_ARG(rows >= 0 && top_k > 0, "unpermute: bad sizes (rows ", rows, ", top_k ",
                         top_k, ")");
  if (rows == 0) return absl::OkStatus();
  const dim3 grid(rows, CeilDiv(hidden / 4, kUnpermuteThreads));
  UnpermuteRowsKernel<<<grid, kUnpermuteThreads, 0, stream>>>(y_perm, weights, top_k, hidden,
                                                              grouping.pair_pos, out);
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

}  // namespace janus::kernels
