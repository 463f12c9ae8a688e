#include "runtime/cpu/scheduler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "runtime/base/status.h"

namespace janus::cpu {
namespace {

absl::Status CheckIds(const PlacementView& p, const int32_t* ids, int rows, int top_k) {
  if (rows < 0 || top_k <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("schedule: bad sizes (rows ", rows, ", top_k ", top_k, ")"));
  }
  for (int i = 0; i < rows * top_k; ++i) {
    if (ids[i] < 0 || ids[i] >= p.num_experts) {
      return absl::InvalidArgumentError(absl::StrCat("schedule: row ", i / top_k, " k ", i % top_k,
                                                     " has expert id ", ids[i], ", outside [0, ",
                                                     p.num_experts, ")"));
    }
  }
  return absl::OkStatus();
}

// Rewrites ids to ranks with `rank_of_expert` and fills the statistics.
void Finish(const PlacementView& p, const int32_t* ids, int rows, int top_k,
            const std::vector<int32_t>& rank_of_expert, const std::vector<int32_t>& count,
            int32_t* assignment, ScheduleStats* stats) {
  for (int i = 0; i < rows * top_k; ++i) assignment[i] = rank_of_expert[ids[i]];
  if (stats == nullptr) return;
  stats->experts_per_rank.assign(p.num_ranks, 0);
  stats->pairs_per_rank.assign(p.num_ranks, 0);
  stats->rows_per_rank.assign(p.num_ranks, 0);
  for (int e = 0; e < p.num_experts; ++e) {
    if (count[e] > 0) ++stats->experts_per_rank[rank_of_expert[e]];
  }
  std::vector<char> seen(p.num_ranks);
  for (int r = 0; r < rows; ++r) {
    std::fill(seen.begin(), seen.end(), 0);
    for (int k = 0; k < top_k; ++k) {
      const int32_t g = assignment[r * top_k + k];
      ++stats->pairs_per_rank[g];
      if (!seen[g]) {
        seen[g] = 1;
        ++stats->rows_per_rank[g];
      }
    }
  }
  stats->a_max = stats->experts_per_rank.empty()
                     ? 0
                     : *std::max_element(stats->experts_per_rank.begin(), stats->experts_per_rank.end());
}

std::vector<int32_t> Counts(const PlacementView& p, const int32_t* ids, int pairs) {
  std::vector<int32_t> count(p.num_experts, 0);
  for (int i = 0; i < pairs; ++i) ++count[ids[i]];
  return count;
}

}  // namespace

absl::Status ValidatePlacement(const PlacementView& p) {
  if (p.num_experts <= 0 || p.num_ranks <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("placement: num_experts ", p.num_experts,
                                                   " and num_ranks ", p.num_ranks, " must be > 0"));
  }
  if (p.replica_offsets == nullptr || p.replica_rank == nullptr) {
    return absl::InvalidArgumentError("placement: missing replica tables");
  }
  if (p.replica_offsets[0] != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("placement: replica_offsets[0] is ", p.replica_offsets[0], ", expected 0"));
  }
  for (int e = 0; e < p.num_experts; ++e) {
    if (p.replica_offsets[e + 1] <= p.replica_offsets[e]) {
      return absl::InvalidArgumentError(absl::StrCat("placement: expert ", e, " has no replica (offsets ",
                                                     p.replica_offsets[e], ", ",
                                                     p.replica_offsets[e + 1], ")"));
    }
    for (int r = p.replica_offsets[e]; r < p.replica_offsets[e + 1]; ++r) {
      if (p.replica_rank[r] < 0 || p.replica_rank[r] >= p.num_ranks) {
        return absl::InvalidArgumentError(absl::StrCat("placement: replica ", r, " of expert ", e,
                                                       " is on rank ", p.replica_rank[r],
                                                       ", outside [0, ", p.num_ranks, ")"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ScheduleActivationBalanced(const PlacementView& p, const int32_t* ids, int rows,
                                        int top_k, int32_t* assignment, ScheduleStats* stats) {
  JANUS_RETURN_IF_ERROR(ValidatePlacement(p));
  JANUS_RETURN_IF_ERROR(CheckIds(p, ids, rows, top_k));
  const std::vector<int32_t> count = Counts(p, ids, rows * top_k);
  std::vector<int32_t> rank_of_expert(p.num_experts, -1);
  std::vector<int32_t> load(p.num_ranks, 0);
  std::vector<int32_t> multi;
  for (int e = 0; e < p.num_experts; ++e) {
    if (count[e] == 0) continue;
    const int first = p.replica_offsets[e];
    if (p.replica_offsets[e + 1] - first == 1) {
      rank_of_expert[e] = p.replica_rank[first];
      ++load[rank_of_expert[e]];
    } else {
      multi.push_back(e);
    }
  }
  std::sort(multi.begin(), multi.end(), [&count](int32_t a, int32_t b) {
    return count[a] > count[b] || (count[a] == count[b] && a < b);
  });
  for (int32_t e : multi) {
    int32_t best = -1;
    for (int r = p.replica_offsets[e]; r < p.replica_offsets[e + 1]; ++r) {
      const int32_t g = p.replica_rank[r];
      if (best < 0 || load[g] < load[best] || (load[g] == load[best] && g < best)) best = g;
    }
    rank_of_expert[e] = best;
    ++load[best];
  }
  Finish(p, ids, rows, top_k, rank_of_expert, count, assignment, stats);
  return absl::OkStatus();
}

absl::Status ScheduleFirstReplica(const PlacementView& p, const int32_t* ids, int rows, int top_k,
                                  int32_t* assignment, ScheduleStats* stats) {
  JANUS_RETURN_IF_ERROR(ValidatePlacement(p));
  JANUS_RETURN_IF_ERROR(CheckIds(p, ids, rows, top_k));
  const std::vector<int32_t> count = Counts(p, ids, rows * top_k);
  std::vector<int32_t> rank_of_expert(p.num_experts);
  for (int e = 0; e < p.num_experts; ++e) rank_of_expert[e] = p.replica_rank[p.replica_offsets[e]];
  Finish(p, ids, rows, top_k, rank_of_expert, count, assignment, stats);
  return absl::OkStatus();
}

}  // namespace janus::cpu
