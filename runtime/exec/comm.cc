#include "runtime/exec/comm.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/base/status.h"

namespace janus::exec {
namespace {

// Tags: which collective, which layer, which leg of the route. FIFO per (src,
// dst, tag) keeps consecutive steps apart.
enum Leg : uint64_t {
  kDirect = 0,
  kToAttentionLeader = 1,
  kNodeToNode = 2,
  kInsideMoeNode = 3,
  kToRelay = 4,
  kFromRelay = 5,
};
uint64_t Tag(bool combine, int layer, Leg leg) {
  return (static_cast<uint64_t>(combine ? 2 : 1) << 56) |
         (static_cast<uint64_t>(static_cast<uint32_t>(layer)) << 8) | leg;
}

// The stages an op runs: both with one phase, else just its own.
std::vector<int> StagesOf(const CollectiveOp& op) {
  if (op.num_phases == 1) return {0, 1};
  return {op.phase};
}

}  // namespace

absl::Status ValidateCollectiveOp(const CollectiveOp& op) {
  switch (op.strategy) {
    case plan::CommStrategy::Direct:
    case plan::CommStrategy::TwoPhase:
    case plan::CommStrategy::Relay:
      break;
    default:
      return absl::UnimplementedError(
          absl::StrCat("layer ", op.layer, ": unknown communication strategy ",
                       static_cast<int>(op.strategy)));
  }
  if (op.num_phases != 1 && op.num_phases != 2) {
    return absl::UnimplementedError(absl::StrCat("layer ", op.layer,
                                                 ": num_phases ", op.num_phases,
                                                 " is not supported (1 or 2)"));
  }
  if (op.phase < 0 || op.phase >= op.num_phases) {
    return absl::InvalidArgumentError(
        absl::StrCat("layer ", op.layer, ": phase ", op.phase,
                     " is outside [0, num_phases = ", op.num_phases, ")"));
  }
  return absl::OkStatus();
}

Communicator::Communicator(Transport* transport, const Topology* topology,
                           plan::Role role, int index)
    : transport_(transport),
      topology_(topology),
      role_(role),
      index_(index),
      attention_groups_(topology->AttentionGroups()),
      moe_groups_(topology->MoeGroups()) {}

int Communicator::self_rank() const {
  return role_ == plan::Role::Attention ? topology_->AttentionRank(index_)
                                        : topology_->MoeRank(index_);
}

int Communicator::AttentionLeaderOf(int index) const {
  for (const auto& group : attention_groups_) {
    if (std::find(group.begin(), group.end(), index) != group.end())
      return group.front();
  }
  return index;
}

int Communicator::MoeLeaderOf(int index) const {
  for (const auto& group : moe_groups_) {
    if (std::find(group.begin(), group.end(), index) != group.end())
      return group.front();
  }
  return index;
}

Message Communicator::Pack(const Bundle& bundle) {
  Message message;
  message.tensors = bundle.tensors;
  message.meta.push_back(static_cast<int64_t>(bundle.segments.size()));
  for (const Segment& s : bundle.segments) {
    message.meta.push_back(s.source);
    message.meta.push_back(s.rows);
  }
  return message;
}

absl::StatusOr<Communicator::Bundle> Communicator::Unpack(Message message) {
  Bundle bundle;
  if (message.meta.empty() ||
      message.meta.size() != 1 + 2 * static_cast<size_t>(message.meta[0])) {
    return absl::InternalError(
        "collective message with a malformed segment header");
  }
  int64_t total = 0;
  for (int64_t i = 0; i < message.meta[0]; ++i) {
    Segment s{static_cast<int>(message.meta[1 + 2 * i]),
              message.meta[2 + 2 * i]};
    total += s.rows;
    bundle.segments.push_back(s);
  }
  for (const Tensor& t : message.tensors) {
    if (t.rows() != total) {
      return absl::InternalError(
          absl::StrCat("collective message: tensor ", t.ShapeString(),
                       " does not hold the ", total, " rows of its header"));
    }
  }
  bundle.tensors = std::move(message.tensors);
  return bundle;
}

absl::Status Communicator::Merge(Bundle part, Bundle* into) {
  if (into->segments.empty() && into->tensors.empty()) {
    *into = std::move(part);
    return absl::OkStatus();
  }
  if (part.tensors.size() != into->tensors.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dispatch: attention ranks sent different numbers of tensors (",
        part.tensors.size(), " vs ", into->tensors.size(), ")"));
  }
  for (size_t i = 0; i < part.tensors.size(); ++i) {
    JANUS_RETURN_IF_ERROR(into->tensors[i].AppendRows(part.tensors[i]));
  }
  into->segments.insert(into->segments.end(), part.segments.begin(),
                        part.segments.end());
  return absl::OkStatus();
}

absl::StatusOr<Communicator::Bundle> Communicator::AssembleAll(
    Bundle bundle) const {
  const int n = topology_->num_attention;
  std::vector<int64_t> begin(n, -1), rows(n, 0);
  int64_t offset = 0;
  for (const Segment& s : bundle.segments) {
    if (s.source < 0 || s.source >= n || begin[s.source] != -1) {
      return absl::InternalError(
          absl::StrCat("dispatch: rows of attention rank ", s.source,
                       " arrived twice or from nowhere"));
    }
    begin[s.source] = offset;
    rows[s.source] = s.rows;
    offset += s.rows;
  }
  Bundle out;
  for (int i = 0; i < n; ++i) {
    if (begin[i] == -1) {
      return absl::InternalError(
          absl::StrCat("dispatch: rows of attention rank ", i, " are missing"));
    }
    out.segments.push_back({i, rows[i]});
  }
  for (const Tensor& t : bundle.tensors) {
    Tensor ordered = Tensor::ZerosLike(t, 0);
    for (int i = 0; i < n; ++i)
      JANUS_RETURN_IF_ERROR(ordered.AppendRows(t.SliceRows(begin[i], rows[i])));
    out.tensors.push_back(std::move(ordered));
  }
  return out;
}

Communicator::Bundle Communicator::SelectSources(
    const Tensor& full, const std::vector<int>& sources, int layer) const {
  const std::vector<int64_t>& counts = row_counts_.at(layer);
  std::vector<int64_t> begin(counts.size(), 0);
  for (size_t i = 1; i < counts.size(); ++i)
    begin[i] = begin[i - 1] + counts[i - 1];
  Bundle out;
  Tensor rows = Tensor::ZerosLike(full, 0);
  for (int s : sources) {
    out.segments.push_back({s, counts[s]});
    (void)rows.AppendRows(full.SliceRows(begin[s], counts[s]));
  }
  out.tensors.push_back(std::move(rows));
  return out;
}

absl::Status Communicator::Send(int dst_rank, uint64_t tag,
                                const Bundle& bundle) {
  return transport_->Send(self_rank(), dst_rank, tag, Pack(bundle));
}

absl::StatusOr<Communicator::Bundle> Communicator::Receive(int src_rank,
                                                           uint64_t tag) {
  JANUS_ASSIGN_OR_RETURN(Message message,
                         transport_->Receive(self_rank(), src_rank, tag));
  return Unpack(std::move(message));
}

absl::Status Communicator::AddInto(const Tensor& part, Tensor* sum) const {
  if (!sum->defined()) {
    *sum = part;
    return absl::OkStatus();
  }
  if (part.rows() != sum->rows() || part.cols() != sum->cols() ||
      part.dtype() != DType::kF32 || sum->dtype() != DType::kF32) {
    return absl::InternalError(
        absl::StrCat("combine: partial ", part.ShapeString(),
                     " does not match ", sum->ShapeString()));
  }
  float* y = sum->f32();
  const float* p = part.f32();
  for (int64_t i = 0; i < sum->size(); ++i) y[i] += p[i];
  return absl::OkStatus();
}

// ---- dispatch ----

absl::Status Communicator::DispatchSend(const CollectiveOp& op,
                                        const std::vector<Tensor>& inputs) {
  JANUS_RETURN_IF_ERROR(ValidateCollectiveOp(op));
  for (const Tensor& t : inputs) {
    if (t.rows() != inputs.front().rows()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dispatch layer ", op.layer, ": inputs have different row counts (",
          t.rows(), " vs ", inputs.front().rows(), ")"));
    }
  }
  for (int stage : StagesOf(op))
    JANUS_RETURN_IF_ERROR(DispatchSendStage(op, stage, inputs));
  return absl::OkStatus();
}

absl::Status Communicator::DispatchSendStage(
    const CollectiveOp& op, int stage, const std::vector<Tensor>& inputs) {
  const int64_t rows = inputs.empty() ? 0 : inputs.front().rows();
  Bundle mine{{{index_, rows}}, inputs};
  switch (op.strategy) {
    case plan::CommStrategy::Direct:
      if (stage != 0) return absl::OkStatus();
      for (int j = 0; j < topology_->num_moe; ++j) {
        JANUS_RETURN_IF_ERROR(
            Send(topology_->MoeRank(j), Tag(false, op.layer, kDirect), mine));
      }
      return absl::OkStatus();
    case plan::CommStrategy::TwoPhase: {
      const int leader = AttentionLeaderOf(index_);
      if (stage == 0) {
        if (leader != index_) {
          return Send(topology_->AttentionRank(leader),
                      Tag(false, op.layer, kToAttentionLeader), mine);
        }
        Bundle node = std::move(mine);
        for (const auto& group : attention_groups_) {
          if (group.front() != index_) continue;
          for (size_t m = 1; m < group.size(); ++m) {
            JANUS_ASSIGN_OR_RETURN(
                Bundle part, Receive(topology_->AttentionRank(group[m]),
                                     Tag(false, op.layer, kToAttentionLeader)));
            JANUS_RETURN_IF_ERROR(Merge(std::move(part), &node));
          }
        }
        pending_dispatch_[op.layer] = std::move(node);
        return absl::OkStatus();
      }
      if (leader != index_) return absl::OkStatus();
      auto it = pending_dispatch_.find(op.layer);
      if (it == pending_dispatch_.end()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "dispatch layer ", op.layer, ": phase 1 without phase 0"));
      }
      Bundle node = std::move(it->second);
      pending_dispatch_.erase(it);
      for (const auto& group : moe_groups_) {
        JANUS_RETURN_IF_ERROR(Send(topology_->MoeRank(group.front()),
                                   Tag(false, op.layer, kNodeToNode), node));
      }
      return absl::OkStatus();
    }
    case plan::CommStrategy::Relay:
      if (stage != 0) return absl::OkStatus();
      return Send(topology_->MoeRank(topology_->RelayMoe()),
                  Tag(false, op.layer, kToRelay), mine);
  }
  return absl::UnimplementedError("dispatch: unknown strategy");
}

absl::StatusOr<bool> Communicator::DispatchReceive(
    const CollectiveOp& op, std::vector<Tensor>* outputs) {
  JANUS_RETURN_IF_ERROR(ValidateCollectiveOp(op));
  bool delivered = false;
  for (int stage : StagesOf(op)) {
    JANUS_ASSIGN_OR_RETURN(bool d, DispatchReceiveStage(op, stage, outputs));
    delivered = delivered || d;
  }
  return delivered;
}

absl::StatusOr<bool> Communicator::DispatchReceiveStage(
    const CollectiveOp& op, int stage, std::vector<Tensor>* outputs) {
  Bundle all;
  switch (op.strategy) {
    case plan::CommStrategy::Direct:
      if (stage != 0) return false;
      for (int i = 0; i < topology_->num_attention; ++i) {
        JANUS_ASSIGN_OR_RETURN(Bundle part,
                               Receive(topology_->AttentionRank(i),
                                       Tag(false, op.layer, kDirect)));
        JANUS_RETURN_IF_ERROR(Merge(std::move(part), &all));
      }
      break;
    case plan::CommStrategy::TwoPhase: {
      if (stage != 1) return false;
      const int leader = MoeLeaderOf(index_);
      if (leader == index_) {
        for (const auto& group : attention_groups_) {
          JANUS_ASSIGN_OR_RETURN(
              Bundle part, Receive(topology_->AttentionRank(group.front()),
                                   Tag(false, op.layer, kNodeToNode)));
          JANUS_RETURN_IF_ERROR(Merge(std::move(part), &all));
        }
        JANUS_ASSIGN_OR_RETURN(all, AssembleAll(std::move(all)));
        for (const auto& group : moe_groups_) {
          if (group.front() != index_) continue;
          for (size_t m = 1; m < group.size(); ++m) {
            JANUS_RETURN_IF_ERROR(Send(topology_->MoeRank(group[m]),
                                       Tag(false, op.layer, kInsideMoeNode),
                                       all));
          }
        }
      } else {
        JANUS_ASSIGN_OR_RETURN(all,
                               Receive(topology_->MoeRank(leader),
                                       Tag(false, op.layer, kInsideMoeNode)));
      }
      break;
    }
    case plan::CommStrategy::Relay: {
      const int relay = topology_->RelayMoe();
      if (stage == 0) {
        if (index_ != relay) return false;
        for (int i = 0; i < topology_->num_attention; ++i) {
          JANUS_ASSIGN_OR_RETURN(Bundle part,
                                 Receive(topology_->AttentionRank(i),
                                         Tag(false, op.layer, kToRelay)));
          JANUS_RETURN_IF_ERROR(Merge(std::move(part), &all));
        }
        JANUS_ASSIGN_OR_RETURN(all, AssembleAll(std::move(all)));
        pending_dispatch_[op.layer] = std::move(all);
        return false;
      }
      if (index_ == relay) {
        auto it = pending_dispatch_.find(op.layer);
        if (it == pending_dispatch_.end()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "dispatch layer ", op.layer, ": phase 1 without phase 0"));
        }
        all = std::move(it->second);
        pending_dispatch_.erase(it);
        for (int j = 0; j < topology_->num_moe; ++j) {
          if (j == relay) continue;
          JANUS_RETURN_IF_ERROR(Send(topology_->MoeRank(j),
                                     Tag(false, op.layer, kFromRelay), all));
        }
      } else {
        JANUS_ASSIGN_OR_RETURN(all, Receive(topology_->MoeRank(relay),
                                            Tag(false, op.layer, kFromRelay)));
      }
      break;
    }
  }
  JANUS_ASSIGN_OR_RETURN(all, AssembleAll(std::move(all)));
  std::vector<int64_t> counts;
  for (const Segment& s : all.segments) counts.push_back(s.rows);
  row_counts_[op.layer] = std::move(counts);
  *outputs = std::move(all.tensors);
  return true;
}

std::vector<int64_t> Communicator::dispatched_row_counts(int layer) const {
  auto it = row_counts_.find(layer);
  return it == row_counts_.end() ? std::vector<int64_t>{} : it->second;
}

// ---- combine ----

absl::Status Communicator::CombineSend(const CollectiveOp& op,
                                       const Tensor& partial) {
  JANUS_RETURN_IF_ERROR(ValidateCollectiveOp(op));
  auto counts = row_counts_.find(op.layer);
  if (counts == row_counts_.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "combine layer ", op.layer, " before any dispatch of that layer"));
  }
  int64_t total = 0;
  for (int64_t c : counts->second) total += c;
  if (partial.dtype() != DType::kF32 || partial.rows() != total) {
    return absl::InvalidArgumentError(absl::StrCat(
        "combine layer ", op.layer, ": partial ", partial.ShapeString(),
        " does not cover the ", total, " dispatched rows"));
  }
  for (int stage : StagesOf(op))
    JANUS_RETURN_IF_ERROR(CombineSendStage(op, stage, partial));
  return absl::OkStatus();
}

absl::Status Communicator::CombineSendStage(const CollectiveOp& op, int stage,
                                            const Tensor& partial) {
  switch (op.strategy) {
    case plan::CommStrategy::Direct:
      if (stage != 0) return absl::OkStatus();
      for (int i = 0; i < topology_->num_attention; ++i) {
        JANUS_RETURN_IF_ERROR(Send(topology_->AttentionRank(i),
                                   Tag(true, op.layer, kDirect),
                                   SelectSources(partial, {i}, op.layer)));
      }
      return absl::OkStatus();
    case plan::CommStrategy::TwoPhase: {
      if (stage != 0) return absl::OkStatus();
      const int leader = MoeLeaderOf(index_);
      if (leader != index_) {
        return transport_->Send(self_rank(), topology_->MoeRank(leader),
                                Tag(true, op.layer, kInsideMoeNode),
                                Message{{partial}, {}});
      }
      Tensor sum = partial;
      for (const auto& group : moe_groups_) {
        if (group.front() != index_) continue;
        for (size_t m = 1; m < group.size(); ++m) {
          JANUS_ASSIGN_OR_RETURN(
              Message part,
              transport_->Receive(self_rank(), topology_->MoeRank(group[m]),
                                  Tag(true, op.layer, kInsideMoeNode)));
          if (part.tensors.size() != 1)
            return absl::InternalError("combine: malformed partial message");
          JANUS_RETURN_IF_ERROR(AddInto(part.tensors[0], &sum));
        }
      }
      for (const auto& group : attention_groups_) {
        JANUS_RETURN_IF_ERROR(Send(topology_->AttentionRank(group.front()),
                                   Tag(true, op.layer, kNodeToNode),
                                   SelectSources(sum, group, op.layer)));
      }
      return absl::OkStatus();
    }
    case plan::CommStrategy::Relay: {
      const int relay = topology_->RelayMoe();
      if (stage == 0) {
        if (index_ != relay) {
          return transport_->Send(self_rank(), topology_->MoeRank(relay),
                                  Tag(true, op.layer, kToRelay),
                                  Message{{partial}, {}});
        }
        // Reduce in MoE index order, the same order a direct combine adds them
        // in.
        Tensor sum;
        for (int j = 0; j < topology_->num_moe; ++j) {
          if (j == relay) {
            JANUS_RETURN_IF_ERROR(AddInto(partial, &sum));
            continue;
          }
          JANUS_ASSIGN_OR_RETURN(
              Message part,
              transport_->Receive(self_rank(), topology_->MoeRank(j),
                                  Tag(true, op.layer, kToRelay)));
          if (part.tensors.size() != 1)
            return absl::InternalError("combine: malformed partial message");
          JANUS_RETURN_IF_ERROR(AddInto(part.tensors[0], &sum));
        }
        pending_combine_[op.layer] = std::move(sum);
        return absl::OkStatus();
      }
      if (index_ != relay) return absl::OkStatus();
      auto it = pending_combine_.find(op.layer);
      if (it == pending_combine_.end()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "combine layer ", op.layer, ": phase 1 without phase 0"));
      }
      Tensor sum = std::move(it->second);
      pending_combine_.erase(it);
      for (int i = 0; i < topology_->num_attention; ++i) {
        JANUS_RETURN_IF_ERROR(Send(topology_->AttentionRank(i),
                                   Tag(true, op.layer, kFromRelay),
                                   SelectSources(sum, {i}, op.layer)));
      }
      return absl::OkStatus();
    }
  }
  return absl::UnimplementedError("combine: unknown strategy");
}

absl::StatusOr<bool> Communicator::CombineReceive(const CollectiveOp& op,
                                                  Tensor* y) {
  JANUS_RETURN_IF_ERROR(ValidateCollectiveOp(op));
  bool delivered = false;
  for (int stage : StagesOf(op)) {
    JANUS_ASSIGN_OR_RETURN(bool d, CombineReceiveStage(op, stage, y));
    delivered = delivered || d;
  }
  return delivered;
}

absl::StatusOr<bool> Communicator::CombineReceiveStage(const CollectiveOp& op,
                                                       int stage, Tensor* y) {
  // Checks a bundle holds exactly the expected sources, and returns its single
  // tensor.
  auto expect = [&](Bundle bundle,
                    const std::vector<int>& sources) -> absl::StatusOr<Tensor> {
    bool ok =
        bundle.tensors.size() == 1 && bundle.segments.size() == sources.size();
    for (size_t s = 0; ok && s < sources.size(); ++s)
      ok = bundle.segments[s].source == sources[s];
    if (!ok)
      return absl::InternalError(absl::StrCat("combine layer ", op.layer,
                                              ": rows for the wrong ranks"));
    return std::move(bundle.tensors[0]);
  };
  switch (op.strategy) {
    case plan::CommStrategy::Direct: {
      if (stage != 0) return false;
      Tensor sum;
      for (int j = 0; j < topology_->num_moe; ++j) {
        JANUS_ASSIGN_OR_RETURN(
            Bundle part,
            Receive(topology_->MoeRank(j), Tag(true, op.layer, kDirect)));
        JANUS_ASSIGN_OR_RETURN(Tensor rows, expect(std::move(part), {index_}));
        JANUS_RETURN_IF_ERROR(AddInto(rows, &sum));
      }
      *y = std::move(sum);
      return true;
    }
    case plan::CommStrategy::TwoPhase: {
      const int leader = AttentionLeaderOf(index_);
      const std::vector<int>* group = nullptr;
      for (const auto& g : attention_groups_) {
        if (g.front() == leader) group = &g;
      }
      if (stage == 0) {
        if (leader != index_) return false;
        Bundle node;
        Tensor sum;
        for (const auto& moe_group : moe_groups_) {
          JANUS_ASSIGN_OR_RETURN(Bundle part,
                                 Receive(topology_->MoeRank(moe_group.front()),
                                         Tag(true, op.layer, kNodeToNode)));
          node.segments = part.segments;
          JANUS_ASSIGN_OR_RETURN(Tensor rows, expect(std::move(part), *group));
          JANUS_RETURN_IF_ERROR(AddInto(rows, &sum));
        }
        node.tensors.push_back(std::move(sum));
        pending_node_sum_[op.layer] = std::move(node);
        return false;
      }
      if (leader != index_) {
        JANUS_ASSIGN_OR_RETURN(
            Bundle part, Receive(topology_->AttentionRank(leader),
                                 Tag(true, op.layer, kToAttentionLeader)));
        JANUS_ASSIGN_OR_RETURN(*y, expect(std::move(part), {index_}));
        return true;
      }
      auto it = pending_node_sum_.find(op.layer);
      if (it == pending_node_sum_.end()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "combine layer ", op.layer, ": phase 1 without phase 0"));
      }
      Bundle node = std::move(it->second);
      pending_node_sum_.erase(it);
      const Tensor& sum = node.tensors[0];
      // The node's rows are its members' rows in member order (the segments say
      // how many each).
      int64_t offset = 0;
      for (size_t m = 0; m < group->size(); ++m) {
        const int64_t rows = node.segments[m].rows;
        Tensor slice = sum.SliceRows(offset, rows);
        offset += rows;
        if ((*group)[m] == index_) {
          *y = std::move(slice);
        } else {
          JANUS_RETURN_IF_ERROR(
              Send(topology_->AttentionRank((*group)[m]),
                   Tag(true, op.layer, kToAttentionLeader),
                   Bundle{{{(*group)[m], rows}}, {std::move(slice)}}));
        }
      }
      return true;
    }
    case plan::CommStrategy::Relay: {
      if (stage != 1) return false;
      JANUS_ASSIGN_OR_RETURN(Bundle part,
                             Receive(topology_->MoeRank(topology_->RelayMoe()),
                                     Tag(true, op.layer, kFromRelay)));
      JANUS_ASSIGN_OR_RETURN(*y, expect(std::move(part), {index_}));
      return true;
    }
  }
  return absl::UnimplementedError("combine: unknown strategy");
}

}  // namespace janus::exec
