#include "runtime/exec/topology.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"

namespace janus::exec {
namespace {

std::vector<std::vector<int>> GroupByNode(const std::vector<int>& nodes) {
  std::map<int, std::vector<int>> by_node;
  for (int i = 0; i < static_cast<int>(nodes.size()); ++i)
    by_node[nodes[i]].push_back(i);
  std::vector<std::vector<int>> groups;
  for (auto& [node, members] : by_node) groups.push_back(std::move(members));
  return groups;
}

}  // namespace

absl::StatusOr<Topology> Topology::FromDeployment(
    const plan::Deployment& deployment) {
  Topology t;
  t.num_attention = deployment.attention_ranks();
  t.num_moe = deployment.moe_ranks();
  if (t.num_attention <= 0 || t.num_moe <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("deployment has ", t.num_attention, " attention and ",
                     t.num_moe, " MoE ranks; both must be positive"));
  }
  t.attention_node.assign(t.num_attention, -1);
  t.moe_node.assign(t.num_moe, -1);
  for (const plan::Rank* rank : *deployment.ranks()) {
    const bool attention = rank->role() == plan::Role::Attention;
    std::vector<int>& nodes = attention ? t.attention_node : t.moe_node;
    const int expected_global =
        attention ? rank->index() : t.num_attention + rank->index();
    if (rank->index() < 0 || rank->index() >= static_cast<int>(nodes.size()) ||
        nodes[rank->index()] != -1 || rank->rank() != expected_global ||
        rank->node() < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "deployment rank ", rank->rank(), " (",
          attention ? "attention" : "moe", " index ", rank->index(), ", node ",
          rank->node(), ") is inconsistent with ", t.num_attention,
          " attention and ", t.num_moe, " MoE ranks"));
    }
    nodes[rank->index()] = rank->node();
  }
  for (int i = 0; i < t.num_attention; ++i) {
    if (t.attention_node[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("deployment lacks attention rank ", i));
    }
  }
  for (int j = 0; j < t.num_moe; ++j) {
    if (t.moe_node[j] < 0)
      return absl::InvalidArgumentError(
          absl::StrCat("deployment lacks MoE rank ", j));
  }
  return t;
}

Topology Topology::Uniform(int num_attention, int num_moe, int gpus_per_node) {
  Topology t;
  t.num_attention = num_attention;
  t.num_moe = num_moe;
  const int g = std::max(1, gpus_per_node);
  for (int i = 0; i < num_attention; ++i) t.attention_node.push_back(i / g);
  const int first_moe_node = (num_attention + g - 1) / g;
  for (int j = 0; j < num_moe; ++j)
    t.moe_node.push_back(first_moe_node + j / g);
  return t;
}

std::vector<std::vector<int>> Topology::AttentionGroups() const {
  return GroupByNode(attention_node);
}
std::vector<std::vector<int>> Topology::MoeGroups() const {
  return GroupByNode(moe_node);
}
int Topology::RelayMoe() const { return MoeGroups().front().front(); }

}  // namespace janus::exec
