// DeepSeek multi-head latent attention (transformers' DeepseekV2Attention / DeepseekV3Attention).
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/base/status.h"
#include "runtime/cpu/attention.h"
#include "runtime/cpu/internal.h"

namespace janus::cpu {
namespace {

absl::Status CheckMla(const MlaWeights& w, const MlaConfig& c, const PagedKvCache& cache, int layer,
                      int64_t* hidden_out) {
  if (c.num_heads <= 0 || c.kv_lora_rank <= 0 || c.qk_nope_head_dim < 0 || c.qk_rope_head_dim <= 0 ||
      c.v_head_dim <= 0 || c.q_lora_rank < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "mla: bad dimensions (num_heads ", c.num_heads, ", q_lora_rank ", c.q_lora_rank,
        ", kv_lora_rank ", c.kv_lora_rank, ", qk_nope_head_dim ", c.qk_nope_head_dim,
        ", qk_rope_head_dim ", c.qk_rope_head_dim, ", v_head_dim ", c.v_head_dim, ")"));
  }
  if (!(c.softmax_scale > 0)) {
    return absl::InvalidArgumentError(absl::StrCat("mla: softmax_scale must be > 0, got ", c.softmax_scale));
  }
  if (c.rope == nullptr) return absl::InvalidArgumentError("mla: no rope table");
  if (c.rope->rotary_dim() != c.qk_rope_head_dim) {
    return absl::InvalidArgumentError(absl::StrCat("mla: rope rotary_dim ", c.rope->rotary_dim(),
                                                   " != qk_rope_head_dim ", c.qk_rope_head_dim));
  }
  if (w.kv_a.shape.size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("mla kv_a_proj_with_mqa: weight must be 2-D, got ", ShapeString(w.kv_a.shape)));
  }
  const int64_t hidden = w.kv_a.shape[1];
  const int64_t h = c.num_heads;
  const int64_t qk = c.qk_nope_head_dim + c.qk_rope_head_dim;
  JANUS_RETURN_IF_ERROR(
      CheckWeight(w.kv_a, {c.kv_lora_rank + c.qk_rope_head_dim, hidden}, "mla kv_a_proj_with_mqa"));
  JANUS_RETURN_IF_ERROR(CheckWeight(w.kv_a_norm, {c.kv_lora_rank}, "mla kv_a_layernorm"));
  JANUS_RETURN_IF_ERROR(
      CheckWeight(w.kv_b, {h * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank}, "mla kv_b_proj"));
  JANUS_RETURN_IF_ERROR(CheckWeight(w.o, {hidden, h * c.v_head_dim}, "mla o_proj"));
  if (w.kv_a_bias != nullptr) {
    JANUS_RETURN_IF_ERROR(CheckWeight(*w.kv_a_bias, {c.kv_lora_rank + c.qk_rope_head_dim}, "mla kv_a bias"));
  }
  if (w.o_bias != nullptr) JANUS_RETURN_IF_ERROR(CheckWeight(*w.o_bias, {hidden}, "mla o_proj bias"));
  if (c.q_lora_rank == 0) {
    if (w.q_proj == nullptr) return absl::InvalidArgumentError("mla: q_lora_rank is 0 but q_proj is missing");
    JANUS_RETURN_IF_ERROR(CheckWeight(*w.q_proj, {h * qk, hidden}, "mla q_proj"));
  } else {
    if (w.q_a == nullptr || w.q_a_norm == nullptr || w.q_b == nullptr) {
      return absl::InvalidArgumentError(
          "mla: q_lora_rank > 0 needs q_a_proj, q_a_layernorm and q_b_proj");
    }
    JANUS_RETURN_IF_ERROR(CheckWeight(*w.q_a, {c.q_lora_rank, hidden}, "mla q_a_proj"));
    JANUS_RETURN_IF_ERROR(CheckWeight(*w.q_a_norm, {c.q_lora_rank}, "mla q_a_layernorm"));
    JANUS_RETURN_IF_ERROR(CheckWeight(*w.q_b, {h * qk, c.q_lora_rank}, "mla q_b_proj"));
    if (w.q_a_bias != nullptr) {
      JANUS_RETURN_IF_ERROR(CheckWeight(*w.q_a_bias, {c.q_lora_rank}, "mla q_a_proj bias"));
    }
  }
  if (layer < 0 || layer >= cache.num_layers()) {
    return absl::InvalidArgumentError(
        absl::StrCat("mla: layer ", layer, " has no KV cache (", cache.num_layers(), " layers)"));
  }
  const KvLayerSpec& spec = cache.layer_spec(layer);
  if (spec.key_width != c.kv_lora_rank || spec.value_width != c.qk_rope_head_dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        "mla: KV cache layer ", layer, " stores widths ", spec.key_width, "/", spec.value_width,
        ", expected kv_lora_rank ", c.kv_lora_rank, " / qk_rope_head_dim ", c.qk_rope_head_dim));
  }
  *hidden_out = hidden;
  return absl::OkStatus();
}

}  // namespace

absl::Status MlaAttention(const MlaWeights& w, const MlaConfig& c, const float* x,
                          const BatchLayout& layout, PagedKvCache& cache, int layer, float* y) {
  int64_t hidden = 0;
  JANUS_RETURN_IF_ERROR(CheckMla(w, c, cache, layer, &hidden));
  const int rows = layout.rows();
  JANUS_RETURN_IF_ERROR(Annotate(ValidateLayout(layout, rows, cache), "mla"));
  if (rows == 0) return absl::OkStatus();

  const int64_t heads = c.num_heads;
  const int64_t nope = c.qk_nope_head_dim;
  const int64_t rope = c.qk_rope_head_dim;
  const int64_t qk = nope + rope;
  const int64_t vd = c.v_head_dim;
  const int64_t rank = c.kv_lora_rank;

  // Queries: q_proj, or q_b_proj(q_a_layernorm(q_a_proj(x))); RoPE on each head's last `rope` dims.
  std::vector<float> q(static_cast<size_t>(rows * heads * qk));
  if (c.q_lora_rank == 0) {
    JANUS_RETURN_IF_ERROR(Linear(x, rows, *w.q_proj, nullptr, q.data()));
  } else {
    std::vector<float> qa(static_cast<size_t>(rows) * c.q_lora_rank);
    JANUS_RETURN_IF_ERROR(Linear(x, rows, *w.q_a, w.q_a_bias, qa.data()));
    JANUS_RETURN_IF_ERROR(RmsNorm(qa.data(), rows, c.q_lora_rank, *w.q_a_norm, c.norm_eps, qa.data()));
    JANUS_RETURN_IF_ERROR(Linear(qa.data(), rows, *w.q_b, nullptr, q.data()));
  }
  // Latent and shared rotary key: kv_a_proj_with_mqa -> [latent | k_rope].
  std::vector<float> ckv(static_cast<size_t>(rows * (rank + rope)));
  JANUS_RETURN_IF_ERROR(Linear(x, rows, w.kv_a, w.kv_a_bias, ckv.data()));
  const std::vector<float> kv_norm = ToFloatVector(w.kv_a_norm);
  for (int r = 0; r < rows; ++r) {
    const int seq = layout.seq[r];
    const int pos = layout.position[r];
    for (int64_t h = 0; h < heads; ++h) c.rope->Apply(&q[(r * heads + h) * qk + nope], pos);
    float* row = &ckv[r * (rank + rope)];
    RmsNormRow(row, rank, kv_norm.data(), c.norm_eps, cache.Key(layer, seq, pos));
    c.rope->Apply(row + rank, pos);
    std::copy(row + rank, row + rank + rope, cache.Value(layer, seq, pos));
  }

  // Rows grouped by sequence; each sequence's cached latents are expanded once (HF's expand_kv).
  std::map<int, std::vector<int>> rows_of_seq;
  for (int r = 0; r < rows; ++r) rows_of_seq[layout.seq[r]].push_back(r);

  std::vector<float> attn(static_cast<size_t>(rows * heads * vd), 0.0f);
  std::vector<float> latent, kv, keys, scores;
  for (const auto& [seq, seq_rows] : rows_of_seq) {
    int n = 0;
    for (int r : seq_rows) n = std::max(n, layout.position[r] + 1);
    latent.resize(static_cast<size_t>(n * rank));
    for (int j = 0; j < n; ++j) {
      const float* src = cache.Key(layer, seq, j);
      std::copy(src, src + rank, &latent[j * rank]);
    }
    kv.resize(static_cast<size_t>(n * heads * (nope + vd)));
    JANUS_RETURN_IF_ERROR(Linear(latent.data(), n, w.kv_b, nullptr, kv.data()));
    // keys[j, h] = [k_nope(j, h) | k_rope(j)], contiguous so each score is one qk-wide dot product.
    keys.resize(static_cast<size_t>(n * heads * qk));
    for (int j = 0; j < n; ++j) {
      const float* k_rope = cache.Value(layer, seq, j);
      for (int64_t h = 0; h < heads; ++h) {
        const float* src = &kv[(j * heads + h) * (nope + vd)];
        float* dst = &keys[(j * heads + h) * qk];
        std::copy(src, src + nope, dst);
        std::copy(k_rope, k_rope + rope, dst + nope);
      }
    }
    for (int r : seq_rows) {
      const int m = layout.position[r] + 1;
      scores.resize(m);
      for (int64_t h = 0; h < heads; ++h) {
        const float* qh = &q[(r * heads + h) * qk];
        for (int j = 0; j < m; ++j) {
          scores[j] = Dot(qh, &keys[(j * heads + h) * qk], qk) * c.softmax_scale;
        }
        SoftmaxInPlace(scores.data(), m);
        float* out = &attn[(r * heads + h) * vd];
        for (int j = 0; j < m; ++j) Axpy(scores[j], &kv[(j * heads + h) * (nope + vd) + nope], vd, out);
      }
    }
  }
  return Linear(attn.data(), rows, w.o, w.o_bias, y);
}

}  // namespace janus::cpu
