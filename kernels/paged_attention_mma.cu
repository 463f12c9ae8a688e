// Tensor-core paged causal attention for many query rows (see kernels/paged_attention_mma.h).
//
// Fragment maps (mma.sync m16n8k16, a thread holds rows g = lane / 4 and g + 8 of its warp's 16
// query rows, columns 2 (lane % 4) + {0, 1} of each 8-wide n tile):
//  Q (A, 16 rows x 16 dims per k step): ldmatrix.x4 of rows (0-7 | 8-15) x pieces (2k | 2k + 1),
//    loaded once into registers;
//  K (B of S, n = token): ldmatrix.x4 of K rows (tokens 16j + 0-7 | 8-15) x pieces (2k | 2k + 1);
//  P (A of O, k = token): S's accumulators of n tiles 2t and 2t + 1 packed to bf16;
//  V (B of O, n = dim): ldmatrix.x4.trans of V rows (tokens 16t + 0-7 | 8-15) x pieces (2c | 2c+1).
// Shared memory: Q [64 or 128 rows][kDim], then two stages of K [64][kDim] and V [64][kDim];
// 16-byte piece c of row r sits at c ^ (r & 7), so each ldmatrix phase hits 8 different bank
// groups.
#include "kernels/paged_attention_mma.h"

#include <algorithm>
#include <cmath>

#include "kernels/common.cuh"
#include "kernels/device_info.h"

namespace janus::kernels {
namespace {

constexpr int kKv = 64;  // tokens per K / V tile
constexpr float kLog2e = 1.4426950408889634f;

struct Params {
  PagedAttentionShape s;
  PagedAttentionArgs a;
  int group;  // query heads per kv head
};

// kWarps warps of 16 query rows: 8 (128 rows) halves the K / V traffic from L2 per flop, 4 (64
// rows) gives short prefills twice the blocks.
template <int kDim, int kWarps>
struct Cfg {
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kRows = 16 * kWarps;  // query rows per block
  static constexpr int kRowBytes = kDim * 2;
  static constexpr int kChunks = kDim / 8;  // 16-byte pieces per row
  static constexpr int kQBytes = kRows * kRowBytes;
  static constexpr int kTileBytes = kKv * kRowBytes;  // K or V of one stage
  static constexpr int kStageBytes = 2 * kTileBytes;
  static constexpr int kSmem = kQBytes + 2 * kStageBytes;  // head_dim 128: 80 / 96 KB
};

__device__ __forceinline__ uint32_t Swz(int row, int chunk, int row_bytes) {
  return static_cast<uint32_t>(row * row_bytes + ((chunk ^ (row & 7)) << 4));
}

__device__ __forceinline__ uint32_t Bits(__nv_bfloat162 v) {
  return *reinterpret_cast<const uint32_t*>(&v);
}

template <int kDim, int kWarps>
__global__ void __launch_bounds__(32 * kWarps) PagedAttentionMmaKernel(const Params p) {
  using C = Cfg<kDim, kWarps>;
  constexpr int kRb = C::kRowBytes, kRows = C::kRows, kThreads = C::kThreads;
  extern __shared__ __align__(128) unsigned char smem[];
  __shared__ int seq_s[kRows], pos_s[kRows];
  __shared__ int cur_seq_s, kv_end_s;
  const uint32_t q_base = device::SmemAddress(smem);
  const uint32_t kv_base = q_base + C::kQBytes;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, tig = lane & 3, r8 = lane & 7, mi = lane >> 3;
  const int r0 = blockIdx.x * kRows, h = blockIdx.y;
  const int rows = p.s.rows, H = p.s.num_heads, page_size = p.s.page_size;
  const int kvh = h / p.group;

  // The rows' sequences and positions (-1 past the last row), and the q tile (zero rows past it).
  if (tid < kRows) {
    const int r = r0 + tid;
    seq_s[tid] = r < rows ? p.a.row_seq[r] : -1;
    pos_s[tid] = r < rows ? p.a.row_pos[r] : -1;
  }
  for (int c = tid; c < kRows * C::kChunks; c += kThreads) {
    const int row = c / C::kChunks, ch = c % C::kChunks;
    const int r = r0 + row;
    const bool ok = r < rows;
    const uint16_t* src = ok ? p.a.q + (static_cast<int64_t>(r) * H + h) * kDim + ch * 8 : p.a.q;
    device::CpAsync16To(q_base + Swz(row, ch, kRb), src, ok ? 16 : 0);
  }
  device::CpAsyncCommit();
  device::CpAsyncWait<0>();
  __syncthreads();
  uint32_t qa[kDim / 16][4];
  {
    const int row = warp * 16 + 8 * (mi & 1) + r8;
#pragma unroll
    for (int k = 0; k < kDim / 16; ++k)
      device::Ldsm4(q_base + Swz(row, 2 * k + (mi >> 1), kRb), qa[k]);
  }

  const float sl2 = p.a.scale * kLog2e;
  const int row_a = warp * 16 + g, row_b = row_a + 8;
  float o[kDim / 8][4];
#pragma unroll
  for (int n = 0; n < kDim / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  float m_a = -INFINITY, m_b = -INFINITY, l_a = 0.f, l_b = 0.f;

  // One pass per distinct sequence among the block's rows, in first-occurrence order.
  for (;;) {
    __syncthreads();  // the previous pass's marks are visible and its stages no longer read
    if (tid == 0) {
      int cur = -1, end = 0;
      for (int i = 0; i < kRows; ++i) {
        if (seq_s[i] < 0) continue;
        if (cur < 0) cur = seq_s[i];
        if (seq_s[i] == cur) end = max(end, pos_s[i] + 1);
      }
      cur_seq_s = cur;
      kv_end_s = end;
    }
    __syncthreads();
    const int cur = cur_seq_s;
    if (cur < 0) break;
    const int kv_end = kv_end_s;                                // >= 1: positions are >= 0
    const int pos_a = seq_s[row_a] == cur ? pos_s[row_a] : -1;  // -1: not in this pass
    const int pos_b = seq_s[row_b] == cur ? pos_s[row_b] : -1;
    int warp_end = max(pos_a, pos_b);
#pragma unroll
    for (int off = 4; off < 32; off <<= 1) {
      warp_end = max(warp_end, __shfl_xor_sync(0xffffffffu, warp_end, off));
    }
    const int32_t* table = p.a.block_table + static_cast<int64_t>(cur) * p.s.max_pages_per_seq;
    const uint16_t* kbase = p.a.k_cache + static_cast<int64_t>(kvh) * kDim;
    const uint16_t* vbase = p.a.v_cache + static_cast<int64_t>(kvh) * kDim;
    auto load_tile = [&](int t, int stage) {
      const uint32_t kdst = kv_base + stage * C::kStageBytes, vdst = kdst + C::kTileBytes;
      for (int c = tid; c < kKv * C::kChunks; c += kThreads) {
        const int row = c / C::kChunks, ch = c % C::kChunks;
        const int tok = t * kKv + row;
        const bool ok = tok < kv_end;
        const uint16_t* ks = p.a.k_cache;
        const uint16_t* vs = p.a.v_cache;
        if (ok) {
          const int64_t slot =
              static_cast<int64_t>(table[tok / page_size]) * page_size + tok % page_size;
          ks = kbase + slot * p.a.k_token_stride + ch * 8;
          vs = vbase + slot * p.a.v_token_stride + ch * 8;
        }
        device::CpAsync16To(kdst + Swz(row, ch, kRb), ks, ok ? 16 : 0);
        device::CpAsync16To(vdst + Swz(row, ch, kRb), vs, ok ? 16 : 0);
      }
    };
    const int n_tiles = (kv_end + kKv - 1) / kKv;
    load_tile(0, 0);
    device::CpAsyncCommit();
    for (int t = 0; t < n_tiles; ++t) {
      device::CpAsyncWait<0>();
      __syncthreads();  // tile t visible; every warp is done with tile t - 1's stage
      if (t + 1 < n_tiles) load_tile(t + 1, (t + 1) & 1);
      device::CpAsyncCommit();
      if (t * kKv > warp_end) continue;  // every row of this warp precedes the tile
      const uint32_t kst = kv_base + (t & 1) * C::kStageBytes, vst = kst + C::kTileBytes;

      float s[8][4];
#pragma unroll
      for (int j = 0; j < 8; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
      for (int k = 0; k < kDim / 16; ++k) {
#pragma unroll
        for (int jp = 0; jp < 4; ++jp) {
          uint32_t b[4];
          device::Ldsm4(kst + Swz(16 * jp + 8 * (mi >> 1) + r8, 2 * k + (mi & 1), kRb), b);
          device::MmaBf16(s[2 * jp], qa[k][0], qa[k][1], qa[k][2], qa[k][3], b[0], b[1]);
          device::MmaBf16(s[2 * jp + 1], qa[k][0], qa[k][1], qa[k][2], qa[k][3], b[2], b[3]);
        }
      }
      // Causal mask (token <= the row's position; rows not in this pass see nothing), log2 scale.
      float mx_a = -INFINITY, mx_b = -INFINITY;
#pragma unroll
      for (int j = 0; j < 8; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int tok = t * kKv + 8 * j + 2 * tig + (e & 1);
          const float v = tok <= (e < 2 ? pos_a : pos_b) ? s[j][e] * sl2 : -INFINITY;
          s[j][e] = v;
          if (e < 2) {
            mx_a = fmaxf(mx_a, v);
          } else {
            mx_b = fmaxf(mx_b, v);
          }
        }
      }
      const device::SoftmaxStep st_a = device::OnlineSoftmaxStep(m_a, l_a, device::QuadMax(mx_a));
      const device::SoftmaxStep st_b = device::OnlineSoftmaxStep(m_b, l_b, device::QuadMax(mx_b));
      const float al_a = st_a.alpha, al_b = st_b.alpha, base_a = st_a.base, base_b = st_b.base;
#pragma unroll
      for (int n = 0; n < kDim / 8; ++n) {
        o[n][0] *= al_a;
        o[n][1] *= al_a;
        o[n][2] *= al_b;
        o[n][3] *= al_b;
      }
      // P as the A fragments of O += P V (k step kt = tokens 16 kt ..): a0 / a1 = rows g / g + 8
      // of n tile 2 kt, a2 / a3 of n tile 2 kt + 1.
      uint32_t pa[4][4];
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        pa[j / 2][2 * (j & 1)] = Bits(device::RoundedWeights(s[j][0], s[j][1], base_a, l_a));
        pa[j / 2][2 * (j & 1) + 1] = Bits(device::RoundedWeights(s[j][2], s[j][3], base_b, l_b));
      }
#pragma unroll
      for (int kt = 0; kt < kKv / 16; ++kt) {
#pragma unroll
        for (int cp = 0; cp < kDim / 16; ++cp) {
          uint32_t b[4];
          device::Ldsm4T(vst + Swz(16 * kt + 8 * (mi & 1) + r8, 2 * cp + (mi >> 1), kRb), b);
          device::MmaBf16(o[2 * cp], pa[kt][0], pa[kt][1], pa[kt][2], pa[kt][3], b[0], b[1]);
          device::MmaBf16(o[2 * cp + 1], pa[kt][0], pa[kt][1], pa[kt][2], pa[kt][3], b[2], b[3]);
        }
      }
    }
    // This pass's rows are done (pos_a / pos_b were read before the tile loop's barriers).
    if (tid < kRows && seq_s[tid] == cur) seq_s[tid] = -2;
  }

  l_a = device::QuadSum(l_a);
  l_b = device::QuadSum(l_b);
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int r = r0 + (half == 0 ? row_a : row_b);
    if (r >= rows) continue;
    const float l = half == 0 ? l_a : l_b;
    const float inv = l > 0.f ? 1.f / l : 0.f;
    __nv_bfloat16* out = reinterpret_cast<__nv_bfloat16*>(p.a.out) +
                         (static_cast<int64_t>(r) * H + h) * kDim + 2 * tig;
#pragma unroll
    for (int n = 0; n < kDim / 8; ++n) {
      *reinterpret_cast<__nv_bfloat162*>(out + 8 * n) =
          __floats2bfloat162_rn(o[n][2 * half] * inv, o[n][2 * half + 1] * inv);
    }
  }
}

template <int kDim, int kWarps>
absl::Status LaunchTyped(const Params& p, cudaStream_t stream) {
  using C = Cfg<kDim, kWarps>;
  auto kernel = PagedAttentionMmaKernel<kDim, kWarps>;
  JANUS_CUDA_RETURN_IF_ERROR(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, C::kSmem));
  const dim3 grid(CeilDiv(p.s.rows, C::kRows), p.s.num_heads);
  kernel<<<grid, C::kThreads, C::kSmem, stream>>>(p);
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

}  // namespace

bool PagedAttentionMmaFits(const PagedAttentionShape& s, const PagedAttentionArgs& a,
                           int cc_major) {
  return cc_major >= 8 && s.qk_dim == s.v_dim && (s.qk_dim == 64 || s.qk_dim == 128) &&
         s.kv_splits <= 1 && s.num_heads <= 65535 && a.v_cache != a.k_cache && IsAligned(a.q, 16) &&
         IsAligned(a.k_cache, 16) && IsAligned(a.v_cache, 16) && IsAligned(a.out, 4) &&
         a.k_token_stride % 8 == 0 && a.v_token_stride % 8 == 0;
}

int PagedAttentionMmaRowsPerBlock(const PagedAttentionShape& s, int num_sms) {
  // 128-row blocks once they still give two blocks per SM, else 64-row blocks.
  return int64_t{CeilDiv(s.rows, 128)} * s.num_heads >= 2 * int64_t{num_sms} ? 128 : 64;
}

absl::Status LaunchPagedAttentionMma(const PagedAttentionShape& s, const PagedAttentionArgs& a,
                                     cudaStream_t stream) {
  Params p{s, a, s.num_heads / s.num_kv_heads};
  int sms = 0;
  JANUS_RETURN_IF_ERROR(CurrentDeviceInfo(&sms, nullptr));
  const bool wide = PagedAttentionMmaRowsPerBlock(s, sms) == 128;
  if (s.qk_dim == 64) {
    return wide ? LaunchTyped<64, 8>(p, stream) : LaunchTyped<64, 4>(p, stream);
  }
  return wide ? LaunchTyped<128, 8>(p, stream) : LaunchTyped<128, 4>(p, stream);
}

}  // namespace janus::kernels
