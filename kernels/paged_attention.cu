// General paged causal attention on CUDA cores (any head dims, any mix of prefill and decode rows).
//
// Grid (row * splits + split, kv head, head chunk); a block serves up to kHeads (1, 2, 4, 8 or 16)
// query heads of one kv head for one query row, so every K/V tile it stages in shared memory is
// shared by the heads of the GQA group (all of an MLA row's heads, 16 per chunk). Warps own heads
// (kHpw = kHeads / kWarps each, kWarps = min(kHeads, 4)), lanes own tokens: per tile of 32 tokens
//  stage:   the tile's cache rows -> shared memory as bf16 pairs (16-byte loads where the layout
//           allows, 2-byte loads otherwise); K rows are padded to an odd number of 32-bit words so
//           that lane t reading row t is bank-conflict free;
//  QK:      lane t forms the scores of token t for its warp's heads (q in shared memory as fp32,
//           broadcast float4 reads);
//  softmax: online, per head in registers (warp max / sum over the tile's 32 tokens, expf);
//  PV:      lane l accumulates value dims 2l + 64j, 2l + 64j + 1 for its warp's heads, taking the
//           token's probability from lane t by shuffle; V rows are read as contiguous words.
// A sequence longer than one tile is walked tile by tile; nothing is sized by the sequence length.
//
// KV splits: when the grid would leave the GPU idle (few rows), the tiles of a row are dealt round
// robin to `splits` blocks that form one thread-block cluster; each block leaves (m, l, acc) in its
// shared memory and, after a cluster barrier, every block merges a slice of the outputs reading
// all partials through distributed shared memory in split order 0..splits-1 (deterministic, no
// workspace, no atomics). With one split the same code writes o = acc / l.
#include <cooperative_groups.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/common.cuh"
#include "kernels/paged_attention.h"
#include "kernels/paged_attention_mma.h"

namespace janus::kernels {
namespace {

namespace cg = cooperative_groups;

constexpr int kTile = 32;        // tokens per tile: one per lane
constexpr int kMaxHeads = 16;    // query heads per block (larger groups use several chunks)
constexpr int kStageBatch = 4;   // global loads in flight per thread while staging

struct Params {
  PagedAttentionShape s;
  PagedAttentionArgs a;
  int group;    // query heads per kv head
  int splits;   // blocks (cluster size) per (row, kv head, chunk)
  int qk4;      // qk_dim rounded up to 4 (q and K rows are zero-padded to it)
  int kws;      // words (bf16 pairs) per K row in shared memory: qk4 / 2 + 1, odd
  int vws;      // words per V row in shared memory: ceil(v_dim / 2)
  bool alias;   // V is the head of each K row (MLA): not staged separately
  bool k_vec;   // K rows can be read with 16-byte loads
  bool v_vec;
};

template <int kHeads>
struct Layout {
  static constexpr int kWarps = kHeads < 4 ? kHeads : 4;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kHpw = kHeads / kWarps;  // heads per warp
};

// Cluster helpers. Built for an architecture without clusters, a launch always has one split.
__device__ __forceinline__ unsigned SplitRank() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  return cg::this_cluster().block_rank();
#else
  return 0;
#endif
}
__device__ __forceinline__ void SplitSync() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cg::this_cluster().sync();
#else
  __syncthreads();
#endif
}
template <typename T>
__device__ __forceinline__ T* PeerShared(T* ptr, unsigned rank) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  return cg::this_cluster().map_shared_rank(ptr, rank);
#else
  (void)rank;
  return ptr;
#endif
}

// Copies the `tl` cache rows row_s[0..tl) (`width` bf16 each, row t at src + row_s[t] * stride)
// into shared memory, row t at dst + t * dst_ws as `words` bf16 pairs; elements in
// [width, 2 * words) are zero. vec: width % 8 == 0, `words` == width / 2, src and stride 16-byte
// aligned. Item e = t * per_row + c of the flat index is advanced incrementally (no division in
// the loop), kStageBatch loads are issued before their stores.
template <int kThreads>
__device__ __forceinline__ void StageRows(uint32_t* __restrict__ dst, int dst_ws, int words,
                                          const uint16_t* __restrict__ src, int64_t stride,
                                          const int64_t* row_s, int tl, int width, bool vec) {
  const int tid = threadIdx.x;
  const int per_row = vec ? width / 8 : words;
  const int total = tl * per_row;
  const int dt = kThreads / per_row, dc = kThreads % per_row;
  int t = tid / per_row, c = tid % per_row;
  if (vec) {
    for (int e = tid; e < total; e += kStageBatch * kThreads) {
      uint4 v[kStageBatch];
      int at[kStageBatch];  // destination word
#pragma unroll
      for (int b = 0; b < kStageBatch; ++b) {
        at[b] = t * dst_ws + c * 4;
        v[b] = make_uint4(0, 0, 0, 0);
        if (e + b * kThreads < total) v[b] = device::Load16(src + row_s[t] * stride + c * 8);
        t += dt;
        c += dc;
        if (c >= per_row) {
          c -= per_row;
          ++t;
        }
      }
#pragma unroll
      for (int b = 0; b < kStageBatch; ++b) {
        if (e + b * kThreads < total) {
          uint32_t* d = dst + at[b];
          d[0] = v[b].x;
          d[1] = v[b].y;
          d[2] = v[b].z;
          d[3] = v[b].w;
        }
      }
    }
  } else {
    for (int e = tid; e < total; e += kStageBatch * kThreads) {
      uint32_t v[kStageBatch];
      int at[kStageBatch];
#pragma unroll
      for (int b = 0; b < kStageBatch; ++b) {
        at[b] = t * dst_ws + c;
        v[b] = 0;
        if (e + b * kThreads < total) {
          const uint16_t* s = src + row_s[t] * stride + 2 * c;
          const uint32_t lo = 2 * c < width ? __ldg(s) : 0;
          const uint32_t hi = 2 * c + 1 < width ? __ldg(s + 1) : 0;
          v[b] = lo | (hi << 16);
        }
        t += dt;
        c += dc;
        if (c >= per_row) {
          c -= per_row;
          ++t;
        }
      }
#pragma unroll
      for (int b = 0; b < kStageBatch; ++b) {
        if (e + b * kThreads < total) dst[at[b]] = v[b];
      }
    }
  }
}

// Dynamic shared memory (all of the block's shared memory, so that peers of the cluster address
// it uniformly): a header of ml [kMaxHeads] float2 (running max and sum of each head, for the
// merge) and row [kTile] int64 (cache row page * page_size + slot of each tile token), then
// during the tile loop q [kHeads][qk4] fp32 | K tile [kTile][kws] words | V tile [kTile][vws]
// words (absent when aliased), and after the loop the partial accumulators
// [kHeads][kVChunks * 64] fp32 that the cluster's blocks merge.
constexpr int kHeaderBytes = kMaxHeads * 8 + kTile * 8;
static_assert(kHeaderBytes % 16 == 0, "keeps the regions 16-byte aligned");
inline int LoopSmemBytes(int heads, int qk4, int kws, int vws, bool alias) {
  return heads * qk4 * 4 + kTile * kws * 4 + (alias ? 0 : kTile * vws * 4);
}

// minBlocks 1: with the thread bound alone ptxas caps some variants at 40-80 registers and
// spills a few bytes; occupancy is bounded by shared memory or the grid anyway.
template <int kHeads, int kVChunks>
__global__ void __launch_bounds__(Layout<kHeads>::kThreads, 1)
    PagedAttentionKernel(const Params p) {
  constexpr int kWarps = Layout<kHeads>::kWarps;
  constexpr int kThreads = Layout<kHeads>::kThreads;
  constexpr int kHpw = Layout<kHeads>::kHpw;
  constexpr int kVPad = kVChunks * 64;  // value dims a warp covers (2 per lane per chunk)
  static_assert(kWarps * kHpw == kHeads, "heads must split evenly over warps");
  extern __shared__ __align__(16) unsigned char dyn_smem[];
  float2* ml_s = reinterpret_cast<float2*>(dyn_smem);
  int64_t* row_s = reinterpret_cast<int64_t*>(dyn_smem + kMaxHeads * 8);
  unsigned char* smem = dyn_smem + kHeaderBytes;

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int splits = p.splits;
  const unsigned split = SplitRank();
  const int64_t r = blockIdx.x / splits;
  const int kvh = blockIdx.y, chunk = blockIdx.z;
  const int qk = p.s.qk_dim, vd = p.s.v_dim, qk4 = p.qk4;
  const int h0 = kvh * p.group + chunk * kHeads;  // first query head of the block
  const int nh = min(kHeads, p.group - chunk * kHeads);
  const int n = p.a.row_pos[r] + 1;  // tokens attended
  const int ntiles = n > 0 ? (n + kTile - 1) / kTile : 0;

  float* q_s = reinterpret_cast<float*>(smem);
  uint32_t* k_s = reinterpret_cast<uint32_t*>(smem + kHeads * qk4 * 4);
  uint32_t* v_s = p.alias ? k_s : k_s + kTile * p.kws;
  const int v_ws = p.alias ? p.kws : p.vws;

  float m_run[kHpw], l_run[kHpw], acc[kHpw][kVChunks][2];
#pragma unroll
  for (int i = 0; i < kHpw; ++i) {
    m_run[i] = -INFINITY;
    l_run[i] = 0.f;
#pragma unroll
    for (int j = 0; j < kVChunks; ++j) acc[i][j][0] = acc[i][j][1] = 0.f;
  }

  if (static_cast<int>(split) < ntiles) {  // block-uniform: this split has tokens
    const int H = p.s.num_heads;
    // q of the block's heads, fp32 (exact), zero for padding dims and heads past the group.
    for (int i = tid; i < kHeads * qk4; i += kThreads) {
      const int hl = i / qk4, d = i - hl * qk4;
      float v = 0.f;
      if (hl < nh && d < qk) {
        v = device::Bf16ToFloat(p.a.q[(r * H + h0 + hl) * qk + d]);
      }
      q_s[i] = v;
    }
    const int32_t* table =
        p.a.block_table + static_cast<int64_t>(p.a.row_seq[r]) * p.s.max_pages_per_seq;
    const uint16_t* kbase = p.a.k_cache + static_cast<int64_t>(kvh) * qk;
    const uint16_t* vbase = p.a.v_cache + static_cast<int64_t>(kvh) * vd;
    const int ps = p.s.page_size;
    const int n4 = qk4 / 4;
    const float4* q4 = reinterpret_cast<const float4*>(q_s) + warp * kHpw * n4;
    const uint32_t* krow = k_s + lane * p.kws;

    for (int tile = split; tile < ntiles; tile += splits) {
      const int t0 = tile * kTile;
      const int tl = min(kTile, n - t0);
      __syncthreads();  // the previous tile's readers of row_s / K / V are done (and q_s written)
      if (tid < tl) {
        const int pos = t0 + tid;
        row_s[tid] = static_cast<int64_t>(table[pos / ps]) * ps + pos % ps;
      }
      __syncthreads();
      StageRows<kThreads>(k_s, p.kws, qk4 / 2, kbase, p.a.k_token_stride, row_s, tl, qk, p.k_vec);
      if (!p.alias) {
        StageRows<kThreads>(v_s, p.vws, p.vws, vbase, p.a.v_token_stride, row_s, tl, vd, p.v_vec);
      }
      __syncthreads();

      // QK: lane = token. Lanes past tl read stale rows; their scores are masked below.
      float s[kHpw];
#pragma unroll
      for (int i = 0; i < kHpw; ++i) s[i] = 0.f;
#pragma unroll 2
      for (int d4 = 0; d4 < n4; ++d4) {
        const uint32_t k01 = krow[2 * d4], k23 = krow[2 * d4 + 1];
        const float k0 = device::Bf16Lo(k01), k1 = device::Bf16Hi(k01);
        const float k2 = device::Bf16Lo(k23), k3 = device::Bf16Hi(k23);
#pragma unroll
        for (int i = 0; i < kHpw; ++i) {
          const float4 qv = q4[i * n4 + d4];
          s[i] = fmaf(qv.x, k0, s[i]);
          s[i] = fmaf(qv.y, k1, s[i]);
          s[i] = fmaf(qv.z, k2, s[i]);
          s[i] = fmaf(qv.w, k3, s[i]);
        }
      }
      // Online softmax. Token 0 of the tile is valid, so the new max is finite; the first tile
      // rescales by expf(-inf) = 0.
      float pr[kHpw];
#pragma unroll
      for (int i = 0; i < kHpw; ++i) {
        const float x = lane < tl ? s[i] * p.a.scale : -INFINITY;
        const float m_new = fmaxf(m_run[i], device::WarpMax(x));
        const float alpha = expf(m_run[i] - m_new);
        pr[i] = expf(x - m_new);
        l_run[i] = l_run[i] * alpha + device::WarpSum(pr[i]);
        m_run[i] = m_new;
#pragma unroll
        for (int j = 0; j < kVChunks; ++j) {
          acc[i][j][0] *= alpha;
          acc[i][j][1] *= alpha;
        }
      }
      // PV: lane = value dims (2 * lane + 64 j, +1); word lane + 32 j of each V row.
#pragma unroll 2
      for (int t = 0; t < tl; ++t) {
        float pt[kHpw];
#pragma unroll
        for (int i = 0; i < kHpw; ++i) pt[i] = __shfl_sync(0xffffffffu, pr[i], t);
        const uint32_t* vrow = v_s + t * v_ws + lane;
#pragma unroll
        for (int j = 0; j < kVChunks; ++j) {
          if (2 * lane + 64 * j < vd) {
            const uint32_t w = vrow[32 * j];
            const float v0 = device::Bf16Lo(w), v1 = device::Bf16Hi(w);
#pragma unroll
            for (int i = 0; i < kHpw; ++i) {
              acc[i][j][0] = fmaf(pt[i], v0, acc[i][j][0]);
              acc[i][j][1] = fmaf(pt[i], v1, acc[i][j][1]);
            }
          }
        }
      }
    }
  }

  // Partials -> shared memory (over q / K, hence the barrier), then merge across the cluster.
  __syncthreads();
  float* acc_s = reinterpret_cast<float*>(smem);  // [kHeads][kVPad]
#pragma unroll
  for (int i = 0; i < kHpw; ++i) {
    const int hl = warp * kHpw + i;
    if (lane == 0) ml_s[hl] = make_float2(m_run[i], l_run[i]);
#pragma unroll
    for (int j = 0; j < kVChunks; ++j) {
      *reinterpret_cast<float2*>(acc_s + hl * kVPad + 64 * j + 2 * lane) =
          make_float2(acc[i][j][0], acc[i][j][1]);
    }
  }
  SplitSync();
  const int total = nh * vd;
  const int64_t out0 = (r * p.s.num_heads + h0) * vd;
  for (int e = static_cast<int>(split) * kThreads + tid; e < total; e += splits * kThreads) {
    const int hl = e / vd, d = e - hl * vd;
    float m = -INFINITY;
    for (int c = 0; c < splits; ++c) m = fmaxf(m, PeerShared(ml_s, c)[hl].x);
    float l = 0.f, o = 0.f;
    for (int c = 0; c < splits; ++c) {  // fixed order: deterministic
      const float2 ml = PeerShared(ml_s, c)[hl];
      if (ml.y > 0.f) {  // an empty split has m = -inf, l = 0, acc = 0
        const float w = expf(ml.x - m);  // exactly 1 with one split
        l = fmaf(w, ml.y, l);
        o = fmaf(w, PeerShared(acc_s, c)[hl * kVPad + d], o);
      }
    }
    p.a.out[out0 + e] = device::FloatToBf16(l > 0.f ? o / l : 0.f);
  }
  SplitSync();  // peers may still read this block's shared memory
}

struct KvWriteParams {
  const uint16_t* src;
  int64_t src_row_stride;
  int width;
  const int32_t* row_seq;
  const int32_t* row_pos;
  const int32_t* block_table;
  int max_pages_per_seq;
  int page_size;
  uint16_t* cache;
  int64_t token_stride;
  int64_t dst_offset;
  bool vec;  // 16-byte copies
};

__global__ void __launch_bounds__(128) PagedKvWriteKernel(const KvWriteParams p) {
  const int64_t r = blockIdx.x;
  const int pos = p.row_pos[r];
  const int page =
      p.block_table[static_cast<int64_t>(p.row_seq[r]) * p.max_pages_per_seq + pos / p.page_size];
  uint16_t* dst = p.cache +
                  (static_cast<int64_t>(page) * p.page_size + pos % p.page_size) * p.token_stride +
                  p.dst_offset;
  const uint16_t* src = p.src + r * p.src_row_stride;
  if (p.vec) {
    for (int c = threadIdx.x; c < p.width / 8; c += blockDim.x) {
      reinterpret_cast<uint4*>(dst)[c] = reinterpret_cast<const uint4*>(src)[c];
    }
  } else {
    for (int c = threadIdx.x; c < p.width; c += blockDim.x) dst[c] = src[c];
  }
}

int HeadsPerBlock(int group) {
  if (group >= kMaxHeads) return kMaxHeads;
  int h = 1;
  while (h < group) h *= 2;
  return h;
}

int VChunks(int v_dim) {
  int c = 1;
  while (c * 64 < v_dim) c *= 2;
  return c;  // 1, 2, 4 or 8 for v_dim <= 512
}


bool Aliased(const PagedAttentionShape& s, const PagedAttentionArgs& a) {
  return a.v_cache == a.k_cache && a.v_token_stride == a.k_token_stride && s.v_dim <= s.qk_dim &&
         (s.num_kv_heads == 1 || s.v_dim == s.qk_dim);
}

template <int kHeads, int kVChunks>
absl::Status LaunchKernel(const Params& p, int cluster, int smem, cudaStream_t stream) {
  auto kernel = PagedAttentionKernel<kHeads, kVChunks>;
  JANUS_CUDA_RETURN_IF_ERROR(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  const int chunks = CeilDiv(p.group, kHeads);
  const dim3 grid(static_cast<unsigned>(p.s.rows) * p.splits, p.s.num_kv_heads, chunks);
  if (cluster == 0) {  // no cluster support: one split, plain launch
    kernel<<<grid, Layout<kHeads>::kThreads, smem, stream>>>(p);
    JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
    return absl::OkStatus();
  }
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = dim3(Layout<kHeads>::kThreads, 1, 1);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = cluster;
  attr[0].val.clusterDim.y = 1;
  attr[0].val.clusterDim.z = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  JANUS_CUDA_RETURN_IF_ERROR(cudaLaunchKernelEx(&cfg, kernel, p));
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

template <int kHeads>
absl::Status DispatchVChunks(const Params& p, int cluster, int smem, cudaStream_t stream) {
  switch (VChunks(p.s.v_dim)) {
    case 1: return LaunchKernel<kHeads, 1>(p, cluster, smem, stream);
    case 2: return LaunchKernel<kHeads, 2>(p, cluster, smem, stream);
    case 4: return LaunchKernel<kHeads, 4>(p, cluster, smem, stream);
    case 8: return LaunchKernel<kHeads, 8>(p, cluster, smem, stream);
    default:
      return absl::InvalidArgumentError(absl::StrCat("paged attention: v_dim ", p.s.v_dim));
  }
}

}  // namespace

int PagedAttentionSplits(const PagedAttentionShape& s, int num_sms) {
  if (s.kv_splits > 0) return s.kv_splits;
  const int group = s.num_kv_heads > 0 ? std::max(1, s.num_heads / s.num_kv_heads) : 1;
  const int64_t blocks = static_cast<int64_t>(std::max(s.rows, 1)) *
                         std::max(s.num_kv_heads, 1) * CeilDiv(group, HeadsPerBlock(group));
  // Split only while the grid stays within one block per multiprocessor.
  int splits = 1;
  while (splits * 2 <= kPagedAttentionMaxSplits && blocks * splits * 2 <= num_sms) splits *= 2;
  return splits;
}

int PagedAttentionSharedBytes(const PagedAttentionShape& s, bool v_aliases_k) {
  const int group = s.num_kv_heads > 0 ? std::max(1, s.num_heads / s.num_kv_heads) : 1;
  const int heads = HeadsPerBlock(group);
  const int qk4 = (std::max(s.qk_dim, 1) + 3) / 4 * 4;
  const int loop = LoopSmemBytes(heads, qk4, qk4 / 2 + 1, (std::max(s.v_dim, 1) + 1) / 2,
                                 v_aliases_k);
  const int merge = heads * VChunks(s.v_dim) * 64 * 4;
  return kHeaderBytes + std::max(loop, merge);
}

absl::Status LaunchPagedAttention(const PagedAttentionShape& s, const PagedAttentionArgs& a,
                                  cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(s.rows >= 0, "paged attention: rows ", s.rows, " < 0");
  JANUS_KERNEL_CHECK_ARG(s.num_heads > 0 && s.num_kv_heads > 0 &&
                             s.num_heads % s.num_kv_heads == 0,
                         "paged attention: bad heads (num_heads ", s.num_heads, ", num_kv_heads ",
                         s.num_kv_heads, "): num_kv_heads must be positive and divide num_heads");
  JANUS_KERNEL_CHECK_ARG(s.qk_dim >= 1 && s.qk_dim <= kPagedAttentionMaxQkDim,
                         "paged attention: qk_dim ", s.qk_dim, " outside [1, ",
                         kPagedAttentionMaxQkDim, "]");
  JANUS_KERNEL_CHECK_ARG(s.v_dim >= 1 && s.v_dim <= kPagedAttentionMaxVDim,
                         "paged attention: v_dim ", s.v_dim, " outside [1, ",
                         kPagedAttentionMaxVDim, "]");
  JANUS_KERNEL_CHECK_ARG(s.page_size > 0 && s.max_pages_per_seq > 0,
                         "paged attention: page_size ", s.page_size, " and max_pages_per_seq ",
                         s.max_pages_per_seq, " must be positive");
  JANUS_KERNEL_CHECK_ARG(s.kv_splits >= 0 && s.kv_splits <= kPagedAttentionMaxSplits &&
                             (s.kv_splits & (s.kv_splits - 1)) == 0,
                         "paged attention: kv_splits ", s.kv_splits,
                         " is not 0 (automatic), 1, 2, 4 or 8");
  // Grid limits: x = rows * splits < 2^31, y = num_kv_heads, z = head chunks (<= 65535).
  JANUS_KERNEL_CHECK_ARG(s.rows < (1 << 28) && s.num_kv_heads <= 65535 && s.num_heads <= (1 << 20),
                         "paged attention: ", s.rows, " rows, ", s.num_heads, " heads, ",
                         s.num_kv_heads, " kv heads exceed the grid (rows < 2^28, heads <= 2^20, "
                         "kv heads <= 65535)");
  const int64_t k_width = static_cast<int64_t>(s.num_kv_heads) * s.qk_dim;
  const int64_t v_width = static_cast<int64_t>(s.num_kv_heads) * s.v_dim;
  const bool alias = Aliased(s, a);
  JANUS_KERNEL_CHECK_ARG(a.k_token_stride >= k_width, "paged attention: k_token_stride ",
                         a.k_token_stride, " < num_kv_heads * qk_dim = ", k_width);
  JANUS_KERNEL_CHECK_ARG(alias || a.v_token_stride >= v_width, "paged attention: v_token_stride ",
                         a.v_token_stride, " < num_kv_heads * v_dim = ", v_width);
  JANUS_KERNEL_CHECK_ARG(std::isfinite(a.scale), "paged attention: scale ", a.scale,
                         " is not finite");
  if (s.rows == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(a.q && a.k_cache && a.v_cache && a.row_seq && a.row_pos &&
                             a.block_table && a.out,
                         "paged attention: a required pointer is null (rows ", s.rows, ")");

  int sms = 0, max_smem = 0;
  JANUS_RETURN_IF_ERROR(CurrentDeviceInfo(&sms, &max_smem));
  int device = 0, major = 0;
  JANUS_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  JANUS_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  const bool clusters = major >= 9;
  if (s.rows >= kPagedAttentionMmaMinRows && PagedAttentionMmaFits(s, a, major)) {
    return LaunchPagedAttentionMma(s, a, stream);
  }

  Params p;
  p.s = s;
  p.a = a;
  p.group = s.num_heads / s.num_kv_heads;
  p.splits = clusters ? PagedAttentionSplits(s, sms) : 1;
  p.qk4 = (s.qk_dim + 3) / 4 * 4;
  p.kws = p.qk4 / 2 + 1;
  p.vws = (s.v_dim + 1) / 2;
  p.alias = alias;
  p.k_vec = IsAligned(a.k_cache, 16) && a.k_token_stride % 8 == 0 && s.qk_dim % 8 == 0;
  p.v_vec = IsAligned(a.v_cache, 16) && a.v_token_stride % 8 == 0 && s.v_dim % 8 == 0;
  const int smem = PagedAttentionSharedBytes(s, alias);
  JANUS_KERNEL_CHECK_ARG(smem <= max_smem, "paged attention: needs ", smem,
                         " bytes of shared memory per block, the device allows ", max_smem);
  const int cluster = clusters ? p.splits : 0;
  switch (HeadsPerBlock(p.group)) {
    case 1: return DispatchVChunks<1>(p, cluster, smem, stream);
    case 2: return DispatchVChunks<2>(p, cluster, smem, stream);
    case 4: return DispatchVChunks<4>(p, cluster, smem, stream);
    case 8: return DispatchVChunks<8>(p, cluster, smem, stream);
    case 16: return DispatchVChunks<16>(p, cluster, smem, stream);
    default:
      return absl::InvalidArgumentError(absl::StrCat("paged attention: group ", p.group));
  }
}

absl::Status LaunchPagedKvWrite(const uint16_t* src, int64_t src_row_stride, int rows, int width,
                                const int32_t* row_seq, const int32_t* row_pos,
                                const int32_t* block_table, int max_pages_per_seq, int page_size,
                                uint16_t* cache, int64_t token_stride, int64_t dst_offset,
                                cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(rows >= 0, "paged kv write: rows ", rows, " < 0");
  JANUS_KERNEL_CHECK_ARG(width > 0, "paged kv write: width ", width, " must be positive");
  JANUS_KERNEL_CHECK_ARG(src_row_stride >= width, "paged kv write: src_row_stride ",
                         src_row_stride, " < width ", width);
  JANUS_KERNEL_CHECK_ARG(dst_offset >= 0 && dst_offset + width <= token_stride,
                         "paged kv write: dst_offset ", dst_offset, " + width ", width,
                         " exceeds token_stride ", token_stride);
  JANUS_KERNEL_CHECK_ARG(page_size > 0 && max_pages_per_seq > 0, "paged kv write: page_size ",
                         page_size, " and max_pages_per_seq ", max_pages_per_seq,
                         " must be positive");
  if (rows == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(src && row_seq && row_pos && block_table && cache,
                         "paged kv write: a required pointer is null (rows ", rows, ")");
  KvWriteParams p{src,       src_row_stride, width,        row_seq,    row_pos,
                  block_table, max_pages_per_seq, page_size, cache,      token_stride,
                  dst_offset, false};
  p.vec = IsAligned(src, 16) && IsAligned(cache, 16) && src_row_stride % 8 == 0 &&
          token_stride % 8 == 0 && dst_offset % 8 == 0 && width % 8 == 0;
  PagedKvWriteKernel<<<rows, 128, 0, stream>>>(p);
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

}  // namespace janus::kernels
