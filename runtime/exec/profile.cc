#include "runtime/exec/profile.h"

#include <algorithm>
#include <fstream>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace janus::exec {

void EncodeStepStats(const std::vector<MoeLayerStepStats>& stats,
                     std::vector<int64_t>* out) {
  out->push_back(static_cast<int64_t>(stats.size()));
  for (const MoeLayerStepStats& s : stats) {
    out->push_back(s.layer);
    out->push_back(s.rows);
    out->push_back(s.a_max);
    out->push_back(static_cast<int64_t>(s.experts_per_rank.size()));
    for (const auto* v :
         {&s.experts_per_rank, &s.rows_per_rank, &s.pairs_per_rank}) {
      for (size_t g = 0; g < s.experts_per_rank.size(); ++g)
        out->push_back(g < v->size() ? (*v)[g] : 0);
    }
  }
}

absl::StatusOr<std::vector<MoeLayerStepStats>> DecodeStepStats(
    const std::vector<int64_t>& in, size_t* pos) {
  auto take = [&](int64_t* v) {
    if (*pos >= in.size()) return false;
    *v = in[(*pos)++];
    return true;
  };
  const absl::Status malformed =
      absl::InternalError("malformed scheduler statistics from MoE rank 0");
  int64_t count;
  if (!take(&count) || count < 0) return malformed;
  std::vector<MoeLayerStepStats> stats(static_cast<size_t>(count));
  for (MoeLayerStepStats& s : stats) {
    int64_t layer, rows, a_max, ranks;
    if (!take(&layer) || !take(&rows) || !take(&a_max) || !take(&ranks) ||
        ranks < 0 || *pos + 3 * static_cast<size_t>(ranks) > in.size()) {
      return malformed;
    }
    s.layer = static_cast<int>(layer);
    s.rows = static_cast<int>(rows);
    s.a_max = static_cast<int>(a_max);
    for (auto* v : {&s.experts_per_rank, &s.rows_per_rank, &s.pairs_per_rank}) {
      for (int64_t g = 0; g < ranks; ++g)
        v->push_back(static_cast<int32_t>(in[(*pos)++]));
    }
  }
  return stats;
}

void EngineStats::Add(const MoeLayerStepStats& step) {
  MoeLayerStats& l = layers[step.layer];
  const size_t ranks = step.experts_per_rank.size();
  if (l.tokens_per_rank.size() < ranks) {
    l.tokens_per_rank.resize(ranks, 0);
    l.pairs_per_rank.resize(ranks, 0);
    l.experts_per_rank.resize(ranks, 0);
  }
  l.steps += 1;
  l.tokens += step.rows;
  l.a_max_sum += step.a_max;
  l.a_max_max = std::max(l.a_max_max, step.a_max);
  for (size_t g = 0; g < ranks; ++g) {
    l.tokens_per_rank[g] += step.rows_per_rank[g];
    l.pairs_per_rank[g] += step.pairs_per_rank[g];
    l.experts_per_rank[g] += step.experts_per_rank[g];
    l.max_tokens_on_a_rank =
        std::max<int64_t>(l.max_tokens_on_a_rank, step.rows_per_rank[g]);
  }
}

std::string EngineStats::ToText() const {
  std::string out = absl::StrFormat("steps: %d, token rows: %d\n", steps, rows);
  if (layers.empty()) return out + "no MoE layer ran\n";
  absl::StrAppend(&out,
                  "MoE layer | a_max mean | a_max max | tokens per MoE rank "
                  "(mean per step) | max tokens on one rank\n");
  for (const auto& [layer, l] : layers) {
    std::vector<std::string> per_rank;
    for (int64_t t : l.tokens_per_rank) {
      per_rank.push_back(absl::StrFormat(
          "%.2f", l.steps == 0 ? 0.0 : static_cast<double>(t) / l.steps));
    }
    absl::StrAppendFormat(&out, "%9d | %10.2f | %9d | %s | %d\n", layer,
                          l.a_max_mean(), l.a_max_max,
                          absl::StrJoin(per_rank, " "), l.max_tokens_on_a_rank);
  }
  return out;
}

absl::Status ActivationRecorder::Record(int layer, const int32_t* ids, int rows,
                                        int top_k) {
  Layer& l = layers_[layer];
  if (l.expert_counts.empty()) l.expert_counts.assign(num_experts_, 0);
  std::vector<int> chosen;
  for (int r = 0; r < rows; ++r) {
    chosen.clear();
    for (int k = 0; k < top_k; ++k) {
      const int e = ids[static_cast<int64_t>(r) * top_k + k];
      if (e < 0 || e >= num_experts_) {
        return absl::InvalidArgumentError(
            absl::StrCat("activation profile: layer ", layer, " row ", r,
                         " routed to expert ", e, " of ", num_experts_));
      }
      chosen.push_back(e);
    }
    std::sort(chosen.begin(), chosen.end());
    chosen.erase(std::unique(chosen.begin(), chosen.end()), chosen.end());
    for (int e : chosen) l.expert_counts[e] += 1;
    for (size_t i = 0; i < chosen.size(); ++i) {
      for (size_t j = i + 1; j < chosen.size(); ++j)
        l.coactivation[{chosen[i], chosen[j]}] += 1;
    }
    l.tokens += 1;
  }
  return absl::OkStatus();
}

std::string ActivationRecorder::ToJson() const {
  nlohmann::ordered_json root;
  root["model_type"] = model_type_;
  root["num_layers"] = num_layers_;
  root["num_experts"] = num_experts_;
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (const auto& [layer, l] : layers_) {
    nlohmann::ordered_json entry;
    entry["layer"] = layer;
    entry["tokens"] = l.tokens;
    entry["expert_counts"] = l.expert_counts;
    nlohmann::ordered_json pairs = nlohmann::ordered_json::array();
    for (const auto& [pair, count] : l.coactivation)
      pairs.push_back({pair.first, pair.second, count});
    entry["coactivation"] = std::move(pairs);
    layers.push_back(std::move(entry));
  }
  root["layers"] = std::move(layers);
  return root.dump(-1, ' ', false,
                   nlohmann::ordered_json::error_handler_t::replace) +
         "\n";
}

absl::Status ActivationRecorder::WriteJson(const std::string& path) const {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out)
    return absl::NotFoundError(
        absl::StrCat("cannot open ", path, " for writing"));
  out << ToJson();
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat("error writing ", path));
  return absl::OkStatus();
}

EngineStats EngineStats::TimingSince(const EngineStats& before) const {
  EngineStats d;
  d.steps = steps - before.steps;
  d.rows = rows - before.rows;
  d.decode_steps = decode_steps - before.decode_steps;
  d.decode_rows = decode_rows - before.decode_rows;
  d.decode_seconds = decode_seconds - before.decode_seconds;
  d.decode_device_seconds = decode_device_seconds - before.decode_device_seconds;
  d.prefill_steps = prefill_steps - before.prefill_steps;
  d.prefill_rows = prefill_rows - before.prefill_rows;
  d.prefill_seconds = prefill_seconds - before.prefill_seconds;
  d.prefill_device_seconds = prefill_device_seconds - before.prefill_device_seconds;
  return d;
}

std::string EngineStats::TimingText() const {
  std::string out;
  auto line = [&](const char* what, int64_t n, int64_t r, double seconds, double device) {
    if (n == 0) return;
    absl::StrAppendFormat(&out, "%s: %d steps, %d rows, %.3f ms per step, %.1f rows/s", what, n,
                          r, 1e3 * seconds / n, seconds > 0 ? r / seconds : 0.0);
    if (device > 0) absl::StrAppendFormat(&out, " (device %.3f ms per step)", 1e3 * device / n);
    out += "\n";
  };
  line("decode steps", decode_steps, decode_rows, decode_seconds, decode_device_seconds);
  line("prefill steps", prefill_steps, prefill_rows, prefill_seconds, prefill_device_seconds);
  return out;
}

}  // namespace janus::exec
