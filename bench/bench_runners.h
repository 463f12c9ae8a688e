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

// Each group is named by the kernel column(s) of the rows it prints, so that `--filter=NAME`
// (a substring of the group's name) selects a group by any kernel it times.
inline std::vector<std::pair<std::string, Runner>> AllRunners() {
  return {{"read_floor,limit.read", RunReadFloor},
          {"scheduler", RunScheduler},
          {"expert_ffn", RunExpertFfn},
          {"decode_attention", RunDecodeAttention},
          {"rms_norm+residual", RunRmsNorm},
          {"router", RunRouter},
          {"rope", RunRope},
          {"argmax,sample", RunArgmax},
          {"paged_attention,mla_decode", RunPagedAttention}};
}

}  // namespace janus::bench

#endif  // JANUS_BENCH_BENCH_RUNNERS_H_
