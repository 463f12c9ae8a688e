// DeepSeek MLA decode attention in the weight-absorbed form, split over the KV range: one query
// row per sequence, every head against the sequence's latent cache
//   o[b, h] = softmax(q[b, h] · C[b, 0..len)ᵀ * scale) C[b, 0..len)[:, :512],
// where a cached token's row is [c_kv (512) | k_pe (64)] (576 bf16) and the value is its c_kv.
// This is the decode path of the cuda backend for DeepSeek-V2/V3 shapes; the general
// LaunchPagedAttention (paged_attention.h) covers every other shape and prefill.
//
// Tensor cores (mma.sync m16n8k16 bf16, fp32 accumulation), in the manner of FlashMLA. Blocks:
// (head group, split, sequence), 8 warps; a head group is 16, 32 or 64 heads (num_heads <= 16,
// <= 32, else groups of 64; missing heads are zero query rows). The block keeps its queries in
// shared memory and streams 64-token tiles of latent rows (gathered through block_table, any
// page size) with cp.async, two stages; every latent byte is read once per block and the head
// groups of one sequence read the same tiles back to back (L2). Per tile: S = Q·Kᵀ (warps split
// heads x tokens), online softmax in the log2 domain, P rounded to bf16 (as FlashAttention does)
// and shared through shared memory, O += P·V with V = the tile's first 512 columns (warps split
// the 512 output columns). The split count depends only on the shape (MlaDecodeSplits: fill the
// SMs with equal blocks); with several splits each writes (m, l, unnormalised o) to the workspace
// and a second kernel merges them in a fixed order (deterministic); with one split the block
// writes the output itself. No host synchronisation, no allocation: capturable in CUDA graphs.
// q and cache must be 16-byte aligned, out 4-byte aligned; seq_lens are clamped to [0, max_seq_len].
#ifndef JANUS_KERNELS_MLA_DECODE_H_
#define JANUS_KERNELS_MLA_DECODE_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace janus::kernels {

inline constexpr int kMlaLatent = 512;
inline constexpr int kMlaRope = 64;
inline constexpr int kMlaRow = kMlaLatent + kMlaRope;

struct MlaDecodeShape {
  int batch = 0;              // sequences, one query row each
  int num_heads = 0;          // 1 .. 128
  int page_size = 0;          // tokens per page
  int max_pages_per_seq = 0;  // row stride of block_table
  int max_seq_len = 0;        // host bound on seq_lens (sizes the split count)
};

struct MlaDecodeArgs {
  const uint16_t* q = nullptr;       // [batch, num_heads, 576] bf16: [q_nope · W_UK | q_pe]
  const uint16_t* cache = nullptr;   // token (page p, slot s): cache + (p * page_size + s) * 576
  const int32_t* block_table = nullptr;  // [batch, max_pages_per_seq]
  const int32_t* seq_lens = nullptr;     // [batch], in [0, max_seq_len]; 0 gives o = 0
  float scale = 0.f;
  uint16_t* out = nullptr;           // [batch, num_heads, 512] bf16
  void* workspace = nullptr;         // MlaDecodeWorkspaceBytes, 16-byte aligned
  size_t workspace_bytes = 0;
};

int MlaDecodeSplits(const MlaDecodeShape& shape, int num_sms);
size_t MlaDecodeWorkspaceBytes(const MlaDecodeShape& shape, int num_sms);

absl::Status LaunchMlaDecode(const MlaDecodeShape& shape, const MlaDecodeArgs& args,
                             cudaStream_t stream);

}  // namespace janus::kernels

#endif  // JANUS_KERNELS_MLA_DECODE_H_
