// Grouped expert FFN gate/up and down launches on wgmma (see kernels/expert_ffn_wgmma.h).
//
// A block is one warpgroup (128 threads) with no producer warp: every thread issues cp.async
// (16 bytes) into a ring of kStages shared-memory stages; a stage is A (64 weight rows x 128 bytes)
// and B (kMaxN token rows x 128 bytes), both K-major with the 128-byte swizzle, bases
// 1024-aligned. A K step is handed over with cp.async.wait_group + fence.proxy.async +
// __syncthreads; the refill of the stage read one step earlier is issued right after that barrier
// (free: every warp waited for its wgmmas before it), then four m64nNk16 wgmmas run on the step and
// are waited for before the next barrier. Prefetch distance: kStages - 1 steps.
//
// The pass's MMA width follows its token count (n16 for <= 16 tokens in a 64-wide launch: a
// uniform branch per pass). Token rows >= the count are never copied: stale shared memory there
// only reaches accumulator columns that are never stored.
//
// Gate/up A rows: M row 16i + r (i = 0..3, r < 8) = gate row i0 + 8i + r, M row 16i + 8 + r = up
// row i0 + 8i + r, so the accumulator map of kernels/wgmma.cuh gives a thread gate (d[4j], d[4j+1])
// and up (d[4j+2], d[4j+3]) of the same intermediate row i0 + 8w + lane / 4.
// Down A rows: M row m = down row r0 + m; the output is fp32 y.
#include <algorithm>

#include "kernels/common.cuh"
#include "kernels/expert_ffn_grouping.cuh"
#include "kernels/expert_ffn_wgmma.h"
#include "kernels/wgmma.cuh"

namespace janus::kernels {
namespace {

constexpr int kThreads = kFfnThreads;
constexpr int kATileBytes = 64 * 128;  // 64 M rows x one 64-element K step

enum class Proj { kGateUp, kDown };

// Gate/up (384 items for 16 Qwen3-sized slots) fits one wave at 3 blocks per SM with deep rings;
// down (512 items) gets 4 blocks per SM with shallower rings (its K, inter, is short anyway).
// Gate/up with at most two items per SM (one token: 8 active Qwen3-sized slots x 24 items) has
// the shared memory to itself and keeps more of each item in flight: kDeepGateUpStages (101 KB,
// two blocks per SM); on H200 the Qwen3 slice at one token took 25.7 / 27.1 us against 27.3 /
// 28.5 us with 6 stages (two runs), while at 2-8 tokens (up to three items per SM) 10 stages at
// two blocks per SM were slower (39.7 vs 36.5 us at 2 tokens). Down rings of 7 (from 5): no change.
constexpr int kDeepGateUpStages = 10;
template <Proj kProj, int kMaxN>
constexpr int Stages() {
  if constexpr (kProj == Proj::kGateUp) {
    return kMaxN <= 16 ? 6 : kMaxN <= 32 ? 5 : 4;
  } else {
    return kMaxN <= 16 ? 5 : kMaxN <= 32 ? 4 : 3;
  }
}
template <int kMaxN>
constexpr int StageBytes() {
  return kATileBytes + kMaxN * 128;
}
template <int kMaxN, int kStages>
constexpr int SmemBytes() {
  return kStages * StageBytes<kMaxN>() + 1024;  // + slack to align the base
}
template <Proj kProj>
constexpr int RowsPerItem() {  // intermediate rows (gate/up) or hidden rows (down) of an item
  return kProj == Proj::kGateUp ? 32 : 64;
}

__device__ __forceinline__ float Silu(float v) { return v / (1.0f + __expf(-v)); }

#if JANUS_HAS_WGMMA
// One pass over all of K: n (<= kN) tokens at grouped positions pos0.., item rows from row0.
template <Proj kProj, int kN, int kMaxN, int kStages>
__device__ __forceinline__ void RunPass(const FfnParams& p, const int* pos_pair, uint32_t smem_base,
                                        int slot, int row0, int pos0, int n) {
  constexpr int kStageBytes = StageBytes<kMaxN>();
  constexpr int kBRowsPerThread = kN / 16;
  const int t = threadIdx.x;
  const int chunk = t & 7;  // the 16-byte chunk of a 128-byte K row this thread copies
  const int r16 = t >> 3;   // its row within each group of 16 M (or token) rows
  const uint32_t swizzled = static_cast<uint32_t>((chunk ^ (r16 & 7)) << 4);
  const int K = kProj == Proj::kGateUp ? p.hidden : p.inter;
  const int steps = K / 64;

  // A: this thread copies M rows 16i + r16, i = 0..3.
  const uint16_t* a_src;
  size_t a_group_stride;
  if constexpr (kProj == Proj::kGateUp) {
    a_src = (r16 < 8 ? p.gate : p.up) +
            (static_cast<size_t>(slot) * p.inter + row0 + (r16 & 7)) * p.hidden + chunk * 8;
    a_group_stride = static_cast<size_t>(8) * p.hidden;
  } else {
    a_src = p.down + (static_cast<size_t>(slot) * p.hidden + row0 + r16) * p.inter + chunk * 8;
    a_group_stride = static_cast<size_t>(16) * p.inter;
  }
  const uint32_t a_dst = static_cast<uint32_t>(r16 * 128) + swizzled;
  // B: token rows r16 + 16j that exist (x rows gathered by pair, or h rows in grouped order).
  const uint16_t* b_src[kBRowsPerThread];
  bool b_valid[kBRowsPerThread];
#pragma unroll
  for (int j = 0; j < kBRowsPerThread; ++j) {
    const int row = r16 + 16 * j;
    b_valid[j] = row < n;
    if constexpr (kProj == Proj::kGateUp) {
      const int x_row = b_valid[j] ? pos_pair[pos0 + row] / p.top_k : 0;
      b_src[j] = p.x + static_cast<size_t>(x_row) * p.hidden + chunk * 8;
    } else {
      b_src[j] = p.h + static_cast<size_t>(pos0 + (b_valid[j] ? row : 0)) * p.inter + chunk * 8;
    }
  }
  const uint32_t b_dst = static_cast<uint32_t>(kATileBytes + r16 * 128) + swizzled;

  auto issue_a = [&](int step, int stage) {
    const uint32_t st = smem_base + static_cast<uint32_t>(stage * kStageBytes);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      device::CpAsync16Prefetch256(st + a_dst + i * 16 * 128,
                                   a_src + i * a_group_stride + step * 64);
    }
  };
  auto issue_b = [&](int step, int stage) {
    const uint32_t st = smem_base + static_cast<uint32_t>(stage * kStageBytes);
#pragma unroll
    for (int j = 0; j < kBRowsPerThread; ++j) {
      if (b_valid[j]) device::CpAsync16To(st + b_dst + j * 16 * 128, b_src[j] + step * 64);
    }
  };

  float acc[kN / 2];
#pragma unroll
  for (int i = 0; i < kN / 2; ++i) acc[i] = 0.f;

  // The previous pass's last wgmmas may still read a stage this prologue refills in a warp that
  // finished earlier.
  __syncthreads();
  // Prologue: the weights of the first kStages - 1 steps first (down: before waiting for h), then
  // their activations, one commit group per step (group 0 also holds all of these weights).
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < steps) issue_a(s, s);
  }
  if constexpr (kProj == Proj::kDown) device::GridDependencyWait();
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < steps) issue_b(s, s);
    device::CpAsyncCommit();
  }
  int write_stage = kStages - 1;
  int read_stage = 0;
  for (int step = 0; step < steps; ++step) {
    device::CpAsyncWait<kStages - 2>();  // this thread's copies of `step` have landed
    device::FenceProxyAsyncShared();
    __syncthreads();  // everyone's copies landed; everyone's wgmmas of step - 1 completed
    if (step + kStages - 1 < steps) {
      issue_a(step + kStages - 1, write_stage);
      issue_b(step + kStages - 1, write_stage);
    }
    device::CpAsyncCommit();  // possibly empty: keeps the group count uniform
    write_stage = write_stage + 1 == kStages ? 0 : write_stage + 1;

    const uint32_t st = smem_base + static_cast<uint32_t>(read_stage * kStageBytes);
    const uint64_t da = device::SmemDescriptor128B(st);
    const uint64_t db = device::SmemDescriptor128B(st + kATileBytes);
    device::FenceAccumulators(acc);
    device::WgmmaFence();
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) device::Wgmma<kN>::Run(acc, da + 2 * kk, db + 2 * kk);
    device::WgmmaCommit();
    device::WgmmaWait<0>();
    device::FenceAccumulators(acc);
    read_stage = read_stage + 1 == kStages ? 0 : read_stage + 1;
  }

  const int warp = t >> 5, lane = t & 31;
  if constexpr (kProj == Proj::kGateUp) {
    const int i = row0 + 8 * warp + (lane >> 2);
#pragma unroll
    for (int j = 0; j < kN / 8; ++j) {
      const int tok = 8 * j + 2 * (lane & 3);
      uint16_t* h = p.h + static_cast<size_t>(pos0 + tok) * p.inter + i;
      if (tok < n) h[0] = device::FloatToBf16(Silu(acc[4 * j]) * acc[4 * j + 2]);
      if (tok + 1 < n) h[p.inter] = device::FloatToBf16(Silu(acc[4 * j + 1]) * acc[4 * j + 3]);
    }
  } else {
    const int r = row0 + 16 * warp + (lane >> 2);
#pragma unroll
    for (int j = 0; j < kN / 8; ++j) {
      const int tok = 8 * j + 2 * (lane & 3);
      float* y = p.y + static_cast<size_t>(pos0 + tok) * p.hidden + r;
      if (tok < n) {
        y[0] = acc[4 * j];
        y[8] = acc[4 * j + 2];
      }
      if (tok + 1 < n) {
        y[p.hidden] = acc[4 * j + 1];
        y[p.hidden + 8] = acc[4 * j + 3];
      }
    }
  }
}
#endif  // JANUS_HAS_WGMMA

// Persistent grid over items (active slot, RowsPerItem rows); slots with more than kMaxN tokens
// take several passes. kFused (at most kFusedMaxPairs pairs and kFusedMaxSlots slots): every block
// groups the pairs itself (GroupInBlock; gate/up's block 0 writes the grouping out and zeroes the
// done counters), and in the down launch the last block to finish a 64-row group combines that
// group of every row (CombineRowGroup), so no grouping or un-permute launch is needed.
template <Proj kProj, int kMaxN, bool kFused, int kStages>
__global__ void __launch_bounds__(kThreads) WgmmaFfnKernel(const FusedParams p) {
#if JANUS_HAS_WGMMA
  extern __shared__ unsigned char smem_raw[];
  __shared__ int group_sm[kFused ? kGsInts : 1];
  if constexpr (kProj == Proj::kGateUp) device::LaunchDependents();  // down may start its weights
  const uint32_t smem_base = (device::SmemAddress(smem_raw) + 1023u) & ~1023u;
  constexpr int kRows = RowsPerItem<kProj>();
  const int groups = (kProj == Proj::kGateUp ? p.inter : p.hidden) / kRows;
  const int* active = p.g.active;
  const int* offsets = p.g.offsets;
  const int* counts = p.g.counts;
  const int* pos_pair = p.g.pos_pair;
  int n_active;
  if constexpr (kFused) {
    const bool writer = kProj == Proj::kGateUp && blockIdx.x == 0;
    if (writer) {
      for (int i = threadIdx.x; i < p.hidden / 64; i += kThreads) p.done[i] = 0;
    }
    // The down launch groups too (writing nothing), so that it knows its items before it waits.
    n_active = GroupInBlock(p.slots, p.ranks, p.my_rank, p.rows * p.top_k, p.num_slots, p.g,
                            writer ? p.num_invalid_out : nullptr, group_sm, writer);
    active = group_sm + kGsActive;
    offsets = group_sm + kGsOffsets;
    counts = group_sm + kGsCounts;
    pos_pair = group_sm + kGsPosPair;
    if (kProj == Proj::kDown && n_active == 0) {  // nothing local: every row's sum is empty
      device::GridDependencyWait();
      ZeroOutputRows(p.out, p.rows, p.hidden);
      return;
    }
  } else {
    n_active = p.g.scalars[0];
  }
  for (int item = blockIdx.x; item < n_active * groups; item += gridDim.x) {
    const int a = item / groups;
    const int row0 = (item - a * groups) * kRows;
    const int slot = active[a];
    const int begin = offsets[slot], count = counts[slot];
    for (int base = 0; base < count; base += kMaxN) {
      const int n = min(kMaxN, count - base);
      const int pos0 = begin + base;
      if (n <= 16) {
        RunPass<kProj, 16, kMaxN, kStages>(p, pos_pair, smem_base, slot, row0, pos0, n);
      } else if (n <= 32) {
        if constexpr (kMaxN >= 32)
          RunPass<kProj, 32, kMaxN, kStages>(p, pos_pair, smem_base, slot, row0, pos0, n);
      } else if (n <= 48) {
        if constexpr (kMaxN >= 48)
          RunPass<kProj, 48, kMaxN, kStages>(p, pos_pair, smem_base, slot, row0, pos0, n);
      } else {
        if constexpr (kMaxN >= 64)
          RunPass<kProj, 64, kMaxN, kStages>(p, pos_pair, smem_base, slot, row0, pos0, n);
      }
    }
    if constexpr (kFused && kProj == Proj::kDown) {
      FinishRowGroupItem(p.done, row0 / 64, n_active, p.g.pair_pos, p.weights, p.y, p.out, p.rows,
                         p.top_k, p.hidden);
    }
  }
#else
  __trap();  // not compiled for sm_90a: WgmmaAvailable() keeps the launchers from getting here
#endif
}

template <Proj kProj, int kMaxN, bool kFused, int kStages = Stages<kProj, kMaxN>()>
absl::Status LaunchTyped(const FusedParams& p, int max_active, cudaStream_t stream) {
  constexpr int smem = SmemBytes<kMaxN, kStages>();
  auto kernel = WgmmaFfnKernel<kProj, kMaxN, kFused, kStages>;
  int sms = 0, per_sm = 0;
  JANUS_RETURN_IF_ERROR(CurrentDeviceInfo(&sms, nullptr));
  JANUS_CUDA_RETURN_IF_ERROR(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  JANUS_CUDA_RETURN_IF_ERROR(
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, smem));
  const int groups = (kProj == Proj::kGateUp ? p.inter : p.hidden) / RowsPerItem<kProj>();
  int grid = std::max(1, static_cast<int>(std::min<int64_t>(int64_t{max_active} * groups,
                                                            sms * std::max(per_sm, 1))));
  // The fused down launch also zeroes `out` when nothing is local: a few blocks at least.
  if (kFused && kProj == Proj::kDown) grid = std::max(grid, std::min(8, sms));
  if constexpr (kProj == Proj::kGateUp) {
    kernel<<<grid, kThreads, smem, stream>>>(p);
  } else {
    JANUS_CUDA_RETURN_IF_ERROR(
        LaunchProgrammaticDependent(kernel, dim3(grid), dim3(kThreads), smem, stream, p));
  }
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

template <Proj kProj>
absl::Status Launch(const FusedParams& p, bool fused, int max_tokens, int max_active,
                    cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(p.hidden > 0 && p.hidden % 64 == 0 && p.inter > 0 && p.inter % 64 == 0,
                         "expert ffn (wgmma): hidden (", p.hidden, ") and inter (", p.inter,
                         ") must be positive multiples of 64");
  JANUS_KERNEL_CHECK_ARG(
      !fused || (p.rows * p.top_k <= kFusedMaxPairs && p.num_slots <= kFusedMaxSlots),
      "expert ffn (wgmma): the fused launches take at most ", kFusedMaxPairs, " pairs and ",
      kFusedMaxSlots, " slots");
  if (max_active <= 0 && !fused) return absl::OkStatus();
  max_active = std::max(max_active, 1);
  JANUS_DISPATCH_BOOL(fused, kFused, {
    if (max_tokens <= 16) {
      if constexpr (kProj == Proj::kGateUp) {
        int sms = 0;
        JANUS_RETURN_IF_ERROR(CurrentDeviceInfo(&sms, nullptr));
        if (int64_t{max_active} * (p.inter / RowsPerItem<kProj>()) <= 2 * sms) {
          return LaunchTyped<kProj, 16, kFused, kDeepGateUpStages>(p, max_active, stream);
        }
      }
      return LaunchTyped<kProj, 16, kFused>(p, max_active, stream);
    }
    if (max_tokens <= 32) return LaunchTyped<kProj, 32, kFused>(p, max_active, stream);
    if (max_tokens <= 48) return LaunchTyped<kProj, 48, kFused>(p, max_active, stream);
    return LaunchTyped<kProj, 64, kFused>(p, max_active, stream);
  });
  return absl::OkStatus();
}

}  // namespace

absl::Status LaunchWgmmaGateUp(const FusedParams& p, bool fused, int max_tokens, int max_active,
                               cudaStream_t stream) {
  return Launch<Proj::kGateUp>(p, fused, max_tokens, max_active, stream);
}

absl::Status LaunchWgmmaDown(const FusedParams& p, bool fused, int max_tokens, int max_active,
                             cudaStream_t stream) {
  return Launch<Proj::kDown>(p, fused, max_tokens, max_active, stream);
}

}  // namespace janus::kernels
