// Split-KV decode attention: a cp.async pipeline over small tiles, tensor-core (mma.sync) QKᵀ and
// PV for head_dim 64 / 128, CUDA cores for head_dim 256.
//
// Grid (split, kv head, sequence), 128 threads, 3 blocks per SM. A block serves the kGroup query
// heads of one KV head over one split of the sequence, so each KV byte is read once; the splits
// of a (sequence, kv head) are merged through the workspace by the last block to finish (below).
// A batch-1 variant that merged the splits of a pair inside a thread-block cluster through
// distributed shared memory (clusters of 8/16 blocks of 384 threads) was tried and measured
// slower on H100 at every shape it took (q32/kv8 d128: 17.9 vs 14.6 us at 4k, 48.9 vs 38.0 at
// 16k, 94.6 vs 64.0 at 32k; clusters of 16 did not fit, clusters of 8 used 64 SMs), so it was
// removed.
//
// Loads. A tile is 32 * 128 / head_dim tokens (16 KB of K + V); K and V go to shared memory by
// cp.async in 16-byte pieces, consecutive lanes taking consecutive pieces of one row (a warp
// instruction covers whole 256-byte rows: coalesced, few L1 wavefronts). Four stages: the
// prologue puts three tiles in flight, each iteration waits for one, issues the tile three ahead
// into the stage freed by the previous iteration (one __syncthreads per tile guards both), and
// computes. Per SM that is up to 3 x 48 KB of loads in flight (~19 MB over the GPU), far above
// what HBM latency x bandwidth needs. Rows past the split's end are zero-filled (cp.async
// src-size 0), so the inner loops need no guards and never see stale shared memory. The block
// table entries of a tile are read one iteration before its loads are issued.
//
// Start-up chain: the q rows, seq_lens[b] and the block-table entries of the first three tiles
// are independent loads issued together (the table entries do not depend on the length: any
// entry of the row is readable, and a page past the sequence is never dereferenced); the first
// K/V loads wait for one memory latency only. q is written to shared memory after them.
//
// Compute. Each warp owns 1024 / head_dim tokens of every tile and keeps its own online-softmax
// state (base 2), so there are no block barriers inside a tile.
// Tensor cores (head_dim 64 / 128, MmaTile): the MMA's M is the kGroup q heads (padded to 16),
// N the warp's 16 / 8 tokens, so a warp does 8 MMAs for S = q Kᵀ (q's A fragments live in
// registers; K and V rows are stored with their 16-byte pieces XOR-swizzled by the row, so
// ldmatrix reads are conflict-free) and 8 / 16 for O += P V (P straight from S's accumulators
// in bf16). This replaced CUDA-core dot products that were issue-bound on H200 at batch >= 8:
// q32/kv8 d128 4k batch 8 / 32 / 64 went from 55 / 67 / 71 % to 80 / 96 / 100 % of the copy
// bandwidth, 16k-32k batch 8-64 from 62-82 % to 98-108 % (read-only bytes against a copy's).
// CUDA cores (head_dim 256: 4 tokens a warp, half an MMA tile; q pre-scaled by scale * log2 e):
//  QK: kLanesPerTok (2/4/8) lanes share a token, each dots 4 of its 16-byte K pieces with the
//      kGroup q vectors, then a shuffle sum. A lane visits its pieces in an order rotated by the
//      token index, so the 8 lanes of a shared-memory phase hit 8 different bank quads without
//      padding K rows. q is stored in two planes (elements 0-3 / 4-7 of each piece) for the same
//      reason.
//  PV: lane owns head_dim / 32 dims, loops over the warp's tokens (a warp reads whole V rows),
//      weights come from a per-warp buffer (broadcast reads); all kGroup heads accumulate at once.
// After the last tile the warps' (m, l, o) are combined in fixed order in shared memory.
//
// Splits. One split writes o directly. Several: each writes its partial (o, m, l) to the
// workspace, and the last block of the (sequence, kv head) to finish merges (a counter per pair,
// see decode_attention.h): it stages the partials into shared memory with cp.async (one L2 round
// trip per 64 KB instead of one per 16 loads of each thread) while one warp per head computes
// the weights, then sums in split order 0..splits-1. The result does not depend on which block
// merges, so repeated launches are bit-identical.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "kernels/common.cuh"
#include "kernels/decode_attention.h"

namespace janus::kernels {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kStages = 4;
constexpr int kStageBytes = 16384;  // K and V tiles of one stage, 8 KB each
constexpr int kDynSmem = kStages * kStageBytes;
constexpr int kBlocksPerSm = 3;     // 3 x (64 KB + <= 9 KB static) fits the 228 KB of an SM
constexpr int kMaxSplits = 128;     // merge weights: [kGroup][kMaxSplits] floats
constexpr int kMinSplitTokens = 128;
constexpr float kLog2e = 1.4426950408889634f;

template <int kDim>
struct Cfg {
  static constexpr int kTile = 32 * kThreads / kDim;          // tokens per stage
  static constexpr int kStageBytes = kTile * kDim * 2 * 2;    // K + V, bf16
  static constexpr int kChunks = kDim / 8;                    // 16-byte pieces per row
  static constexpr int kRowStep = kThreads / kChunks;         // rows between a thread's pieces
  static constexpr int kPieces = kTile * kChunks / kThreads;  // pieces per thread per tensor
  static constexpr int kLanesPerTok = kThreads / kTile;       // QK lanes per token
  static constexpr int kWarpTok = 32 / kLanesPerTok;          // tokens per warp per tile
  static constexpr int kDimsPerLane = kDim / 32;              // PV dims per lane
  // Tensor cores for head_dim 64 / 128 (a warp's 16 / 8 tokens form whole n = 8 MMA tiles);
  // head_dim 256 (4 tokens a warp) stays on CUDA cores.
  static constexpr bool kMma = kDim <= 128;
  static_assert(kPieces == 4 && kChunks / kLanesPerTok == 4, "a thread owns 4 pieces per row set");
  static_assert(kWarpTok * kWarps == kTile && kWarpTok % 4 == 0, "warps split the tile");
};
static_assert(Cfg<64>::kStageBytes == kStageBytes && Cfg<128>::kStageBytes == kStageBytes &&
                  Cfg<256>::kStageBytes == kStageBytes,
              "stage size");

template <int kDim, int kGroup>
struct Smem {
  // q in two planes [2][kGroup * kChunks][4] during the tile loop; merge weights
  // [kGroup][kMaxSplits] after it.
  float misc[kGroup * (kDim > kMaxSplits ? kDim : kMaxSplits)];
  float p[kWarps][kGroup][1024 / kDim];  // this tile's softmax weights, per warp (kWarpTok)
  float2 ml[kWarps][kGroup];             // per-warp (m, l) for the block combine
  int last;
};

struct Params {
  DecodeAttentionShape s;
  DecodeAttentionArgs a;
  int splits;
  int tokens_per_split;
  float* part_o;    // [pair][split][kGroup][kDim], pair = b * num_kv_heads + kvh
  float2* part_ml;  // [pair][split][kGroup]
  int* counters;    // [pair], zero between launches
  uint32_t page_mul, page_shift;  // tok / page_size = (umulhi(tok, mul) + tok) >> shift
};

// Division by page_size for 0 <= n < 2^31 (round-up multiply-shift, as CUTLASS's FastDivmod):
// shift = ceil(log2 d), mul = floor(2^32 (2^shift - d) / d) + 1.
void PageDivider(int d, uint32_t* mul, uint32_t* shift) {
  uint32_t s = 0;
  while ((int64_t{1} << s) < d) ++s;
  *shift = s;
  *mul = static_cast<uint32_t>(((uint64_t{1} << 32) * ((uint64_t{1} << s) - d)) / d + 1);
}
__device__ __forceinline__ int PageOf(const Params& p, int tok) {
  return static_cast<int>((__umulhi(static_cast<uint32_t>(tok), p.page_mul) +
                           static_cast<uint32_t>(tok)) >> p.page_shift);
}

// N consecutive bf16 values (N * 2 bytes, naturally aligned) as floats.
template <int N>
__device__ __forceinline__ void LoadBf16(const uint16_t* ptr, float (&f)[N]) {
  using V = std::conditional_t<N == 2, uint32_t, std::conditional_t<N == 4, uint2, uint4>>;
  static_assert(sizeof(V) == 2 * N, "2, 4 or 8 values");
  const V v = *reinterpret_cast<const V*>(ptr);
  const uint32_t* w = reinterpret_cast<const uint32_t*>(&v);
#pragma unroll
  for (int i = 0; i < N / 2; ++i) {
    f[2 * i] = device::Bf16Lo(w[i]);
    f[2 * i + 1] = device::Bf16Hi(w[i]);
  }
}

// Block-table entry. Volatile so that the compiler keeps the prologue's reads above the
// length-dependent code instead of sinking them behind it.
__device__ __forceinline__ int LoadTableEntry(const int32_t* ptr) {
  int v;
  asm volatile("ld.global.nc.b32 %0, [%1];" : "=r"(v) : "l"(ptr));
  return v;
}

// Merges the pair's splits (called by the last split block to finish): weights
// w_s = 2^(m_s - max m) / sum_s 2^(m_s - max m) l_s (zero for empty splits, m_s = -inf, whose
// partial is skipped), o = sum_s w_s o_s in split order. Partials are staged kChunk splits at a
// time into the (now idle) pipeline buffers through cp.async.cg, i.e. from L2, never from L1.
template <int kDim, int kGroup>
__device__ __forceinline__ void MergeSplits(const Params& p, int64_t pair, unsigned char* buf_raw,
                                            float* w_s) {
  constexpr int kGD = kGroup * kDim, kF4 = kGD / 4;
  constexpr int kChunk = std::min(kMaxSplits, kDynSmem / (kGD * 4));
  constexpr int kOwn = (kF4 + kThreads - 1) / kThreads;
  static_assert(kChunk >= 1, "one partial must fit the staging buffer");
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int splits = p.splits;  // <= kMaxSplits
  const float4* src = reinterpret_cast<const float4*>(p.part_o) + pair * splits * kF4;
  float4* buf = reinterpret_cast<float4*>(buf_raw);
  float4 acc[kOwn];
#pragma unroll
  for (int k = 0; k < kOwn; ++k) acc[k] = make_float4(0.f, 0.f, 0.f, 0.f);
  for (int s0 = 0; s0 < splits; s0 += kChunk) {
    const int n = min(kChunk, splits - s0);
    if (s0 > 0) __syncthreads();  // the previous chunk is consumed
    for (int e = tid; e < n * kF4; e += kThreads) {
      device::CpAsync16(buf + e, src + s0 * kF4 + e, 16);
    }
    device::CpAsyncCommit();
    if (s0 == 0) {
      for (int g = warp; g < kGroup; g += kWarps) {
        float m[kMaxSplits / 32], l[kMaxSplits / 32];
        float mx = -INFINITY;
#pragma unroll
        for (int i = 0; i < kMaxSplits / 32; ++i) {
          const int s = lane + 32 * i;
          float2 v = make_float2(-INFINITY, 0.f);
          if (s < splits) v = __ldcg(p.part_ml + (pair * splits + s) * kGroup + g);
          m[i] = v.x;
          l[i] = v.y;
          mx = fmaxf(mx, v.x);
        }
        mx = device::WarpMax(mx);
        float w[kMaxSplits / 32];
        float den = 0.f;
#pragma unroll
        for (int i = 0; i < kMaxSplits / 32; ++i) {
          w[i] = m[i] == -INFINITY ? 0.f : exp2f(m[i] - mx);
          den += w[i] * l[i];
        }
        den = device::WarpSum(den);
        const float inv = den > 0.f ? 1.f / den : 0.f;  // every split empty: o = 0
#pragma unroll
        for (int i = 0; i < kMaxSplits / 32; ++i) w_s[g * kMaxSplits + lane + 32 * i] = w[i] * inv;
      }
    }
    device::CpAsyncWait<0>();
    __syncthreads();  // weights and every thread's staged partials visible
#pragma unroll
    for (int k = 0; k < kOwn; ++k) {
      const int f = tid + k * kThreads;
      if (kF4 % kThreads != 0 && f >= kF4) continue;
      const float* wg = w_s + (f / (kDim / 4)) * kMaxSplits + s0;
      for (int s = 0; s < n; ++s) {
        const float w = wg[s];
        if (w != 0.f) {  // never touch an empty split's (unwritten) partial
          const float4 v = buf[s * kF4 + f];
          acc[k].x += w * v.x;
          acc[k].y += w * v.y;
          acc[k].z += w * v.z;
          acc[k].w += w * v.w;
        }
      }
    }
  }
  const int64_t head0 = pair * kGroup;
#pragma unroll
  for (int k = 0; k < kOwn; ++k) {
    const int f = tid + k * kThreads;
    if (kF4 % kThreads != 0 && f >= kF4) continue;
    uint2 packed;
    packed.x = device::PackBf16x2(acc[k].x, acc[k].y);
    packed.y = device::PackBf16x2(acc[k].z, acc[k].w);
    *reinterpret_cast<uint2*>(p.a.out + head0 * kDim + 4 * f) = packed;
  }
}

// One tile on tensor cores for the calling warp's kWarpTok tokens (at least one valid). K and V
// rows are in shared memory with 16-byte piece c of row r at c ^ (r & 7) (kaddr / vaddr: the
// stage's K and V tiles), so the 8 rows of each ldmatrix hit 8 different bank groups.
//  S = q Kᵀ: m16n8k16 with A = q (registers), B = Kᵀ by ldmatrix of K rows (n = token);
//  online softmax of head lane / 4 over the quad's tokens (2 shuffles), base 2;
//  O += P V: P is S's accumulator fragment packed to bf16 (the A layout of the next MMA), B = V
//  by ldmatrix.trans (n = dim): m16n8k8 for 8 tokens a warp (head_dim 128), m16n8k16 for 16.
template <int kDim, int kGroup>
__device__ __forceinline__ void MmaTile(uint32_t kaddr, uint32_t vaddr, int tile_len, float qscale,
                                        const uint32_t (&qa)[kDim / 16][2], float& m_row,
                                        float& l_row, float (&o)[kDim / 8][4]) {
  using C = Cfg<kDim>;
  constexpr int kNt = C::kWarpTok / 8, kRowBytes = kDim * 2;  // MMA n tiles of S per warp
  static_assert(kNt == 1 || kNt == 2, "8 or 16 tokens a warp");
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int r8 = lane & 7, mi = lane >> 3;  // ldmatrix: row r8 of matrix mi
  const int tok0 = warp * C::kWarpTok;
  // Even and odd k steps accumulate separately (two dependent-MMA chains of kDim / 32, summed
  // after the loop), so the chain is half as long.
  float sc[kNt][4], sc_odd[kNt][4];
#pragma unroll
  for (int nt = 0; nt < kNt; ++nt) {
    sc[nt][0] = sc[nt][1] = sc[nt][2] = sc[nt][3] = 0.f;
    sc_odd[nt][0] = sc_odd[nt][1] = sc_odd[nt][2] = sc_odd[nt][3] = 0.f;
    const uint32_t row = kaddr + (tok0 + 8 * nt + r8) * kRowBytes;
#pragma unroll
    for (int kk = 0; kk < kDim / 32; ++kk) {  // 4 pieces (2 k steps) per ldmatrix.x4
      uint32_t b[4];
      device::Ldsm4(row + (((4 * kk + mi) ^ r8) << 4), b);
      device::MmaBf16(sc[nt], qa[2 * kk][0], 0u, qa[2 * kk][1], 0u, b[0], b[1]);
      device::MmaBf16(sc_odd[nt], qa[2 * kk + 1][0], 0u, qa[2 * kk + 1][1], 0u, b[2], b[3]);
    }
#pragma unroll
    for (int e = 0; e < 2; ++e) sc[nt][e] += sc_odd[nt][e];  // rows 8-15 (e = 2, 3) are unused
  }
  // sc[nt][e]: head lane / 4, token tok0 + 8 nt + 2 (lane % 4) + e. Rows past the tile's valid
  // tokens (zero-filled) are masked; m_new is finite because the warp has a valid token.
  float mx = -INFINITY;
#pragma unroll
  for (int nt = 0; nt < kNt; ++nt) {
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int t = tok0 + 8 * nt + 2 * (lane & 3) + e;
      sc[nt][e] = t < tile_len ? sc[nt][e] * qscale : -INFINITY;
      mx = fmaxf(mx, sc[nt][e]);
    }
  }
  const float m_new = fmaxf(m_row, device::QuadMax(mx));
  const float alpha = exp2f(m_row - m_new);  // 0 on the warp's first tile (m = -inf)
  m_row = m_new;
  uint32_t pa[kNt];
  float psum = 0.f;
#pragma unroll
  for (int nt = 0; nt < kNt; ++nt) {
    const float p0 = exp2f(sc[nt][0] - m_new), p1 = exp2f(sc[nt][1] - m_new);
    psum += p0 + p1;
    pa[nt] = device::PackBf16x2(p0, p1);
  }
  l_row = l_row * alpha + psum;
#pragma unroll
  for (int n = 0; n < kDim / 8; ++n) {
    o[n][0] *= alpha;
    o[n][1] *= alpha;
  }
  if constexpr (kNt == 1) {
    const uint32_t row = vaddr + (tok0 + r8) * kRowBytes;
#pragma unroll
    for (int c = 0; c < kDim / 32; ++c) {  // 4 dim pieces (n tiles) per ldmatrix.x4.trans
      uint32_t b[4];
      device::Ldsm4T(row + (((4 * c + mi) ^ r8) << 4), b);
#pragma unroll
      for (int q = 0; q < 4; ++q) device::MmaBf16K8(o[4 * c + q], pa[0], 0u, b[q]);
    }
  } else {
    // Matrices (tokens 0-7 | 8-15) x (piece 2c | 2c + 1): b0, b1 of two n tiles.
    const uint32_t row = vaddr + (tok0 + 8 * (mi & 1) + r8) * kRowBytes;
#pragma unroll
    for (int c = 0; c < kDim / 16; ++c) {
      uint32_t b[4];
      device::Ldsm4T(row + (((2 * c + (mi >> 1)) ^ r8) << 4), b);
      device::MmaBf16(o[2 * c], pa[0], 0u, pa[1], 0u, b[0], b[1]);
      device::MmaBf16(o[2 * c + 1], pa[0], 0u, pa[1], 0u, b[2], b[3]);
    }
  }
}

template <int kDim, int kGroup>
__global__ void __launch_bounds__(kThreads, kBlocksPerSm) DecodeSplitKernel(Params p) {
  using C = Cfg<kDim>;
  constexpr int kTile = C::kTile, kChunks = C::kChunks, kLanes = C::kLanesPerTok;
  constexpr int kWarpTok = C::kWarpTok, kDpl = C::kDimsPerLane;
  constexpr int kGD = kGroup * kDim;
  static_assert(kWarps * kGD * 4 <= kDynSmem, "the block combine reuses the stage buffers");
  __shared__ __align__(16) Smem<kDim, kGroup> sm;
  extern __shared__ __align__(128) unsigned char stage_mem[];

  const int split = blockIdx.x, kvh = blockIdx.y, b = blockIdx.z;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int64_t pair = static_cast<int64_t>(b) * p.s.num_kv_heads + kvh;
  const int64_t head0 = pair * kGroup;  // first q head of the pair (num_heads = Hkv * kGroup)
  const int ps = p.s.page_size;
  const int start = split * p.tokens_per_split;
  const int32_t* table = p.a.block_table + static_cast<int64_t>(b) * p.s.max_pages_per_seq;

  // Independent loads first: q, the first tiles' page ids, the length.
  constexpr int kQPieces = kGD / 8, kQIters = (kQPieces + kThreads - 1) / kThreads;
  uint4 qv[kQIters];
  const uint4* qsrc = reinterpret_cast<const uint4*>(p.a.q + head0 * kDim);
#pragma unroll
  for (int i = 0; i < kQIters; ++i) {
    const int e = tid + i * kThreads;
    if (kQPieces % kThreads == 0 || e < kQPieces) qv[i] = __ldg(qsrc + e);
  }
  const int row0 = tid / kChunks, chunk = tid % kChunks;
  const int64_t table_end = static_cast<int64_t>(p.s.max_pages_per_seq) * ps;
  const int64_t pre_limit = std::min<int64_t>(start + static_cast<int64_t>(p.tokens_per_split),
                                              table_end);
  const int len = p.a.seq_lens[b];
  int pre[kStages - 1][C::kPieces];
#pragma unroll
  for (int k = 0; k < kStages - 1; ++k) {
#pragma unroll
    for (int r = 0; r < C::kPieces; ++r) {
      const int tok = start + k * kTile + row0 + r * C::kRowStep;
      pre[k][r] = tok < pre_limit ? LoadTableEntry(table + PageOf(p, tok)) : 0;
    }
  }
  const int end = min(len, start + p.tokens_per_split);
  const int n_tiles = end > start ? (end - start + kTile - 1) / kTile : 0;

  const int64_t row_stride = static_cast<int64_t>(p.s.num_kv_heads) * kDim;  // elements per row
  const uint16_t* kbase = p.a.k_cache + static_cast<int64_t>(kvh) * kDim + chunk * 8;
  const uint16_t* vbase = p.a.v_cache + static_cast<int64_t>(kvh) * kDim + chunk * 8;
  // Tile `tile` of the split -> stage tile % kStages: this thread's 4 K and 4 V pieces.
  auto issue = [&](int tile, const int (&pg)[C::kPieces]) {
    uint16_t* ks = reinterpret_cast<uint16_t*>(stage_mem + (tile % kStages) * kStageBytes);
    uint16_t* vs = ks + kTile * kDim;
#pragma unroll
    for (int r = 0; r < C::kPieces; ++r) {
      const int row = row0 + r * C::kRowStep;
      const int tok = start + tile * kTile + row;
      const bool valid = tok < end;
      const int in_page = tok - PageOf(p, tok) * ps;
      const int64_t cr = valid ? static_cast<int64_t>(pg[r]) * ps + in_page : 0;
      const int off = row * kDim + (C::kMma ? chunk ^ (row & 7) : chunk) * 8;
      device::CpAsync16(ks + off, kbase + cr * row_stride, valid ? 16 : 0);
      device::CpAsync16(vs + off, vbase + cr * row_stride, valid ? 16 : 0);
    }
  };
  // One commit per prologue slot and per iteration, tile or not: group g is always tile g.
#pragma unroll
  for (int k = 0; k < kStages - 1; ++k) {
    if (k < n_tiles) issue(k, pre[k]);
    device::CpAsyncCommit();
  }
  // q -> shared, pre-scaled, in two planes: piece e (head e / kChunks, dims 8 (e % kChunks)...)
  // has elements 0-3 at q_lo[4e] and 4-7 at q_hi[4e].
  // (Tensor-core path: q stays bf16, [kGroup][kDim], and the scale is applied to S in fp32.)
  float* q_lo = sm.misc;
  float* q_hi = sm.misc + kGD / 2;
  const float qscale = p.a.scale * kLog2e;
#pragma unroll
  for (int i = 0; i < kQIters; ++i) {
    const int e = tid + i * kThreads;
    if (kQPieces % kThreads != 0 && e >= kQPieces) continue;
    if constexpr (C::kMma) {
      reinterpret_cast<uint4*>(sm.misc)[e] = qv[i];
      continue;
    }
    float f[8];
    LoadBf16<8>(reinterpret_cast<const uint16_t*>(&qv[i]), f);
    *reinterpret_cast<float4*>(q_lo + 4 * e) =
        make_float4(f[0] * qscale, f[1] * qscale, f[2] * qscale, f[3] * qscale);
    *reinterpret_cast<float4*>(q_hi + 4 * e) =
        make_float4(f[4] * qscale, f[5] * qscale, f[6] * qscale, f[7] * qscale);
  }
  int pg[C::kPieces];  // page ids of the next tile to issue (kStages - 1 ahead)
#pragma unroll
  for (int r = 0; r < C::kPieces; ++r) {
    const int tok = start + (kStages - 1) * kTile + row0 + r * C::kRowStep;
    pg[r] = tok < end ? __ldg(table + PageOf(p, tok)) : 0;
  }

  // Tensor-core path state. The MMA row is the head (row lane / 4 of a fragment; rows >= kGroup
  // and rows 8-15 are zero), so a thread keeps the online softmax of head lane / 4, and the O
  // fragments' rows 8-15 (o_acc[n][2..3]) stay zero. qa: q's A fragments (a0, a2) per k step.
  constexpr int kKSteps = C::kMma ? kDim / 16 : 1;
  const int qrow = lane >> 2, qcol = 2 * (lane & 3);
  uint32_t qa[kKSteps][2];
  float o_acc[C::kMma ? kDim / 8 : 1][4];
  float m_row = -INFINITY, l_row = 0.f;
  if constexpr (C::kMma) {
    __syncthreads();  // q in shared memory
    const uint16_t* qs = reinterpret_cast<const uint16_t*>(sm.misc) + qrow * kDim + qcol;
#pragma unroll
    for (int k = 0; k < kKSteps; ++k) {
      qa[k][0] = qrow < kGroup ? *reinterpret_cast<const uint32_t*>(qs + 16 * k) : 0u;
      qa[k][1] = qrow < kGroup ? *reinterpret_cast<const uint32_t*>(qs + 16 * k + 8) : 0u;
    }
#pragma unroll
    for (int n = 0; n < kDim / 8; ++n) o_acc[n][0] = o_acc[n][1] = o_acc[n][2] = o_acc[n][3] = 0.f;
  }

  const int tl = lane / kLanes, j = lane % kLanes;  // QK: token of the warp's quarter, slice
  float m[kGroup], l[kGroup], acc[kGroup][kDpl];
#pragma unroll
  for (int g = 0; g < kGroup; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.f;
#pragma unroll
    for (int d = 0; d < kDpl; ++d) acc[g][d] = 0.f;
  }

  for (int i = 0; i < n_tiles; ++i) {
    device::CpAsyncWait<kStages - 2>();  // groups 0..i done (kStages - 1 + i committed)
    __syncthreads();  // tile i visible to all; stage (i - 1) % kStages no longer read
    if (i + kStages - 1 < n_tiles) issue(i + kStages - 1, pg);
    device::CpAsyncCommit();
    if (i + kStages < n_tiles) {
#pragma unroll
      for (int r = 0; r < C::kPieces; ++r) {
        const int tok = start + (i + kStages) * kTile + row0 + r * C::kRowStep;
        pg[r] = tok < end ? __ldg(table + PageOf(p, tok)) : 0;
      }
    }
    const int tile_len = min(kTile, end - (start + i * kTile));
    if (warp * kWarpTok >= tile_len) continue;  // no valid token in this warp's quarter
    if constexpr (C::kMma) {
      const uint32_t kaddr = static_cast<uint32_t>(__cvta_generic_to_shared(stage_mem)) +
                             (i % kStages) * kStageBytes;
      MmaTile<kDim, kGroup>(kaddr, kaddr + kTile * kDim * 2, tile_len, qscale, qa, m_row, l_row,
                            o_acc);
      continue;
    }
    const uint16_t* ks =
        reinterpret_cast<const uint16_t*>(stage_mem + (i % kStages) * kStageBytes);
    const uint16_t* vs = ks + kTile * kDim;

    // QK for token t (zero-filled rows past the end give 0 and are masked below).
    const int t = warp * kWarpTok + tl;
    float s[kGroup];
#pragma unroll
    for (int g = 0; g < kGroup; ++g) s[g] = 0.f;
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const int cc = j + kLanes * ((c + t) & 3);  // rotated: conflict-free phases
      float f[8];
      LoadBf16<8>(ks + t * kDim + cc * 8, f);
#pragma unroll
      for (int g = 0; g < kGroup; ++g) {
        const float4 a = *reinterpret_cast<const float4*>(q_lo + 4 * (g * kChunks + cc));
        const float4 h = *reinterpret_cast<const float4*>(q_hi + 4 * (g * kChunks + cc));
        const float qf[8] = {a.x, a.y, a.z, a.w, h.x, h.y, h.z, h.w};
#pragma unroll
        for (int e = 0; e < 8; ++e) s[g] = fmaf(qf[e], f[e], s[g]);
      }
    }
    const bool valid = t < tile_len;
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
#pragma unroll
      for (int o = 1; o < kLanes; o <<= 1) s[g] += __shfl_xor_sync(0xffffffffu, s[g], o);
      s[g] = valid ? s[g] : -INFINITY;
      float mx = s[g];
#pragma unroll
      for (int o = kLanes; o < 32; o <<= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
      const float m_new = fmaxf(m[g], mx);  // finite: the warp has a valid token
      const float alpha = exp2f(m[g] - m_new);  // 0 on the warp's first tile (m = -inf)
      const float pr = exp2f(s[g] - m_new);     // 0 for masked tokens
      l[g] = l[g] * alpha + (j == 0 ? pr : 0.f);  // one lane per token counts it
      m[g] = m_new;
      if (j == 0) sm.p[warp][g][tl] = pr;
#pragma unroll
      for (int d = 0; d < kDpl; ++d) acc[g][d] *= alpha;
    }
    __syncwarp();
    // PV over the warp's tokens (zero-filled V rows have weight 0 and value 0).
#pragma unroll
    for (int u0 = 0; u0 < kWarpTok; u0 += 4) {
      float4 p4[kGroup];
#pragma unroll
      for (int g = 0; g < kGroup; ++g) p4[g] = *reinterpret_cast<const float4*>(&sm.p[warp][g][u0]);
#pragma unroll
      for (int uu = 0; uu < 4; ++uu) {
        float f[kDpl];
        LoadBf16<kDpl>(vs + (warp * kWarpTok + u0 + uu) * kDim + lane * kDpl, f);
#pragma unroll
        for (int g = 0; g < kGroup; ++g) {
          const float w = uu == 0 ? p4[g].x : uu == 1 ? p4[g].y : uu == 2 ? p4[g].z : p4[g].w;
#pragma unroll
          for (int d = 0; d < kDpl; ++d) acc[g][d] = fmaf(w, f[d], acc[g][d]);
        }
      }
    }
  }
  device::CpAsyncWait<0>();  // only empty groups can be pending; the buffers are reused below
  __syncthreads();

  // Block combine of the warps, fixed order: o = sum_w 2^(m_w - M) o_w, likewise l.
  float* red = reinterpret_cast<float*>(stage_mem);  // [kWarps][kGroup][kDim]
  if constexpr (C::kMma) {
    const float lsum = device::QuadSum(l_row);
    if (qrow < kGroup) {
      float* dst = red + (warp * kGroup + qrow) * kDim + qcol;
#pragma unroll
      for (int n = 0; n < kDim / 8; ++n) {
        *reinterpret_cast<float2*>(dst + 8 * n) = make_float2(o_acc[n][0], o_acc[n][1]);
      }
      if ((lane & 3) == 0) sm.ml[warp][qrow] = make_float2(m_row, lsum);
    }
  } else {
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
#pragma unroll
      for (int d = 0; d < kDpl; ++d) red[(warp * kGroup + g) * kDim + lane * kDpl + d] = acc[g][d];
      const float lsum = device::WarpSum(l[g]);
      if (lane == 0) sm.ml[warp][g] = make_float2(m[g], lsum);
    }
  }
  __syncthreads();
  constexpr int kF4 = kGD / 4;
  const bool one_split = p.splits == 1;
  for (int f = tid; f < kF4; f += kThreads) {
    const int g = f / (kDim / 4);
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, sm.ml[w][g].x);
    float4 o = make_float4(0.f, 0.f, 0.f, 0.f);
    float lt = 0.f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      const float2 mlw = sm.ml[w][g];
      const float wt = mlw.x == -INFINITY ? 0.f : exp2f(mlw.x - mx);
      const float4 v = reinterpret_cast<const float4*>(red)[w * kF4 + f];
      lt += wt * mlw.y;
      o.x += wt * v.x;
      o.y += wt * v.y;
      o.z += wt * v.z;
      o.w += wt * v.w;
    }
    if (one_split) {  // the whole sequence: normalise (lt = 0 only for an empty sequence)
      const float inv = lt > 0.f ? 1.f / lt : 0.f;
      uint2 packed;
      packed.x = device::PackBf16x2(o.x * inv, o.y * inv);
      packed.y = device::PackBf16x2(o.z * inv, o.w * inv);
      *reinterpret_cast<uint2*>(p.a.out + head0 * kDim + 4 * f) = packed;
    } else {
      const int64_t slot = pair * p.splits + split;
      reinterpret_cast<float4*>(p.part_o)[slot * kF4 + f] = o;
      if (f % (kDim / 4) == 0) p.part_ml[slot * kGroup + g] = make_float2(mx, lt);
    }
  }
  if (one_split) return;
  // Last block done (release/acquire as in CUDA's threadFenceReduction sample): every writer
  // fences before the barrier that precedes the counter's atomicAdd; the merging block fences
  // after observing the count and reads the partials through L2. It resets the counter: every
  // split of this launch has counted, and the next launch on the ordered stream sees the zero.
  __threadfence();
  __syncthreads();
  if (tid == 0) {
    int* counter = p.counters + pair;
    const bool last = atomicAdd(counter, 1) == p.splits - 1;
    if (last) atomicExch(counter, 0);
    sm.last = last;
  }
  __syncthreads();
  if (!sm.last) return;
  __threadfence();
  MergeSplits<kDim, kGroup>(p, pair, stage_mem, sm.misc);
}

__global__ void AppendKvKernel(DecodeAttentionShape s, const uint16_t* __restrict__ k_new,
                               const uint16_t* __restrict__ v_new,
                               const int32_t* __restrict__ positions,
                               const int32_t* __restrict__ block_table, uint16_t* k_cache,
                               uint16_t* v_cache) {
  const int b = blockIdx.x;
  const int pos = positions[b];
  const int page = block_table[static_cast<int64_t>(b) * s.max_pages_per_seq + pos / s.page_size];
  const int64_t row = static_cast<int64_t>(page) * s.page_size + pos % s.page_size;
  const int width = s.num_kv_heads * s.head_dim;
  const uint4* ks = reinterpret_cast<const uint4*>(k_new + static_cast<int64_t>(b) * width);
  const uint4* vs = reinterpret_cast<const uint4*>(v_new + static_cast<int64_t>(b) * width);
  uint4* kd = reinterpret_cast<uint4*>(k_cache + row * width);
  uint4* vd = reinterpret_cast<uint4*>(v_cache + row * width);
  for (int i = threadIdx.x; i < width / 8; i += blockDim.x) {
    kd[i] = ks[i];
    vd[i] = vs[i];
  }
}

// Splits per (sequence, kv head), each >= kMinSplitTokens tokens and <= kMaxSplits. Few pairs
// (< one per SM, e.g. batch 1): about two blocks per SM, all resident at once; each keeps three
// 16 KB tiles in flight, which covers HBM latency, and fewer, longer splits keep the merge (which
// reads every partial of its pair) short. Otherwise the count in 1..8 with the least
// wave-quantised time over kBlocksPerSm slots per SM (ties to fewer splits).
int ChooseSplits(const DecodeAttentionShape& s, int num_sms) {
  const int64_t pairs = static_cast<int64_t>(std::max(s.batch, 1)) * std::max(s.num_kv_heads, 1);
  const int64_t sms = std::max(num_sms, 1);
  const int64_t slots = sms * kBlocksPerSm;
  const int64_t max_splits = std::min<int64_t>(
      kMaxSplits, std::max<int64_t>(1, (std::max(s.max_seq_len, 1) + kMinSplitTokens - 1) /
                                           kMinSplitTokens));
  int64_t best = 1;
  if (pairs < sms) {
    best = std::min<int64_t>(max_splits, std::max<int64_t>(1, 2 * sms / pairs));
  } else {
    double best_cost = 1e30;
    for (int64_t c = 1; c <= std::min<int64_t>(8, max_splits); ++c) {
      const double cost = static_cast<double>((pairs * c + slots - 1) / slots) / c;
      if (cost < best_cost - 1e-9) {
        best_cost = cost;
        best = c;
      }
    }
  }
  return static_cast<int>(best);
}

int TokensPerSplit(const DecodeAttentionShape& s, int num_sms) {
  const int splits = ChooseSplits(s, num_sms);
  return std::max(1, (std::max(s.max_seq_len, 1) + splits - 1) / splits);
}

int SplitCount(const DecodeAttentionShape& s, int num_sms) {
  const int per = TokensPerSplit(s, num_sms);
  return std::max(1, (s.max_seq_len + per - 1) / per);
}


}  // namespace

int DecodeAttentionSplits(const DecodeAttentionShape& s, int num_sms) {
  return SplitCount(s, num_sms);
}

size_t DecodeAttentionCounterBytes(const DecodeAttentionShape& s) {
  const size_t pairs = static_cast<size_t>(std::max(s.batch, 0)) * std::max(s.num_kv_heads, 0);
  return (pairs * sizeof(int32_t) + 255) / 256 * 256;  // partials stay 256-byte aligned
}

size_t DecodeAttentionWorkspaceBytes(const DecodeAttentionShape& s, int num_sms) {
  const size_t heads = static_cast<size_t>(s.batch) * s.num_heads;
  const size_t splits = SplitCount(s, num_sms);
  return DecodeAttentionCounterBytes(s) + heads * splits * (s.head_dim + 2) * sizeof(float) + 256;
}

absl::Status InitDecodeAttentionWorkspace(const DecodeAttentionShape& s, void* workspace,
                                          size_t workspace_bytes, cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(workspace_bytes >= DecodeAttentionCounterBytes(s),
                         "decode attention: workspace of ", workspace_bytes,
                         " bytes cannot hold the ", DecodeAttentionCounterBytes(s),
                         " counter bytes");
  if (workspace_bytes == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(workspace != nullptr, "decode attention: null workspace");
  JANUS_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(workspace, 0, workspace_bytes, stream));
  return absl::OkStatus();
}

absl::Status LaunchDecodeAttention(const DecodeAttentionShape& s, const DecodeAttentionArgs& a,
                                   cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(s.batch >= 0 && s.num_heads > 0 && s.num_kv_heads > 0 &&
                             s.num_heads % s.num_kv_heads == 0,
                         "decode attention: bad heads (num_heads ", s.num_heads, ", num_kv_heads ",
                         s.num_kv_heads, ")");
  JANUS_KERNEL_CHECK_ARG(s.page_size > 0 && s.max_pages_per_seq > 0 && s.max_seq_len >= 0 &&
                             static_cast<int64_t>(s.max_pages_per_seq) * s.page_size >=
                                 s.max_seq_len,
                         "decode attention: max_seq_len ", s.max_seq_len, " does not fit ",
                         s.max_pages_per_seq, " pages of ", s.page_size);
  if (s.batch == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(a.q && a.k_cache && a.v_cache && a.block_table && a.seq_lens && a.out,
                         "decode attention: a required pointer is null");
  JANUS_KERNEL_CHECK_ARG(IsAligned(a.q, 16) && IsAligned(a.k_cache, 16) &&
                             IsAligned(a.v_cache, 16) && IsAligned(a.out, 8),
                         "decode attention: q, k_cache and v_cache must be 16-byte aligned and "
                         "out 8-byte aligned");
  int sms = 0;
  JANUS_RETURN_IF_ERROR(CurrentDeviceInfo(&sms, nullptr));
  JANUS_KERNEL_CHECK_ARG(a.workspace != nullptr && IsAligned(a.workspace, 16) &&
                             a.workspace_bytes >= DecodeAttentionWorkspaceBytes(s, sms),
                         "decode attention: workspace needs ",
                         DecodeAttentionWorkspaceBytes(s, sms), " bytes (16-byte aligned), got ",
                         a.workspace_bytes);
  Params p{s, a, SplitCount(s, sms), TokensPerSplit(s, sms), nullptr, nullptr, nullptr, 0, 0};
  PageDivider(s.page_size, &p.page_mul, &p.page_shift);
  JANUS_KERNEL_CHECK_ARG(p.splits >= 1 && p.splits <= kMaxSplits, "decode attention: ", p.splits,
                         " splits (at most ", kMaxSplits, ")");
  const size_t heads = static_cast<size_t>(s.batch) * s.num_heads;
  p.counters = static_cast<int*>(a.workspace);
  p.part_o = reinterpret_cast<float*>(static_cast<char*>(a.workspace) +
                                      DecodeAttentionCounterBytes(s));
  // heads * splits * head_dim floats of part_o keep part_ml 256-byte aligned (head_dim >= 64).
  p.part_ml = reinterpret_cast<float2*>(p.part_o + heads * p.splits * s.head_dim);
  const dim3 grid(p.splits, s.num_kv_heads, s.batch);
  JANUS_DISPATCH_HEAD_DIM(s.head_dim, kDim, {
    JANUS_DISPATCH_GQA_GROUP(s.num_heads / s.num_kv_heads, kGroup, {
      auto kernel = DecodeSplitKernel<kDim, kGroup>;
      JANUS_CUDA_RETURN_IF_ERROR(
          cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kDynSmem));
      // The whole unified memory as shared memory, so that three blocks fit.
      JANUS_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(
          kernel, cudaFuncAttributePreferredSharedMemoryCarveout, cudaSharedmemCarveoutMaxShared));
      kernel<<<grid, kThreads, kDynSmem, stream>>>(p);
      JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
    });
  });
  return absl::OkStatus();
}

absl::Status LaunchAppendKv(const DecodeAttentionShape& s, const uint16_t* k_new,
                            const uint16_t* v_new, const int32_t* positions,
                            const int32_t* block_table, uint16_t* k_cache, uint16_t* v_cache,
                            cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(s.batch >= 0 && s.num_kv_heads > 0 && s.head_dim > 0 &&
                             (s.num_kv_heads * s.head_dim) % 8 == 0 && s.page_size > 0,
                         "append kv: bad shape");
  if (s.batch == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(k_new && v_new && positions && block_table && k_cache && v_cache,
                         "append kv: a required pointer is null");
  AppendKvKernel<<<s.batch, 128, 0, stream>>>(s, k_new, v_new, positions, block_table, k_cache,
                                              v_cache);
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

}  // namespace janus::kernels
