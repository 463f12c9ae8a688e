// The gate/up and down launches of the grouped expert FFN (kernels/expert_ffn.h), fused and
// four-launch paths, on Hopper warpgroup MMAs (wgmma, sm_90a): what LaunchGroupedExpertFfn runs on
// sm_90 devices (kernels/expert_ffn.cu keeps mma.sync kernels for the others). Private to kernels/,
// the kernel tests and janus-bench.
//
// Work item = (active slot, 64 MMA rows): gate/up takes 32 intermediate rows of gate and the same
// 32 rows of up (interleaved per 8 rows, so each thread's accumulators hold gate and up of one
// (row, token) and form silu(gate)·up itself); down takes 64 rows of the down matrix. The slot's
// tokens (up to kMaxN = 16/32/48/64 per pass) are the MMA's N. One warpgroup per block streams
// K in 64-wide steps through a ring of shared-memory stages filled by cp.async (weights and the
// gathered activation rows, both in the 128-byte-swizzled K-major layout of kernels/wgmma.cuh),
// issuing four m64nNk16 wgmmas per step. The down launch is a programmatic dependent of gate/up:
// it requests its first weight steps before it waits for h.
//
// Requirements (checked by the caller, LaunchGroupedExpertFfn): hidden and inter multiples of 64,
// x / gate / up / down 16-byte aligned; not fused, a grouping made by LaunchGroupPairs.
#ifndef JANUS_KERNELS_EXPERT_FFN_WGMMA_H_
#define JANUS_KERNELS_EXPERT_FFN_WGMMA_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/expert_ffn.h"
#include "kernels/moe_permute.h"

namespace janus::kernels {

// What the streaming gate/up and down launches read and write (device pointers).
struct FfnParams {
  int top_k, hidden, inter;
  const uint16_t* x;
  const uint16_t* gate;
  const uint16_t* up;
  const uint16_t* down;
  PairGrouping g;
  uint16_t* h;  // [pairs, inter] bf16, grouped order
  float* y;     // [pairs, hidden] fp32, grouped order
};

// The fused paths' extra inputs: the gate/up blocks group the pairs themselves, the down launch
// combines (`done` counts finished items per 64-column row group; zeroed by the gate/up launch).
struct FusedParams : FfnParams {
  int rows, num_slots;
  const float* weights;
  const int32_t* slots;
  const int32_t* ranks;  // null: every pair is local
  int my_rank;
  int32_t* done;  // [hidden / 64] per down row group: items finished (zeroed by the gate/up launch)
  float* out;
  int32_t* num_invalid_out;
};

// h = bf16(silu(gate x) * up x) for every grouped position. `max_tokens` bounds the tokens of
// any slot (it picks the pass width; more tokens take extra passes, re-streaming the weights);
// `max_active` bounds the active slots (sizes the persistent grid). Not fused: the grouping comes
// from LaunchGroupPairs (p.g). Fused (<= 64 pairs and slots): every block groups the pairs itself
// and block 0 writes the grouping to p.g and zeroes p.done.
absl::Status LaunchWgmmaGateUp(const FusedParams& p, bool fused, int max_tokens, int max_active,
                               cudaStream_t stream);
// y = down h, a programmatic dependent of LaunchWgmmaGateUp's kernel. Fused: the last block of
// each 64-row group also writes that group of `out` (the k-ordered weighted sum per row).
absl::Status LaunchWgmmaDown(const FusedParams& p, bool fused, int max_tokens, int max_active,
                             cudaStream_t stream);

}  // namespace janus::kernels

#endif  // JANUS_KERNELS_EXPERT_FFN_WGMMA_H_
