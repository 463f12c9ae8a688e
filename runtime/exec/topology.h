// Where the ranks of a deployment sit: roles, indices within a role, nodes, and
// the node groups the two-phase and relay strategies route through.
#ifndef JANUS_RUNTIME_EXEC_TOPOLOGY_H_
#define JANUS_RUNTIME_EXEC_TOPOLOGY_H_

#include <vector>

#include "absl/status/statusor.h"
#include "runtime/schema/plan_generated.h"

namespace janus::exec {

// Where every rank sits. Global ranks: attention ranks 0 .. A-1, then MoE ranks
// A .. A+M-1.
struct Topology {
  int num_attention = 0;
  int num_moe = 0;
  std::vector<int> attention_node;  // per attention index
  std::vector<int> moe_node;        // per MoE index

  // From a verified plan's deployment (every rank present once, roles and
  // indices consistent).
  static absl::StatusOr<Topology> FromDeployment(
      const plan::Deployment& deployment);
  // Attention ranks fill nodes of `gpus_per_node` from node 0; MoE ranks start
  // on a fresh node.
  static Topology Uniform(int num_attention, int num_moe, int gpus_per_node);

  int num_ranks() const { return num_attention + num_moe; }
  int AttentionRank(int index) const { return index; }
  int MoeRank(int index) const { return num_attention + index; }

  // Indices (within the role) of the ranks on each node, nodes ordered by node
  // id, members by index. The first member of a group is the node's first rank
  // ("leader").
  std::vector<std::vector<int>> AttentionGroups() const;
  std::vector<std::vector<int>> MoeGroups() const;
  // The relay MoE index: the first rank of the first MoE node.
  int RelayMoe() const;
};

}  // namespace janus::exec

#endif  // JANUS_RUNTIME_EXEC_TOPOLOGY_H_
