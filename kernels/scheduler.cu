// Activation-balanced replica scheduling in one thread block (the problem is a few thousand ids and
// a few hundred experts: one block avoids any grid-wide synchronisation and finishes in a few us).
//
// Phases, separated by __syncthreads:
//  0. stage the placement tables in shared memory, clear the counters;
//  1. histogram of the ids (shared atomics: integer counts, so the order does not matter);
//  2. single-replica activated experts go to their rank (load[g] += 1, order-free); the activated
//     multi-replica experts are collected;
//  3. the multi-replica experts are ranked by (count desc, id asc): each thread counts the experts
//     that precede its own, which gives a permutation because the keys are unique;
//  4. the greedy pass in that order. It is inherently sequential; with <= 64 ranks warp 0 holds
//     load[g] in registers (lane g, and g - 32 for the upper half), and each step is one redux.sync
//     over keys load * 64 + g, so "least loaded, then lowest rank" is an unsigned min. Wider
//     deployments take the same decisions on one thread.
//  5. every (row, k) is rewritten and the statistics are gathered.
#include "kernels/common.cuh"
#include "kernels/scheduler.h"

namespace janus::kernels {
namespace {

constexpr int kThreads = 512;
constexpr int kWarpPathMaxRanks = 64;

struct SharedLayout {
  size_t masks, count, rank_of, slot_of, offsets, rep_rank, rep_slot, multi, sorted, load, pairs,
      rows, scalars, total;
};

SharedLayout MakeLayout(int experts, int ranks, int replicas) {
  SharedLayout l{};
  size_t at = 0;
  auto take = [&at](size_t bytes) {
    const size_t here = at;
    at += (bytes + 15) / 16 * 16;
    return here;
  };
  l.masks = take(sizeof(uint64_t) * experts);
  l.count = take(sizeof(int32_t) * experts);
  l.rank_of = take(sizeof(int32_t) * experts);
  l.slot_of = take(sizeof(int32_t) * experts);
  l.offsets = take(sizeof(int32_t) * (experts + 1));
  l.rep_rank = take(sizeof(int32_t) * replicas);
  l.rep_slot = take(sizeof(int32_t) * replicas);
  l.multi = take(sizeof(int32_t) * experts);
  l.sorted = take(sizeof(int32_t) * experts);
  l.load = take(sizeof(int32_t) * ranks);
  l.pairs = take(sizeof(int32_t) * ranks);
  l.rows = take(sizeof(int32_t) * ranks);
  l.scalars = take(sizeof(int32_t) * 4);
  l.total = at;
  return l;
}

struct KernelArgs {
  DevicePlacement p;
  const int32_t* ids;
  int rows;
  int top_k;
  ScheduleOutputs out;
  SharedLayout layout;
};

template <bool kBalanced>
__global__ void __launch_bounds__(kThreads) ScheduleKernel(KernelArgs a) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int E = a.p.num_experts, G = a.p.num_ranks, R = a.p.num_replicas;
  auto* masks = reinterpret_cast<uint64_t*>(smem + a.layout.masks);
  auto* count = reinterpret_cast<int32_t*>(smem + a.layout.count);
  auto* rank_of = reinterpret_cast<int32_t*>(smem + a.layout.rank_of);
  auto* slot_of = reinterpret_cast<int32_t*>(smem + a.layout.slot_of);
  auto* offsets = reinterpret_cast<int32_t*>(smem + a.layout.offsets);
  auto* rep_rank = reinterpret_cast<int32_t*>(smem + a.layout.rep_rank);
  auto* rep_slot = reinterpret_cast<int32_t*>(smem + a.layout.rep_slot);
  auto* multi = reinterpret_cast<int32_t*>(smem + a.layout.multi);
  auto* sorted = reinterpret_cast<int32_t*>(smem + a.layout.sorted);
  auto* load = reinterpret_cast<int32_t*>(smem + a.layout.load);
  auto* pairs = reinterpret_cast<int32_t*>(smem + a.layout.pairs);
  auto* rows_served = reinterpret_cast<int32_t*>(smem + a.layout.rows);
  auto* scalars = reinterpret_cast<int32_t*>(smem + a.layout.scalars);  // num_multi, invalid
  const int tid = threadIdx.x;
  const bool want_slot = a.out.slot != nullptr;

  // 0. Stage the placement, clear counters.
  for (int i = tid; i <= E; i += kThreads) offsets[i] = a.p.replica_offsets[i];
  for (int i = tid; i < R; i += kThreads) {
    rep_rank[i] = a.p.replica_rank[i];
    rep_slot[i] = want_slot ? a.p.replica_slot[i] : -1;
  }
  for (int i = tid; i < E; i += kThreads) {
    count[i] = 0;
    rank_of[i] = -1;
    slot_of[i] = -1;
  }
  for (int i = tid; i < G; i += kThreads) load[i] = pairs[i] = rows_served[i] = 0;
  if (tid < 4) scalars[tid] = 0;
  __syncthreads();

  // 1. Histogram.
  const int P = a.rows * a.top_k;
  int invalid = 0;
  for (int i = tid; i < P; i += kThreads) {
    const int e = a.ids[i];
    if (e >= 0 && e < E) {
      atomicAdd(&count[e], 1);
    } else {
      ++invalid;
    }
  }
  if (invalid != 0) atomicAdd(&scalars[1], invalid);
  __syncthreads();

  // 2. Single-replica experts (or, for FirstReplica, every activated expert) go to their rank.
  for (int e = tid; e < E; e += kThreads) {
    if (count[e] == 0) continue;
    const int first = offsets[e];
    if (!kBalanced || offsets[e + 1] - first == 1) {
      rank_of[e] = rep_rank[first];
      slot_of[e] = rep_slot[first];
      atomicAdd(&load[rep_rank[first]], 1);
    } else {
      multi[atomicAdd(&scalars[0], 1)] = e;
    }
  }
  __syncthreads();

  if constexpr (kBalanced) {
    const int M = scalars[0];
    // 3. Rank by (count desc, id asc); keys are unique, so `pos` is a permutation.
    for (int i = tid; i < M; i += kThreads) {
      const int e = multi[i];
      const int c = count[e];
      int pos = 0;
      for (int j = 0; j < M; ++j) {
        const int e2 = multi[j];
        const int c2 = count[e2];
        pos += (c2 > c) || (c2 == c && e2 < e);
      }
      sorted[pos] = e;
      if (G <= kWarpPathMaxRanks) {
        uint64_t m = 0;
        for (int r = offsets[e]; r < offsets[e + 1]; ++r) m |= uint64_t{1} << rep_rank[r];
        masks[pos] = m;
      }
    }
    __syncthreads();

    // 4. Greedy assignment in that order.
    if (G <= kWarpPathMaxRanks) {
      if (tid < 32) {
        const int lane = tid;
        int load_lo = lane < G ? load[lane] : 0;
        int load_hi = lane + 32 < G ? load[lane + 32] : 0;
        for (int i = 0; i < M; ++i) {
          const uint64_t m = masks[i];
          unsigned key = 0xffffffffu;
          if ((m >> lane) & 1) key = static_cast<unsigned>(load_lo) * 64u + lane;
          if ((m >> (lane + 32)) & 1) {
            key = min(key, static_cast<unsigned>(load_hi) * 64u + lane + 32);
          }
          const unsigned best = __reduce_min_sync(0xffffffffu, key) & 63u;
          if (best == static_cast<unsigned>(lane)) ++load_lo;
          if (best == static_cast<unsigned>(lane + 32)) ++load_hi;
          if (lane == 0) rank_of[sorted[i]] = static_cast<int>(best);
        }
        if (lane < G) load[lane] = load_lo;
        if (lane + 32 < G) load[lane + 32] = load_hi;
      }
    } else if (tid == 0) {
      for (int i = 0; i < M; ++i) {
        const int e = sorted[i];
        int best = -1;
        for (int r = offsets[e]; r < offsets[e + 1]; ++r) {
          const int g = rep_rank[r];
          if (best < 0 || load[g] < load[best] || (load[g] == load[best] && g < best)) best = g;
        }
        rank_of[e] = best;
        ++load[best];
      }
    }
    __syncthreads();
    // The slot of the first replica on the chosen rank.
    for (int i = tid; i < M; i += kThreads) {
      const int e = sorted[i];
      for (int r = offsets[e]; r < offsets[e + 1]; ++r) {
        if (rep_rank[r] == rank_of[e]) {
          slot_of[e] = rep_slot[r];
          break;
        }
      }
    }
    __syncthreads();
  }

  // 5. Rewrite every (row, k); statistics.
  for (int i = tid; i < P; i += kThreads) {
    const int e = a.ids[i];
    const bool ok = e >= 0 && e < E;
    const int g = ok ? rank_of[e] : -1;
    a.out.assignment[i] = g;
    if (want_slot) a.out.slot[i] = ok ? slot_of[e] : -1;
    if (ok && a.out.pairs_per_rank != nullptr) atomicAdd(&pairs[g], 1);
  }
  if (a.out.rows_per_rank != nullptr) {
    for (int r = tid; r < a.rows; r += kThreads) {
      const int32_t* row = a.ids + static_cast<int64_t>(r) * a.top_k;
      for (int k = 0; k < a.top_k; ++k) {
        const int e = row[k];
        if (e < 0 || e >= E) continue;
        const int g = rank_of[e];
        bool seen = false;
        for (int j = 0; j < k && !seen; ++j) {
          const int e2 = row[j];
          seen = e2 >= 0 && e2 < E && rank_of[e2] == g;
        }
        if (!seen) atomicAdd(&rows_served[g], 1);
      }
    }
  }
  if (a.out.expert_rank != nullptr) {
    for (int e = tid; e < E; e += kThreads) a.out.expert_rank[e] = rank_of[e];
  }
  __syncthreads();
  for (int g = tid; g < G; g += kThreads) {
    if (a.out.experts_per_rank != nullptr) a.out.experts_per_rank[g] = load[g];
    if (a.out.pairs_per_rank != nullptr) a.out.pairs_per_rank[g] = pairs[g];
    if (a.out.rows_per_rank != nullptr) a.out.rows_per_rank[g] = rows_served[g];
  }
  if (tid < 32 && (a.out.a_max != nullptr || a.out.num_invalid_ids != nullptr)) {
    int m = 0;
    for (int g = tid; g < G; g += 32) m = max(m, load[g]);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) m = max(m, __shfl_xor_sync(0xffffffffu, m, o));
    if (tid == 0) {
      if (a.out.a_max != nullptr) *a.out.a_max = m;
      if (a.out.num_invalid_ids != nullptr) *a.out.num_invalid_ids = scalars[1];
    }
  }
}

}  // namespace

size_t ScheduleSharedBytes(const DevicePlacement& p) {
  return MakeLayout(p.num_experts, p.num_ranks, p.num_replicas).total;
}

absl::Status LaunchSchedule(ScheduleAlgorithm algorithm, const DevicePlacement& p,
                            const int32_t* ids, int rows, int top_k, const ScheduleOutputs& out,
                            cudaStream_t stream) {
  JANUS_KERNEL_CHECK_ARG(p.num_experts > 0 && p.num_ranks > 0 && p.num_replicas >= p.num_experts,
                         "schedule: bad placement sizes (experts ", p.num_experts, ", ranks ",
                         p.num_ranks, ", replicas ", p.num_replicas, ")");
  JANUS_KERNEL_CHECK_ARG(p.replica_offsets != nullptr && p.replica_rank != nullptr,
                         "schedule: missing placement tables");
  JANUS_KERNEL_CHECK_ARG(out.slot == nullptr || p.replica_slot != nullptr,
                         "schedule: slots requested but the placement has no replica_slot table");
  JANUS_KERNEL_CHECK_ARG(rows >= 0 && top_k > 0, "schedule: bad sizes (rows ", rows, ", top_k ",
                         top_k, ")");
  JANUS_KERNEL_CHECK_ARG(rows == 0 || out.assignment != nullptr,
                         "schedule: assignment output is required");
  JANUS_KERNEL_CHECK_ARG(rows == 0 || ids != nullptr, "schedule: ids is null");
  JANUS_KERNEL_CHECK_ARG(static_cast<int64_t>(rows) * top_k < (int64_t{1} << 31),
                         "schedule: rows * top_k overflows int32");
  KernelArgs args{p, ids, rows, top_k, out, MakeLayout(p.num_experts, p.num_ranks, p.num_replicas)};
  int max_smem = 0;
  JANUS_RETURN_IF_ERROR(CurrentDeviceInfo(nullptr, &max_smem));
  JANUS_KERNEL_CHECK_ARG(args.layout.total <= static_cast<size_t>(max_smem),
                         "schedule: placement needs ", args.layout.total,
                         " bytes of shared memory, the device allows ", max_smem);
  const bool balanced = algorithm == ScheduleAlgorithm::kActivationBalanced;
  JANUS_DISPATCH_BOOL(balanced, kBalanced, {
    auto kernel = ScheduleKernel<kBalanced>;
    JANUS_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(
        kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(args.layout.total)));
    kernel<<<1, kThreads, args.layout.total, stream>>>(args);
  });
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

}  // namespace janus::kernels
