// Split-KV decode attention on CUDA cores.
//
// Grid (split, kv head, sequence); 128 threads. A block walks its split's tokens in tiles of 128:
//  QK: thread t owns token t of the tile, reads its K row with 16-byte loads (256 contiguous bytes
//      for head_dim 128) and forms the scores of the kGroup query heads that share this KV head
//      (q in shared memory, pre-scaled by scale * log2(e), broadcast reads);
//  softmax: warp w keeps the running max / sum of heads w, w + 4 (online softmax, base 2);
//  PV: thread (sub, c) owns 8 dims c and tokens sub, sub + kSubs, ...; V rows are read with
//      coalesced 16-byte loads and accumulated for all kGroup heads in registers.
// Each KV byte is read once; GQA shares every K/V load among the group's query heads. A second
// kernel merges the splits (flash-decoding's log-sum-exp combine).
#include <algorithm>
#include <cmath>

#include "kernels/common.cuh"
#include "kernels/decode_attention.h"

namespace janus::kernels {
namespace {

constexpr int kThreads = 128;
constexpr int kTile = 128;  // tokens per tile (one per thread in the QK phase)
constexpr int kBatchLoads = 16;  // 16-byte loads issued back to back per thread

struct Params {
  DecodeAttentionShape s;
  DecodeAttentionArgs a;
  int splits;
  int tokens_per_split;
  float* part_o;  // [batch, num_heads, splits, head_dim]
  float* part_ml; // [batch, num_heads, splits, 2]
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

template <int kDim, int kGroup>
__global__ void __launch_bounds__(kThreads) DecodeSplitKernel(Params p) {
  constexpr int kChunks = kDim / 8;           // 16-byte chunks per row
  constexpr int kSubs = kThreads / kChunks;   // token sub-groups in the PV phase
  constexpr int kTokensPerThread = kTile / kSubs;
  static_assert(kThreads % kChunks == 0 && kTile % kSubs == 0, "bad head_dim");
  __shared__ __align__(16) float q_s[kGroup][kDim];
  __shared__ float s_s[kGroup][kTile];
  __shared__ int row_s[kTile];
  __shared__ float alpha_s[kGroup], m_run[kGroup], l_run[kGroup];
  __shared__ __align__(16) float red[kSubs][kGroup][kDim];

  const int split = blockIdx.x, kvh = blockIdx.y, b = blockIdx.z;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int H = p.s.num_heads, Hkv = p.s.num_kv_heads;
  const int len = p.a.seq_lens[b];
  const int start = split * p.tokens_per_split;
  const int end = min(len, start + p.tokens_per_split);
  const int64_t head0 = static_cast<int64_t>(b) * H + kvh * kGroup;

  if (start >= end) {  // nothing here: an empty partial the combine ignores
    if (tid < kGroup) {
      float* ml = p.part_ml + ((head0 + tid) * p.splits + split) * 2;
      ml[0] = -INFINITY;
      ml[1] = 0.f;
    }
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
  const int32_t* table = p.a.block_table + static_cast<int64_t>(b) * p.s.max_pages_per_seq;
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
  __syncthreads();

  for (int tile = start; tile < end; tile += kTile) {
    // QK: one token per thread.
    {
      const int j = tile + tid;
      float s[kGroup];
#pragma unroll
      for (int g = 0; g < kGroup; ++g) s[g] = 0.f;
      if (j < end) {
        const int page = table[j / p.s.page_size];
        const int row = page * p.s.page_size + j % p.s.page_size;
        row_s[tid] = row;
        const uint16_t* kp = kbase + row * row_stride;
#pragma unroll
        for (int c0 = 0; c0 < kChunks; c0 += kBatchLoads) {
          uint4 kv[kBatchLoads];
#pragma unroll
          for (int c = 0; c < kBatchLoads; ++c) {
            if (c0 + c < kChunks) kv[c] = device::LoadStreaming16(kp + (c0 + c) * 8);
          }
#pragma unroll
          for (int c = 0; c < kBatchLoads; ++c) {
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
#pragma unroll
      for (int g = 0; g < kGroup; ++g) s_s[g][tid] = j < end ? s[g] : -INFINITY;
    }
    __syncthreads();
    // Issue the first batch of V loads now (row_s is complete): their latency overlaps the softmax.
    const int tile_len = min(kTile, end - tile);
    uint4 vv[kBatchLoads];
#pragma unroll
    for (int u = 0; u < kBatchLoads; ++u) {
      const int t = sub + u * kSubs;
      if (u < kTokensPerThread && t < tile_len) {
        vv[u] = device::LoadStreaming16(vbase + row_s[t] * row_stride + chunk * 8);
      }
    }
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
    __syncthreads();
    // PV.
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
      const float alpha = alpha_s[g];
#pragma unroll
      for (int i = 0; i < 8; ++i) acc[g][i] *= alpha;
    }
#pragma unroll
    for (int t0 = 0; t0 < kTokensPerThread; t0 += kBatchLoads) {
      if (t0 > 0) {
#pragma unroll
        for (int u = 0; u < kBatchLoads; ++u) {
          const int t = sub + (t0 + u) * kSubs;
          if (t0 + u < kTokensPerThread && t < tile_len) {
            vv[u] = device::LoadStreaming16(vbase + row_s[t] * row_stride + chunk * 8);
          }
        }
      }
#pragma unroll
      for (int u = 0; u < kBatchLoads; ++u) {
        const int t = sub + (t0 + u) * kSubs;
        if (t0 + u >= kTokensPerThread || t >= tile_len) continue;
        float f[8];
        Unpack8(vv[u], f);
#pragma unroll
        for (int g = 0; g < kGroup; ++g) {
          const float pg = s_s[g][t];
#pragma unroll
          for (int i = 0; i < 8; ++i) acc[g][i] += pg * f[i];
        }
      }
    }
    __syncthreads();  // s_s and row_s are rewritten by the next tile
  }

  // Reduce the kSubs partial accumulators of each (head, dim).
#pragma unroll
  for (int g = 0; g < kGroup; ++g) {
    *reinterpret_cast<float4*>(&red[sub][g][chunk * 8]) =
        make_float4(acc[g][0], acc[g][1], acc[g][2], acc[g][3]);
    *reinterpret_cast<float4*>(&red[sub][g][chunk * 8 + 4]) =
        make_float4(acc[g][4], acc[g][5], acc[g][6], acc[g][7]);
  }
  __syncthreads();
  for (int i = tid; i < kGroup * kDim; i += kThreads) {
    const int g = i / kDim, d = i % kDim;
    float o = 0.f;
#pragma unroll
    for (int s = 0; s < kSubs; ++s) o += red[s][g][d];
    p.part_o[((head0 + g) * p.splits + split) * kDim + d] = o;
  }
  if (tid < kGroup) {
    float* ml = p.part_ml + ((head0 + tid) * p.splits + split) * 2;
    ml[0] = m_run[tid];
    ml[1] = l_run[tid];
  }
}

// One block per (sequence, head); thread d owns one output dim.
__global__ void CombineKernel(const float* __restrict__ part_o, const float* __restrict__ part_ml,
                              int splits, int dim, uint16_t* __restrict__ out) {
  const int64_t head = blockIdx.x;
  const float* ml = part_ml + head * splits * 2;
  float m = -INFINITY;
  for (int s = 0; s < splits; ++s) m = fmaxf(m, ml[2 * s]);
  for (int d = threadIdx.x; d < dim; d += blockDim.x) {
    float num = 0.f, den = 0.f;
    if (m != -INFINITY) {
      for (int s = 0; s < splits; ++s) {
        const float ms = ml[2 * s];
        if (ms == -INFINITY) continue;
        const float w = exp2f(ms - m);
        num += w * part_o[(head * splits + s) * dim + d];
        den += w * ml[2 * s + 1];
      }
    }
    out[head * dim + d] = device::FloatToBf16(den > 0.f ? num / den : 0.f);
  }
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

int TokensPerSplit(const DecodeAttentionShape& s, int num_sms) {
  // Enough blocks for ~4 per multiprocessor, at least one 128-token tile per split.
  const int64_t heads = static_cast<int64_t>(std::max(s.batch, 1)) * std::max(s.num_kv_heads, 1);
  const int64_t want_splits = std::max<int64_t>(1, (4LL * num_sms + heads - 1) / heads);
  const int64_t per = (std::max(s.max_seq_len, 1) + want_splits - 1) / want_splits;
  return static_cast<int>(std::max<int64_t>(kTile, (per + kTile - 1) / kTile * kTile));
}

}  // namespace

int DecodeAttentionSplits(const DecodeAttentionShape& s, int num_sms) {
  const int per = TokensPerSplit(s, num_sms);
  return std::max(1, (s.max_seq_len + per - 1) / per);
}

size_t DecodeAttentionWorkspaceBytes(const DecodeAttentionShape& s, int num_sms) {
  const size_t heads = static_cast<size_t>(s.batch) * s.num_heads;
  const size_t splits = DecodeAttentionSplits(s, num_sms);
  return heads * splits * (s.head_dim + 2) * sizeof(float) + 256;
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
  Params p{s, a, DecodeAttentionSplits(s, sms), TokensPerSplit(s, sms), nullptr, nullptr};
  const size_t heads = static_cast<size_t>(s.batch) * s.num_heads;
  p.part_o = static_cast<float*>(a.workspace);
  p.part_ml = p.part_o + heads * p.splits * s.head_dim;
  JANUS_KERNEL_CHECK_ARG(p.splits <= 65535, "decode attention: too many splits");
  const dim3 grid(p.splits, s.num_kv_heads, s.batch);
  JANUS_DISPATCH_HEAD_DIM(s.head_dim, kDim, {
    JANUS_DISPATCH_GQA_GROUP(s.num_heads / s.num_kv_heads, kGroup, {
      DecodeSplitKernel<kDim, kGroup><<<grid, kThreads, 0, stream>>>(p);
    });
  });
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  CombineKernel<<<static_cast<unsigned>(heads), std::min(s.head_dim, 256), 0, stream>>>(
      p.part_o, p.part_ml, p.splits, s.head_dim, a.out);
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
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
