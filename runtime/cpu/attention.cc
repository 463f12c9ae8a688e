#include "runtime/cpu/attention.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/base/status.h"
#include "runtime/cpu/internal.h"

namespace janus::cpu {
namespace {

absl::Status CheckConfig(const AttentionConfig& c) {
  if (c.num_heads <= 0 || c.num_kv_heads <= 0 || c.head_dim <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "attention: num_heads, num_kv_heads and head_dim must be > 0, got ", c.num_heads, ", ",
        c.num_kv_heads, ", ", c.head_dim));
  }
  if (c.num_heads % c.num_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("attention: num_kv_heads ", c.num_kv_heads,
                                                   " does not divide num_heads ", c.num_heads));
  }
  if (c.rope == nullptr) return absl::InvalidArgumentError("attention: no rope table");
  if (c.rope->rotary_dim() > c.head_dim) {
    return absl::InvalidArgumentError(absl::StrCat("attention: rotary_dim ", c.rope->rotary_dim(),
                                                   " exceeds head_dim ", c.head_dim));
  }
  return absl::OkStatus();
}

absl::Status CheckOptional(const WeightView* w, const std::vector<int64_t>& shape,
                           absl::string_view what) {
  if (w == nullptr) return absl::OkStatus();
  return CheckWeight(*w, shape, what);
}

}  // namespace

absl::Status Attention(const AttentionWeights& w, const AttentionConfig& c, const float* x,
                       const BatchLayout& layout, PagedKvCache& cache, int layer, float* y) {
  JANUS_RETURN_IF_ERROR(CheckConfig(c));
  const int rows = layout.rows();
  const int64_t d = c.head_dim;
  const int64_t q_width = c.num_heads * d;
  const int64_t kv_width = c.num_kv_heads * d;
  if (w.q.shape.size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention q_proj: weight must be 2-D, got ", ShapeString(w.q.shape)));
  }
  const int64_t hidden = w.q.shape[1];
  JANUS_RETURN_IF_ERROR(CheckWeight(w.q, {q_width, hidden}, "attention q_proj"));
  JANUS_RETURN_IF_ERROR(CheckWeight(w.k, {kv_width, hidden}, "attention k_proj"));
  JANUS_RETURN_IF_ERROR(CheckWeight(w.v, {kv_width, hidden}, "attention v_proj"));
  JANUS_RETURN_IF_ERROR(CheckWeight(w.o, {hidden, q_width}, "attention o_proj"));
  JANUS_RETURN_IF_ERROR(CheckOptional(w.q_bias, {q_width}, "attention q_bias"));
  JANUS_RETURN_IF_ERROR(CheckOptional(w.k_bias, {kv_width}, "attention k_bias"));
  JANUS_RETURN_IF_ERROR(CheckOptional(w.v_bias, {kv_width}, "attention v_bias"));
  JANUS_RETURN_IF_ERROR(CheckOptional(w.o_bias, {hidden}, "attention o_bias"));
  if (c.qk_norm != QkNorm::kNone) {
    if (w.q_norm == nullptr || w.k_norm == nullptr) {
      return absl::InvalidArgumentError("attention: qk_norm is set but q_norm or k_norm is missing");
    }
    const bool per_head = c.qk_norm == QkNorm::kPerHead;
    JANUS_RETURN_IF_ERROR(CheckWeight(*w.q_norm, {per_head ? d : q_width}, "attention q_norm"));
    JANUS_RETURN_IF_ERROR(CheckWeight(*w.k_norm, {per_head ? d : kv_width}, "attention k_norm"));
  }
  if (layer < 0 || layer >= cache.num_layers()) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention: layer ", layer, " has no KV cache (", cache.num_layers(), " layers)"));
  }
  const KvLayerSpec& spec = cache.layer_spec(layer);
  if (spec.key_width != kv_width || spec.value_width != kv_width) {
    return absl::InvalidArgumentError(absl::StrCat(
        "attention: KV cache layer ", layer, " stores key/value widths ", spec.key_width, "/",
        spec.value_width, ", expected ", kv_width, " (num_kv_heads * head_dim)"));
  }
  JANUS_RETURN_IF_ERROR(Annotate(ValidateLayout(layout, rows, cache), "attention"));
  if (rows == 0) return absl::OkStatus();

  std::vector<float> q(static_cast<size_t>(rows * q_width));
  std::vector<float> k(static_cast<size_t>(rows * kv_width));
  std::vector<float> v(k.size());
  JANUS_RETURN_IF_ERROR(Linear(x, rows, w.q, w.q_bias, q.data()));
  JANUS_RETURN_IF_ERROR(Linear(x, rows, w.k, w.k_bias, k.data()));
  JANUS_RETURN_IF_ERROR(Linear(x, rows, w.v, w.v_bias, v.data()));

  if (c.qk_norm != QkNorm::kNone) {
    const std::vector<float> qn = ToFloatVector(*w.q_norm);
    const std::vector<float> kn = ToFloatVector(*w.k_norm);
    for (int r = 0; r < rows; ++r) {
      float* qr = &q[r * q_width];
      float* kr = &k[r * kv_width];
      if (c.qk_norm == QkNorm::kPerHead) {
        for (int h = 0; h < c.num_heads; ++h) RmsNormRow(qr + h * d, d, qn.data(), c.qk_norm_eps, qr + h * d);
        for (int h = 0; h < c.num_kv_heads; ++h) {
          RmsNormRow(kr + h * d, d, kn.data(), c.qk_norm_eps, kr + h * d);
        }
      } else {
        RmsNormRow(qr, q_width, qn.data(), c.qk_norm_eps, qr);
        RmsNormRow(kr, kv_width, kn.data(), c.qk_norm_eps, kr);
      }
    }
  }

  for (int r = 0; r < rows; ++r) {
    const int pos = layout.position[r];
    for (int h = 0; h < c.num_heads; ++h) c.rope->Apply(&q[r * q_width + h * d], pos);
    for (int h = 0; h < c.num_kv_heads; ++h) c.rope->Apply(&k[r * kv_width + h * d], pos);
    // Every row's K/V lands in the cache before any row attends: rows of one sequence in the same
    // batch see each other causally.
    std::copy(&k[r * kv_width], &k[(r + 1) * kv_width], cache.Key(layer, layout.seq[r], pos));
    std::copy(&v[r * kv_width], &v[(r + 1) * kv_width], cache.Value(layer, layout.seq[r], pos));
  }

  const float scale = AttentionScale(c.head_dim);
  const int group = c.num_heads / c.num_kv_heads;
  std::vector<float> attn(static_cast<size_t>(rows * q_width), 0.0f);
  std::vector<float> scores;
  for (int r = 0; r < rows; ++r) {
    const int seq = layout.seq[r];
    const int n = layout.position[r] + 1;
    scores.resize(n);
    for (int h = 0; h < c.num_heads; ++h) {
      const float* qh = &q[r * q_width + h * d];
      const int64_t kv_offset = (h / group) * d;
      for (int j = 0; j < n; ++j) {
        scores[j] = Dot(qh, cache.Key(layer, seq, j) + kv_offset, d) * scale;
      }
      SoftmaxInPlace(scores.data(), n);
      float* out = &attn[r * q_width + h * d];
      for (int j = 0; j < n; ++j) Axpy(scores[j], cache.Value(layer, seq, j) + kv_offset, d, out);
    }
  }
  return Linear(attn.data(), rows, w.o, w.o_bias, y);
}

}  // namespace janus::cpu
