// Grouped SiLU-gated expert FFN over the (row, k) pairs this MoE rank serves:
//   out[r] = Σ_k [pair (r,k) local] weights[r,k] * down_s(silu(gate_s x_r) * up_s x_r),
// s = the pair's local slot. Same function as runtime/cpu Experts() (bf16 weights and activations,
// fp32 accumulation; the SiLU·mul intermediate is rounded to bf16 like a bf16 model's).
//
// hidden and inter that are multiples of 64 take the fast paths described here; other shapes (small
// test models: hidden 96, inter 48, ...) take a simple generic path with the same contract and
// arithmetic (kernels/expert_ffn_generic.h: two launches, warp dot products, no alignment
// requirement beyond the element size), correct but not tuned.
//
// The fast paths are built for decode batch sizes, where the FFN is memory-bound: only activated
// slots are visited, each activated expert's gate/up/down bytes are streamed once per 64 of its
// tokens, so the time follows the number of activated experts. Larger batches are correct but
// re-stream the weights once per 64 tokens of an expert; prefill should chunk rows (the workspace
// grows with rows * top_k * hidden).
#ifndef JANUS_KERNELS_EXPERT_FFN_H_
#define JANUS_KERNELS_EXPERT_FFN_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace janus::kernels {

struct GroupedFfnShape {
  int rows = 0;       // tokens this rank received
  int top_k = 0;
  int hidden = 0;     // > 0; fast path when hidden and inter are multiples of 64
  int inter = 0;      // moe_intermediate_size, > 0
  int num_slots = 0;  // expert slots resident on this rank
};

// Device pointers. bf16 tensors are raw uint16_t bits. The fast path needs x, gate, up, down and
// out 16-byte aligned; the generic path only element alignment.
struct GroupedFfnArgs {
  const uint16_t* x = nullptr;      // [rows, hidden]
  const float* weights = nullptr;   // [rows, top_k] router weights
  const int32_t* slots = nullptr;   // [rows, top_k] slot of the serving replica on its rank
  const int32_t* ranks = nullptr;   // [rows, top_k] serving rank, or null: every pair is local
  int my_rank = 0;
  const uint16_t* gate = nullptr;   // [num_slots, inter, hidden]
  const uint16_t* up = nullptr;     // [num_slots, inter, hidden]
  const uint16_t* down = nullptr;   // [num_slots, hidden, inter]
  float* out = nullptr;             // [rows, hidden]; rows this rank serves nothing of get 0
  void* workspace = nullptr;        // GroupedFfnWorkspaceBytes(shape) bytes, 256-byte aligned
  size_t workspace_bytes = 0;
  // Optional [1] device int: pairs whose slot is outside [0, num_slots) (skipped; a caller bug).
  int32_t* num_invalid_slots = nullptr;
};

// Depends on the path the shape takes (generic: rows * top_k * inter bf16).
size_t GroupedFfnWorkspaceBytes(const GroupedFfnShape& shape);

// Enqueues the work on `stream`, no host synchronisation. The kernels are Hopper warpgroup MMAs
// on sm_90 devices (sm_90a builds) and mma.sync elsewhere. Up to 64 pairs (rows * top_k) and 64
// slots: two launches (gate/up + SiLU·mul with the pair grouping computed in every block; down
// with the k-ordered weighted combine done by the last block of each 64-column group). Larger
// calls: four launches (one-block grouping, gate/up, down, combine). Both paths do the same
// arithmetic (per-pair dot products, then a k-ordered fma chain per row); results are
// bit-identical from run to run. The workspace holds no state between calls (the gate/up launch
// resets the down launch's counters), but two calls must not run concurrently on one workspace.
absl::Status LaunchGroupedExpertFfn(const GroupedFfnShape& shape, const GroupedFfnArgs& args,
                                    cudaStream_t stream);

}  // namespace janus::kernels

#endif  // JANUS_KERNELS_EXPERT_FFN_H_
