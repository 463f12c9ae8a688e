// MoE-side benchmarks: scheduler, grouped expert FFN, router.
#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/bench_runners.h"
#include "kernels/cuda_status.h"
#include "kernels/device_buffer.h"
#include "kernels/device_info.h"
#include "kernels/expert_ffn.h"
#include "kernels/expert_ffn_paths.h"
#include "kernels/router.h"
#include "kernels/scheduler.h"
#include "test/support/random_routing.h"

namespace janus::bench {
namespace {

using kernels::DeviceBuffer;

}  // namespace

absl::Status RunScheduler(const Options& opt, const Limits&, Table& table, cudaStream_t stream) {
  // 160 experts, 8 MoE GPUs, 40 extra replicas (~1.25 per expert) on distinct ranks.
  const int E = 160, G = 8, K = 8;
  std::mt19937 rng(7);
  std::vector<std::vector<int>> reps(E);
  std::uniform_int_distribution<int> rd(0, G - 1), ed(0, E - 1);
  for (int e = 0; e < E; ++e) reps[e].push_back(rd(rng));
  for (int i = 0; i < 40; ++i) {
    auto& r = reps[ed(rng)];
    int g = rd(rng);
    while (std::find(r.begin(), r.end(), g) != r.end()) g = (g + 1) % G;
    r.push_back(g);
  }
  std::vector<int32_t> offsets{0}, rank, slot;
  std::vector<int> next(G, 0);
  for (int e = 0; e < E; ++e) {
    for (int g : reps[e]) {
      rank.push_back(g);
      slot.push_back(next[g]++);
    }
    offsets.push_back(static_cast<int32_t>(rank.size()));
  }
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_off, DeviceBuffer::FromHost(offsets));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_rank, DeviceBuffer::FromHost(rank));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_slot, DeviceBuffer::FromHost(slot));
  kernels::DevicePlacement p;
  p.num_experts = E;
  p.num_ranks = G;
  p.num_replicas = static_cast<int>(rank.size());
  p.replica_offsets = d_off.get<int32_t>();
  p.replica_rank = d_rank.get<int32_t>();
  p.replica_slot = d_slot.get<int32_t>();
  for (int rows : {256, 4096}) {
    const int sets = 8;
    std::vector<DeviceBuffer> ids;
    for (int s = 0; s < sets; ++s) {
      JANUS_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::FromHost(janus::test_support::RandomRouting(rng, rows, K, E, 0.6)));
      ids.push_back(std::move(b));
    }
    JANUS_ASSIGN_OR_RETURN(DeviceBuffer assignment, DeviceBuffer::Create(4 * rows * K));
    JANUS_ASSIGN_OR_RETURN(DeviceBuffer slots, DeviceBuffer::Create(4 * rows * K));
    JANUS_ASSIGN_OR_RETURN(DeviceBuffer stats, DeviceBuffer::Create(4 * (3 * G + 2)));
    kernels::ScheduleOutputs out;
    out.assignment = assignment.get<int32_t>();
    out.slot = slots.get<int32_t>();
    out.experts_per_rank = stats.get<int32_t>();
    out.pairs_per_rank = stats.get<int32_t>() + G;
    out.rows_per_rank = stats.get<int32_t>() + 2 * G;
    out.a_max = stats.get<int32_t>() + 3 * G;
    auto fn = [&](int rep, cudaStream_t s) {
      return kernels::LaunchSchedule(kernels::ScheduleAlgorithm::kActivationBalanced, p,
                                     ids[rep % sets].get<int32_t>(), rows, K, out, s);
    };
    JANUS_ASSIGN_OR_RETURN(double us, TimeGraphUs(fn, 2 * sets, opt.quick ? 5 : 25, stream));
    table.Add({"scheduler", absl::StrCat(E, " experts top-", K, " ", G, " GPUs ", rows, " tokens"),
               us, 0, 0, rows == 256 ? "target <= 20 us" : "target <= 90 us"});
  }
  return absl::OkStatus();
}

absl::Status RunExpertFfn(const Options& opt, const Limits&, Table& table, cudaStream_t stream) {
  struct Model {
    const char* name;
    int hidden, inter, local_experts;
  };
  // Local experts = the model's routed experts over 8 MoE GPUs.
  const Model models[] = {{"qwen3-30b-a3b", 2048, 768, 16}, {"deepseek-v3", 7168, 2048, 32}};
  const int K = 8;
  std::mt19937 rng(11);
  JANUS_ASSIGN_OR_RETURN(const bool have_wgmma, kernels::WgmmaAvailable());
  for (const Model& m : models) {
    const size_t mat = size_t{1} * m.inter * m.hidden;
    const double expert_bytes = 3.0 * mat * 2;
    const double set_bytes = expert_bytes * m.local_experts;
    // Rotate weight copies so one call's experts are not left in L2 by the previous call.
    const int weight_sets = std::max(2, static_cast<int>(std::ceil(400e6 / set_bytes)));
    std::vector<DeviceBuffer> gate, up, down;
    for (int s = 0; s < weight_sets; ++s) {
      for (auto* v : {&gate, &up, &down}) {
        JANUS_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::Create(2 * mat * m.local_experts));
        JANUS_RETURN_IF_ERROR(FillRandomBf16(b.get<uint16_t>(), mat * m.local_experts,
                                             100 + s * 3 + (v == &up) + 2 * (v == &down),
                                             0.02f, stream));
        v->push_back(std::move(b));
      }
    }
    for (int rows : {1, 2, 8, 32, 64}) {
      const int sets = 8;
      std::vector<DeviceBuffer> x, w, slots;
      double active_sum = 0;
      for (int s = 0; s < sets; ++s) {
        const std::vector<int32_t> ids = janus::test_support::RandomRouting(rng, rows, K, m.local_experts, 0.0);
        active_sum += std::set<int32_t>(ids.begin(), ids.end()).size();
        JANUS_ASSIGN_OR_RETURN(DeviceBuffer sb, DeviceBuffer::FromHost(ids));
        std::vector<float> wv(ids.size());
        for (float& f : wv) f = std::uniform_real_distribution<float>(0.05f, 0.3f)(rng);
        JANUS_ASSIGN_OR_RETURN(DeviceBuffer wb, DeviceBuffer::FromHost(wv));
        JANUS_ASSIGN_OR_RETURN(DeviceBuffer xb, DeviceBuffer::Create(2 * size_t{1} * rows * m.hidden));
        JANUS_RETURN_IF_ERROR(FillRandomBf16(xb.get<uint16_t>(), size_t{1} * rows * m.hidden,
                                             500 + s, 1.f, stream));
        slots.push_back(std::move(sb));
        w.push_back(std::move(wb));
        x.push_back(std::move(xb));
      }
      const double active = active_sum / sets;
      kernels::GroupedFfnShape shape{rows, K, m.hidden, m.inter, m.local_experts};
      JANUS_ASSIGN_OR_RETURN(DeviceBuffer ws,
                             DeviceBuffer::Create(kernels::GroupedFfnWorkspaceBytes(shape)));
      JANUS_ASSIGN_OR_RETURN(DeviceBuffer out, DeviceBuffer::Create(4 * size_t{1} * rows * m.hidden));
      // The path LaunchGroupedExpertFfn picks first, then the other paths this shape allows.
      JANUS_ASSIGN_OR_RETURN(const kernels::FfnPath chosen, kernels::ChooseFfnPath(shape));
      std::vector<kernels::FfnPath> paths = {chosen};
      const int pairs = rows * K;
      for (kernels::FfnPath other :
           {kernels::FfnPath::kFusedWgmma, kernels::FfnPath::kFused,
            kernels::FfnPath::kFourLaunchWgmma,
            kernels::FfnPath::kFourLaunchMmaSync}) {
        const bool allowed =
            other == kernels::FfnPath::kFusedWgmma ? pairs <= 64 && have_wgmma
            : other == kernels::FfnPath::kFused    ? pairs <= 64
            : other == kernels::FfnPath::kFourLaunchWgmma ? have_wgmma
                                                          : true;
        if (allowed && other != chosen) paths.push_back(other);
      }
      for (const kernels::FfnPath path : paths) {
        auto fn = [&](int rep, cudaStream_t s) {
          const int ds = rep % sets, wset = rep % weight_sets;
          kernels::GroupedFfnArgs a;
          a.x = x[ds].get<uint16_t>();
          a.weights = w[ds].get<float>();
          a.slots = slots[ds].get<int32_t>();
          a.gate = gate[wset].get<uint16_t>();
          a.up = up[wset].get<uint16_t>();
          a.down = down[wset].get<uint16_t>();
          a.out = out.get<float>();
          a.workspace = ws.get();
          a.workspace_bytes = ws.bytes();
          return kernels::LaunchGroupedExpertFfnOnPath(shape, a, path, s);
        };
        // sets and weight_sets rotate independently; a multiple of both keeps the mix even.
        const int reps = sets * weight_sets / std::gcd(sets, weight_sets);
        JANUS_ASSIGN_OR_RETURN(double us, TimeGraphUs(fn, reps, opt.quick ? 5 : 20, stream));
        table.Add({"expert_ffn",
                   absl::StrFormat("%s H%d I%d %d tok top-%d/%d exp %s%s", m.name, m.hidden,
                                   m.inter, rows, K, m.local_experts, kernels::FfnPathName(path),
                                   path == chosen ? "" : " (alt)"),
                   us, active * expert_bytes, 0,
                   absl::StrFormat("%.1f active, %.2f us/expert; target >= 80%%", active,
                                   us / active)});
      }
    }
  }
  return absl::OkStatus();
}

absl::Status RunRouter(const Options& opt, const Limits&, Table& table, cudaStream_t stream) {
  kernels::RouterParams p;  // DeepSeek-V3
  p.num_experts = 256;
  p.top_k = 8;
  p.scoring = kernels::RouterScoringFn::kSigmoid;
  p.norm_topk_prob = true;
  p.routed_scaling_factor = 2.5f;
  p.n_group = 8;
  p.topk_group = 4;
  std::mt19937 rng(5);
  for (int rows : {64, 4096}) {
    std::vector<float> logits(size_t{1} * rows * p.num_experts), bias(p.num_experts);
    for (float& f : logits) f = std::uniform_real_distribution<float>(-4, 4)(rng);
    for (float& f : bias) f = std::uniform_real_distribution<float>(-0.1f, 0.1f)(rng);
    JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_l, DeviceBuffer::FromHost(logits));
    JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_b, DeviceBuffer::FromHost(bias));
    JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_w, DeviceBuffer::Create(4 * rows * p.top_k));
    JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_i, DeviceBuffer::Create(4 * rows * p.top_k));
    auto fn = [&](int, cudaStream_t s) {
      return kernels::LaunchRouter(p, d_l.get<float>(), d_b.get<float>(), rows, d_w.get<float>(),
                                   d_i.get<int32_t>(), nullptr, s);
    };
    JANUS_ASSIGN_OR_RETURN(double us, TimeGraphUs(fn, 10, opt.quick ? 5 : 25, stream));
    table.Add({"router", absl::StrCat("deepseek-v3 256 exp sigmoid 8 groups ", rows, " tok"), us,
               4.0 * rows * p.num_experts + 8.0 * rows * p.top_k, 0,
               "logits in L2 (not rotated)"});
  }
  return absl::OkStatus();
}

}  // namespace janus::bench
