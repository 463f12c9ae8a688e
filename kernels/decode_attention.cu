// Split-KV decode attention on CUDA cores.
//
// Grid (split, kv head, sequence); 128 threads. A block walks its split's tokens in tiles of 128:
//  QK: thread t owns token t of the tile, reads its K row with 16-byte loads (256 contiguous bytes
//      for head_dim 128) and forms the scores of the kGroup query heads that share this KV head
//      (q in shared memory, pre-scaled by scale * log2(e), broadcast reads);
//  softmax: warp w keeps the running max / sum of heads w, w + 4 (online softmax, base 2);
//  PV: thread (sub, c) owns 8 dims c and tokens sub, sub + kSubs, ...; V rows are read with
//      coalesced 16-byte loads and accumulated for all kGroup heads in registers.
// Each KV byte is read once; GQA shares every K/V load among the group's query heads. The splits
// of a (sequence, kv head) are merged in the same launch by whichever split block finishes last
// (a counter per pair in the workspace, see decode_attention.h), in fixed split order, so the
// result does not depend on which block that is. With one split the block writes o directly.
#include <algorithm>
#include <cmath>

#include "kernels/common.cuh"
#include "kernels/decode_attention.h"

namespace janus::kernels {
namespace {

constexpr int kThreads = 128;
constexpr int kTile = 128;  // tokens per tile (one per thread in the QK phase)
constexpr int kBlocksPerSm = 4;  // register cap 128: four blocks (16 warps) per multiprocessor

struct Params {
  DecodeAttentionShape s;
  DecodeAttentionArgs a;
  int splits;
  int tokens_per_split;
  float* part_o;  // [batch, num_heads, splits, head_dim]
  float* part_ml; // [batch, num_heads, splits, 2]
  int* counters;  // [batch, num_kv_heads], zero between launches
};

__device__ __forceinline__ void Unpack8(const uint4& v, float (&f)[8]) {
  f[0] = device::Bf16Lo(v.x);
  f[1] = device::Bf16Hi(v.x);
  f[2] = device::Bf16Lo(v.y);
  f[3] = device::Bf16Hi(v.y);
  f[4] = device::Bf16Lo(v.z);
  f[5] = device::Bf16Hi(v.z);
  f[6] = device::Bf16Lo(v.w);
  f[7] = device::Bf16Hi(v.w);
}

// Called by every thread of a split block after its partial (part_o, part_ml) is written, when
// splits > 1. The block whose arrival completes the count merges the pair's splits:
// o = sum_s w_s o_s / sum_s w_s l_s, w_s = 2^(m_s - max m), summed in split order 0..splits-1.
// w_s is zero for empty splits (m_s = -inf), whose part_o is never read. Release/acquire as in
// CUDA's threadFenceReduction sample: every writer fences before the block barrier that precedes
// the counter's atomicAdd; the merging block fences after observing the count and reads the
// partials through L2 (__ldcg), never from a stale L1 line. The merging block resets the counter:
// every split of this launch has already counted, and the next launch on the ordered stream sees
// the zero.
template <int kDim, int kGroup>
__device__ __forceinline__ void MergeIfLast(const Params& p, int b, int kvh, int64_t head0,
                                            float (*w_s)[kTile], int* last_s) {
  constexpr int kOut4 = kGroup * kDim / 4;  // float4 outputs of the pair
  constexpr int kLoads = 16;                // part_o loads in flight per thread
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int splits = p.splits;  // <= kTile (ChooseSplits)
  __threadfence();
  __syncthreads();
  if (tid == 0) {
    int* counter = p.counters + static_cast<int64_t>(b) * p.s.num_kv_heads + kvh;
    const bool last = atomicAdd(counter, 1) == splits - 1;
    if (last) atomicExch(counter, 0);
    *last_s = last;
  }
  __syncthreads();
  if (!*last_s) return;
  __threadfence();
  // Normalised weights w_s / sum_s w_s l_s, one warp per head; (m, l) of up to kTile splits are
  // read kTile / 32 per lane at once.
  for (int g = warp; g < kGroup; g += kThreads / 32) {
    const float2* ml = reinterpret_cast<const float2*>(p.part_ml + (head0 + g) * splits * 2);
    float m[kTile / 32], l[kTile / 32];
    float mx = -INFINITY;
#pragma unroll
    for (int i = 0; i < kTile / 32; ++i) {
      const int s = lane + 32 * i;
      float2 v = make_float2(-INFINITY, 0.f);
      if (s < splits) v = __ldcg(ml + s);
      m[i] = v.x;
      l[i] = v.y;
      mx = fmaxf(mx, v.x);
    }
    mx = device::WarpMax(mx);
    float w[kTile / 32];
    float den = 0.f;
#pragma unroll
    for (int i = 0; i < kTile / 32; ++i) {
      w[i] = mx == -INFINITY || m[i] == -INFINITY ? 0.f : exp2f(m[i] - mx);
      den += w[i] * l[i];
    }
    den = device::WarpSum(den);
    const float inv = den > 0.f ? 1.f / den : 0.f;  // every split empty: o = 0
#pragma unroll
    for (int i = 0; i < kTile / 32; ++i) w_s[g][lane + 32 * i] = w[i] * inv;
  }
  __syncthreads();
  for (int i = tid; i < kOut4; i += kThreads) {
    const int g = i / (kDim / 4), d = (i % (kDim / 4)) * 4;
    const float* po = p.part_o + (head0 + g) * splits * kDim + d;
    float4 o = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int s0 = 0; s0 < splits; s0 += kLoads) {
      float4 v[kLoads];
#pragma unroll
      for (int j = 0; j < kLoads; ++j) {
        v[j] = make_float4(0.f, 0.f, 0.f, 0.f);
        if (s0 + j < splits && w_s[g][s0 + j] != 0.f) {
          v[j] = __ldcg(reinterpret_cast<const float4*>(po + static_cast<int64_t>(s0 + j) * kDim));
        }
      }
#pragma unroll
      for (int j = 0; j < kLoads; ++j) {
        const float wj = s0 + j < splits ? w_s[g][s0 + j] : 0.f;
        o.x += wj * v[j].x;
        o.y += wj * v[j].y;
        o.z += wj * v[j].z;
        o.w += wj * v[j].w;
      }
    }
    uint2 packed;
    packed.x = device::PackBf16x2(o.x, o.y);
    packed.y = device::PackBf16x2(o.z, o.w);
    *reinterpret_cast<uint2*>(p.a.out + (head0 + g) * kDim + d) = packed;
  }
}

template <int kDim, int kGroup>
__host__ __device__ constexpr int BatchLoads() {
  return kGroup == 8 ? 8 : 16;  // K loads in flight per thread (the 128-register cap)
}

// Dynamic shared memory: the V tile [kTile][kDim] bf16, reused after the tile loop for the
// cross-subgroup reduction [kSubs][kGroup][kDim] fp32.
template <int kDim, int kGroup>
constexpr int SplitSmemBytes() {
  constexpr int v_bytes = kTile * kDim * 2;
  constexpr int red_bytes = (kThreads / (kDim / 8)) * kGroup * kDim * 4;
  return v_bytes > red_bytes ? v_bytes : red_bytes;
}

template <int kDim, int kGroup>
__global__ void __launch_bounds__(kThreads, kBlocksPerSm) DecodeSplitKernel(Params p) {
  constexpr int kChunks = kDim / 8;           // 16-byte chunks per row
  constexpr int kSubs = kThreads / kChunks;   // token sub-groups in the PV phase
  constexpr int kTokensPerThread = kTile / kSubs;
  constexpr int kBatch = BatchLoads<kDim, kGroup>();
  static_assert(kThreads % kChunks == 0 && kTile % kSubs == 0, "bad head_dim");
  __shared__ __align__(16) float q_s[kGroup][kDim];
  __shared__ float s_s[kGroup][kTile];
  __shared__ int row_s[kTile];
  __shared__ float alpha_s[kGroup], m_run[kGroup], l_run[kGroup];
  __shared__ int last_s;
  extern __shared__ __align__(128) unsigned char dyn_smem[];
  uint16_t* v_s = reinterpret_cast<uint16_t*>(dyn_smem);  // [kTile][kDim] during the loop
  float* red = reinterpret_cast<float*>(dyn_smem);        // [kSubs][kGroup][kDim] after it

  const int split = blockIdx.x, kvh = blockIdx.y, b = blockIdx.z;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int H = p.s.num_heads, Hkv = p.s.num_kv_heads;
  const int start = split * p.tokens_per_split;
  const int32_t* table = p.a.block_table + static_cast<int64_t>(b) * p.s.max_pages_per_seq;
  // Page of this thread's token in the first tile. Its index does not depend on seq_lens[b], so
  // it is read together with the length (two dependent reads before K/V instead of three): any
  // entry of the row is readable, and an id past the sequence's end is never dereferenced (every
  // K/V access is guarded by t < tile_len). Volatile, so the compiler keeps it above the branch
  // on the length.
  int page_next = 0;
  if (start + tid < static_cast<int64_t>(p.s.max_pages_per_seq) * p.s.page_size) {
    asm volatile("ld.global.nc.b32 %0, [%1];"
                 : "=r"(page_next)
                 : "l"(table + (start + tid) / p.s.page_size));
  }
  const int len = p.a.seq_lens[b];
  const int end = min(len, start + p.tokens_per_split);
  const int64_t head0 = static_cast<int64_t>(b) * H + kvh * kGroup;

  if (start >= end) {  // nothing here: o = 0 (one split) or an empty partial the merge skips
    if (p.splits == 1) {
      for (int i = tid; i < kGroup * kDim; i += kThreads) p.a.out[head0 * kDim + i] = 0;
      return;
    }
    if (tid < kGroup) {
      float* ml = p.part_ml + ((head0 + tid) * p.splits + split) * 2;
      ml[0] = -INFINITY;
      ml[1] = 0.f;
    }
    MergeIfLast<kDim, kGroup>(p, b, kvh, head0, s_s, &last_s);
    return;
  }


  constexpr float kLog2e = 1.4426950408889634f;
  const float qscale = p.a.scale * kLog2e;
  for (int i = tid; i < kGroup * kDim; i += kThreads) {
    const int g = i / kDim, d = i % kDim;
    q_s[g][d] = device::Bf16ToFloat(p.a.q[(head0 + g) * kDim + d]) * qscale;
  }
  if (tid < kGroup) {
    m_run[tid] = -INFINITY;
    l_run[tid] = 0.f;
  }
  const int64_t row_stride = static_cast<int64_t>(Hkv) * kDim;  // elements per cache token row
  const uint16_t* kbase = p.a.k_cache + static_cast<int64_t>(kvh) * kDim;
  const uint16_t* vbase = p.a.v_cache + static_cast<int64_t>(kvh) * kDim;

  const int chunk = tid % kChunks, sub = tid / kChunks;
  float acc[kGroup][8];
#pragma unroll
  for (int g = 0; g < kGroup; ++g) {
#pragma unroll
    for (int i = 0; i < 8; ++i) acc[g][i] = 0.f;
  }

  for (int tile = start; tile < end; tile += kTile) {
    const int tile_len = min(kTile, end - tile);
    const int j = tile + tid;
    const int64_t row = static_cast<int64_t>(page_next) * p.s.page_size + j % p.s.page_size;
    if (tid < kTile) row_s[tid] = static_cast<int>(row);
    // Next tile's page, in flight while this tile is processed.
    page_next = j + kTile < end ? table[(j + kTile) / p.s.page_size] : 0;
    __syncthreads();  // row_s complete; the previous tile's readers of v_s / s_s are done
    // V tile -> shared memory (cp.async), issued together with the K loads below so that one
    // memory latency per tile is exposed instead of two.
#pragma unroll
    for (int u = 0; u < kTokensPerThread; ++u) {
      const int t = sub + u * kSubs;
      if (t < tile_len) {
        device::CpAsync16(v_s + t * kDim + chunk * 8,
                          vbase + static_cast<int64_t>(row_s[t]) * row_stride + chunk * 8, 16);
      }
    }
    device::CpAsyncCommit();
    // QK: one token per thread. Load16 allocates in L1: the warp's 16-byte pieces of a row share
    // 32-byte sectors, so the second half comes from L1 instead of a second L2 request.
    {
      float s[kGroup];
#pragma unroll
      for (int g = 0; g < kGroup; ++g) s[g] = 0.f;
      if (tid < tile_len) {
        const uint16_t* kp = kbase + row * row_stride;
#pragma unroll
        for (int c0 = 0; c0 < kChunks; c0 += kBatch) {
          uint4 kv[kBatch];
#pragma unroll
          for (int c = 0; c < kBatch; ++c) {
            if (c0 + c < kChunks) kv[c] = device::Load16(kp + (c0 + c) * 8);
          }
#pragma unroll
          for (int c = 0; c < kBatch; ++c) {
            if (c0 + c >= kChunks) continue;
            float f[8];
            Unpack8(kv[c], f);
#pragma unroll
            for (int g = 0; g < kGroup; ++g) {
              const float4 qa = *reinterpret_cast<const float4*>(&q_s[g][(c0 + c) * 8]);
              const float4 qb = *reinterpret_cast<const float4*>(&q_s[g][(c0 + c) * 8 + 4]);
              s[g] += qa.x * f[0] + qa.y * f[1] + qa.z * f[2] + qa.w * f[3] + qb.x * f[4] +
                      qb.y * f[5] + qb.z * f[6] + qb.w * f[7];
            }
          }
        }
      }
      if (tid < kTile) {
#pragma unroll
        for (int g = 0; g < kGroup; ++g) s_s[g][tid] = tid < tile_len ? s[g] : -INFINITY;
      }
    }
    __syncthreads();
    // Online softmax statistics, one warp per head.
    for (int g = warp; g < kGroup; g += kThreads / 32) {
      float v[kTile / 32];
      float mx = -INFINITY;
#pragma unroll
      for (int i = 0; i < kTile / 32; ++i) {
        v[i] = s_s[g][lane + 32 * i];
        mx = fmaxf(mx, v[i]);
      }
      mx = device::WarpMax(mx);
      const float m_old = m_run[g];
      const float m_new = fmaxf(m_old, mx);
      float sum = 0.f;
#pragma unroll
      for (int i = 0; i < kTile / 32; ++i) {
        const float e = exp2f(v[i] - m_new);  // exp2(-inf) = 0 for padding tokens
        s_s[g][lane + 32 * i] = e;
        sum += e;
      }
      sum = device::WarpSum(sum);
      if (lane == 0) {
        const float alpha = exp2f(m_old - m_new);  // m_old = -inf on the first tile: 0
        alpha_s[g] = alpha;
        l_run[g] = l_run[g] * alpha + sum;
        m_run[g] = m_new;
      }
    }
    device::CpAsyncWait<0>();
    __syncthreads();  // softmax weights and every thread's V pieces visible
    // PV from the shared V tile: a warp reads kDim * 2 * (32 / kChunks) contiguous bytes.
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
      const float alpha = alpha_s[g];
#pragma unroll
      for (int i = 0; i < 8; ++i) acc[g][i] *= alpha;
    }
#pragma unroll 4
    for (int u = 0; u < kTokensPerThread; ++u) {
      const int t = sub + u * kSubs;
      if (t >= tile_len) break;
      const uint4 vv = *reinterpret_cast<const uint4*>(v_s + t * kDim + chunk * 8);
      float f[8];
      Unpack8(vv, f);
#pragma unroll
      for (int g = 0; g < kGroup; ++g) {
        const float pg = s_s[g][t];
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[g][i] += pg * f[i];
      }
    }
  }
  __syncthreads();  // v_s is reused as the reduction buffer

  // Reduce the kSubs partial accumulators of each (head, dim).
#pragma unroll
  for (int g = 0; g < kGroup; ++g) {
    float* r = red + (sub * kGroup + g) * kDim + chunk * 8;
    *reinterpret_cast<float4*>(r) = make_float4(acc[g][0], acc[g][1], acc[g][2], acc[g][3]);
    *reinterpret_cast<float4*>(r + 4) = make_float4(acc[g][4], acc[g][5], acc[g][6], acc[g][7]);
  }
  __syncthreads();
  if (p.splits == 1) {  // the whole sequence: normalise and write o (l >= 1 for len > 0)
    for (int i = tid; i < kGroup * kDim; i += kThreads) {
      const int g = i / kDim, d = i % kDim;
      float o = 0.f;
#pragma unroll
      for (int s = 0; s < kSubs; ++s) o += red[(s * kGroup + g) * kDim + d];
      p.a.out[head0 * kDim + i] = device::FloatToBf16(o / l_run[g]);
    }
    return;
  }
  for (int i = tid; i < kGroup * kDim; i += kThreads) {
    const int g = i / kDim, d = i % kDim;
    float o = 0.f;
#pragma unroll
    for (int s = 0; s < kSubs; ++s) o += red[(s * kGroup + g) * kDim + d];
    p.part_o[((head0 + g) * p.splits + split) * kDim + d] = o;
  }
  if (tid < kGroup) {
    float* ml = p.part_ml + ((head0 + tid) * p.splits + split) * 2;
    ml[0] = m_run[tid];
    ml[1] = l_run[tid];
  }
  MergeIfLast<kDim, kGroup>(p, b, kvh, head0, s_s, &last_s);
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

// Splits per (sequence, kv head). Resident slots = kBlocksPerSm per multiprocessor. When the
// (sequence, kv head) pairs do not fill the slots, split each so that the grid is at most one
// full wave, with at least kMinSplitTokens tokens (one full tile) a split and at most kTile splits
// (the merge holds one weight per split in a [kGroup][kTile] buffer); otherwise pick the split
// count (1..8) with the least time per wave-quantised token, ties to fewer splits. The latency
// model behind kMinSplitTokens is in docs/kernels.md.
constexpr int kMinSplitTokens = kTile;

int ChooseSplits(const DecodeAttentionShape& s, int num_sms) {
  const int64_t heads = static_cast<int64_t>(std::max(s.batch, 1)) * std::max(s.num_kv_heads, 1);
  const int64_t slots = static_cast<int64_t>(std::max(num_sms, 1)) * kBlocksPerSm;
  const int64_t max_splits =
      std::max<int64_t>(1, (std::max(s.max_seq_len, 1) + kMinSplitTokens - 1) / kMinSplitTokens);
  int64_t best = 1;
  if (heads < slots) {
    best = std::min<int64_t>({max_splits, std::max<int64_t>(1, slots / heads), kTile});
  } else {
    double best_cost = 2.0;
    for (int64_t c = 1; c <= std::min<int64_t>(8, max_splits); ++c) {
      const double cost = static_cast<double>((heads * c + slots - 1) / slots) / c;
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

}  // namespace

int DecodeAttentionSplits(const DecodeAttentionShape& s, int num_sms) {
  const int per = TokensPerSplit(s, num_sms);
  return std::max(1, (s.max_seq_len + per - 1) / per);
}

size_t DecodeAttentionCounterBytes(const DecodeAttentionShape& s) {
  const size_t pairs = static_cast<size_t>(std::max(s.batch, 0)) * std::max(s.num_kv_heads, 0);
  return (pairs * sizeof(int32_t) + 255) / 256 * 256;  // partials stay 256-byte aligned
}

size_t DecodeAttentionWorkspaceBytes(const DecodeAttentionShape& s, int num_sms) {
  const size_t heads = static_cast<size_t>(s.batch) * s.num_heads;
  const size_t splits = DecodeAttentionSplits(s, num_sms);
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
  int sms = 0;
  JANUS_RETURN_IF_ERROR(CurrentDeviceInfo(&sms, nullptr));
  JANUS_KERNEL_CHECK_ARG(a.workspace != nullptr &&
                             reinterpret_cast<uintptr_t>(a.workspace) % 16 == 0 &&
                             a.workspace_bytes >= DecodeAttentionWorkspaceBytes(s, sms),
                         "decode attention: workspace needs ", DecodeAttentionWorkspaceBytes(s, sms),
                         " bytes (16-byte aligned), got ", a.workspace_bytes);
  Params p{s, a, DecodeAttentionSplits(s, sms), TokensPerSplit(s, sms), nullptr, nullptr,
           nullptr};
  const size_t heads = static_cast<size_t>(s.batch) * s.num_heads;
  p.counters = static_cast<int*>(a.workspace);
  p.part_o = reinterpret_cast<float*>(static_cast<char*>(a.workspace) +
                                      DecodeAttentionCounterBytes(s));
  p.part_ml = p.part_o + heads * p.splits * s.head_dim;
  JANUS_KERNEL_CHECK_ARG(p.splits >= 1 && p.splits <= kTile, "decode attention: ", p.splits,
                         " splits (at most ", kTile, ")");
  const dim3 grid(p.splits, s.num_kv_heads, s.batch);
  JANUS_DISPATCH_HEAD_DIM(s.head_dim, kDim, {
    JANUS_DISPATCH_GQA_GROUP(s.num_heads / s.num_kv_heads, kGroup, {
      constexpr int smem = SplitSmemBytes<kDim, kGroup>();
      auto kernel = DecodeSplitKernel<kDim, kGroup>;
      JANUS_CUDA_RETURN_IF_ERROR(
          cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
      kernel<<<grid, kThreads, smem, stream>>>(p);
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
