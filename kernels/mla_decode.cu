#include "kernels/mla_decode.h"

#include <algorithm>
#include <cmath>

#include "kernels/common.cuh"
#include "kernels/cuda_status.h"
#include "kernels/device_info.h"

namespace janus::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kTileN = 64;                 // tokens per staged latent tile
constexpr int kRowBytes = kMlaRow * 2;     // 1152 bytes: a multiple of 128, so rows need a swizzle
constexpr int kChunks = kMlaRow / 8;       // 16-byte pieces per row (72 = 9 groups of 8)
constexpr int kKSteps = kMlaRow / 16;      // k-steps of the QKᵀ MMAs
constexpr int kMaxSplits = 128;
constexpr float kLog2e = 1.4426950408889634f;

// RT = 16-head row tiles per block (1, 2 or 4: 16, 32 or 64 heads, padded with zero query rows).
// QKᵀ: warp w owns row tile w / kWpr and tokens [(w % kWpr) kTw, +kTw) of the tile (kNt n-tiles of
// 8).
// PV: warp w owns output columns [64 w, 64 w + 64) for all RT row tiles.
template <int RT>
struct Cfg {
  static constexpr int kHeads = 16 * RT;
  static constexpr int kWpr = kWarps / RT;
  static constexpr int kTw = kTileN / kWpr;
  static constexpr int kNt = kTw / 8;
  static constexpr int kQBytes = kHeads * kRowBytes;
  static constexpr int kKvBytes = kTileN * kRowBytes;
  static constexpr int kPBytes = kHeads * kTileN * 2;  // P as bf16, rows of 128 bytes
  static constexpr int kOffKv = kQBytes;               // two stages
  static constexpr int kOffP = kOffKv + 2 * kKvBytes;
  static constexpr int kOffRed = kOffP + kPBytes;      // [kWpr][kHeads] fp32: row max, then l
  static constexpr int kOffAlpha = kOffRed + kWpr * kHeads * 4;
  static constexpr int kOffM = kOffAlpha + kHeads * 4;
  static constexpr int kSmem = kOffM + kHeads * 4;
};
static_assert(Cfg<4>::kSmem <= 232448, "64-head block exceeds the H100 shared memory");

struct MlaParams {
  MlaDecodeShape s;
  MlaDecodeArgs a;
  int splits = 1;
  float* part_ml = nullptr;  // [batch, heads, splits] (m in log2 units, l)
  float* part_o = nullptr;   // [batch, heads, splits, 512], unnormalised
};

// Byte offset of 16-byte piece `chunk` of latent row `row`: the low three bits of the chunk are
// XORed with the row, so the 8 rows of one ldmatrix 8x8 read hit 8 different bank groups.
__device__ __forceinline__ uint32_t SwzRow(int row, int chunk) {
  return row * kRowBytes + ((chunk ^ (row & 7)) << 4);
}

using device::Ldsm2;
using device::Ldsm4;
using device::Ldsm4T;
__device__ __forceinline__ void Mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                    uint32_t b1) {
  device::MmaBf16(d, a[0], a[1], a[2], a[3], b0, b1);
}

// One block per (head group, split, sequence). Per 64-token tile: S = Q Kᵀ (tensor cores, Q and
// the tile in shared memory), online softmax in the log2 domain with the row max shared between
// the warps of a row tile, P (bf16) through shared memory, O += P V with V = the tile's first 512
// columns. The next tile streams in (cp.async) while this one is computed.
template <int RT>
__global__ void __launch_bounds__(kThreads, 1) MlaSplitKernel(MlaParams p) {
  using C = Cfg<RT>;
  extern __shared__ __align__(128) unsigned char smem[];
  const uint32_t sbase = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  float* red = reinterpret_cast<float*>(smem + C::kOffRed);
  float* alpha_s = reinterpret_cast<float*>(smem + C::kOffAlpha);
  float* m_s = reinterpret_cast<float*>(smem + C::kOffM);
  const int group = blockIdx.x, split = blockIdx.y, b = blockIdx.z;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, tig = lane & 3, x7 = lane & 7;
  const int H = p.s.num_heads, page_size = p.s.page_size;
  const int h0 = group * C::kHeads;
  const int heads_here = min(C::kHeads, H - h0);
  const int len = min(max(p.a.seq_lens[b], 0), p.s.max_seq_len);
  // The splits divide this sequence's own tiles, whatever max_seq_len is.
  const int tiles = (len + kTileN - 1) / kTileN;
  const int per_split = (tiles + p.splits - 1) / p.splits;
  const int tile_begin = split * per_split;
  const int num_tiles = max(0, min(tiles, tile_begin + per_split) - tile_begin);
  const int end = min(len, (tile_begin + num_tiles) * kTileN);
  const int32_t* table = p.a.block_table + static_cast<int64_t>(b) * p.s.max_pages_per_seq;

  if (tid < C::kHeads) m_s[tid] = -INFINITY;

  // Warp w stages rows [8 w, 8 w + 8): lane r < 8 looks up row r's page, then the warp copies
  // the 8 x 72 pieces (18 per lane, consecutive lanes on consecutive pieces). Rows past `end`
  // are zero-filled so that 0-weighted tokens never meet stale (possibly NaN) bits.
  auto load_tile = [&](int tile, int stage) {
    const int t = tile * kTileN + warp * 8 + x7;
    long long off = -1;
    if (t < end) {
      const int64_t page = table[t / page_size];
      off = (page * page_size + t % page_size) * kMlaRow;
    }
    const uint32_t dst = sbase + C::kOffKv + stage * C::kKvBytes;
#pragma unroll
    for (int i = 0; i < 8 * kChunks / 32; ++i) {
      const int piece = lane + 32 * i;
      const int r = piece / kChunks, ch = piece - r * kChunks;
      const long long row_off = __shfl_sync(0xffffffffu, off, r);
      const uint16_t* src = row_off >= 0 ? p.a.cache + row_off + ch * 8 : p.a.cache;
      device::CpAsync16To(dst + SwzRow(warp * 8 + r, ch), src, row_off >= 0 ? 16 : 0);
    }
  };

  if (num_tiles > 0) {
    for (int c = tid; c < C::kHeads * kChunks; c += kThreads) {
      const int r = c / kChunks, ch = c - r * kChunks;
      const bool ok = r < heads_here;
      const uint16_t* src =
          ok ? p.a.q + (static_cast<int64_t>(b) * H + h0 + r) * kMlaRow + ch * 8 : p.a.q;
      device::CpAsync16To(sbase + SwzRow(r, ch), src, ok ? 16 : 0);
    }
    load_tile(tile_begin, 0);
  }
  device::CpAsyncCommit();

  const int rt = warp / C::kWpr, ts = warp % C::kWpr;  // QKᵀ role
  const int row0 = rt * 16 + g, row1 = row0 + 8;       // this thread's S rows
  const float sl2 = p.a.scale * kLog2e;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
  float o[RT][8][4];
#pragma unroll
  for (int r = 0; r < RT; ++r)
#pragma unroll
    for (int j = 0; j < 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[r][j][e] = 0.f;

  // ldmatrix lane addressing (lane 8 i + j gives row j of 8x8 matrix i).
  //   A (16x16 of Q or P): rows (lane & 7) + 8 ((lane >> 3) & 1), k-half lane >> 4.
  //   B of QKᵀ (tokens x 16 dims, plain): tokens (lane & 7) + 8 (lane >> 4), k-half (lane >> 3) & 1.
  //   B of PV (16 tokens x 16 dims, .trans): tokens (lane & 7) + 8 ((lane >> 3) & 1), dim-half
  //   lane >> 4.
  // Every addressed row has row & 7 == lane & 7 and the chunk is even + half, so the swizzled
  // chunk is even ^ (half ^ (lane & 7)): the XOR terms are precomputed below.
  const int a_row = x7 + 8 * ((lane >> 3) & 1);
  const uint32_t q_addr = sbase + (rt * 16 + a_row) * kRowBytes;
  const uint32_t a_xor = ((lane >> 4) ^ x7) << 4;
  const int kb_row = ts * C::kTw + x7 + (C::kNt >= 2 ? 8 * (lane >> 4) : 0);
  const uint32_t b_xor = (((lane >> 3) & 1) ^ x7) << 4;
  const uint32_t p_addr = sbase + C::kOffP + a_row * 128;
  const uint32_t v_xor = ((lane >> 4) ^ x7) << 4;

  for (int i = 0; i < num_tiles; ++i) {
    device::CpAsyncWait<0>();
    __syncthreads();  // tile i visible; every warp is done with tile i - 1 (its stage, P, red)
    if (i + 1 < num_tiles) load_tile(tile_begin + i + 1, (i + 1) & 1);
    device::CpAsyncCommit();
    const uint32_t kv = sbase + C::kOffKv + (i & 1) * C::kKvBytes;
    const int t0 = (tile_begin + i) * kTileN;

    // S = Q Kᵀ for this warp's 16 heads x kTw tokens.
    float s[C::kNt][4];
#pragma unroll
    for (int j = 0; j < C::kNt; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
    const uint32_t k_addr = kv + kb_row * kRowBytes;
#pragma unroll 12
    for (int kk = 0; kk < kKSteps; ++kk) {
      uint32_t a[4];
      Ldsm4(q_addr + ((32u * kk) ^ a_xor), a);
      const uint32_t kc = (32u * kk) ^ b_xor;
      if constexpr (C::kNt == 1) {
        uint32_t b0, b1;
        Ldsm2(k_addr + kc, b0, b1);
        Mma(s[0], a, b0, b1);
      } else {
#pragma unroll
        for (int jp = 0; jp < C::kNt / 2; ++jp) {
          uint32_t bb[4];
          Ldsm4(k_addr + jp * 16 * kRowBytes + kc, bb);
          Mma(s[2 * jp], a, bb[0], bb[1]);
          Mma(s[2 * jp + 1], a, bb[2], bb[3]);
        }
      }
    }
    // Scale into the log2 domain, mask tokens past the split's end, row max over the quad.
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int j = 0; j < C::kNt; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int tok = t0 + ts * C::kTw + j * 8 + 2 * tig + (e & 1);
        const float v = tok < end ? s[j][e] * sl2 : -INFINITY;
        s[j][e] = v;
        if (e < 2) {
          mx0 = fmaxf(mx0, v);
        } else {
          mx1 = fmaxf(mx1, v);
        }
      }
    }
    mx0 = device::QuadMax(mx0);
    mx1 = device::QuadMax(mx1);
    if (tig == 0) {
      red[ts * C::kHeads + row0] = mx0;
      red[ts * C::kHeads + row1] = mx1;
    }
    __syncthreads();  // the row tile's partial maxima
#pragma unroll
    for (int w = 0; w < C::kWpr; ++w) {
      mx0 = fmaxf(mx0, red[w * C::kHeads + row0]);
      mx1 = fmaxf(mx1, red[w * C::kHeads + row1]);
    }
    // Every warp of a row tile derives the same new max; a tile always holds a valid token, the
    // guard only keeps -inf - -inf out.
    const device::SoftmaxStep st0 = device::OnlineSoftmaxStep(m0, l0, mx0);
    const device::SoftmaxStep st1 = device::OnlineSoftmaxStep(m1, l1, mx1);
    const float al0 = st0.alpha, al1 = st1.alpha, base0 = st0.base, base1 = st1.base;
    unsigned char* p_s = smem + C::kOffP;
#pragma unroll
    for (int j = 0; j < C::kNt; ++j) {
      const __nv_bfloat162 lo = device::RoundedWeights(s[j][0], s[j][1], base0, l0);
      const __nv_bfloat162 hi = device::RoundedWeights(s[j][2], s[j][3], base1, l1);
      const int chunk = ts * C::kNt + j;  // 8 tokens = one 16-byte piece of a P row
      const int sw = ((chunk ^ g) << 4) + 4 * tig;  // row0 & 7 == row1 & 7 == g
      *reinterpret_cast<__nv_bfloat162*>(p_s + row0 * 128 + sw) = lo;
      *reinterpret_cast<__nv_bfloat162*>(p_s + row1 * 128 + sw) = hi;
    }
    if (ts == 0 && tig == 0) {
      alpha_s[row0] = al0;
      alpha_s[row1] = al1;
      m_s[row0] = m0;
      m_s[row1] = m1;
    }
    __syncthreads();  // P and the rescale factors

    // O = O * alpha + P V over this warp's 64 columns.
#pragma unroll
    for (int r = 0; r < RT; ++r) {
      const float a0 = alpha_s[r * 16 + g], a1 = alpha_s[r * 16 + g + 8];
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        o[r][j][0] *= a0;
        o[r][j][1] *= a0;
        o[r][j][2] *= a1;
        o[r][j][3] *= a1;
      }
    }
    const uint32_t v_addr = kv + a_row * kRowBytes + warp * 128;  // piece 8 w of the row
#pragma unroll
    for (int kt = 0; kt < kTileN / 16; ++kt) {
      uint32_t pa[RT][4];
#pragma unroll
      for (int r = 0; r < RT; ++r) Ldsm4(p_addr + r * 16 * 128 + ((32u * kt) ^ a_xor), pa[r]);
#pragma unroll
      for (int jp = 0; jp < 4; ++jp) {
        uint32_t bb[4];
        Ldsm4T(v_addr + kt * 16 * kRowBytes + ((32u * jp) ^ v_xor), bb);
#pragma unroll
        for (int r = 0; r < RT; ++r) {
          Mma(o[r][2 * jp], pa[r], bb[0], bb[1]);
          Mma(o[r][2 * jp + 1], pa[r], bb[2], bb[3]);
        }
      }
    }
  }

  // l over the quad, then over the row tile's warps (red's last reads were before the last P
  // barrier, which every thread has passed).
  l0 = device::QuadSum(l0);
  l1 = device::QuadSum(l1);
  if (tig == 0) {
    red[ts * C::kHeads + row0] = l0;
    red[ts * C::kHeads + row1] = l1;
  }
  __syncthreads();
  auto row_l = [&](int row) {
    float l = 0.f;
#pragma unroll
    for (int w = 0; w < C::kWpr; ++w) l += red[w * C::kHeads + row];
    return l;
  };
  const int64_t head0 = static_cast<int64_t>(b) * H + h0;
#pragma unroll
  for (int r = 0; r < RT; ++r) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int row = r * 16 + g + 8 * half;
      if (row >= heads_here) continue;
      const int col = warp * 64 + 2 * tig;
      if (p.splits == 1) {
        const float l = row_l(row);
        const float inv = l > 0.f ? 1.f / l : 0.f;
        __nv_bfloat16* out = reinterpret_cast<__nv_bfloat16*>(p.a.out) +
                             (head0 + row) * kMlaLatent + col;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          *reinterpret_cast<__nv_bfloat162*>(out + 8 * j) = __floats2bfloat162_rn(
              o[r][j][2 * half] * inv, o[r][j][2 * half + 1] * inv);
        }
      } else if (num_tiles > 0) {  // the merge never reads the accumulator of an empty split
        float* out = p.part_o + ((head0 + row) * p.splits + split) * kMlaLatent + col;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          *reinterpret_cast<float2*>(out + 8 * j) =
              make_float2(o[r][j][2 * half], o[r][j][2 * half + 1]);
        }
      }
    }
  }
  if (p.splits > 1 && tid < heads_here) {
    const int64_t at = (head0 + tid) * p.splits + split;
    p.part_ml[2 * at] = m_s[tid];  // -inf for an empty split
    p.part_ml[2 * at + 1] = row_l(tid);
  }
}

// o = Σ_s 2^(m_s - M) acc_s / Σ_s 2^(m_s - M) l_s, one block per (head, sequence, group of
// 128 * kColsPerThread output columns). Thread s reads split s's (m, l) (splits <= kMaxSplits =
// 128 <= the block size); the block reduces M and the denominator in a fixed tree and keeps the
// weights in shared memory, so the column loop's loads are independent of each other and issue
// back to back. kParities groups of 128 threads sum the splits s = parity (mod kParities) of
// their columns in split order, then the groups are added in order: bit-reproducible.
// Few (head, sequence) pairs (batch 1-8): <1 column, 2 parities> = 4x the blocks, 2x the threads
// (h16 batch 1: 19.0 -> 10.1 us for the whole call; a block per (head, sequence) with one dependent
// L2 round trip per split made the merge most of it). Many pairs: <4, 1>, a block per (head,
// sequence), where per-block overhead matters more than loads in flight.
template <int kColsPerThread, int kParities>
__global__ void __launch_bounds__(128 * kParities) MlaMergeKernel(MlaParams p) {
  constexpr int kBlock = 128 * kParities;
  constexpr int kCols = 128 * kColsPerThread;  // output columns per block
  static_assert(kMaxSplits <= kBlock && kMlaLatent % kCols == 0, "merge layout");
  __shared__ float w_s[kMaxSplits];
  __shared__ float warp_red[kBlock / 32];
  __shared__ float group_sum[kParities > 1 ? (kParities - 1) * kCols : 1];
  const int h = blockIdx.x, b = blockIdx.y, t = threadIdx.x, lane = t & 31, warp = t >> 5;
  const int64_t base = (static_cast<int64_t>(b) * p.s.num_heads + h) * p.splits;
  const float m = t < p.splits ? p.part_ml[2 * (base + t)] : -INFINITY;
  const float l = t < p.splits ? p.part_ml[2 * (base + t) + 1] : 0.f;
  float mx = device::WarpMax(m);
  if (lane == 0) warp_red[warp] = mx;
  __syncthreads();
  mx = warp_red[0];
#pragma unroll
  for (int i = 1; i < kBlock / 32; ++i) mx = fmaxf(mx, warp_red[i]);
  const float w = m == -INFINITY ? 0.f : exp2f(m - mx);  // an empty split (or none) weighs 0
  if (t < kMaxSplits) w_s[t] = w;
  float den = device::WarpSum(w * l);
  __syncthreads();  // everyone has read the maxima
  if (lane == 0) warp_red[warp] = den;
  __syncthreads();
  den = warp_red[0];
#pragma unroll
  for (int i = 1; i < kBlock / 32; ++i) den += warp_red[i];

  const int c = t % 128, parity = t / 128;
  const int col0 = blockIdx.z * kCols + c;
  const float* acc = p.part_o + base * kMlaLatent + col0;
  float o[kColsPerThread] = {};
#pragma unroll 16
  for (int k = parity; k < p.splits; k += kParities) {
    const float wk = w_s[k];
#pragma unroll
    for (int j = 0; j < kColsPerThread; ++j) {
      // Every split's partial is in bounds; an empty split's (never written) is ignored.
      const float v = acc[static_cast<int64_t>(k) * kMlaLatent + 128 * j];
      o[j] = wk != 0.f ? fmaf(wk, v, o[j]) : o[j];
    }
  }
  if constexpr (kParities > 1) {
    if (parity > 0) {
#pragma unroll
      for (int j = 0; j < kColsPerThread; ++j) group_sum[(parity - 1) * kCols + 128 * j + c] = o[j];
    }
    __syncthreads();
    if (parity > 0) return;
#pragma unroll
    for (int g = 1; g < kParities; ++g) {
#pragma unroll
      for (int j = 0; j < kColsPerThread; ++j) o[j] += group_sum[(g - 1) * kCols + 128 * j + c];
    }
  }
  const float inv = den > 0.f ? 1.f / den : 0.f;
  uint16_t* out = p.a.out + (static_cast<int64_t>(b) * p.s.num_heads + h) * kMlaLatent + col0;
#pragma unroll
  for (int j = 0; j < kColsPerThread; ++j) out[128 * j] = device::FloatToBf16(o[j] * inv);
}

size_t Align16(size_t n) { return (n + 15) / 16 * 16; }

int RowTiles(int heads) { return heads <= 16 ? 1 : heads <= 32 ? 2 : 4; }
int HeadGroups(int heads) { return CeilDiv(heads, 16 * RowTiles(heads)); }

template <int RT>
absl::Status LaunchSplit(const MlaParams& p, const dim3& grid, cudaStream_t stream) {
  JANUS_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(
      MlaSplitKernel<RT>, cudaFuncAttributeMaxDynamicSharedMemorySize, Cfg<RT>::kSmem));
  MlaSplitKernel<RT><<<grid, kThreads, Cfg<RT>::kSmem, stream>>>(p);
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

}  // namespace

// One block per SM (shared memory), blocks of equal work: pick the split count that minimises
// waves x (tiles per split + the cost of writing a partial, in tiles), fewest splits on ties.
int MlaDecodeSplits(const MlaDecodeShape& s, int num_sms) {
  const int heads = std::clamp(s.num_heads, 1, 128);
  const int64_t sms = std::max(num_sms, 1);
  const int64_t blocks = static_cast<int64_t>(std::max(s.batch, 1)) * HeadGroups(heads);
  const int tiles = std::max(1, CeilDiv(std::max(s.max_seq_len, 0), kTileN));
  const double partial = 0.25 * RowTiles(heads);  // 2 KB of fp32 per head vs 72 KB per tile
  int best = 1;
  double best_cost = INFINITY;
  for (int n = 1; n <= std::min(kMaxSplits, tiles); ++n) {
    const double waves = static_cast<double>((blocks * n + sms - 1) / sms);
    const double cost = waves * (CeilDiv(tiles, n) + (n > 1 ? partial : 0.0));
    if (cost < best_cost - 1e-9) {
      best = n;
      best_cost = cost;
    }
  }
  return best;
}

size_t MlaDecodeWorkspaceBytes(const MlaDecodeShape& s, int num_sms) {
  const int splits = MlaDecodeSplits(s, num_sms);
  if (splits == 1) return 16;  // the split kernel writes the output itself
  const size_t parts =
      static_cast<size_t>(std::max(s.batch, 0)) * std::max(s.num_heads, 0) * splits;
  return Align16(parts * 2 * sizeof(float)) + parts * kMlaLatent * sizeof(float);
}

absl::Status LaunchMlaDecode(const MlaDecodeShape& s, const MlaDecodeArgs& a,
                             cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(s.batch >= 0 && s.batch <= 65535 && s.num_heads > 0 &&
                             s.num_heads <= 128,
                         "mla decode: bad sizes (batch ", s.batch, ", heads ", s.num_heads, ")");
  JANUS_KERNEL_CHECK_ARG(s.page_size > 0 && s.max_pages_per_seq > 0 && s.max_seq_len >= 0 &&
                             static_cast<int64_t>(s.max_seq_len) <=
                                 static_cast<int64_t>(s.max_pages_per_seq) * s.page_size,
                         "mla decode: bad paging (page ", s.page_size, ", pages ",
                         s.max_pages_per_seq, ", max_seq_len ", s.max_seq_len, ")");
  JANUS_KERNEL_CHECK_ARG(std::isfinite(a.scale), "mla decode: scale is not finite");
  if (s.batch == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(a.q && a.cache && a.block_table && a.seq_lens && a.out && a.workspace,
                         "mla decode: a required pointer is null");
  JANUS_KERNEL_CHECK_ARG(IsAligned(a.q, 16) && IsAligned(a.cache, 16) &&
                             IsAligned(a.workspace, 16) && IsAligned(a.out, 4),
                         "mla decode: q, cache and workspace must be 16-byte aligned, out 4-byte");
  int sms = 0;
  JANUS_RETURN_IF_ERROR(CurrentDeviceInfo(&sms, nullptr));
  JANUS_KERNEL_CHECK_ARG(a.workspace_bytes >= MlaDecodeWorkspaceBytes(s, sms),
                         "mla decode: workspace of ", a.workspace_bytes, " bytes, needs ",
                         MlaDecodeWorkspaceBytes(s, sms));
  MlaParams p;
  p.s = s;
  p.a = a;
  p.splits = MlaDecodeSplits(s, sms);
  const size_t parts = static_cast<size_t>(s.batch) * s.num_heads * p.splits;
  p.part_ml = static_cast<float*>(a.workspace);
  p.part_o = reinterpret_cast<float*>(static_cast<unsigned char*>(a.workspace) +
                                      Align16(parts * 2 * sizeof(float)));
  const int rt = RowTiles(s.num_heads);
  // Head groups of one (split, sequence) are adjacent blocks: they read the same tiles via L2.
  const dim3 grid(HeadGroups(s.num_heads), p.splits, s.batch);
  if (rt == 1) {
    JANUS_RETURN_IF_ERROR(LaunchSplit<1>(p, grid, stream));
  } else if (rt == 2) {
    JANUS_RETURN_IF_ERROR(LaunchSplit<2>(p, grid, stream));
  } else {
    JANUS_RETURN_IF_ERROR(LaunchSplit<4>(p, grid, stream));
  }
  if (p.splits > 1) {
    if (static_cast<int64_t>(s.num_heads) * s.batch <= 2 * sms) {
      MlaMergeKernel<1, 2><<<dim3(s.num_heads, s.batch, kMlaLatent / 128), 256, 0, stream>>>(p);
    } else {
      MlaMergeKernel<4, 1><<<dim3(s.num_heads, s.batch, 1), 128, 0, stream>>>(p);
    }
    JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  }
  return absl::OkStatus();
}

}  // namespace janus::kernels
