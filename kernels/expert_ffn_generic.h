// Generic path of LaunchGroupedExpertFfn (kernels/expert_ffn.h) for any hidden / inter, used when
// either is not a multiple of 64 (small test models: hidden 96, inter 48, ...). Private to
// kernels/ and the kernel tests, which call it directly to compare it with the fast path.
//
// Same GroupedFfnShape / GroupedFfnArgs contract and arithmetic as the fast path: per local pair,
// h = bf16(silu(x·gate_s) * (x·up_s)) with the fast path's SiLU, y = h·down_sᵀ in fp32, and
// out[r] = the k-ordered fma chain Σ_k w[r,k]·y[r,k] over local pairs with a valid slot (0 for rows
// with none). Invalid slots of local pairs are skipped and counted. Dot products are per-lane fp32
// fma chains summed across the warp, so results differ from the fast path's MMA order in the last
// bits but are bit-identical from run to run.
//
// Two launches: gate/up (one block per pair and 16 intermediate rows; one warp per 4 rows, x read
// once per warp for all of them) writes h to the workspace; down+combine (one block per row and
// 16 hidden columns) walks the row's pairs in k order and fmas each pair's dot product into the
// output, so no per-pair fp32 y buffer and no third launch are needed. Accesses are 16, 8, 4 or
// 2 bytes wide depending on the sizes and pointer alignments; only 2-byte (bf16) / 4-byte (fp32)
// pointer alignment is required, and the workspace must be 256-byte aligned.
#ifndef JANUS_KERNELS_EXPERT_FFN_GENERIC_H_
#define JANUS_KERNELS_EXPERT_FFN_GENERIC_H_

#include <cuda_runtime_api.h>

#include <cstddef>

#include "absl/status/status.h"
#include "kernels/expert_ffn.h"

namespace janus::kernels {

// True when LaunchGroupedExpertFfn / GroupedFfnWorkspaceBytes take the generic path.
inline bool UsesGenericExpertFfn(const GroupedFfnShape& shape) {
  return shape.hidden % 64 != 0 || shape.inter % 64 != 0;
}

// rows * top_k * inter bf16 intermediates (256-byte aligned), whatever the shape.
size_t GenericGroupedFfnWorkspaceBytes(const GroupedFfnShape& shape);

// hidden, inter in [1, 1048560]; any shape (also multiples of 64, for tests).
absl::Status LaunchGenericGroupedExpertFfn(const GroupedFfnShape& shape,
                                           const GroupedFfnArgs& args, cudaStream_t stream);

}  // namespace janus::kernels

#endif  // JANUS_KERNELS_EXPERT_FFN_GENERIC_H_
