// The tensor-core path of LaunchPagedAttention (kernels/paged_attention.h) for batches of many
// query rows (prefill chunks): GQA / MHA with qk_dim == v_dim in {64, 128} and a separate V cache.
// Private to kernels/ and the kernel tests.
//
// Block = 64 or 128 consecutive query rows (4 or 8 warps of 16 rows) x one query head
// (FlashAttention-2 structure on mma.sync m16n8k16): S = Q Kᵀ with Q's A fragments held in
// registers and K by ldmatrix, an online softmax per row in the log2 domain, P (bf16, straight from
// S's accumulators) times V by ldmatrix.trans; K and V tiles of 64 tokens come through the block
// table into a two-stage cp.async ring, their 16-byte pieces XOR-swizzled by the row. Rows of a
// block may belong to different sequences: the block walks each distinct sequence of its rows
// in turn (first-occurrence order) over that sequence's positions [0, max row position], the
// other rows masked, so any mix of rows is exact and a prefill chunk costs one pass. Causal masks
// per row; warps whose rows all precede a tile skip it. A row's result does not depend on the
// other rows of the launch; repeated launches are bit-identical.
#ifndef JANUS_KERNELS_PAGED_ATTENTION_MMA_H_
#define JANUS_KERNELS_PAGED_ATTENTION_MMA_H_

#include <cuda_runtime_api.h>

#include "absl/status/status.h"
#include "kernels/paged_attention.h"

namespace janus::kernels {

// Rows from which LaunchPagedAttention prefers the tensor-core path (fewer rows: the CUDA-core
// kernel splits each row's KV range over several blocks, which a handful of rows needs).
inline constexpr int kPagedAttentionMmaMinRows = 64;

// True when the shape and arguments fit the tensor-core kernel (dims, separate V, 16-byte
// aligned q / caches and token strides, 4-byte aligned out, kv_splits 0 or 1, an sm_80+ device).
bool PagedAttentionMmaFits(const PagedAttentionShape& shape, const PagedAttentionArgs& args,
                           int cc_major);

// Query rows per block: 128 when that still gives two blocks per SM (half the K / V reads from L2
// per flop of 64-row blocks), else 64.
int PagedAttentionMmaRowsPerBlock(const PagedAttentionShape& shape, int num_sms);

// Runs the tensor-core kernel; the caller has validated the arguments (LaunchPagedAttention).
absl::Status LaunchPagedAttentionMma(const PagedAttentionShape& shape,
                                     const PagedAttentionArgs& args, cudaStream_t stream);

}  // namespace janus::kernels

#endif  // JANUS_KERNELS_PAGED_ATTENTION_MMA_H_
