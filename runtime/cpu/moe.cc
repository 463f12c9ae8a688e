#include "runtime/cpu/moe.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/base/status.h"
#include "runtime/cpu/internal.h"

namespace janus::cpu {
namespace {

// Indices of the k largest values, descending, ties to the lower index.
void TopKIndices(const float* values, int n, int k, std::vector<int>* out) {
  out->resize(n);
  std::iota(out->begin(), out->end(), 0);
  std::partial_sort(out->begin(), out->begin() + k, out->end(), [values](int a, int b) {
    return values[a] > values[b] || (values[a] == values[b] && a < b);
  });
  out->resize(k);
}

}  // namespace

absl::Status ValidateRouter(const RouterConfig& c) {
  if (c.num_experts <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("router: num_experts must be > 0, got ", c.num_experts));
  }
  if (c.top_k <= 0 || c.top_k > c.num_experts) {
    return absl::InvalidArgumentError(absl::StrCat("router: top_k must be in [1, num_experts = ",
                                                   c.num_experts, "], got ", c.top_k));
  }
  if (c.n_group <= 0 || c.num_experts % c.n_group != 0) {
    return absl::InvalidArgumentError(absl::StrCat("router: n_group ", c.n_group,
                                                   " must be > 0 and divide num_experts ", c.num_experts));
  }
  if (c.topk_group <= 0 || c.topk_group > c.n_group) {
    return absl::InvalidArgumentError(absl::StrCat("router: topk_group must be in [1, n_group = ",
                                                   c.n_group, "], got ", c.topk_group));
  }
  if (c.n_group > 1 && c.group_scoring == GroupScoring::kTop2Sum && c.num_experts / c.n_group < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "router: top2_sum group scoring needs >= 2 experts per group, got ", c.num_experts / c.n_group));
  }
  if (!std::isfinite(c.routed_scaling_factor)) {
    return absl::InvalidArgumentError("router: routed_scaling_factor is not finite");
  }
  return absl::OkStatus();
}

absl::Status Route(const RouterConfig& c, const WeightView& gate, const WeightView* correction_bias,
                   const float* x, int rows, float* weights, int32_t* ids) {
  JANUS_RETURN_IF_ERROR(ValidateRouter(c));
  if (gate.shape.size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("router gate: weight must be 2-D, got ", ShapeString(gate.shape)));
  }
  const int e_count = c.num_experts;
  JANUS_RETURN_IF_ERROR(CheckWeight(gate, {e_count, gate.shape[1]}, "router gate"));
  std::vector<float> bias;
  if (correction_bias != nullptr) {
    JANUS_RETURN_IF_ERROR(CheckWeight(*correction_bias, {e_count}, "router correction_bias"));
    bias = ToFloatVector(*correction_bias);
  }
  if (rows <= 0) return absl::OkStatus();
  std::vector<float> logits(static_cast<size_t>(rows) * e_count);
  JANUS_RETURN_IF_ERROR(Linear(x, rows, gate, nullptr, logits.data()));

  const bool sigmoid = c.scoring == RouterScoring::kSigmoid;
  const int group_size = e_count / c.n_group;
  const float masked_value = sigmoid ? -std::numeric_limits<float>::infinity() : 0.0f;
  std::vector<float> scores(e_count), choice(e_count), group_scores(c.n_group);
  std::vector<char> kept(e_count);
  std::vector<int> order;
  for (int r = 0; r < rows; ++r) {
    const float* lr = &logits[static_cast<size_t>(r) * e_count];
    for (int e = 0; e < e_count; ++e) {
      if (!std::isfinite(lr[e])) {
        return absl::InvalidArgumentError(absl::StrCat("router: row ", r, " has a non-finite logit (",
                                                       lr[e], ") for expert ", e));
      }
    }
    std::copy(lr, lr + e_count, scores.begin());
    if (sigmoid) {
      for (float& s : scores) s = Sigmoid(s);
    } else {
      SoftmaxInPlace(scores.data(), e_count);
    }
    for (int e = 0; e < e_count; ++e) choice[e] = bias.empty() ? scores[e] : scores[e] + bias[e];
    std::fill(kept.begin(), kept.end(), 1);
    if (c.n_group > 1) {
      for (int g = 0; g < c.n_group; ++g) {
        const float* cg = &choice[g * group_size];
        if (c.group_scoring == GroupScoring::kMax) {
          group_scores[g] = *std::max_element(cg, cg + group_size);
        } else {
          TopKIndices(cg, group_size, 2, &order);
          group_scores[g] = cg[order[0]] + cg[order[1]];
        }
      }
      TopKIndices(group_scores.data(), c.n_group, c.topk_group, &order);
      std::fill(kept.begin(), kept.end(), 0);
      for (int g : order) std::fill(&kept[g * group_size], &kept[(g + 1) * group_size], 1);
      for (int e = 0; e < e_count; ++e) {
        if (!kept[e]) choice[e] = masked_value;
      }
    }
    TopKIndices(choice.data(), e_count, c.top_k, &order);
    float* wr = weights + static_cast<size_t>(r) * c.top_k;
    int32_t* ir = ids + static_cast<size_t>(r) * c.top_k;
    for (int k = 0; k < c.top_k; ++k) {
      const int e = order[k];
      ir[k] = e;
      // DeepSeek-V2 gathers from the masked scores (0 for a dropped group); V3 from the unmasked ones.
      wr[k] = (!kept[e] && !sigmoid) ? 0.0f : scores[e];
    }
    if (c.norm_topk_prob) {
      float sum = 0.0f;
      for (int k = 0; k < c.top_k; ++k) sum += wr[k];
      if (sigmoid) sum += 1e-20f;
      for (int k = 0; k < c.top_k; ++k) wr[k] /= sum;
    }
    for (int k = 0; k < c.top_k; ++k) wr[k] *= c.routed_scaling_factor;
  }
  return absl::OkStatus();
}

absl::Status Experts(const float* x, int rows, int hidden, const float* weights,
                     const int32_t* ids, int top_k, const int32_t* assignment, int my_rank,
                     const ExpertWeightsFn& get_expert, float* out) {
  if (rows < 0 || hidden <= 0 || top_k <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("experts: bad sizes (rows ", rows, ", hidden ",
                                                   hidden, ", top_k ", top_k, ")"));
  }
  std::fill(out, out + static_cast<int64_t>(rows) * hidden, 0.0f);
  // Local (row, k) pairs grouped by expert, experts in ascending id order.
  std::map<int, std::vector<int>> pairs_of_expert;
  const int pairs = rows * top_k;
  for (int p = 0; p < pairs; ++p) {
    if (assignment != nullptr && assignment[p] != my_rank) continue;
    if (ids[p] < 0) {
      return absl::InvalidArgumentError(absl::StrCat("experts: row ", p / top_k, " k ", p % top_k,
                                                     " has expert id ", ids[p]));
    }
    pairs_of_expert[ids[p]].push_back(p);
  }
  if (pairs_of_expert.empty()) return absl::OkStatus();

  std::vector<float> result(static_cast<size_t>(pairs) * hidden);
  std::vector<float> xs, g, u;
  for (const auto& [expert, list] : pairs_of_expert) {
    absl::StatusOr<ExpertWeights> ew = get_expert(expert);
    if (!ew.ok()) return Annotate(ew.status(), absl::StrCat("experts: expert ", expert));
    if (ew->gate.shape.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat("experts: expert ", expert,
                                                     " gate must be 2-D, got ", ShapeString(ew->gate.shape)));
    }
    const int64_t inter = ew->gate.shape[0];
    const std::string name = absl::StrCat("expert ", expert);
    JANUS_RETURN_IF_ERROR(CheckWeight(ew->gate, {inter, hidden}, absl::StrCat(name, " gate")));
    JANUS_RETURN_IF_ERROR(CheckWeight(ew->up, {inter, hidden}, absl::StrCat(name, " up")));
    JANUS_RETURN_IF_ERROR(CheckWeight(ew->down, {hidden, inter}, absl::StrCat(name, " down")));
    const int n = static_cast<int>(list.size());
    xs.resize(static_cast<size_t>(n) * hidden);
    for (int i = 0; i < n; ++i) {
      const float* src = x + static_cast<int64_t>(list[i] / top_k) * hidden;
      std::copy(src, src + hidden, &xs[static_cast<size_t>(i) * hidden]);
    }
    g.resize(static_cast<size_t>(n * inter));
    u.resize(g.size());
    JANUS_RETURN_IF_ERROR(Linear(xs.data(), n, ew->gate, nullptr, g.data()));
    JANUS_RETURN_IF_ERROR(Linear(xs.data(), n, ew->up, nullptr, u.data()));
    for (size_t i = 0; i < g.size(); ++i) g[i] = Silu(g[i]) * u[i];
    JANUS_RETURN_IF_ERROR(Linear(g.data(), n, ew->down, nullptr, xs.data()));
    for (int i = 0; i < n; ++i) {
      std::copy(&xs[static_cast<size_t>(i) * hidden], &xs[static_cast<size_t>(i + 1) * hidden],
                &result[static_cast<size_t>(list[i]) * hidden]);
    }
  }
  for (int p = 0; p < pairs; ++p) {
    if (assignment != nullptr && assignment[p] != my_rank) continue;
    Axpy(weights[p], &result[static_cast<size_t>(p) * hidden], hidden,
         out + static_cast<int64_t>(p / top_k) * hidden);
  }
  return absl::OkStatus();
}

}  // namespace janus::cpu
