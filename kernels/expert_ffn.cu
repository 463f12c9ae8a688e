// Grouped expert FFN for decode batch sizes: memory-bound streaming of the activated experts.
// Path selection (ChooseFfnPath, kernels/expert_ffn_paths.h): on sm_90 devices the gate/up and down
// launches run the wgmma kernels of expert_ffn_wgmma.cu; this file holds the launcher, the
// workspace and the mma.sync kernels for other devices (sm_80+), in the same two structures:
//
// Fused path, two launches (rows * top_k <= kFusedMaxPairs and slots <= kFusedMaxSlots):
// (1) FusedGateUpKernel: every block first orders this rank's (row, k) pairs by slot
//     itself (GroupInBlock, expert_ffn_grouping.cuh: a stable counting sort, identical in every
//     block), block 0 writes the grouping out; (2) FusedDownKernel: the last block to finish a
//     64-row hidden group sums that group of every row's pairs in k order with the router weights
//     (CombineRowGroup).
// Otherwise four launches: LaunchGroupPairs (one block), GateUpKernel, DownKernel,
// LaunchUnpermuteRows (k-ordered weighted sum per row).
// In both paths the down launch is a programmatic dependent launch (sm_90) of the gate/up one, so
// its launch and block start overlap gate/up's tail; the four-launch DownKernel also requests its
// first weight steps before it waits for gate/up's grid (its grouping is already complete).
// (Making the grouping -> gate/up and down -> un-permute launches programmatic dependents too was
// measured: no change at 32 and 64 tokens.)
//
// (2) and (3) share one skeleton (StreamTile): a persistent grid walks work items
// (active slot, group of weight rows). A warp owns 16 weight rows (gate/up: 8 gate rows on MMA rows
// 0-7 and the same 8 up rows on MMA rows 8-15, so SiLU(gate)·up is formed in registers; down: 16
// rows of the down matrix) and streams them along K with 16-byte loads, kPrefetch 64-wide K steps
// ahead. The tokens of the slot (up to 8 * kTiles per pass) are the MMA's n dimension; their
// activations are staged in shared memory chunk by chunk with cp.async, double buffered, shared by
// the block's warps.
//
// The 16-byte loads do not follow the MMA fragment's k order: thread q (= lane % 4) of a row loads
// elements [8q, 8q+8) and [32+8q, 32+8q+8) of a 64-wide K step and feeds them to the four
// m16n8k16 MMAs as if they were its k-slots. The B (token) fragment is loaded with the same
// permutation, so every dot product is unchanged, and each warp load instruction reads 8 rows ×
// 64 contiguous bytes (full 32-byte sectors).
#include <algorithm>
#include <type_traits>

#include "kernels/common.cuh"
#include "kernels/device_info.h"
#include "kernels/expert_ffn.h"
#include "kernels/expert_ffn_generic.h"
#include "kernels/expert_ffn_grouping.cuh"
#include "kernels/expert_ffn_paths.h"
#include "kernels/expert_ffn_wgmma.h"
#include "kernels/moe_permute.h"

namespace janus::kernels {
namespace {

using device::CpAsync16;
using device::CpAsyncCommit;
using device::CpAsyncWait;
using device::LoadStreaming16;
using device::MmaBf16;

constexpr int kWarps = 4;            // warps per block
constexpr int kThreads = kWarps * 32;
static_assert(kThreads == kFfnThreads, "the grouping and combine helpers assume 128 threads");
constexpr int kPrefetch = 4;         // K steps of weights in flight per warp
constexpr int kRowPadBytes = 64;     // smem row stride = 64 mod 128 bytes: conflict-free B loads

// 64-wide K steps per staged activation chunk. The 64-token variant stages 128-element chunks so
// that its double buffer (40 KB) and a 128-register cap give 4 resident blocks per SM like the
// smaller variants (with 256-element chunks it needed 73.7 KB and 160 registers: 3 blocks).
template <int kTiles>
constexpr int ChunkSteps() {
  return kTiles >= 8 ? 2 : 4;
}
template <int kTiles>
constexpr int ChunkRowBytes() {
  return ChunkSteps<kTiles>() * 128 + kRowPadBytes;
}
template <int kTiles>
constexpr int MinBlocksPerSm() {
  return 4;
}

size_t Align256(size_t n) { return (n + 255) / 256 * 256; }

template <int kTiles>
constexpr int SmemBytes() {
  return 2 * kTiles * 8 * ChunkRowBytes<kTiles>();
}

// FfnParams (kernels/expert_ffn_wgmma.h) is exactly the four-launch kernels' old parameter
// struct: a larger one changed their register allocation (8 B spills in <4>, measured -1.3 points
// on DeepSeek-V3 @32).
// 4 resident blocks per SM (228 KB, 1 KB reserved per block) must survive the static grouping.
static_assert(4 * (SmemBytes<8>() + kGsInts * 4 + 8 * 64 + 1024) <= 228 * 1024,
              "fused grouping smem");
static_assert(4 * (SmemBytes<4>() + kGsInts * 4 + 1024) <= 228 * 1024, "fused grouping smem");

// Streams one work item: rows `row_lo` / `row_hi` (per lane) of K elements against the activations
// of up to 8*kTiles tokens. `act_row(j)` gives activation row j (j < n_pass) of length K.
// Every warp of the block calls this with the same K and token set (the barriers are block-wide);
// warps without rows pass row_valid = false and still take part in staging and barriers.
// `before_stage()` runs after the first kPrefetch weight steps are requested and before the first
// activation read: the four-launch DownKernel waits for the gate/up grid there (programmatic
// dependent launch), so its first weights are in flight while gate/up finishes.
template <int kTiles, typename ActRow, typename BeforeStage>
__device__ __forceinline__ void StreamTile(const uint16_t* row_lo, const uint16_t* row_hi,
                                           bool row_valid, int K, int n_pass, ActRow act_row,
                                           BeforeStage before_stage, unsigned char* smem,
                                           float (&acc)[kTiles][4]) {
  constexpr int kChunkSteps = ChunkSteps<kTiles>();
  constexpr int kChunkRowBytes = ChunkRowBytes<kTiles>();
  // Chunks are walked in rings of kPrefetch steps so that the weight ring slot of every step is a
  // compile-time index (a run-time index would move the ring to local memory).
  constexpr int kRingChunks = kPrefetch / kChunkSteps;
  static_assert(kPrefetch % kChunkSteps == 0, "a ring must hold whole chunks");
  const int lane = threadIdx.x % 32;
  const int q = lane % 4;
  const int steps = K / 64;
  const int chunks = (steps + kChunkSteps - 1) / kChunkSteps;
  const int tiles_used = (n_pass + 7) / 8;
  const int rows_staged = tiles_used * 8;

#pragma unroll
  for (int j = 0; j < kTiles; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;

  auto stage = [&](int chunk) {
    unsigned char* buf = smem + (chunk & 1) * (kTiles * 8 * kChunkRowBytes);
    const int k0 = chunk * kChunkSteps * 64;
    const int pieces_per_row = min(kChunkSteps * 64, K - k0) / 8;
    // A fixed thread -> (row, 16-byte piece) map: no divisions in the loop (a run-time i / pieces
    // and the caller's row lookups per piece cost more instructions than the MMAs they feed).
    constexpr int kPieces = kChunkSteps * 8;
    constexpr int kRowsPerIter = kThreads / kPieces;
    static_assert(kThreads % kPieces == 0, "whole rows per staging iteration");
    const int piece = threadIdx.x % kPieces;
    if (piece < pieces_per_row) {
      for (int r = threadIdx.x / kPieces; r < rows_staged; r += kRowsPerIter) {
        void* dst = buf + r * kChunkRowBytes + piece * 16;
        if (r < n_pass) {
          CpAsync16(dst, act_row(r) + k0 + piece * 8, 16);
        } else {
          CpAsync16(dst, act_row(0), 0);  // zero-fill: padding tokens of the last tile
        }
      }
    }
    CpAsyncCommit();
  };

  uint4 w[kPrefetch][4];
  auto load_step = [&](uint4(&dst)[4], int step) {
    if (row_valid && step < steps) {
      const int k = step * 64 + 8 * q;
      dst[0] = LoadStreaming16(row_lo + k);
      dst[1] = LoadStreaming16(row_lo + k + 32);
      dst[2] = LoadStreaming16(row_hi + k);
      dst[3] = LoadStreaming16(row_hi + k + 32);
    }
  };

#pragma unroll
  for (int u = 0; u < kPrefetch; ++u) load_step(w[u], u);
  before_stage();
  stage(0);

  // One staged chunk. kRing = (c * kChunkSteps) % kPrefetch, passed as a constant.
  auto chunk_body = [&](int c, auto ring_const) {
    constexpr int kRing = decltype(ring_const)::value;
    if (c + 1 < chunks) {
      stage(c + 1);
      CpAsyncWait<1>();
    } else {
      CpAsyncWait<0>();
    }
    __syncthreads();
    const unsigned char* buf = smem + (c & 1) * (kTiles * 8 * kChunkRowBytes);
#pragma unroll
    for (int u = 0; u < kChunkSteps; ++u) {
      const int step = c * kChunkSteps + u;
      uint4(&ws)[4] = w[(kRing + u) % kPrefetch];
      if (row_valid && step < steps) {
        // Tiles in pairs: two independent accumulator chains per MMA step, and a uniform branch
        // out at the pass's last tile instead of issuing predicated-off MMAs for the rest
        // (ncu at 64 tokens: ~8.8 cycles between a warp's instructions, a third of them waiting
        // on the previous MMA of the same accumulator).
#pragma unroll
        for (int j = 0; j < kTiles; j += 2) {
          if (j >= tiles_used) break;
          const unsigned char* brow = buf + (j * 8 + lane / 4) * kChunkRowBytes + u * 128 + q * 16;
          const uint4 b0 = *reinterpret_cast<const uint4*>(brow);
          const uint4 b1 = *reinterpret_cast<const uint4*>(brow + 64);
          if (kTiles == 1 || j + 1 >= tiles_used) {
            MmaBf16(acc[j], ws[0].x, ws[2].x, ws[0].y, ws[2].y, b0.x, b0.y);
            MmaBf16(acc[j], ws[0].z, ws[2].z, ws[0].w, ws[2].w, b0.z, b0.w);
            MmaBf16(acc[j], ws[1].x, ws[3].x, ws[1].y, ws[3].y, b1.x, b1.y);
            MmaBf16(acc[j], ws[1].z, ws[3].z, ws[1].w, ws[3].w, b1.z, b1.w);
          } else {
            constexpr int j1 = kTiles == 1 ? 0 : 1;  // acc[j + j1]: in range for every kTiles
            const unsigned char* brow1 = brow + 8 * kChunkRowBytes;
            const uint4 c0 = *reinterpret_cast<const uint4*>(brow1);
            const uint4 c1 = *reinterpret_cast<const uint4*>(brow1 + 64);
            MmaBf16(acc[j], ws[0].x, ws[2].x, ws[0].y, ws[2].y, b0.x, b0.y);
            MmaBf16(acc[j + j1], ws[0].x, ws[2].x, ws[0].y, ws[2].y, c0.x, c0.y);
            MmaBf16(acc[j], ws[0].z, ws[2].z, ws[0].w, ws[2].w, b0.z, b0.w);
            MmaBf16(acc[j + j1], ws[0].z, ws[2].z, ws[0].w, ws[2].w, c0.z, c0.w);
            MmaBf16(acc[j], ws[1].x, ws[3].x, ws[1].y, ws[3].y, b1.x, b1.y);
            MmaBf16(acc[j + j1], ws[1].x, ws[3].x, ws[1].y, ws[3].y, c1.x, c1.y);
            MmaBf16(acc[j], ws[1].z, ws[3].z, ws[1].w, ws[3].w, b1.z, b1.w);
            MmaBf16(acc[j + j1], ws[1].z, ws[3].z, ws[1].w, ws[3].w, c1.z, c1.w);
          }
        }
      }
      load_step(ws, step + kPrefetch);
    }
    __syncthreads();  // buffer (c & 1) is restaged at chunk c + 1
  };

  for (int c = 0; c < chunks; ++c) {
    if constexpr (kRingChunks == 1) {
      chunk_body(c, std::integral_constant<int, 0>{});
    } else {
      static_assert(kRingChunks == 2, "ring offsets below assume two chunks per ring");
      // Block-uniform branch (c is the same in every thread): both arms reach the same barriers.
      if (c & 1) {
        chunk_body(c, std::integral_constant<int, kChunkSteps>{});
      } else {
        chunk_body(c, std::integral_constant<int, 0>{});
      }
    }
  }
}

__device__ __forceinline__ float Silu(float v) { return v / (1.0f + __expf(-v)); }

// Four-launch path, kept exactly as before the fusion (the fused variants below cost these shapes
// 1-2 points when shared). Item = (active slot, kWarps * 8 intermediate rows). Output h =
// bf16(silu(gate x) * up x).
template <int kTiles>
__global__ void __launch_bounds__(kThreads, MinBlocksPerSm<kTiles>()) GateUpKernel(FfnParams p) {
  extern __shared__ __align__(128) unsigned char smem[];
  __shared__ const uint16_t* act_rows[kTiles * 8];  // this pass's token rows of x
  device::LaunchDependents();  // the down launch may start streaming its weights now
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, q = lane % 4;
  const int n_active = p.g.scalars[0];
  const int groups = (p.inter + kWarps * 8 - 1) / (kWarps * 8);
  for (int item = blockIdx.x; item < n_active * groups; item += gridDim.x) {
    const int slot = p.g.active[item / groups];
    const int i_base = (item % groups) * kWarps * 8 + warp * 8;
    const bool row_valid = i_base < p.inter;
    const int i = min(i_base, p.inter - 8) + lane / 4;
    const size_t row_off = (static_cast<size_t>(slot) * p.inter + i) * p.hidden;
    const uint16_t* row_lo = p.gate + row_off;
    const uint16_t* row_hi = p.up + row_off;
    const int begin = p.g.offsets[slot], count = p.g.counts[slot];
    for (int base = 0; base < count; base += kTiles * 8) {
      const int n_pass = min(kTiles * 8, count - base);
      float acc[kTiles][4];
      const int32_t* pairs = p.g.pos_pair + begin + base;
      for (int j = threadIdx.x; j < n_pass; j += kThreads) {
        act_rows[j] = p.x + static_cast<size_t>(pairs[j] / p.top_k) * p.hidden;
      }
      __syncthreads();  // the previous pass's StreamTile ended with a barrier too
      auto act_row = [&](int j) { return act_rows[j]; };
      StreamTile<kTiles>(row_lo, row_hi, row_valid, p.hidden, n_pass, act_row, [] {}, smem, acc);
      if (row_valid) {
#pragma unroll
        for (int j = 0; j < kTiles; ++j) {
          const int n = j * 8 + 2 * q;
          uint16_t* h = p.h + static_cast<size_t>(begin + base + n) * p.inter + i;
          if (n < n_pass) h[0] = device::FloatToBf16(Silu(acc[j][0]) * acc[j][2]);
          if (n + 1 < n_pass) h[p.inter] = device::FloatToBf16(Silu(acc[j][1]) * acc[j][3]);
        }
      }
    }
  }
}

// Item = (active slot, kWarps * 16 hidden rows). Output y[pos] = down h[pos] (fp32).
// Launched as a programmatic dependent of GateUpKernel: the grouping (written by the grouping
// launch before GateUpKernel started) is read at once, the first weight steps are requested, and
// only h waits for GateUpKernel (StreamTile's before_stage).
template <int kTiles>
__global__ void __launch_bounds__(kThreads, MinBlocksPerSm<kTiles>()) DownKernel(FfnParams p) {
  extern __shared__ __align__(128) unsigned char smem[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, q = lane % 4;
  const int n_active = p.g.scalars[0];
  const int groups = (p.hidden + kWarps * 16 - 1) / (kWarps * 16);
  for (int item = blockIdx.x; item < n_active * groups; item += gridDim.x) {
    const int slot = p.g.active[item / groups];
    const int r_base = (item % groups) * kWarps * 16 + warp * 16;
    const bool row_valid = r_base < p.hidden;
    const int r = min(r_base, p.hidden - 16) + lane / 4;
    const uint16_t* row_lo = p.down + (static_cast<size_t>(slot) * p.hidden + r) * p.inter;
    const uint16_t* row_hi = row_lo + static_cast<size_t>(8) * p.inter;
    const int begin = p.g.offsets[slot], count = p.g.counts[slot];
    for (int base = 0; base < count; base += kTiles * 8) {
      const int n_pass = min(kTiles * 8, count - base);
      float acc[kTiles][4];
      const uint16_t* h0 = p.h + static_cast<size_t>(begin + base) * p.inter;
      auto act_row = [&](int j) { return h0 + static_cast<size_t>(j) * p.inter; };
      StreamTile<kTiles>(row_lo, row_hi, row_valid, p.inter, n_pass, act_row,
                         [] { device::GridDependencyWait(); }, smem, acc);
      if (row_valid) {
#pragma unroll
        for (int j = 0; j < kTiles; ++j) {
          const int n = j * 8 + 2 * q;
          float* y = p.y + static_cast<size_t>(begin + base + n) * p.hidden + r;
          if (n < n_pass) {
            y[0] = acc[j][0];
            y[8] = acc[j][2];
          }
          if (n + 1 < n_pass) {
            y[p.hidden] = acc[j][1];
            y[p.hidden + 8] = acc[j][3];
          }
        }
      }
    }
  }
}

// GateUpKernel with the grouping done by every block itself (GroupInBlock) instead of a grouping
// launch. Block 0 also zeroes FusedDownKernel's per-row-group done counters (stream order makes
// them visible to it), so no state is carried between calls.
template <int kTiles>
__global__ void __launch_bounds__(kThreads, MinBlocksPerSm<kTiles>())
    FusedGateUpKernel(FusedParams p) {
  extern __shared__ __align__(128) unsigned char smem[];
  __shared__ const uint16_t* act_rows[kTiles * 8];  // this pass's token rows of x
  device::LaunchDependents();  // the down launch may start streaming its weights now
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, q = lane % 4;
  if (blockIdx.x == 0) {
    for (int i = threadIdx.x; i < p.hidden / (kWarps * 16); i += kThreads) p.done[i] = 0;
  }
  // The grouping is re-read per item from static shared memory at constant offsets rather than
  // kept in pointer registers: the streaming loop needs them all.
  __shared__ int group_sm[kGsInts];
  const int n_active = GroupInBlock(p.slots, p.ranks, p.my_rank, p.rows * p.top_k, p.num_slots,
                                    p.g, p.num_invalid_out, group_sm, blockIdx.x == 0);
  auto grouping = [&](int which, int index) -> const int* {  // 0 counts, 1 offsets, 2 active, 3 pos
    const int at = which == 0   ? kGsCounts
                   : which == 1 ? kGsOffsets
                   : which == 2 ? kGsActive
                                : kGsPosPair;
    return group_sm + at + index;
  };
  const int groups = (p.inter + kWarps * 8 - 1) / (kWarps * 8);
  for (int item = blockIdx.x; item < n_active * groups; item += gridDim.x) {
    const int slot = *grouping(2, item / groups);
    const int i_base = (item % groups) * kWarps * 8 + warp * 8;
    const bool row_valid = i_base < p.inter;
    const int i = min(i_base, p.inter - 8) + lane / 4;
    const size_t row_off = (static_cast<size_t>(slot) * p.inter + i) * p.hidden;
    const uint16_t* row_lo = p.gate + row_off;
    const uint16_t* row_hi = p.up + row_off;
    const int begin = *grouping(1, slot), count = *grouping(0, slot);
    for (int base = 0; base < count; base += kTiles * 8) {
      const int n_pass = min(kTiles * 8, count - base);
      float acc[kTiles][4];
      const int* pairs = grouping(3, begin + base);
      for (int j = threadIdx.x; j < n_pass; j += kThreads) {
        act_rows[j] = p.x + static_cast<size_t>(pairs[j] / p.top_k) * p.hidden;
      }
      __syncthreads();  // the previous pass's StreamTile ended with a barrier too
      auto act_row = [&](int j) { return act_rows[j]; };
      StreamTile<kTiles>(row_lo, row_hi, row_valid, p.hidden, n_pass, act_row, [] {}, smem, acc);
      if (row_valid) {
#pragma unroll
        for (int j = 0; j < kTiles; ++j) {
          const int n = j * 8 + 2 * q;
          uint16_t* h = p.h + static_cast<size_t>(begin + base + n) * p.inter + i;
          if (n < n_pass) h[0] = device::FloatToBf16(Silu(acc[j][0]) * acc[j][2]);
          if (n + 1 < n_pass) h[p.inter] = device::FloatToBf16(Silu(acc[j][1]) * acc[j][3]);
        }
      }
    }
  }
}

// Item = (active slot, row group of kWarps * 16 hidden rows). Output y[pos] = down h[pos] (fp32);
// the block that finishes the last of a row group's n_active items (done counter, zeroed by the
// gate/up launch) then sums that row group of every row in k order (CombineRowGroup), so `out` is
// written without float atomics and bit-reproducibly, whatever order the blocks finish in.
// Launched as a programmatic dependent of FusedGateUpKernel: its launch and block start overlap
// gate/up's tail; it waits for gate/up's grid before anything else (a grouping of its own here,
// to prefetch weights before the wait, spilled registers in the streaming loop).
template <int kTiles>
__global__ void __launch_bounds__(kThreads, MinBlocksPerSm<kTiles>())
    FusedDownKernel(FusedParams p) {
  extern __shared__ __align__(128) unsigned char smem[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, q = lane % 4;
  device::GridDependencyWait();  // the grouping, h and the done counters come from gate/up
  const int n_active = p.g.scalars[0];
  const int groups = p.hidden / (kWarps * 16);
  if (n_active == 0) {  // nothing local: every row's sum is empty
    ZeroOutputRows(p.out, p.rows, p.hidden);
    return;
  }
  for (int item = blockIdx.x; item < n_active * groups; item += gridDim.x) {
    const int slot = p.g.active[item / groups];
    const int grp = item % groups;
    const int r = grp * kWarps * 16 + warp * 16 + lane / 4;
    const uint16_t* row_lo = p.down + (static_cast<size_t>(slot) * p.hidden + r) * p.inter;
    const uint16_t* row_hi = row_lo + static_cast<size_t>(8) * p.inter;
    const int begin = p.g.offsets[slot], count = p.g.counts[slot];
    for (int base = 0; base < count; base += kTiles * 8) {
      const int n_pass = min(kTiles * 8, count - base);
      float acc[kTiles][4];
      const uint16_t* h0 = p.h + static_cast<size_t>(begin + base) * p.inter;
      auto act_row = [&](int j) { return h0 + static_cast<size_t>(j) * p.inter; };
      StreamTile<kTiles>(row_lo, row_hi, true, p.inter, n_pass, act_row, [] {}, smem, acc);
#pragma unroll
      for (int j = 0; j < kTiles; ++j) {
        const int n = j * 8 + 2 * q;
        float* y = p.y + static_cast<size_t>(begin + base + n) * p.hidden + r;
        if (n < n_pass) {
          y[0] = acc[j][0];
          y[8] = acc[j][2];
        }
        if (n + 1 < n_pass) {
          y[p.hidden] = acc[j][1];
          y[p.hidden + 8] = acc[j][3];
        }
      }
    }
    FinishRowGroupItem(p.done, grp, n_active, p.g.pair_pos, p.weights, p.y, p.out, p.rows,
                       p.top_k, p.hidden);
  }
}

struct Workspace {
  PairGrouping g;
  uint16_t* h;
  float* y;
  int32_t* done;
  size_t bytes;
};

Workspace CarveWorkspace(void* base, const GroupedFfnShape& s) {
  const int pairs = s.rows * s.top_k;
  Workspace w{};
  size_t at = Align256(PairGroupingBytes(pairs, s.num_slots));
  if (base != nullptr) w.g = CarvePairGrouping(base, pairs, s.num_slots);
  auto* bytes = static_cast<unsigned char*>(base);
  w.h = reinterpret_cast<uint16_t*>(bytes + at);
  at += Align256(sizeof(uint16_t) * static_cast<size_t>(pairs) * s.inter);
  w.y = reinterpret_cast<float*>(bytes + at);
  at += Align256(sizeof(float) * static_cast<size_t>(pairs) * s.hidden);
  w.done = reinterpret_cast<int32_t*>(bytes + at);
  at += Align256(sizeof(int32_t) * static_cast<size_t>(s.hidden / (kWarps * 16)));
  w.bytes = at;
  return w;
}

bool UseFusedPath(const GroupedFfnShape& s) {
  return static_cast<int64_t>(s.rows) * s.top_k <= kFusedMaxPairs && s.num_slots <= kFusedMaxSlots;
}

// Sizes the persistent grids from the occupancy of the kernels actually launched.
template <typename GateUpFn, typename DownFn, typename Params>
absl::Status LaunchPair(GateUpFn gate_up, DownFn down, const Params& p, int smem,
                        int max_items_gate_up, int max_items_down, cudaStream_t stream) {
  int sms = 0;
  JANUS_RETURN_IF_ERROR(CurrentDeviceInfo(&sms, nullptr));
  int per_sm_gu = 0, per_sm_down = 0;
  JANUS_CUDA_RETURN_IF_ERROR(
      cudaFuncSetAttribute(gate_up, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  JANUS_CUDA_RETURN_IF_ERROR(
      cudaFuncSetAttribute(down, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  JANUS_CUDA_RETURN_IF_ERROR(
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm_gu, gate_up, kThreads, smem));
  JANUS_CUDA_RETURN_IF_ERROR(
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm_down, down, kThreads, smem));
  const int grid_gu = std::max(1, std::min(max_items_gate_up, sms * std::max(per_sm_gu, 1)));
  // FusedDownKernel also zeroes `out` when nothing is local: at least a few blocks for that.
  const int grid_down =
      std::max(std::min(8, sms), std::min(max_items_down, sms * std::max(per_sm_down, 1)));
  gate_up<<<grid_gu, kThreads, smem, stream>>>(p);
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  // The down launch is a programmatic dependent of gate/up (see the kernels): its blocks take the
  // multiprocessors gate/up leaves free while gate/up finishes.
  JANUS_CUDA_RETURN_IF_ERROR(
      LaunchProgrammaticDependent(down, dim3(grid_down), dim3(kThreads), smem, stream, p));
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

template <int kTiles>
absl::Status LaunchStreaming(const FusedParams& p, bool fused, int max_items_gate_up,
                             int max_items_down, cudaStream_t stream) {
  constexpr int smem = SmemBytes<kTiles>();  // the fused grouping's table is static shared memory
  if (fused) {
    return LaunchPair(FusedGateUpKernel<kTiles>, FusedDownKernel<kTiles>, p, smem,
                      max_items_gate_up, max_items_down, stream);
  }
  return LaunchPair(GateUpKernel<kTiles>, DownKernel<kTiles>, static_cast<const FfnParams&>(p),
                    smem, max_items_gate_up, max_items_down, stream);
}

}  // namespace

size_t GroupedFfnWorkspaceBytes(const GroupedFfnShape& shape) {
  if (UsesGenericExpertFfn(shape)) return GenericGroupedFfnWorkspaceBytes(shape);
  return CarveWorkspace(nullptr, shape).bytes;
}

absl::Status LaunchGroupedExpertFfn(const GroupedFfnShape& s, const GroupedFfnArgs& a,
                                    cudaStream_t stream) {
  return LaunchGroupedExpertFfnOnPath(s, a, FfnPath::kAuto, stream);
}

const char* FfnPathName(FfnPath path) {
  switch (path) {
    case FfnPath::kAuto: return "auto";
    case FfnPath::kFused: return "fused mma.sync";
    case FfnPath::kFusedWgmma: return "fused wgmma";
    case FfnPath::kFourLaunchMmaSync: return "4-launch mma.sync";
    case FfnPath::kFourLaunchWgmma: return "4-launch wgmma";
  }
  return "?";
}

absl::StatusOr<FfnPath> ChooseFfnPath(const GroupedFfnShape& s) {
  JANUS_ASSIGN_OR_RETURN(const bool wgmma, WgmmaAvailable());
  if (UseFusedPath(s)) return wgmma ? FfnPath::kFusedWgmma : FfnPath::kFused;
  return wgmma ? FfnPath::kFourLaunchWgmma : FfnPath::kFourLaunchMmaSync;
}

absl::Status LaunchGroupedExpertFfnOnPath(const GroupedFfnShape& s, const GroupedFfnArgs& a,
                                          FfnPath path, cudaStream_t stream) {
  if (UsesGenericExpertFfn(s)) return LaunchGenericGroupedExpertFfn(s, a, stream);
  JANUS_KERNEL_CHECK_ARG(s.rows >= 0 && s.top_k > 0 && s.num_slots > 0,
                         "expert ffn: bad sizes (rows ", s.rows, ", top_k ", s.top_k, ", slots ",
                         s.num_slots, ")");
  JANUS_KERNEL_CHECK_ARG(s.hidden > 0 && s.hidden % 64 == 0 && s.inter > 0 && s.inter % 64 == 0,
                         "expert ffn: hidden (", s.hidden, ") and inter (", s.inter,
                         ") must be positive");
  JANUS_KERNEL_CHECK_ARG(static_cast<int64_t>(s.rows) * s.top_k < (int64_t{1} << 31),
                         "expert ffn: rows * top_k overflows int32");
  if (s.rows == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(a.x && a.weights && a.slots && a.gate && a.up && a.down && a.out,
                         "expert ffn: a required pointer is null");
  JANUS_KERNEL_CHECK_ARG(a.workspace != nullptr &&
                             reinterpret_cast<uintptr_t>(a.workspace) % 256 == 0,
                         "expert ffn: workspace must be non-null and 256-byte aligned");
  const size_t need = GroupedFfnWorkspaceBytes(s);
  JANUS_KERNEL_CHECK_ARG(a.workspace_bytes >= need, "expert ffn: workspace has ",
                         a.workspace_bytes, " bytes, needs ", need);
  for (const void* ptr : {static_cast<const void*>(a.x), static_cast<const void*>(a.gate),
                          static_cast<const void*>(a.up), static_cast<const void*>(a.down),
                          static_cast<const void*>(a.out)}) {
    JANUS_KERNEL_CHECK_ARG(IsAligned(ptr, 16),
                           "expert ffn: x, gate, up, down and out must be 16-byte aligned");
  }
  const bool forced = path != FfnPath::kAuto;
  if (!forced) {
    JANUS_ASSIGN_OR_RETURN(path, ChooseFfnPath(s));  // picks wgmma only where it runs
  }
  const bool fused = path == FfnPath::kFused || path == FfnPath::kFusedWgmma;
  const bool wgmma = path == FfnPath::kFusedWgmma || path == FfnPath::kFourLaunchWgmma;
  JANUS_KERNEL_CHECK_ARG(!fused || UseFusedPath(s), "expert ffn: the fused paths take at most ",
                         kFusedMaxPairs, " pairs and ", kFusedMaxSlots, " slots");
  if (forced && wgmma) {
    JANUS_ASSIGN_OR_RETURN(const bool available, WgmmaAvailable());
    if (!available) {
      return absl::FailedPreconditionError(
          "expert ffn: the wgmma kernels need an sm_90 device and a build for sm_90a");
    }
  }
  const Workspace w = CarveWorkspace(a.workspace, s);
  if (!fused) {
    JANUS_RETURN_IF_ERROR(LaunchGroupPairs(a.slots, a.ranks, a.my_rank, s.rows, s.top_k,
                                           s.num_slots, w.g, a.num_invalid_slots, stream));
  }
  FusedParams p;
  static_cast<FfnParams&>(p) = {s.top_k, s.hidden, s.inter, a.x,  a.gate,
                                a.up,    a.down,   w.g,     w.h, w.y};
  p.rows = s.rows;
  p.num_slots = s.num_slots;
  p.weights = a.weights;
  p.slots = a.slots;
  p.ranks = a.ranks;
  p.my_rank = a.my_rank;
  p.done = w.done;
  p.out = a.out;
  p.num_invalid_out = a.num_invalid_slots;
  // At most min(slots, pairs) slots are active; the persistent grids never need more blocks than
  // items.
  const int max_active = static_cast<int>(
      std::min<int64_t>(s.num_slots, static_cast<int64_t>(s.rows) * s.top_k));
  const int items_gu = max_active * CeilDiv(s.inter, kWarps * 8);
  const int items_down = max_active * CeilDiv(s.hidden, kWarps * 16);
  const int tokens = std::min(s.rows, 64);  // bounds any slot's tokens in one pass
  if (wgmma) {
    JANUS_RETURN_IF_ERROR(LaunchWgmmaGateUp(p, fused, tokens, max_active, stream));
    JANUS_RETURN_IF_ERROR(LaunchWgmmaDown(p, fused, tokens, max_active, stream));
    if (fused) return absl::OkStatus();
    return LaunchUnpermuteRows(w.y, a.weights, s.rows, s.top_k, s.hidden, w.g, a.out, stream);
  }
  int tiles = CeilDiv(tokens, 8);
  tiles = tiles <= 1 ? 1 : tiles <= 2 ? 2 : tiles <= 4 ? 4 : 8;
  JANUS_DISPATCH_TOKEN_TILES(tiles, kTiles, {
    JANUS_RETURN_IF_ERROR(LaunchStreaming<kTiles>(p, fused, items_gu, items_down, stream));
  });
  if (fused) return absl::OkStatus();
  return LaunchUnpermuteRows(w.y, a.weights, s.rows, s.top_k, s.hidden, w.g, a.out, stream);
}

}  // namespace janus::kernels
