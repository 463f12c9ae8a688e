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
constexpr int kHeadsPerBlock = 2 * kWarps;  // two heads per warp
constexpr int kTile = 32;                   // tokens per tile: one per lane in the score phase
constexpr int kMaxSplits = 128;
// Shared-memory row of a staged latent: 578 bf16 = 289 words, an odd count, so lane t reading
// word i of row t hits bank (289 t + i) % 32: all different.
constexpr int kRowPad = kMlaRow + 2;
constexpr int kQBytes = kHeadsPerBlock * kMlaRow * 4;
constexpr int kSmemBytes = kQBytes + kTile * kRowPad * 2;
constexpr int kDimsPerLane = kMlaLatent / 32;

struct MlaParams {
  MlaDecodeShape s;
  MlaDecodeArgs a;
  int splits = 1;
  float* part_ml = nullptr;  // [batch, heads, splits] (m, l)
  float* part_o = nullptr;   // [batch, heads, splits, 512]
};

__device__ __forceinline__ float Lo(uint32_t w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float Hi(uint32_t w) { return __uint_as_float(w & 0xffff0000u); }

__global__ void __launch_bounds__(kThreads) MlaSplitKernel(MlaParams p) {
  extern __shared__ __align__(16) unsigned char smem[];
  float* q_s = reinterpret_cast<float*>(smem);                         // [16][576]
  uint16_t* k_s = reinterpret_cast<uint16_t*>(smem + kQBytes);         // [32][578]
  const int split = blockIdx.x, chunk = blockIdx.y, b = blockIdx.z;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int H = p.s.num_heads;
  const int h0 = chunk * kHeadsPerBlock;
  const int heads_here = min(kHeadsPerBlock, H - h0);
  const int len = p.a.seq_lens[b];
  // The splits divide this sequence's own length (whole tiles each), whatever max_seq_len is.
  const int per_split = ((len + p.splits - 1) / p.splits + kTile - 1) / kTile * kTile;
  const int start = split * per_split;
  const int end = min(len, start + per_split);

  for (int i = tid; i < kHeadsPerBlock * kMlaRow; i += kThreads) {
    const int h = i / kMlaRow, d = i % kMlaRow;
    q_s[i] = h < heads_here
                 ? device::Bf16ToFloat(p.a.q[(static_cast<int64_t>(b) * H + h0 + h) * kMlaRow + d])
                 : 0.f;
  }
  const int32_t* table = p.a.block_table + static_cast<int64_t>(b) * p.s.max_pages_per_seq;
  const float scale = p.a.scale;
  const int ha = 2 * warp, hb = 2 * warp + 1;  // this warp's heads, local to the block
  const float2* qa = reinterpret_cast<const float2*>(q_s + ha * kMlaRow);
  const float2* qb = reinterpret_cast<const float2*>(q_s + hb * kMlaRow);
  float m_a = -INFINITY, m_b = -INFINITY, l_a = 0.f, l_b = 0.f;
  float acc_a[kDimsPerLane], acc_b[kDimsPerLane];
#pragma unroll
  for (int j = 0; j < kDimsPerLane; ++j) acc_a[j] = acc_b[j] = 0.f;

  for (int t0 = start; t0 < end; t0 += kTile) {
    const int n = min(kTile, end - t0);
    __syncthreads();  // q_s written / the previous tile consumed
    // Stage n latent rows: 72 16-byte chunks per row, stored as four words (rows are 4-aligned).
    for (int c = tid; c < kTile * (kMlaRow / 8); c += kThreads) {
      const int r = c / (kMlaRow / 8), k = c % (kMlaRow / 8);
      if (r >= n) continue;
      const int token = t0 + r;
      const int64_t page = table[token / p.s.page_size];
      const uint4 v = __ldg(reinterpret_cast<const uint4*>(
          p.a.cache + (page * p.s.page_size + token % p.s.page_size) * kMlaRow + k * 8));
      uint32_t* dst = reinterpret_cast<uint32_t*>(k_s + r * kRowPad + k * 8);
      dst[0] = v.x;
      dst[1] = v.y;
      dst[2] = v.z;
      dst[3] = v.w;
    }
    __syncthreads();
    // Scores: lane = token.
    float s_a = -INFINITY, s_b = -INFINITY;
    if (lane < n) {
      const uint32_t* row = reinterpret_cast<const uint32_t*>(k_s + lane * kRowPad);
      float da = 0.f, db = 0.f;
#pragma unroll 8
      for (int i = 0; i < kMlaRow / 2; ++i) {
        const uint32_t w = row[i];
        const float k0 = Lo(w), k1 = Hi(w);
        const float2 a = qa[i], bq = qb[i];
        da = fmaf(a.x, k0, fmaf(a.y, k1, da));
        db = fmaf(bq.x, k0, fmaf(bq.y, k1, db));
      }
      s_a = da * scale;
      s_b = db * scale;
    }
    // Online softmax per head; every lane holds the running (m, l).
    const float new_a = fmaxf(m_a, device::WarpMax(s_a)), new_b = fmaxf(m_b, device::WarpMax(s_b));
    const float p_a = lane < n ? expf(s_a - new_a) : 0.f;
    const float p_b = lane < n ? expf(s_b - new_b) : 0.f;
    const float c_a = m_a == -INFINITY ? 0.f : expf(m_a - new_a);
    const float c_b = m_b == -INFINITY ? 0.f : expf(m_b - new_b);
    l_a = l_a * c_a + device::WarpSum(p_a);
    l_b = l_b * c_b + device::WarpSum(p_b);
    m_a = new_a;
    m_b = new_b;
#pragma unroll
    for (int j = 0; j < kDimsPerLane; ++j) {
      acc_a[j] *= c_a;
      acc_b[j] *= c_b;
    }
    // Values: lane owns dims lane + 32 j of the latent.
    for (int r = 0; r < n; ++r) {
      const float pa = __shfl_sync(0xffffffffu, p_a, r);
      const float pb = __shfl_sync(0xffffffffu, p_b, r);
      const uint16_t* v = k_s + r * kRowPad + lane;
#pragma unroll
      for (int j = 0; j < kDimsPerLane; ++j) {
        const float x = device::Bf16ToFloat(v[32 * j]);
        acc_a[j] = fmaf(pa, x, acc_a[j]);
        acc_b[j] = fmaf(pb, x, acc_b[j]);
      }
    }
  }
  // The split's partial (m = -inf, l = 0 when it had no tokens).
  const int heads[2] = {ha, hb};
  const float ms[2] = {m_a, m_b}, ls[2] = {l_a, l_b};
#pragma unroll
  for (int k = 0; k < 2; ++k) {
    if (heads[k] >= heads_here) continue;
    const int64_t at = (static_cast<int64_t>(b) * H + h0 + heads[k]) * p.splits + split;
    if (lane == 0) {
      p.part_ml[2 * at] = ms[k];
      p.part_ml[2 * at + 1] = ls[k];
    }
    float* o = p.part_o + at * kMlaLatent + lane;
#pragma unroll
    for (int j = 0; j < kDimsPerLane; ++j) o[32 * j] = k == 0 ? acc_a[j] : acc_b[j];
  }
}

// One block per (head, sequence): o = Σ_s e^(m_s - M) acc_s / Σ_s e^(m_s - M) l_s.
__global__ void __launch_bounds__(128) MlaMergeKernel(MlaParams p) {
  const int h = blockIdx.x, b = blockIdx.y;
  const int64_t base = (static_cast<int64_t>(b) * p.s.num_heads + h) * p.splits;
  float mx = -INFINITY;
  for (int s = 0; s < p.splits; ++s) mx = fmaxf(mx, p.part_ml[2 * (base + s)]);
  float den = 0.f;
  float o[kMlaLatent / 128] = {};
  for (int s = 0; s < p.splits; ++s) {
    const float m = p.part_ml[2 * (base + s)];
    if (m == -INFINITY) continue;
    const float w = expf(m - mx);
    den = fmaf(w, p.part_ml[2 * (base + s) + 1], den);
    const float* acc = p.part_o + (base + s) * kMlaLatent + threadIdx.x;
#pragma unroll
    for (int j = 0; j < kMlaLatent / 128; ++j) o[j] = fmaf(w, acc[128 * j], o[j]);
  }
  const float inv = den > 0.f ? 1.f / den : 0.f;
  uint16_t* out = p.a.out + (static_cast<int64_t>(b) * p.s.num_heads + h) * kMlaLatent + threadIdx.x;
#pragma unroll
  for (int j = 0; j < kMlaLatent / 128; ++j) out[128 * j] = device::FloatToBf16(o[j] * inv);
}

size_t Align16(size_t n) { return (n + 15) / 16 * 16; }

}  // namespace

int MlaDecodeSplits(const MlaDecodeShape& s, int num_sms) {
  const int chunks = (s.num_heads + kHeadsPerBlock - 1) / kHeadsPerBlock;
  const int base = std::max(1, s.batch * chunks);
  int splits = std::max(1, (2 * std::max(num_sms, 1) + base - 1) / base);
  splits = std::min(splits, kMaxSplits);
  splits = std::min(splits, std::max(1, (s.max_seq_len + kTile - 1) / kTile));
  return splits;
}

size_t MlaDecodeWorkspaceBytes(const MlaDecodeShape& s, int num_sms) {
  const size_t parts = static_cast<size_t>(std::max(s.batch, 0)) * std::max(s.num_heads, 0) *
                       MlaDecodeSplits(s, num_sms);
  return Align16(parts * 2 * sizeof(float)) + parts * kMlaLatent * sizeof(float);
}

absl::Status LaunchMlaDecode(const MlaDecodeShape& s, const MlaDecodeArgs& a,
                             cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(s.batch >= 0 && s.num_heads > 0 && s.num_heads <= 128,
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
  JANUS_KERNEL_CHECK_ARG((reinterpret_cast<uintptr_t>(a.cache) & 15) == 0 &&
                             (reinterpret_cast<uintptr_t>(a.workspace) & 15) == 0,
                         "mla decode: cache and workspace must be 16-byte aligned");
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
  JANUS_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(
      MlaSplitKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes));
  const dim3 grid(p.splits, (s.num_heads + kHeadsPerBlock - 1) / kHeadsPerBlock, s.batch);
  MlaSplitKernel<<<grid, kThreads, kSmemBytes, stream>>>(p);
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  MlaMergeKernel<<<dim3(s.num_heads, s.batch), 128, 0, stream>>>(p);
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

}  // namespace janus::kernels
