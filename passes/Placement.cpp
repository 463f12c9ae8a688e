//===- Placement.cpp - Expert replication and placement ------------------===//

#include "passes/Placement.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <utility>

using namespace mlir::janus;

int64_t mlir::janus::defaultSlotsPerGpu(int64_t numExperts, int64_t numGpus) {
  if (numExperts <= 0 || numGpus <= 0)
    return 0;
  int64_t once = (numExperts + numGpus - 1) / numGpus;
  int64_t margin =
      std::max<int64_t>(1, (numExperts + 4 * numGpus - 1) / (4 * numGpus));
  return once + margin;
}

LayerDemand mlir::janus::uniformDemand(int64_t numExperts) {
  LayerDemand demand;
  demand.expertLoad.assign(std::max<int64_t>(numExperts, 0), 1.0);
  return demand;
}

namespace {
// Symmetric co-activation lookup, summed over duplicate pairs.
using CoactMap = std::map<std::pair<int64_t, int64_t>, double>;

CoactMap buildCoactMap(const std::vector<CoactivationPair> &pairs) {
  CoactMap map;
  for (const CoactivationPair &p : pairs) {
    if (p.a == p.b || p.count <= 0)
      continue;
    map[{std::min(p.a, p.b), std::max(p.a, p.b)}] += p.count;
  }
  return map;
}

double lookup(const CoactMap &map, int64_t a, int64_t b) {
  auto it = map.find({std::min(a, b), std::max(a, b)});
  return it == map.end() ? 0.0 : it->second;
}
// The only GPUs with free slots already hold `expert`. Some GPU h lacks it (the
// expert has fewer than numGpus replicas placed) and is full, so it holds an
// expert f missing from a GPU g with a free slot (h has more experts than g):
// move f from h to g and give h's slot to `expert`.
bool repairForReplica(int64_t expert, int64_t slotsPerGpu,
                      const std::vector<double> &load,
                      const std::vector<int64_t> &replicas,
                      std::vector<std::vector<int64_t>> &gpuExperts,
                      std::vector<double> &gpuLoad, int64_t &chosen) {
  auto holds = [&](int64_t g, int64_t e) {
    return std::find(gpuExperts[g].begin(), gpuExperts[g].end(), e) !=
           gpuExperts[g].end();
  };
  const int64_t numGpus = static_cast<int64_t>(gpuExperts.size());
  for (int64_t g = 0; g < numGpus; ++g) {
    if (static_cast<int64_t>(gpuExperts[g].size()) >= slotsPerGpu)
      continue;
    for (int64_t h = 0; h < numGpus; ++h) {
      if (h == g || holds(h, expert))
        continue;
      for (size_t i = 0; i < gpuExperts[h].size(); ++i) {
        int64_t f = gpuExperts[h][i];
        if (holds(g, f))
          continue;
        double share = load[f] / replicas[f];
        gpuExperts[h].erase(gpuExperts[h].begin() + i);
        gpuLoad[h] -= share;
        gpuExperts[g].push_back(f);
        gpuLoad[g] += share;
        chosen = h;
        return true;
      }
    }
  }
  return false;
}
} // namespace

std::optional<ExpertPlacement>
mlir::janus::placeExperts(const LayerDemand &demand, int64_t numGpus,
                          int64_t slotsPerGpu, std::string &error) {
  const int64_t numExperts = static_cast<int64_t>(demand.expertLoad.size());
  if (numExperts <= 0) {
    error = "a MoE layer needs at least one expert";
    return std::nullopt;
  }
  if (numGpus <= 0) {
    error = "the MoE sub-cluster needs at least one GPU (got " +
            std::to_string(numGpus) + ")";
    return std::nullopt;
  }
  if (slotsPerGpu <= 0) {
    error = "every MoE GPU needs at least one expert slot (got " +
            std::to_string(slotsPerGpu) + ")";
    return std::nullopt;
  }
  if (numGpus * slotsPerGpu < numExperts) {
    error = std::to_string(numGpus) + " MoE GPUs x " +
            std::to_string(slotsPerGpu) +
            " slots = " + std::to_string(numGpus * slotsPerGpu) +
            " slots cannot hold " + std::to_string(numExperts) + " experts";
    return std::nullopt;
  }
  for (int64_t e = 0; e < numExperts; ++e) {
    double load = demand.expertLoad[e];
    if (!(load >= 0) || std::isinf(load)) {
      error = "expert " + std::to_string(e) + " has an invalid load";
      return std::nullopt;
    }
  }
  for (const CoactivationPair &p : demand.coactivation) {
    if (p.a < 0 || p.b < 0 || p.a >= numExperts || p.b >= numExperts ||
        !(p.count >= 0)) {
      error = "co-activation pair (" + std::to_string(p.a) + ", " +
              std::to_string(p.b) + ") is out of range for " +
              std::to_string(numExperts) + " experts";
      return std::nullopt;
    }
  }
  // Without any signal, every expert is equally hot.
  std::vector<double> load = demand.expertLoad;
  if (std::all_of(load.begin(), load.end(), [](double l) { return l == 0; }))
    std::fill(load.begin(), load.end(), 1.0);
  CoactMap coact = buildCoactMap(demand.coactivation);

  // 1. Replication: hottest load per replica first.
  std::vector<int64_t> replicas(numExperts, 1);
  int64_t freeSlots = numGpus * slotsPerGpu - numExperts;
  while (freeSlots > 0) {
    int64_t best = -1;
    for (int64_t e = 0; e < numExperts; ++e) {
      if (replicas[e] >= numGpus)
        continue;
      if (best < 0 || load[e] / replicas[e] > load[best] / replicas[best])
        best = e;
    }
    if (best < 0)
      break; // every expert is on every GPU
    ++replicas[best];
    --freeSlots;
  }

  // 2. Assignment, hottest replicas first.
  struct Item {
    int64_t expert;
    int64_t index;
    double perReplica;
  };
  std::vector<Item> items;
  for (int64_t e = 0; e < numExperts; ++e)
    for (int64_t r = 0; r < replicas[e]; ++r)
      items.push_back({e, r, load[e] / replicas[e]});
  std::stable_sort(items.begin(), items.end(),
                   [](const Item &x, const Item &y) {
                     if (x.perReplica != y.perReplica)
                       return x.perReplica > y.perReplica;
                     if (x.expert != y.expert)
                       return x.expert < y.expert;
                     return x.index < y.index;
                   });

  std::vector<double> gpuLoad(numGpus, 0.0);
  std::vector<std::vector<int64_t>> gpuExperts(numGpus);
  for (const Item &item : items) {
    int64_t bestGpu = -1;
    double bestScore = 0;
    for (int64_t g = 0; g < numGpus; ++g) {
      const std::vector<int64_t> &held = gpuExperts[g];
      if (static_cast<int64_t>(held.size()) >= slotsPerGpu ||
          std::find(held.begin(), held.end(), item.expert) != held.end())
        continue;
      double score = gpuLoad[g] + item.perReplica;
      for (int64_t f : held)
        score += lookup(coact, item.expert, f) /
                 (replicas[item.expert] * replicas[f]);
      bool better =
          bestGpu < 0 || score < bestScore ||
          (score == bestScore && held.size() < gpuExperts[bestGpu].size());
      if (better) {
        bestGpu = g;
        bestScore = score;
      }
    }
    if (bestGpu < 0 &&
        !repairForReplica(item.expert, slotsPerGpu, load, replicas, gpuExperts,
                          gpuLoad, bestGpu)) {
      error = "internal error: no GPU left for a replica of expert " +
              std::to_string(item.expert);
      return std::nullopt;
    }
    gpuExperts[bestGpu].push_back(item.expert);
    gpuLoad[bestGpu] += item.perReplica;
  }

  // 3. Slots in ascending expert order per GPU; replicas of an expert in
  // ascending GPU order.
  ExpertPlacement placement;
  placement.numExperts = numExperts;
  placement.numGpus = numGpus;
  placement.slotsPerGpu = slotsPerGpu;
  std::vector<std::vector<std::pair<int64_t, int64_t>>> perExpert(
      numExperts); // (gpu, slot)
  for (int64_t g = 0; g < numGpus; ++g) {
    std::vector<int64_t> held = gpuExperts[g];
    std::sort(held.begin(), held.end());
    for (size_t s = 0; s < held.size(); ++s)
      perExpert[held[s]].push_back({g, static_cast<int64_t>(s)});
  }
  placement.replicaOffsets.push_back(0);
  for (int64_t e = 0; e < numExperts; ++e) {
    for (auto [gpu, slot] : perExpert[e]) {
      placement.replicaGpu.push_back(gpu);
      placement.replicaSlot.push_back(slot);
    }
    placement.replicaOffsets.push_back(
        static_cast<int64_t>(placement.replicaGpu.size()));
  }
  return placement;
}

ExpertPlacement mlir::janus::roundRobinPlacement(int64_t numExperts,
                                                 int64_t numGpus,
                                                 int64_t slotsPerGpu) {
  ExpertPlacement placement;
  placement.numExperts = numExperts;
  placement.numGpus = numGpus;
  placement.slotsPerGpu = slotsPerGpu;
  placement.replicaOffsets.push_back(0);
  for (int64_t e = 0; e < numExperts; ++e) {
    placement.replicaGpu.push_back(e % numGpus);
    placement.replicaSlot.push_back(e / numGpus);
    placement.replicaOffsets.push_back(e + 1);
  }
  return placement;
}

PlacementCost mlir::janus::evaluatePlacement(const LayerDemand &demand,
                                             const ExpertPlacement &placement) {
  PlacementCost cost;
  CoactMap coact = buildCoactMap(demand.coactivation);
  std::vector<double> gpuLoad(placement.numGpus, 0.0);
  std::vector<std::vector<int64_t>> gpuExperts(placement.numGpus);
  for (int64_t e = 0; e < placement.numExperts; ++e) {
    int64_t r = placement.numReplicas(e);
    for (int64_t i = placement.replicaOffsets[e];
         i < placement.replicaOffsets[e + 1]; ++i) {
      int64_t g = placement.replicaGpu[i];
      gpuLoad[g] += demand.expertLoad[e] / r;
      for (int64_t f : gpuExperts[g])
        cost.coactivationCost +=
            lookup(coact, e, f) / (r * placement.numReplicas(f));
      gpuExperts[g].push_back(e);
    }
  }
  for (double l : gpuLoad) {
    cost.maxGpuLoad = std::max(cost.maxGpuLoad, l);
    cost.meanGpuLoad += l;
  }
  if (placement.numGpus > 0)
    cost.meanGpuLoad /= placement.numGpus;
  return cost;
}

std::string mlir::janus::verifyPlacement(const ExpertPlacement &p) {
  if (p.numExperts <= 0 || p.numGpus <= 0 || p.slotsPerGpu <= 0)
    return "empty placement";
  if (static_cast<int64_t>(p.replicaOffsets.size()) != p.numExperts + 1 ||
      p.replicaOffsets[0] != 0)
    return "replica offsets must have num_experts + 1 entries starting at 0";
  if (p.replicaGpu.size() != p.replicaSlot.size() ||
      static_cast<int64_t>(p.replicaGpu.size()) != p.replicaOffsets.back())
    return "replica tables disagree in length";
  std::vector<std::vector<int64_t>> slotOwner(
      p.numGpus, std::vector<int64_t>(p.slotsPerGpu, -1));
  for (int64_t e = 0; e < p.numExperts; ++e) {
    if (p.replicaOffsets[e + 1] <= p.replicaOffsets[e])
      return "expert " + std::to_string(e) + " has no replica";
    std::vector<int64_t> gpus;
    for (int64_t r = p.replicaOffsets[e]; r < p.replicaOffsets[e + 1]; ++r) {
      int64_t g = p.replicaGpu[r], s = p.replicaSlot[r];
      if (g < 0 || g >= p.numGpus || s < 0 || s >= p.slotsPerGpu)
        return "replica " + std::to_string(r) + " is outside the GPUs or slots";
      if (slotOwner[g][s] >= 0)
        return "GPU " + std::to_string(g) + " slot " + std::to_string(s) +
               " is used twice";
      if (std::find(gpus.begin(), gpus.end(), g) != gpus.end())
        return "expert " + std::to_string(e) + " has two replicas on GPU " +
               std::to_string(g);
      slotOwner[g][s] = e;
      gpus.push_back(g);
    }
  }
  return "";
}
