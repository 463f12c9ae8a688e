// Rotary position embeddings applied in place to bf16 q and k, with precomputed fp32 cos/sin tables
// (build them once from runtime/cpu RopeTable::CosSin, which carries default, linear and YaRN
// frequencies and YaRN's attention factor, and copy them to the device).
//  kHalfSplit: dims i and i + r/2 pair with frequency i (rotate_half).
//  kInterleaved: dims 2i and 2i + 1 pair with frequency i; the result is written de-interleaved,
//    [rotated evens | rotated odds], as runtime/cpu ApplyRopeInterleaved (DeepSeek).
// Dims past rotary_dim are untouched.
#ifndef JANUS_KERNELS_ROPE_H_
#define JANUS_KERNELS_ROPE_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace janus::kernels {

enum class RopeLayout { kHalfSplit = 0, kInterleaved = 1 };

struct RopeShape {
  int rows = 0;
  int num_q_heads = 0;
  int num_k_heads = 0;    // 0: no k
  int head_dim = 0;
  int rotary_dim = 0;     // even, <= head_dim, <= 512
  int max_positions = 0;  // rows of the cos/sin tables
  RopeLayout layout = RopeLayout::kHalfSplit;
};

// q: [rows, num_q_heads, head_dim], k: [rows, num_k_heads, head_dim] (bf16, in place);
// positions: [rows]; cos, sin: [max_positions, rotary_dim / 2] fp32. A position outside
// [0, max_positions) writes NaN into that row's rotated dims (loud, never silently unrotated).
absl::Status LaunchRope(const RopeShape& shape, uint16_t* q, uint16_t* k, const int32_t* positions,
                        const float* cos, const float* sin, cudaStream_t stream);

}  // namespace janus::kernels

#endif  // JANUS_KERNELS_ROPE_H_
