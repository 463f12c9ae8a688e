// Memory-bound glue kernels. Every kernel is a grid-stride loop over vectors of W elements, W the
// widest access (16, 8, 4 or 2 bytes) that the pointers' alignment and the row lengths allow, so
// there is no separate tail path except in the flat kernels (n need not be a multiple of W). Row
// kernels put rows on grid.y (<= 65535 blocks, looping past that) and a row's vectors on grid.x.
#include <algorithm>
#include <cstdint>
#include <initializer_list>

#include "kernels/common.cuh"
#include "kernels/elementwise.h"

namespace janus::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 8192;     // per grid dimension x; grid-stride loops cover the rest
constexpr int64_t kMaxRowBlocks = 65535; // grid.y limit
constexpr uint16_t kBf16NaN = 0x7fc0;

// Raw storage of W consecutive 2-byte or 4-byte values.
template <int W> struct Raw16;
template <> struct Raw16<1> { using T = uint16_t; };
template <> struct Raw16<2> { using T = uint32_t; };
template <> struct Raw16<4> { using T = uint2; };
template <> struct Raw16<8> { using T = uint4; };
template <int W> struct Raw32;
template <> struct Raw32<1> { using T = uint32_t; };
template <> struct Raw32<2> { using T = uint2; };
template <> struct Raw32<4> { using T = uint4; };

template <int W>
union Bf16Vec {
  typename Raw16<W>::T raw;
  uint16_t e[W];
};
template <int W>
union U32Vec {
  typename Raw32<W>::T raw;
  uint32_t e[W];
};

// runtime/base/dtype.h FloatToBf16 bit for bit (NaN payloads included; cvt.rn.bf16 would return a
// canonical NaN instead).
__device__ __forceinline__ uint16_t RoundBf16Bits(uint32_t bits) {
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}
__device__ __forceinline__ uint16_t RoundBf16(float f) { return RoundBf16Bits(__float_as_uint(f)); }

// Plain (coherent) loads: several kernels work in place.
template <int W>
__device__ __forceinline__ void LoadBf16(const uint16_t* p, float (&f)[W]) {
  Bf16Vec<W> v;
  v.raw = *reinterpret_cast<const typename Raw16<W>::T*>(p);
#pragma unroll
  for (int j = 0; j < W; ++j) f[j] = device::Bf16ToFloat(v.e[j]);
}
template <int W>
__device__ __forceinline__ void StoreBf16(uint16_t* p, const float (&f)[W]) {
  Bf16Vec<W> v;
#pragma unroll
  for (int j = 0; j < W; ++j) v.e[j] = RoundBf16(f[j]);
  *reinterpret_cast<typename Raw16<W>::T*>(p) = v.raw;
}

// runtime/cpu Silu and Sigmoid, in fp32 with the accurate expf.
__device__ __forceinline__ float Silu(float v) { return v / (1.0f + expf(-v)); }
__device__ __forceinline__ float Sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

__device__ __forceinline__ int64_t GlobalThread() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t GridThreads() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

// ---- flat kernels ---------------------------------------------------------------------------

template <int W>
__global__ void __launch_bounds__(kThreads) AddKernel(const uint16_t* a, const uint16_t* b,
                                                      int64_t n, uint16_t* out) {
  const int64_t nv = n / W;
  for (int64_t v = GlobalThread(); v < nv; v += GridThreads()) {
    float x[W], y[W];
    LoadBf16<W>(a + v * W, x);
    LoadBf16<W>(b + v * W, y);
#pragma unroll
    for (int j = 0; j < W; ++j) x[j] += y[j];
    StoreBf16<W>(out + v * W, x);
  }
  for (int64_t i = nv * W + GlobalThread(); i < n; i += GridThreads()) {
    out[i] = RoundBf16(device::Bf16ToFloat(a[i]) + device::Bf16ToFloat(b[i]));
  }
}

template <int W>
__global__ void __launch_bounds__(kThreads) CastF32ToBf16Kernel(const float* __restrict__ in,
                                                                int64_t n,
                                                                uint16_t* __restrict__ out) {
  const int64_t nv = n / W;
  const uint32_t* bits = reinterpret_cast<const uint32_t*>(in);
  for (int64_t v = GlobalThread(); v < nv; v += GridThreads()) {
    U32Vec<W> x;
    x.raw = *reinterpret_cast<const typename Raw32<W>::T*>(bits + v * W);
    Bf16Vec<W> y;
#pragma unroll
    for (int j = 0; j < W; ++j) y.e[j] = RoundBf16Bits(x.e[j]);
    *reinterpret_cast<typename Raw16<W>::T*>(out + v * W) = y.raw;
  }
  for (int64_t i = nv * W + GlobalThread(); i < n; i += GridThreads()) {
    out[i] = RoundBf16Bits(bits[i]);
  }
}

template <int W>
__global__ void __launch_bounds__(kThreads) CastBf16ToF32Kernel(const uint16_t* __restrict__ in,
                                                                int64_t n,
                                                                float* __restrict__ out) {
  const int64_t nv = n / W;
  uint32_t* bits = reinterpret_cast<uint32_t*>(out);
  for (int64_t v = GlobalThread(); v < nv; v += GridThreads()) {
    Bf16Vec<W> x;
    x.raw = *reinterpret_cast<const typename Raw16<W>::T*>(in + v * W);
    U32Vec<W> y;
#pragma unroll
    for (int j = 0; j < W; ++j) y.e[j] = static_cast<uint32_t>(x.e[j]) << 16;
    *reinterpret_cast<typename Raw32<W>::T*>(bits + v * W) = y.raw;
  }
  for (int64_t i = nv * W + GlobalThread(); i < n; i += GridThreads()) {
    bits[i] = static_cast<uint32_t>(in[i]) << 16;
  }
}

__global__ void __launch_bounds__(kThreads)
    GlobalSlotsKernel(const int32_t* __restrict__ assignment, const int32_t* __restrict__ slot,
                      int n, const int32_t* __restrict__ rank_slot_offset, int num_ranks,
                      int32_t* __restrict__ global_slot) {
  for (int64_t i = GlobalThread(); i < n; i += GridThreads()) {
    const int32_t a = assignment[i], s = slot[i];
    global_slot[i] = (a < 0 || a >= num_ranks || s < 0) ? -1 : rank_slot_offset[a] + s;
  }
}

// ---- row kernels (rows on grid.y, a row's W-vectors on grid.x) -------------------------------

#define JANUS_FOR_EACH_ROW_(r, rows) \
  for (int64_t r = blockIdx.y; r < (rows); r += gridDim.y)
#define JANUS_FOR_EACH_VEC_(c, vecs) \
  for (int64_t c = GlobalThread(); c < (vecs); c += GridThreads())

template <int W>
__global__ void __launch_bounds__(kThreads)
    EmbeddingKernel(const uint16_t* __restrict__ table, const int32_t* __restrict__ ids, int rows,
                    int vocab, int hidden, uint16_t* __restrict__ out, int32_t* num_bad_ids) {
  using T = typename Raw16<W>::T;
  Bf16Vec<W> nan;
#pragma unroll
  for (int j = 0; j < W; ++j) nan.e[j] = kBf16NaN;
  const int64_t vecs = hidden / W;
  JANUS_FOR_EACH_ROW_(r, rows) {
    const int32_t id = ids[r];
    const bool bad = id < 0 || id >= vocab;
    if (bad && num_bad_ids != nullptr && blockIdx.x == 0 && threadIdx.x == 0) {
      atomicAdd(num_bad_ids, 1);
    }
    const T* src = reinterpret_cast<const T*>(table + static_cast<int64_t>(bad ? 0 : id) * hidden);
    T* dst = reinterpret_cast<T*>(out + r * hidden);
    JANUS_FOR_EACH_VEC_(c, vecs) { dst[c] = bad ? nan.raw : src[c]; }
  }
}

template <int W>
__global__ void __launch_bounds__(kThreads) AddBiasKernel(uint16_t* y,
                                                          const uint16_t* __restrict__ bias,
                                                          int rows, int cols) {
  const int64_t vecs = cols / W;
  JANUS_FOR_EACH_ROW_(r, rows) {
    uint16_t* yr = y + r * cols;
    JANUS_FOR_EACH_VEC_(c, vecs) {
      float v[W], b[W];
      LoadBf16<W>(yr + c * W, v);
      LoadBf16<W>(bias + c * W, b);
#pragma unroll
      for (int j = 0; j < W; ++j) v[j] += b[j];
      StoreBf16<W>(yr + c * W, v);
    }
  }
}

template <int W>
__global__ void __launch_bounds__(kThreads) SiluMulKernel(const uint16_t* __restrict__ gate_up,
                                                          int rows, int inter,
                                                          uint16_t* __restrict__ out) {
  const int64_t vecs = inter / W;
  JANUS_FOR_EACH_ROW_(r, rows) {
    const uint16_t* g = gate_up + r * 2 * inter;
    const uint16_t* u = g + inter;
    uint16_t* o = out + r * inter;
    JANUS_FOR_EACH_VEC_(c, vecs) {
      float gv[W], uv[W];
      LoadBf16<W>(g + c * W, gv);
      LoadBf16<W>(u + c * W, uv);
#pragma unroll
      for (int j = 0; j < W; ++j) gv[j] = Silu(gv[j]) * uv[j];
      StoreBf16<W>(o + c * W, gv);
    }
  }
}

template <int W>
__global__ void __launch_bounds__(kThreads) SigmoidScaleKernel(uint16_t* y,
                                                               const float* __restrict__ logit,
                                                               int rows, int cols) {
  const int64_t vecs = cols / W;
  JANUS_FOR_EACH_ROW_(r, rows) {
    const float s = Sigmoid(logit[r]);
    uint16_t* yr = y + r * cols;
    JANUS_FOR_EACH_VEC_(c, vecs) {
      float v[W];
      LoadBf16<W>(yr + c * W, v);
#pragma unroll
      for (int j = 0; j < W; ++j) v[j] *= s;
      StoreBf16<W>(yr + c * W, v);
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    GatherRowsKernel(const T* __restrict__ src, int64_t vecs, const int32_t* __restrict__ index,
                     int n, T* __restrict__ dst) {
  JANUS_FOR_EACH_ROW_(i, n) {
    const int32_t idx = index[i];
    const T* s = src + static_cast<int64_t>(idx < 0 ? 0 : idx) * vecs;
    T* d = dst + i * vecs;
    JANUS_FOR_EACH_VEC_(c, vecs) { d[c] = idx < 0 ? T{} : s[c]; }
  }
}

#undef JANUS_FOR_EACH_ROW_
#undef JANUS_FOR_EACH_VEC_

// ---- host helpers ----------------------------------------------------------------------------


// Widest access in bytes (16, 8, 4 or 2; `elem` bytes at least) that every pointer and every
// length (in bytes) is a multiple of.
int AccessBytes(std::initializer_list<const void*> ptrs, std::initializer_list<int64_t> lengths,
                int elem) {
  uint64_t m = 0;
  for (const void* p : ptrs) m |= reinterpret_cast<uintptr_t>(p);
  for (int64_t l : lengths) m |= static_cast<uint64_t>(l);
  for (int bytes : {16, 8, 4}) {
    if (bytes >= elem && m % bytes == 0) return bytes;
  }
  return elem;
}

int FlatBlocks(int64_t work) {
  return static_cast<int>(
      std::max<int64_t>(1, std::min<int64_t>(kMaxBlocks, (work + kThreads - 1) / kThreads)));
}

struct RowLaunch {
  dim3 grid;
  int threads;
};
RowLaunch RowGrid(int64_t rows, int64_t vecs_per_row) {
  const int threads = static_cast<int>(
      std::min<int64_t>(kThreads, std::max<int64_t>(32, (vecs_per_row + 31) / 32 * 32)));
  const int64_t bx = std::min<int64_t>(kMaxBlocks, (vecs_per_row + threads - 1) / threads);
  const int64_t by = std::min<int64_t>(kMaxRowBlocks, rows);
  return {dim3(static_cast<unsigned>(std::max<int64_t>(1, bx)),
               static_cast<unsigned>(std::max<int64_t>(1, by))),
          threads};
}

template <typename T>
void LaunchGather(const void* src, int64_t row_bytes, const int32_t* index, int n, void* dst,
                  cudaStream_t stream) {
  const int64_t vecs = row_bytes / static_cast<int64_t>(sizeof(T));
  const RowLaunch l = RowGrid(n, vecs);
  GatherRowsKernel<T><<<l.grid, l.threads, 0, stream>>>(static_cast<const T*>(src), vecs, index, n,
                                                        static_cast<T*>(dst));
}

#define JANUS_DISPATCH_WIDTH4_(value, NAME, ...) \
  switch (value) {                               \
    JANUS_DISPATCH_CASE_(NAME, 1, __VA_ARGS__)   \
    JANUS_DISPATCH_CASE_(NAME, 2, __VA_ARGS__)   \
    JANUS_DISPATCH_CASE_(NAME, 4, __VA_ARGS__)   \
    JANUS_DISPATCH_DEFAULT_("vector width", value) \
  }

}  // namespace

absl::Status LaunchEmbedding(const uint16_t* table, const int32_t* ids, int rows, int vocab,
                             int hidden, uint16_t* out, int32_t* num_bad_ids,
                             cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(rows >= 0 && vocab > 0 && hidden > 0, "embedding: bad sizes (rows ", rows,
                         ", vocab ", vocab, ", hidden ", hidden, ")");
  if (rows == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(table && ids && out, "embedding: a required pointer is null");
  JANUS_KERNEL_CHECK_ARG(
      IsAligned(table, 2) && IsAligned(out, 2) && IsAligned(ids, 4) && IsAligned(num_bad_ids, 4),
      "embedding: misaligned pointer");
  const int w = AccessBytes({table, out}, {int64_t{2} * hidden}, 2) / 2;
  const RowLaunch l = RowGrid(rows, hidden / w);
  JANUS_DISPATCH_VEC_WIDTH(w, W, {
    EmbeddingKernel<W><<<l.grid, l.threads, 0, stream>>>(table, ids, rows, vocab, hidden, out,
                                                         num_bad_ids);
  });
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

absl::Status LaunchAdd(const uint16_t* a, const uint16_t* b, int64_t n, uint16_t* out,
                       cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(n >= 0, "add: negative size ", n);
  if (n == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(a && b && out, "add: a required pointer is null");
  JANUS_KERNEL_CHECK_ARG(IsAligned(a, 2) && IsAligned(b, 2) && IsAligned(out, 2),
                         "add: bf16 pointers must be 2-byte aligned");
  const int w = AccessBytes({a, b, out}, {}, 2) / 2;
  JANUS_DISPATCH_VEC_WIDTH(
      w, W, { AddKernel<W><<<FlatBlocks(n / W), kThreads, 0, stream>>>(a, b, n, out); });
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

absl::Status LaunchAddBias(uint16_t* y, const uint16_t* bias, int rows, int cols,
                           cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(rows >= 0 && cols > 0, "add bias: bad sizes (rows ", rows, ", cols ",
                         cols, ")");
  if (rows == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(y && bias, "add bias: a required pointer is null");
  JANUS_KERNEL_CHECK_ARG(IsAligned(y, 2) && IsAligned(bias, 2),
                         "add bias: bf16 pointers must be 2-byte aligned");
  const int w = AccessBytes({y, bias}, {int64_t{2} * cols}, 2) / 2;
  const RowLaunch l = RowGrid(rows, cols / w);
  JANUS_DISPATCH_VEC_WIDTH(
      w, W, { AddBiasKernel<W><<<l.grid, l.threads, 0, stream>>>(y, bias, rows, cols); });
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

absl::Status LaunchSiluMul(const uint16_t* gate_up, int rows, int inter, uint16_t* out,
                           cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(rows >= 0 && inter > 0, "silu mul: bad sizes (rows ", rows, ", inter ",
                         inter, ")");
  if (rows == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(gate_up && out, "silu mul: a required pointer is null");
  JANUS_KERNEL_CHECK_ARG(IsAligned(gate_up, 2) && IsAligned(out, 2),
                         "silu mul: bf16 pointers must be 2-byte aligned");
  const int w = AccessBytes({gate_up, out}, {int64_t{2} * inter}, 2) / 2;
  const RowLaunch l = RowGrid(rows, inter / w);
  JANUS_DISPATCH_VEC_WIDTH(
      w, W, { SiluMulKernel<W><<<l.grid, l.threads, 0, stream>>>(gate_up, rows, inter, out); });
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

absl::Status LaunchSigmoidScale(uint16_t* y, const float* logit, int rows, int cols,
                                cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(rows >= 0 && cols > 0, "sigmoid scale: bad sizes (rows ", rows,
                         ", cols ", cols, ")");
  if (rows == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(y && logit, "sigmoid scale: a required pointer is null");
  JANUS_KERNEL_CHECK_ARG(IsAligned(y, 2) && IsAligned(logit, 4),
                         "sigmoid scale: misaligned pointer");
  const int w = AccessBytes({y}, {int64_t{2} * cols}, 2) / 2;
  const RowLaunch l = RowGrid(rows, cols / w);
  JANUS_DISPATCH_VEC_WIDTH(
      w, W, { SigmoidScaleKernel<W><<<l.grid, l.threads, 0, stream>>>(y, logit, rows, cols); });
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

absl::Status LaunchCastF32ToBf16(const float* in, int64_t n, uint16_t* out, cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(n >= 0, "cast f32 -> bf16: negative size ", n);
  if (n == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(in && out, "cast f32 -> bf16: a required pointer is null");
  JANUS_KERNEL_CHECK_ARG(IsAligned(in, 4) && IsAligned(out, 2),
                         "cast f32 -> bf16: misaligned pointer");
  // W elements: 4W bytes of input, 2W of output.
  const int w = std::min(AccessBytes({in}, {}, 4) / 4, AccessBytes({out}, {}, 2) / 2);
  JANUS_DISPATCH_WIDTH4_(std::min(w, 4), W, {
    CastF32ToBf16Kernel<W><<<FlatBlocks(n / W), kThreads, 0, stream>>>(in, n, out);
  });
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

absl::Status LaunchCastBf16ToF32(const uint16_t* in, int64_t n, float* out, cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(n >= 0, "cast bf16 -> f32: negative size ", n);
  if (n == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(in && out, "cast bf16 -> f32: a required pointer is null");
  JANUS_KERNEL_CHECK_ARG(IsAligned(in, 2) && IsAligned(out, 4),
                         "cast bf16 -> f32: misaligned pointer");
  const int w = std::min(AccessBytes({in}, {}, 2) / 2, AccessBytes({out}, {}, 4) / 4);
  JANUS_DISPATCH_WIDTH4_(std::min(w, 4), W, {
    CastBf16ToF32Kernel<W><<<FlatBlocks(n / W), kThreads, 0, stream>>>(in, n, out);
  });
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

absl::Status LaunchGatherRows(const void* src, int64_t row_bytes, const int32_t* index, int n,
                              void* dst, cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(row_bytes > 0 && row_bytes % 2 == 0 && n >= 0,
                         "gather rows: bad sizes (row_bytes ", row_bytes,
                         " must be a positive multiple of 2; n ", n, ")");
  if (n == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(src && index && dst, "gather rows: a required pointer is null");
  JANUS_KERNEL_CHECK_ARG(IsAligned(src, 2) && IsAligned(dst, 2) && IsAligned(index, 4),
                         "gather rows: misaligned pointer");
  switch (AccessBytes({src, dst}, {row_bytes}, 2)) {
    case 16: LaunchGather<uint4>(src, row_bytes, index, n, dst, stream); break;
    case 8: LaunchGather<uint2>(src, row_bytes, index, n, dst, stream); break;
    case 4: LaunchGather<uint32_t>(src, row_bytes, index, n, dst, stream); break;
    default: LaunchGather<uint16_t>(src, row_bytes, index, n, dst, stream); break;
  }
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

absl::Status LaunchCopy2d(const void* src, int64_t src_ld_bytes, void* dst, int64_t dst_ld_bytes,
                          int rows, int64_t row_bytes, cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(rows >= 0 && row_bytes >= 0, "copy 2d: bad sizes (rows ", rows,
                         ", row_bytes ", row_bytes, ")");
  JANUS_KERNEL_CHECK_ARG(src_ld_bytes >= row_bytes && dst_ld_bytes >= row_bytes,
                         "copy 2d: row strides (src ", src_ld_bytes, ", dst ", dst_ld_bytes,
                         ") must be >= row_bytes ", row_bytes);
  if (rows == 0 || row_bytes == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(src && dst, "copy 2d: a required pointer is null");
  if (rows == 1 || (src_ld_bytes == row_bytes && dst_ld_bytes == row_bytes)) {
    // Contiguous: one linear copy (no pitch limits).
    JANUS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst, src, static_cast<size_t>(rows) * row_bytes,
                                               cudaMemcpyDeviceToDevice, stream));
    return absl::OkStatus();
  }
  JANUS_CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(dst, static_cast<size_t>(dst_ld_bytes), src,
                                               static_cast<size_t>(src_ld_bytes),
                                               static_cast<size_t>(row_bytes),
                                               static_cast<size_t>(rows),
                                               cudaMemcpyDeviceToDevice, stream));
  return absl::OkStatus();
}

absl::Status LaunchGlobalSlots(const int32_t* assignment, const int32_t* slot, int n,
                               const int32_t* rank_slot_offset, int num_ranks,
                               int32_t* global_slot, cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(n >= 0 && num_ranks > 0, "global slots: bad sizes (n ", n,
                         ", num_ranks ", num_ranks, ")");
  if (n == 0) return absl::OkStatus();
  JANUS_KERNEL_CHECK_ARG(assignment && slot && rank_slot_offset && global_slot,
                         "global slots: a required pointer is null");
  GlobalSlotsKernel<<<FlatBlocks(n), kThreads, 0, stream>>>(assignment, slot, n, rank_slot_offset,
                                                            num_ranks, global_slot);
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

}  // namespace janus::kernels
