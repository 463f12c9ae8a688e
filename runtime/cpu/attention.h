// Causal self-attention over the paged KV cache: MHA/GQA (Mixtral, Qwen2/3-MoE, OLMoE) and DeepSeek's
// multi-head latent attention (MLA), in the order transformers' eager attention computes them.
//
// Both ops first write the K/V (or latent) rows of every row of the batch into the cache, then each
// row attends to positions 0..position of its own sequence, so a prefill chunk, a decode token and a
// mix of sequences in one batch all give the same per-row result.
#ifndef JANUS_RUNTIME_CPU_ATTENTION_H_
#define JANUS_RUNTIME_CPU_ATTENTION_H_

#include "absl/status/status.h"
#include "runtime/cpu/kv_cache.h"
#include "runtime/cpu/rope.h"
#include "runtime/cpu/tensor.h"

namespace janus::cpu {

enum class QkNorm { kNone = 0, kPerHead = 1, kFull = 2 };

// Weights of one MHA/GQA layer. q = [heads*head_dim, hidden], k, v = [kv_heads*head_dim, hidden],
// o = [hidden, heads*head_dim]. Optional pointers are null when absent.
struct AttentionWeights {
  WeightView q, k, v, o;
  const WeightView* q_bias = nullptr;  // [heads*head_dim]
  const WeightView* k_bias = nullptr;  // [kv_heads*head_dim]
  const WeightView* v_bias = nullptr;  // [kv_heads*head_dim]
  const WeightView* o_bias = nullptr;  // [hidden] (no supported model has one; kept for completeness)
  // kPerHead: [head_dim] each (Qwen3). kFull: q_norm [heads*head_dim], k_norm [kv_heads*head_dim]
  // (OLMoE: over the whole projection, before the reshape into heads).
  const WeightView* q_norm = nullptr;
  const WeightView* k_norm = nullptr;
};

struct AttentionConfig {
  int num_heads = 0;
  int num_kv_heads = 0;  // divides num_heads; head h reads kv head h / (num_heads / num_kv_heads)
  int head_dim = 0;
  QkNorm qk_norm = QkNorm::kNone;
  float qk_norm_eps = 1e-6f;
  // Required. rotary_dim <= head_dim; the first rotary_dim dims of each q/k head are rotated.
  const RopeTable* rope = nullptr;
};

// y[rows, hidden] = o_proj(softmax(q kᵀ * head_dim^-0.5, causal) v) for the rows of `layout`.
// Order (as HF): q/k/v projections (+bias) -> q/k norm -> RoPE on q and k -> cache write -> scores
// (dot, then * scale) -> softmax in fp32 -> weighted sum of v -> o_proj. The cache layer must have
// key_width = value_width = num_kv_heads * head_dim. Errors name the mismatching shape or slot.
absl::Status Attention(const AttentionWeights& weights, const AttentionConfig& config,
                       const float* x, const BatchLayout& layout, PagedKvCache& cache, int layer,
                       float* y);

// Weights of one DeepSeek-V2/V3 MLA layer (names as in transformers).
struct MlaWeights {
  // Exactly one of: q_proj [heads*qk_head_dim, hidden] (q_lora_rank == 0), or
  // q_a [q_lora_rank, hidden] + q_a_norm [q_lora_rank] + q_b [heads*qk_head_dim, q_lora_rank].
  const WeightView* q_proj = nullptr;
  const WeightView* q_a = nullptr;
  const WeightView* q_a_norm = nullptr;
  const WeightView* q_b = nullptr;
  WeightView kv_a;       // kv_a_proj_with_mqa [kv_lora_rank + rope_dim, hidden]
  WeightView kv_a_norm;  // [kv_lora_rank]
  WeightView kv_b;       // [heads * (nope + v_head_dim), kv_lora_rank]
  WeightView o;          // [hidden, heads * v_head_dim]
  // config.attention_bias (false in every released DeepSeek config): biases of q_a, kv_a and o.
  const WeightView* q_a_bias = nullptr;
  const WeightView* kv_a_bias = nullptr;
  const WeightView* o_bias = nullptr;
};

struct MlaConfig {
  int num_heads = 0;
  int q_lora_rank = 0;  // 0: q_proj
  int kv_lora_rank = 0;
  int qk_nope_head_dim = 0;
  int qk_rope_head_dim = 0;
  int v_head_dim = 0;
  // eps of q_a_layernorm and kv_a_layernorm. HF constructs both with the RMSNorm default 1e-6,
  // not config.rms_norm_eps.
  float norm_eps = 1e-6f;
  float softmax_scale = 0.0f;  // see MlaSoftmaxScale
  const RopeTable* rope = nullptr;  // rotary_dim == qk_rope_head_dim, interleaved for DeepSeek
};

// DeepSeek MLA. Caches, per token, the normalised latent (key row, kv_lora_rank wide) and the roped
// k_rope (value row, qk_rope_head_dim wide). Attention expands each cached latent with kv_b_proj into
// per-head k_nope and v exactly as transformers' expand_kv, then key = [k_nope, k_rope] (k_rope shared
// by all heads), query = [q_nope, roped q_rope], score = q·key * softmax_scale.
absl::Status MlaAttention(const MlaWeights& weights, const MlaConfig& config, const float* x,
                          const BatchLayout& layout, PagedKvCache& cache, int layer, float* y);

}  // namespace janus::cpu

#endif  // JANUS_RUNTIME_CPU_ATTENTION_H_
