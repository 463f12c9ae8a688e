// Decode attention (one query row per sequence) over a paged KV cache, GQA, split-KV
// ("flash-decoding"): o[b, h] = softmax(q[b, h] · K[b, kvh]ᵀ * scale) V[b, kvh] over positions
// [0, seq_lens[b]) of sequence b, kvh = h / (num_heads / num_kv_heads).
//
// Cache layout ("NHD" pages): k_cache, v_cache = [num_pages, page_size, num_kv_heads, head_dim]
// bf16; page p of sequence b is block_table[b * max_pages_per_seq + p]. The new token's K/V must
// already be in the cache (LaunchAppendKv). The KV bytes are read exactly once.
#ifndef JANUS_KERNELS_DECODE_ATTENTION_H_
#define JANUS_KERNELS_DECODE_ATTENTION_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace janus::kernels {

struct DecodeAttentionShape {
  int batch = 0;
  int num_heads = 0;
  int num_kv_heads = 0;       // num_heads / num_kv_heads in {1, 2, 4, 8}
  int head_dim = 0;           // 64, 128 or 256
  int page_size = 0;          // tokens per page (any positive value)
  int max_pages_per_seq = 0;  // row stride of block_table
  int max_seq_len = 0;        // host-side bound on seq_lens (sizes the split grid)
};

struct DecodeAttentionArgs {
  const uint16_t* q = nullptr;            // [batch, num_heads, head_dim] bf16
  const uint16_t* k_cache = nullptr;      // [num_pages, page_size, num_kv_heads, head_dim] bf16
  const uint16_t* v_cache = nullptr;
  const int32_t* block_table = nullptr;   // [batch, max_pages_per_seq]
  const int32_t* seq_lens = nullptr;      // [batch], each in [0, max_seq_len]; 0 gives o = 0
  float scale = 0.f;                      // softmax scale (head_dim^-0.5 for standard attention)
  uint16_t* out = nullptr;                // [batch, num_heads, head_dim] bf16
  void* workspace = nullptr;              // DecodeAttentionWorkspaceBytes, 16-byte aligned,
  size_t workspace_bytes = 0;             // initialised by InitDecodeAttentionWorkspace
};

// The split count the launcher will use (for sizing and for reporting).
int DecodeAttentionSplits(const DecodeAttentionShape& shape, int num_sms);
size_t DecodeAttentionWorkspaceBytes(const DecodeAttentionShape& shape, int num_sms);

// Workspace contract. The splits of one (sequence, kv head) are merged inside the attention
// kernel by the last split to finish ("last block done"): the workspace starts with one int32
// counter per (sequence, kv head) (DecodeAttentionCounterBytes), followed by the split partials.
// The counters must be zero when a launch starts; every launch that runs to completion leaves
// them zero again (the merging block resets its counter), so a workspace is initialised ONCE,
// after allocation, by InitDecodeAttentionWorkspace (an async memset of the whole buffer on
// `stream`), not before every launch; graphs need no memset node.
// Re-initialise it (1) when the same buffer is used with a different batch * num_kv_heads (the
// counter region's size changes, so bytes that held partials would be read as counters), and
// (2) after a launch failed or was aborted. One workspace serves one launch at a time: launches
// that share it must be ordered (same stream, or events).
size_t DecodeAttentionCounterBytes(const DecodeAttentionShape& shape);
absl::Status InitDecodeAttentionWorkspace(const DecodeAttentionShape& shape, void* workspace,
                                          size_t workspace_bytes, cudaStream_t stream);

absl::Status LaunchDecodeAttention(const DecodeAttentionShape& shape,
                                   const DecodeAttentionArgs& args, cudaStream_t stream);

// Writes one new token per sequence into the cache: k_cache/v_cache at position
// positions[b] of sequence b take k_new[b], v_new[b] ([batch, num_kv_heads, head_dim] bf16).
absl::Status LaunchAppendKv(const DecodeAttentionShape& shape, const uint16_t* k_new,
                            const uint16_t* v_new, const int32_t* positions,
                            const int32_t* block_table, uint16_t* k_cache, uint16_t* v_cache,
                            cudaStream_t stream);

}  // namespace janus::kernels

#endif  // JANUS_KERNELS_DECODE_ATTENTION_H_
