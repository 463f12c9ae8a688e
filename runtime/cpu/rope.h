// Rotary position embeddings, reproducing transformers' modeling_rope_utils.py (default, linear and
// YaRN inverse frequencies, the YaRN attention factor applied to cos/sin) and the two rotation layouts
// the supported models use.
//
// Layouts of the `rotary_dim` rotated dims of one head:
//  - kHalfSplit (Llama/Mixtral/Qwen/OLMoE `rotate_half`): dim i and i + d/2 form a pair with
//    frequency i. Output layout = input layout.
//  - kInterleaved (DeepSeek): dims 2i and 2i+1 form a pair with frequency i. The output is written
//    de-interleaved, [rotated evens | rotated odds], exactly like DeepSeek-V3's
//    apply_rotary_pos_emb_interleave. DeepSeek-V2's complex-number form (apply_rotary_emb) returns the
//    same numbers re-interleaved; since q and k go through the same permutation the attention scores
//    are identical (test: RopeTest.DeepseekV2ComplexFormIsAPermutation).
#ifndef JANUS_RUNTIME_CPU_ROPE_H_
#define JANUS_RUNTIME_CPU_ROPE_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace janus::cpu {

enum class RopeStyle { kHalfSplit = 0, kInterleaved = 1 };
enum class RopeScaling { kNone = 0, kLinear = 1, kYarn = 2 };

// Mirrors plan.fbs `Rope` (same defaults).
struct RopeConfig {
  float theta = 10000.0f;
  RopeStyle style = RopeStyle::kHalfSplit;
  RopeScaling scaling = RopeScaling::kNone;
  float factor = 1.0f;
  int original_max_position = 0;  // yarn
  float beta_fast = 32.0f;        // yarn
  float beta_slow = 1.0f;         // yarn
  // yarn. HF: attention_factor = get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim)
  // when both are non-zero, else get_mscale(factor). A config without "mscale" must be given
  // mscale = 0 here to get HF's value when it has mscale_all_dim (plan default 1 would differ).
  float mscale = 1.0f;
  float mscale_all_dim = 0.0f;
  int rotary_dim = 0;  // dims rotated per head; must be even and > 0 when building a table
  bool truncate = true;  // yarn: HF's rope_parameters["truncate"] (default true); not in the plan
};

// Checks ranges (theta > 0, factor > 0 for linear/yarn, original_max_position > 0 for yarn, even
// rotary_dim > 0) with an error naming the field.
absl::Status ValidateRope(const RopeConfig& config);

// yarn_get_mscale from transformers: 1 if scale <= 1, else 0.1 * mscale * ln(scale) + 1.
double YarnGetMscale(double scale, double mscale);

// DeepSeek-V2/V3 MLA softmax scale: qk_head_dim^-0.5, times YarnGetMscale(factor, mscale_all_dim)^2
// when the rope is scaled (any non-default rope type, as yarn_apply_mscale checks) and mscale_all_dim
// is non-zero. Computed in double like Python, returned as the fp32 that multiplies the scores.
float MlaSoftmaxScale(int qk_head_dim, const RopeConfig& rope);

// Standard attention scale head_dim^-0.5 (double, then fp32 as torch uses it).
float AttentionScale(int head_dim);

// Precomputed cos/sin for positions [0, max_positions); later positions are computed on the fly with
// the same fp32 arithmetic, so results never depend on max_positions. Immutable after Create, safe
// to share between threads.
class RopeTable {
 public:
  static absl::StatusOr<RopeTable> Create(const RopeConfig& config, int max_positions);

  const RopeConfig& config() const { return config_; }
  int rotary_dim() const { return config_.rotary_dim; }
  // rotary_dim / 2 inverse frequencies, fp32, exactly as HF's inv_freq buffer.
  const std::vector<float>& inv_freq() const { return inv_freq_; }
  // Multiplies cos and sin (YaRN's mscale ratio; 1 otherwise).
  float attention_factor() const { return attention_factor_; }

  // cos/sin of the rotary_dim / 2 frequencies at `position` (attention_factor applied).
  void CosSin(int position, float* cos, float* sin) const;

  // Rotates the first rotary_dim floats of `vec` (one head) in place for `position`, in the table's
  // style. Dims past rotary_dim are untouched. position must be >= 0.
  void Apply(float* vec, int position) const;

 private:
  RopeConfig config_;
  std::vector<float> inv_freq_;
  float attention_factor_ = 1.0f;
  int max_positions_ = 0;
  std::vector<float> cos_;  // [max_positions, rotary_dim / 2]
  std::vector<float> sin_;
};

// Free-function forms of the rotation with explicit cos/sin (half = rotary_dim / 2 entries each).
void ApplyRopeHalfSplit(float* vec, int rotary_dim, const float* cos, const float* sin);
void ApplyRopeInterleaved(float* vec, int rotary_dim, const float* cos, const float* sin);

}  // namespace janus::cpu

#endif  // JANUS_RUNTIME_CPU_ROPE_H_
