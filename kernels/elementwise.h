// Glue kernels of the single-GPU backend, whose registers are bf16 device tensors: embedding
// lookup, residual add, bias add, SiLU·mul, sigmoid row scale, fp32 <-> bf16 casts, row gather,
// strided 2-D copy and the stacking of per-rank expert slots into one table.
//
// Arithmetic is fp32 on bf16 inputs with one rounding to bf16 at the end (round to nearest even,
// NaN kept: the same bit-level rounding as runtime/base/dtype.h FloatToBf16, so casts are
// bit-identical to the CPU's). Where runtime/cpu keeps an fp32 intermediate (Mlp's silu(g)·u, the
// shared-expert sigmoid gate), these kernels round it to bf16: a bf16 model's precision.
//
// Every launcher checks its arguments before anything is enqueued (InvalidArgument), never
// synchronises or allocates (CUDA-graph capturable), and picks 16-, 8-, 4- or 2-byte accesses from
// the sizes and pointer alignments it is given, so any size and any 2-byte-aligned pointer works.
// Launches of zero elements return OK without touching the pointers.
#ifndef JANUS_KERNELS_ELEMENTWISE_H_
#define JANUS_KERNELS_ELEMENTWISE_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace janus::kernels {

// out[r, :] = table[ids[r], :]. table: [vocab, hidden] bf16; ids: [rows]; out: [rows, hidden].
// An id outside [0, vocab) makes its row NaN (bf16 0x7fc0) and, if num_bad_ids ([1] device int)
// is given, adds 1 to *num_bad_ids per such row (the count accumulates across calls).
absl::Status LaunchEmbedding(const uint16_t* table, const int32_t* ids, int rows, int vocab,
                             int hidden, uint16_t* out, int32_t* num_bad_ids,
                             cudaStream_t stream);

// out[i] = bf16(float(a[i]) + float(b[i])), i < n. out may be a or b (not a partial overlap).
absl::Status LaunchAdd(const uint16_t* a, const uint16_t* b, int64_t n, uint16_t* out,
                       cudaStream_t stream);

// y[r, c] = bf16(float(y[r, c]) + float(bias[c])) in place. y: [rows, cols]; bias: [cols].
absl::Status LaunchAddBias(uint16_t* y, const uint16_t* bias, int rows, int cols,
                           cudaStream_t stream);

// out[r, i] = bf16(silu(g) * u), g = gate_up[r, i], u = gate_up[r, inter + i], fp32 math with
// silu(v) = v / (1 + exp(-v)) (runtime/cpu Silu). gate_up: [rows, 2 * inter]; out: [rows, inter]
// (must not overlap gate_up).
absl::Status LaunchSiluMul(const uint16_t* gate_up, int rows, int inter, uint16_t* out,
                           cudaStream_t stream);

// y[r, c] = bf16(float(y[r, c]) * sigmoid(logit[r])) in place, sigmoid(v) = 1 / (1 + exp(-v))
// (Qwen2-MoE shared_expert_gate). y: [rows, cols] bf16; logit: [rows] fp32.
absl::Status LaunchSigmoidScale(uint16_t* y, const float* logit, int rows, int cols,
                                cudaStream_t stream);

// Element casts of n values; F32 -> BF16 rounds to nearest even and keeps NaN (bit-identical to
// runtime/base/dtype.h FloatToBf16); BF16 -> F32 is exact. Input and output must not overlap.
absl::Status LaunchCastF32ToBf16(const float* in, int64_t n, uint16_t* out, cudaStream_t stream);
absl::Status LaunchCastBf16ToF32(const uint16_t* in, int64_t n, float* out, cudaStream_t stream);

// dst row i = src row index[i] for i < n; rows are row_bytes bytes (a positive multiple of 2),
// densely packed in both buffers. A negative index zero-fills its dst row. Indices >= the number
// of src rows are not detected (the caller validates them). dst must not overlap src.
absl::Status LaunchGatherRows(const void* src, int64_t row_bytes, const int32_t* index, int n,
                              void* dst, cudaStream_t stream);

// Copies `rows` rows of row_bytes bytes from src (row stride src_ld_bytes) to dst (row stride
// dst_ld_bytes), device to device, through cudaMemcpy2DAsync (a memcpy node under graph capture).
// Strides must be >= row_bytes; the regions must not overlap.
absl::Status LaunchCopy2d(const void* src, int64_t src_ld_bytes, void* dst, int64_t dst_ld_bytes,
                          int rows, int64_t row_bytes, cudaStream_t stream);

// The single-GPU backend stacks every MoE rank's expert slots into one table: rank g's slots start
// at rank_slot_offset[g] ([num_ranks] device ints). global_slot[i] = rank_slot_offset[a] + slot[i]
// with a = assignment[i], or -1 when a < 0, a >= num_ranks or slot[i] < 0. All arrays are [n]
// device int32. Slots past a rank's own count are not detected (LaunchGroupedExpertFfn skips and
// counts global slots outside its table).
absl::Status LaunchGlobalSlots(const int32_t* assignment, const int32_t* slot, int n,
                               const int32_t* rank_slot_offset, int num_ranks,
                               int32_t* global_slot, cudaStream_t stream);

}  // namespace janus::kernels

#endif  // JANUS_KERNELS_ELEMENTWISE_H_
