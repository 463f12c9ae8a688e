// Token permutation around the experts of one MoE rank.
//
// Grouping: the (row, k) pairs this rank serves are ordered by local slot (ascending) into
// positions 0 .. num_pairs-1; slot s owns positions [offsets[s], offsets[s+1]). Inside one slot the
// order of the pairs is unspecified (atomics); every consumer computes each position independently
// and the un-permute sums a row's pairs in k order, so results never depend on it.
// Permute: x_perm[pos] = x[row of pos]. Un-permute: out[r] = Σ_k weights[r,k] * y_perm[pos(r,k)]
// over local pairs, in k order (0 for rows with none), exactly the CPU Experts() accumulation.
#ifndef JANUS_KERNELS_MOE_PERMUTE_H_
#define JANUS_KERNELS_MOE_PERMUTE_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace janus::kernels {

// Device arrays of a grouping, carved from one workspace by CarvePairGrouping.
struct PairGrouping {
  int32_t* counts = nullptr;    // [num_slots] pairs per slot
  int32_t* offsets = nullptr;   // [num_slots + 1]
  int32_t* active = nullptr;    // [num_slots] slots with pairs, ascending; first n_active valid
  int32_t* scalars = nullptr;   // [4]: n_active, num_pairs, num_invalid_slots, unused
  int32_t* pair_pos = nullptr;  // [rows * top_k] position of pair (r, k), -1 when not local
  int32_t* pos_pair = nullptr;  // [rows * top_k] pair index r * top_k + k at each position
};

size_t PairGroupingBytes(int pairs, int num_slots);
// `workspace` must be 256-byte aligned and hold PairGroupingBytes(pairs, num_slots).
PairGrouping CarvePairGrouping(void* workspace, int pairs, int num_slots);

// slots/ranks: [rows, top_k]; ranks null means every pair is local. Pairs with a slot outside
// [0, num_slots) are skipped and counted in scalars[2] (and added to *num_invalid_slots if given).
absl::Status LaunchGroupPairs(const int32_t* slots, const int32_t* ranks, int my_rank, int rows,
                              int top_k, int num_slots, const PairGrouping& grouping,
                              int32_t* num_invalid_slots, cudaStream_t stream);

// x_perm[pos, hidden] (bf16) = x[pos_pair[pos] / top_k] for pos < num_pairs (positions past
// num_pairs are untouched). hidden must be a multiple of 8.
absl::Status LaunchPermuteRows(const uint16_t* x, int rows, int top_k, int hidden,
                               const PairGrouping& grouping, uint16_t* x_perm, cudaStream_t stream);

// out[rows, hidden] (fp32) = Σ_k weights[r,k] * y_perm[pair_pos(r,k)] over local pairs, k order.
// hidden must be a multiple of 4.
absl::Status LaunchUnpermuteRows(const float* y_perm, const float* weights, int rows, int top_k,
                                 int hidden, const PairGrouping& grouping, float* out,
                                 cudaStream_t stream);

}  // namespace janus::kernels

#endif  // JANUS_KERNELS_MOE_PERMUTE_H_
