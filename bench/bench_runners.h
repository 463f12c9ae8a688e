// The benchmark groups of janus-bench, one function per kernel family.
#ifndef JANUS_BENCH_BENCH_RUNNERS_H_
#define JANUS_BENCH_BENCH_RUNNERS_H_

#include <cuda_runtime_api.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "bench/bench_util.h"

namespace janus::bench {

struct Options {
  std::string filter;
  bool quick = false;  // fewer samples, smaller rotation sets
};

using Runner = std::function<absl::Status(const Options&, const Limits&, Table&, cudaStream_t)>;

absl::Status RunScheduler(const Options& opt, const Limits& limits, Table& table, cudaStream_t s);
absl::Status RunExpertFfn(const Options& opt, const Limits& limits, Table& table, cudaStream_t s);
absl::Status RunRouter(const Options& opt, const Limits& limits, Table& table, cudaStream_t s);
absl::Status RunDecodeAttention(const Options& opt, const Limits& limits, Table& table,
                                cudaStream_t s);
absl::Status RunRmsNorm(const Options& opt, const Limits& limits, Table& table, cudaStream_t s);
absl::Status RunRope(const Options& opt, const Limits& limits, Table& table, cudaStream_t s);
absl::Status RunArgmax(const Options& opt, const Limits& limits, Table& table, cudaStream_t s);
absl::Status RunPagedAttention(const Options& opt, const Limits& limits, Table& table,
                               cudaStream_t s);
absl::Status RunReadFloor(const Options& opt, const Limits& limits, Table& table, cudaStream_t s);

inline std::vector<std::pair<std::string, Runner>> AllRunners() {
  return {{"read_floor", RunReadFloor},  {"scheduler", RunScheduler},
          {"expert_ffn", RunExpertFfn},
          {"decode_attention", RunDecodeAttention}, {"rms_norm", RunRmsNorm},
          {"router", RunRouter},          {"rope", RunRope},
          {"argmax", RunArgmax},         {"paged_attention", RunPagedAttention}};
}

}  // namespace janus::bench

#endif  // JANUS_BENCH_BENCH_RUNNERS_H_
