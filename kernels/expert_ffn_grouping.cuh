// Device pieces shared by the grouped expert FFN's mma.sync (expert_ffn.cu) and wgmma
// (expert_ffn_wgmma.cu) kernels on their fused paths: the in-block pair grouping every gate/up
// block computes for itself, and the k-ordered combine of one 64-column row group that the down
// launch's last block per group runs. Both are written for 128-thread blocks. Included by those .cu
// files only.
#ifndef JANUS_KERNELS_EXPERT_FFN_GROUPING_CUH_
#define JANUS_KERNELS_EXPERT_FFN_GROUPING_CUH_

#include <cstdint>

#include "kernels/moe_permute.h"

namespace janus::kernels {

constexpr int kFfnThreads = 128;  // block size of every streaming FFN kernel

// The fused paths (grouping in every gate/up block, combine in the down launch) take up to 64
// pairs and 64 slots: measured on H100 they save a launch or two at 1-8 tokens, while at 32-64
// tokens the four-launch paths were faster (a fused grouping with a 12 KB static table for 1024
// pairs cost DeepSeek-V3 @32/64 8-9 points, the in-down combine Qwen3 @64 3 points).
constexpr int kFusedMaxPairs = 64;
constexpr int kFusedMaxSlots = 64;

// Shared-memory layout of the in-block grouping: fixed offsets, so addresses are constants.
constexpr int kGsCounts = 0;                                // [kFusedMaxSlots]
constexpr int kGsOffsets = kGsCounts + kFusedMaxSlots;      // [kFusedMaxSlots + 1]
constexpr int kGsActive = kGsOffsets + kFusedMaxSlots + 1;  // [kFusedMaxSlots]
constexpr int kGsCursor = kGsActive + kFusedMaxSlots;       // [kFusedMaxSlots]
constexpr int kGsScalars = kGsCursor + kFusedMaxSlots;      // [4]: n_active, pairs, invalid
constexpr int kGsPosPair = kGsScalars + 4;                  // [kFusedMaxPairs]
constexpr int kGsPairSlot = kGsPosPair + kFusedMaxPairs;    // [kFusedMaxPairs] local slot or -1
constexpr int kGsInts = (kGsPairSlot + kFusedMaxPairs + 31) / 32 * 32;  // 1.5 KB

// Orders this rank's (row, k) pairs by slot with a stable counting sort, the same in every block:
// the counts are order-independent sums, and positions inside a slot follow the pair index (warp 0
// walks the pairs 32 at a time in order; lanes of one slot are ranked by __match_any_sync), so all
// blocks agree on where each pair's h row lives without talking to each other. The `writer` block
// (block 0 of the gate/up launch) also writes the grouping out for the down launch and adds the
// invalid-slot count to *num_invalid_out; returns n_active. `sm` holds kGsInts ints.
// Not inlined: inlined, its code raised the streaming loop's register pressure into spills
// (GateUpKernel<1>: 48 B); arguments are scalars so that no FfnParams copy goes to the stack.
static __device__ __noinline__ int GroupInBlock(const int32_t* __restrict__ slots,
                                                const int32_t* __restrict__ ranks, int my_rank,
                                                int P, int S, PairGrouping g,
                                                int32_t* num_invalid_out, int* sm, bool writer) {
  int* counts = sm + kGsCounts;
  int* offsets = sm + kGsOffsets;
  int* active = sm + kGsActive;
  int* cursor = sm + kGsCursor;
  int* scalars = sm + kGsScalars;
  int* pos_pair = sm + kGsPosPair;
  int* pair_slot = sm + kGsPairSlot;  // read once by all threads: the ordered walk is smem-only
  const int tid = threadIdx.x, lane = tid % 32;
  for (int s = tid; s < S; s += kFfnThreads) counts[s] = 0;
  if (tid == 0) scalars[2] = 0;
  __syncthreads();
  int my_invalid = 0;
  for (int i = tid; i < P; i += kFfnThreads) {
    int local = -1;
    if (ranks == nullptr || ranks[i] == my_rank) {
      const int v = slots[i];
      if (v >= 0 && v < S) {
        local = v;
        atomicAdd(&counts[v], 1);
      } else {
        ++my_invalid;
      }
    }
    pair_slot[i] = local;
  }
  if (my_invalid) atomicAdd(&scalars[2], my_invalid);
  __syncthreads();
  if (tid < 32) {
    int carry = 0, n_active = 0;
    for (int base = 0; base < S; base += 32) {
      const int s = base + lane;
      const int c = s < S ? counts[s] : 0;
      int incl = c;
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const int v = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o) incl += v;
      }
      if (s < S) offsets[s] = cursor[s] = carry + incl - c;
      const unsigned flags = __ballot_sync(0xffffffffu, c > 0);
      if (c > 0) active[n_active + __popc(flags & ((1u << lane) - 1))] = s;
      carry += __shfl_sync(0xffffffffu, incl, 31);
      n_active += __popc(flags);
    }
    if (lane == 0) {
      offsets[S] = carry;
      scalars[0] = n_active;
      scalars[1] = carry;
    }
    __syncwarp();
    const unsigned lower = (1u << lane) - 1;
    for (int base = 0; base < P; base += 32) {
      const int i = base + lane;
      const int s = i < P ? pair_slot[i] : -1;
      const unsigned same = __match_any_sync(0xffffffffu, s);
      const int pos = s >= 0 ? cursor[s] + __popc(same & lower) : -1;
      __syncwarp();
      if (s >= 0 && (same & lower) == 0) cursor[s] += __popc(same);  // lowest lane of the slot
      __syncwarp();
      if (s >= 0) pos_pair[pos] = i;
      if (writer && i < P) {
        g.pair_pos[i] = pos;
        if (s >= 0) g.pos_pair[pos] = i;
      }
    }
  }
  __syncthreads();
  if (writer) {
    for (int s = tid; s <= S; s += kFfnThreads) {
      g.offsets[s] = offsets[s];
      if (s < S) g.counts[s] = counts[s];
    }
    for (int a = tid; a < scalars[0]; a += kFfnThreads) g.active[a] = active[a];
    if (tid == 0) {
      g.scalars[0] = scalars[0];
      g.scalars[1] = scalars[1];
      g.scalars[2] = scalars[2];
      if (num_invalid_out != nullptr && scalars[2] != 0) atomicAdd(num_invalid_out, scalars[2]);
    }
  }
  return scalars[0];
}

// out[r, 64 columns of row group grp] = Σ_k w[r,k] · y[pos(r,k)] over local pairs in k order
// (0 for rows with none): the old un-permute launch's arithmetic, restricted to one row group.
// y was written by other blocks of this launch: read through L2 (ld.cg), never L1.
// Not inlined (like GroupInBlock): keeps DownKernel's streaming loop free of spills.
static __device__ __noinline__ void CombineRowGroup(const int32_t* pair_pos, const float* weights,
                                                    const float* y_all, float* out, int rows,
                                                    int top_k, int hidden, int grp) {
  const int col = grp * 64 + (threadIdx.x % 16) * 4;
  for (int r = threadIdx.x / 16; r < rows; r += kFfnThreads / 16) {
    const int32_t* pos = pair_pos + static_cast<size_t>(r) * top_k;
    const float* w = weights + static_cast<size_t>(r) * top_k;
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int k = 0; k < top_k; ++k) {
      const int at = __ldcg(pos + k);
      if (at < 0) continue;
      const float wk = w[k];
      const float4 y =
          __ldcg(reinterpret_cast<const float4*>(y_all + static_cast<size_t>(at) * hidden + col));
      acc.x = __fmaf_rn(wk, y.x, acc.x);
      acc.y = __fmaf_rn(wk, y.y, acc.y);
      acc.z = __fmaf_rn(wk, y.z, acc.z);
      acc.w = __fmaf_rn(wk, y.w, acc.w);
    }
    *reinterpret_cast<float4*>(out + static_cast<size_t>(r) * hidden + col) = acc;
  }
}

// The down launch's end of a work item of 64-column row group `grp` on the fused paths: publish
// this block's y (every writer fences before the barrier), count the item, and if it was the
// group's last (done[grp] reaches n_active) sum that group of every row (CombineRowGroup).
__device__ __forceinline__ void FinishRowGroupItem(int32_t* done, int grp, int n_active,
                                                   const int32_t* pair_pos, const float* weights,
                                                   const float* y, float* out, int rows, int top_k,
                                                   int hidden) {
  __shared__ int last_of_group;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last_of_group = atomicAdd(&done[grp], 1) == n_active - 1;
  __syncthreads();
  if (last_of_group) {
    __threadfence();
    CombineRowGroup(pair_pos, weights, y, out, rows, top_k, hidden, grp);
  }
}

// The fused down launch when nothing is local: every row's sum is empty, `out` [rows, hidden]
// (hidden a multiple of 4) is zeroed by the whole grid.
__device__ __forceinline__ void ZeroOutputRows(float* out, int rows, int hidden) {
  const size_t n4 = static_cast<size_t>(rows) * hidden / 4;
  for (size_t v = static_cast<size_t>(blockIdx.x) * kFfnThreads + threadIdx.x; v < n4;
       v += static_cast<size_t>(gridDim.x) * kFfnThreads) {
    reinterpret_cast<float4*>(out)[v] = make_float4(0.f, 0.f, 0.f, 0.f);
  }
}

}  // namespace janus::kernels

#endif  // JANUS_KERNELS_EXPERT_FFN_GROUPING_CUH_
