// General causal attention over a paged KV cache, for any mix of query rows in one launch:
// prefill chunks of variable-length sequences and decode rows together. Row r belongs to sequence
// row_seq[r] (a row of block_table), sits at position row_pos[r] and attends to the positions
// [0, row_pos[r]] of that sequence, whose K/V (its own included) are already in the cache:
//   o[r, h] = softmax(q[r, h] · K[s, kvh, 0..pos]ᵀ * scale) V[s, kvh, 0..pos],
//   kvh = h / (num_heads / num_kv_heads).
// GQA, MHA and DeepSeek MLA in its weight-absorbed ("latent") form are the same call: for MLA the
// key of a token is [c_kv | k_pe] (qk_dim = kv_lora_rank + rope dim) on one kv head, and the value
// is the first v_dim = kv_lora_rank elements of that same cache row (pass v_cache == k_cache and
// v_token_stride == k_token_stride; the kernel then stages each row once).
//
// Cache layout: the element d of the key of (page p, slot s, kv head h) is
//   k_cache[(p * page_size + s) * k_token_stride + h * qk_dim + d],
// the value likewise with v_token_stride and v_dim. Page j of sequence q is
// block_table[q * max_pages_per_seq + j]. Tokens are written with LaunchPagedKvWrite.
//
// Numerics: bf16 inputs and output, fp32 dot products and accumulation, an online (streaming)
// softmax with expf (no exp2 rescaling of the scores, no fast-math approximations). No workspace,
// no host synchronisation, no allocation: launches can be captured in CUDA graphs. The result is
// bit-reproducible for a given shape and kv_splits (see below).
#ifndef JANUS_KERNELS_PAGED_ATTENTION_H_
#define JANUS_KERNELS_PAGED_ATTENTION_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace janus::kernels {

// Largest head dimensions (DeepSeek MLA: 512 + 64 for q/k, 512 for v).
inline constexpr int kPagedAttentionMaxQkDim = 576;
inline constexpr int kPagedAttentionMaxVDim = 512;
// Largest KV split count (thread-block cluster size; portable limit).
inline constexpr int kPagedAttentionMaxSplits = 8;

struct PagedAttentionShape {
  int rows = 0;               // query rows in this launch (0: nothing is launched)
  int num_heads = 0;          // query heads
  int num_kv_heads = 0;       // divides num_heads
  int qk_dim = 0;             // q/k head dim, 1..576
  int v_dim = 0;              // v head dim, 1..512
  int page_size = 0;          // tokens per page, any positive value
  int max_pages_per_seq = 0;  // row stride of block_table
  // KV splits per (row, kv head): 0 = automatic (split only when the grid would not fill the
  // GPU: decode of a few sequences, MLA), else 1, 2, 4 or 8. The splits of a row are one
  // thread-block cluster and are merged through distributed shared memory in fixed order, so the
  // output is deterministic; it can differ in the last bits between split counts. Pass 1 to make
  // a row's result independent of the batch it is in.
  int kv_splits = 0;
};

struct PagedAttentionArgs {
  const uint16_t* q = nullptr;        // [rows, num_heads, qk_dim] bf16, dense
  const uint16_t* k_cache = nullptr;  // see the layout above
  const uint16_t* v_cache = nullptr;  // may alias k_cache (MLA)
  int64_t k_token_stride = 0;         // elements between token slots, >= num_kv_heads * qk_dim
  int64_t v_token_stride = 0;         // >= num_kv_heads * v_dim, or == k_token_stride when aliased
  const int32_t* row_seq = nullptr;   // [rows] the row's sequence (row of block_table)
  // [rows] the row's position, >= 0, < max_pages_per_seq * page_size; the pages of positions
  // 0..row_pos[r] of its sequence must be valid. Not checked on the device (contract).
  const int32_t* row_pos = nullptr;
  const int32_t* block_table = nullptr;  // [num_seqs, max_pages_per_seq] page ids
  float scale = 0.f;                     // softmax scale (finite)
  uint16_t* out = nullptr;               // [rows, num_heads, v_dim] bf16, dense
};

// The KV split count a launch of `shape` uses on a device with `num_sms` multiprocessors of
// compute capability 9.0 or newer (older devices always run one split).
int PagedAttentionSplits(const PagedAttentionShape& shape, int num_sms);

// Dynamic shared memory of one block for `shape` (bytes); at most ~104 KiB (qk 576, v 512,
// separate V, 16+ query heads per kv head).
int PagedAttentionSharedBytes(const PagedAttentionShape& shape, bool v_aliases_k);

// Argument errors (InvalidArgument) are returned before anything is enqueued.
absl::Status LaunchPagedAttention(const PagedAttentionShape& shape, const PagedAttentionArgs& args,
                                  cudaStream_t stream);

// Writes `rows` rows into the paged cache (bf16): for row r, c < width,
//   cache[(page * page_size + slot) * token_stride + dst_offset + c] = src[r * src_row_stride + c],
//   page = block_table[row_seq[r] * max_pages_per_seq + row_pos[r] / page_size],
//   slot = row_pos[r] % page_size.
// Requires src_row_stride >= width and dst_offset + width <= token_stride. Rows must target
// distinct slots (otherwise which one lands is unspecified). K and V (or the MLA latent's c_kv
// and k_pe parts, with dst_offset) are separate calls.
absl::Status LaunchPagedKvWrite(const uint16_t* src, int64_t src_row_stride, int rows, int width,
                                const int32_t* row_seq, const int32_t* row_pos,
                                const int32_t* block_table, int max_pages_per_seq, int page_size,
                                uint16_t* cache, int64_t token_stride, int64_t dst_offset,
                                cudaStream_t stream);

}  // namespace janus::kernels

#endif  // JANUS_KERNELS_PAGED_ATTENTION_H_
