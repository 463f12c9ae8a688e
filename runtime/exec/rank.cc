#include "runtime/exec/rank.h"

#include <algorithm>
#include <iterator>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/base/status.h"

namespace janus::exec {

using plan::OpParams;

namespace {


}  // namespace

absl::StatusOr<std::unique_ptr<Rank>> Rank::Create(const plan::Plan& plan,
                                                   const Topology* topology,
                                                   Transport* transport,
                                                   plan::Role role, int index,
                                                   const RankOptions& options) {
  std::unique_ptr<Rank> rank(new Rank());
  rank->plan_ = &plan;
  rank->program_ = ProgramOf(plan, role);
  rank->topology_ = topology;
  rank->transport_ = transport;
  rank->role_ = role;
  rank->index_ = index;
  rank->self_ = role == plan::Role::Attention ? topology->AttentionRank(index)
                                              : topology->MoeRank(index);
  rank->host_ = topology->num_ranks();
  rank->options_ = options;
  const std::string name = absl::StrCat(RoleName(role), " rank ", index);
  if (rank->program_ == nullptr)
    return absl::InvalidArgumentError(absl::StrCat("no program for ", name));
  JANUS_ASSIGN_OR_RETURN(
      rank->weights_,
      WeightStore::Create(plan, WeightsUsedByRank(plan, role, index),
                          options.checkpoint_dir));
  rank->comm_ =
      std::make_unique<Communicator>(transport, topology, role, index);
  const int max_positions =
      std::min(plan.model()->max_position_embeddings(), 1 << 16);
  // One table per distinct RoPE configuration: every layer of a model shares one, and a table
  // spans the whole context (tens of MB for long-context models).
  std::vector<std::pair<cpu::RopeConfig, std::shared_ptr<const cpu::RopeTable>>> tables;
  for (uint32_t pc = 0; pc < rank->program_->instrs()->size(); ++pc) {
    const plan::Instr& instr = *rank->program_->instrs()->Get(pc);
    const plan::Rope* rope = nullptr;
    if (const auto* p = instr.params_as_AttentionParams()) rope = p->rope();
    if (const auto* p = instr.params_as_MlaParams()) rope = p->rope();
    if (rope == nullptr) continue;
    const cpu::RopeConfig config = ToRopeConfig(*rope);
    auto same = std::find_if(tables.begin(), tables.end(), [&](const auto& entry) {
      return SameRope(entry.first, config);
    });
    if (same == tables.end()) {
      absl::StatusOr<cpu::RopeTable> table =
          cpu::RopeTable::Create(config, std::max(1, max_positions));
      if (!table.ok())
        return Annotate(table.status(),
                        absl::StrCat(name, " instruction ", pc, " rope"));
      tables.emplace_back(config, std::make_shared<const cpu::RopeTable>(std::move(*table)));
      same = std::prev(tables.end());
    }
    rank->ropes_[pc] = same->second;
  }
  rank->release_after_ = LastReads(*rank->program_);
  if (role == plan::Role::Attention) {
    JANUS_ASSIGN_OR_RETURN(std::vector<cpu::KvLayerSpec> specs,
                           KvLayerSpecs(plan));
    JANUS_ASSIGN_OR_RETURN(
        cpu::PagedKvCache cache,
        cpu::PagedKvCache::Create(options.kv_block_size, options.kv_num_blocks,
                                  specs));
    rank->cache_ = std::make_unique<cpu::PagedKvCache>(std::move(cache));
  }
  return rank;
}

void Rank::Run() {
  absl::Status status = Serve();
  if (!status.ok()) {
    transport_->Abort(
        Annotate(status, absl::StrCat(RoleName(role_), " rank ", index_)));
  }
}

absl::Status Rank::Serve() {
  while (true) {
    absl::StatusOr<Message> command = transport_->Receive(
        self_, host_, kCommandTag, absl::InfiniteDuration());
    // An aborted transport is someone else's error, already recorded: just
    // stop.
    if (!command.ok())
      return transport_->aborted() ? absl::OkStatus() : command.status();
    if (command->meta.empty()) return absl::InternalError("empty command");
    Message reply;
    switch (command->meta[0]) {
      case kShutdown:
        return absl::OkStatus();
      case kRelease:
        JANUS_RETURN_IF_ERROR(Release(command->meta, 1));
        break;
      case kStep:
        JANUS_RETURN_IF_ERROR(Step(*command, &reply));
        break;
      default:
        return absl::InternalError(
            absl::StrCat("unknown command ", command->meta[0]));
    }
    JANUS_RETURN_IF_ERROR(
        transport_->Send(self_, host_, kReplyTag, std::move(reply)));
  }
}

absl::Status Rank::Release(const std::vector<int64_t>& meta, size_t begin) {
  if (cache_ == nullptr || begin >= meta.size()) return absl::OkStatus();
  const int64_t n = meta[begin];
  for (int64_t i = 0; i < n && begin + 1 + i < meta.size(); ++i) {
    auto it = cache_seq_.find(meta[begin + 1 + i]);
    if (it == cache_seq_.end()) continue;  // never got a row on this rank
    JANUS_RETURN_IF_ERROR(cache_->FreeSequence(it->second));
    cache_seq_.erase(it);
  }
  return absl::OkStatus();
}

absl::Status Rank::PrepareRows(const Message& command) {
  if (command.tensors.size() != 2 || command.tensors[0].cols() != 1 ||
      command.tensors[1].cols() != 3 ||
      command.tensors[0].rows() != command.tensors[1].rows()) {
    return absl::InternalError("malformed step command");
  }
  JANUS_RETURN_IF_ERROR(Release(command.meta, 1));
  step_ids_ = command.tensors[0];
  const Tensor& rows = command.tensors[1];
  layout_.seq.clear();
  layout_.position.clear();
  logit_rows_.clear();
  for (int64_t r = 0; r < rows.rows(); ++r) {
    const int64_t seq = rows.i32_row(r)[0];
    const int position = rows.i32_row(r)[1];
    auto it = cache_seq_.find(seq);
    if (it == cache_seq_.end()) {
      JANUS_ASSIGN_OR_RETURN(int local, cache_->AddSequence());
      it = cache_seq_.emplace(seq, local).first;
    }
    const int have = cache_->length(it->second);
    if (position + 1 > have)
      JANUS_RETURN_IF_ERROR(cache_->Reserve(it->second, position + 1 - have));
    layout_.seq.push_back(it->second);
    layout_.position.push_back(position);
    if (rows.i32_row(r)[2] != 0) logit_rows_.push_back(static_cast<int>(r));
  }
  return absl::OkStatus();
}

absl::Status Rank::Step(const Message& command, Message* reply) {
  if (role_ == plan::Role::Attention)
    JANUS_RETURN_IF_ERROR(PrepareRows(command));
  step_stats_.clear();
  step_ids_by_layer_.clear();
  registers_.assign(program_->num_registers(), Tensor());
  if (role_ == plan::Role::Attention) registers_[0] = step_ids_;
  for (uint32_t pc = 0; pc < program_->instrs()->size(); ++pc) {
    const plan::Instr& instr = *program_->instrs()->Get(pc);
    JANUS_RETURN_IF_ERROR(Annotate(
        Execute(pc, instr),
        absl::StrCat("instruction ", pc, " (", InstrName(instr), ")")));
    // Registers read for the last time here are dead: free them now rather than at the end of
    // the step, so a step holds a few activations, not one per instruction.
    for (int reg : release_after_[pc]) registers_[reg] = Tensor();
  }
  if (role_ == plan::Role::Attention) {
    Tensor& logits = registers_[program_->output()];
    if (!logits.defined() || logits.dtype() != DType::kF32) {
      return absl::InternalError(
          "the program's output register holds no logits");
    }
    if (logits.rows() == static_cast<int64_t>(logit_rows_.size())) {
      reply->tensors.push_back(std::move(logits));
    } else if (logits.rows() == layout_.rows()) {
      Tensor selected = Tensor::ZerosLike(logits, 0);
      for (int r : logit_rows_)
        JANUS_RETURN_IF_ERROR(selected.AppendRows(logits.SliceRows(r, 1)));
      reply->tensors.push_back(std::move(selected));
    } else {
      return absl::InternalError(
          absl::StrCat("the output register holds ", logits.ShapeString(),
                       ", not logits for the step's rows"));
    }
  } else if (index_ == 0) {
    EncodeStepStats(step_stats_, &reply->meta);
    reply->meta.push_back(static_cast<int64_t>(step_ids_by_layer_.size()));
    for (auto& [layer, ids] : step_ids_by_layer_) {
      reply->meta.push_back(layer);
      reply->tensors.push_back(std::move(ids));
    }
  }
  registers_.clear();
  return absl::OkStatus();
}

absl::StatusOr<const Tensor*> Rank::Input(const plan::Instr& instr, int k,
                                          DType dtype) const {
  const int reg = instr.inputs()->Get(k);
  const Tensor& t = registers_[reg];
  if (!t.defined())
    return absl::InternalError(
        absl::StrCat("input register ", reg, " is unset"));
  if (t.dtype() != dtype) {
    return absl::InvalidArgumentError(
        absl::StrCat("input register ", reg, " holds ", t.ShapeString(),
                     ", expected ", DTypeName(dtype)));
  }
  return &t;
}

Tensor* Rank::Output(const plan::Instr& instr, int k) {
  return &registers_[instr.outputs()->Get(k)];
}

namespace {
absl::Status ExpectCols(const Tensor& t, int64_t cols, const char* what) {
  if (t.cols() != cols) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " is ", t.ShapeString(), ", expected ", cols, " columns"));
  }
  return absl::OkStatus();
}
int64_t Cols(const cpu::WeightView& w) {
  return w.shape.empty() ? 0 : w.shape.back();
}
int64_t Rows(const cpu::WeightView& w) {
  return w.shape.size() == 2 ? w.shape[0] : 0;
}
}  // namespace

absl::Status Rank::Execute(int pc, const plan::Instr& instr) {
  switch (instr.params_type()) {
    case OpParams::EmbedParams: {
      JANUS_ASSIGN_OR_RETURN(const Tensor* ids, Input(instr, 0, DType::kI32));
      JANUS_ASSIGN_OR_RETURN(const cpu::WeightView* table,
                             Weight(instr.params_as_EmbedParams()->table()));
      JANUS_RETURN_IF_ERROR(ExpectCols(*ids, 1, "token ids"));
      Tensor y = Tensor::F32(ids->rows(), Cols(*table));
      JANUS_RETURN_IF_ERROR(
          cpu::Embedding(*table, ids->i32(), ids->rows(), y.f32()));
      *Output(instr, 0) = std::move(y);
      return absl::OkStatus();
    }
    case OpParams::RmsNormParams: {
      const auto* p = instr.params_as_RmsNormParams();
      JANUS_ASSIGN_OR_RETURN(const Tensor* x, Input(instr, 0, DType::kF32));
      JANUS_ASSIGN_OR_RETURN(const cpu::WeightView* w, Weight(p->weight()));
      JANUS_RETURN_IF_ERROR(ExpectCols(*x, w->numel(), "rms_norm input"));
      Tensor y = Tensor::F32(x->rows(), x->cols());
      JANUS_RETURN_IF_ERROR(
          cpu::RmsNorm(x->f32(), x->rows(), x->cols(), *w, p->eps(), y.f32()));
      *Output(instr, 0) = std::move(y);
      return absl::OkStatus();
    }
    case OpParams::AddParams: {
      JANUS_ASSIGN_OR_RETURN(const Tensor* a, Input(instr, 0, DType::kF32));
      JANUS_ASSIGN_OR_RETURN(const Tensor* b, Input(instr, 1, DType::kF32));
      if (a->rows() != b->rows() || a->cols() != b->cols()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "add of ", a->ShapeString(), " and ", b->ShapeString()));
      }
      Tensor y = Tensor::F32(a->rows(), a->cols());
      cpu::Add(a->f32(), b->f32(), a->size(), y.f32());
      *Output(instr, 0) = std::move(y);
      return absl::OkStatus();
    }
    case OpParams::AttentionParams: {
      const auto* p = instr.params_as_AttentionParams();
      JANUS_ASSIGN_OR_RETURN(const Tensor* x, Input(instr, 0, DType::kF32));
      cpu::AttentionWeights w;
      JANUS_ASSIGN_OR_RETURN(const cpu::WeightView* q, Weight(p->q()));
      JANUS_ASSIGN_OR_RETURN(const cpu::WeightView* k, Weight(p->k()));
      JANUS_ASSIGN_OR_RETURN(const cpu::WeightView* v, Weight(p->v()));
      JANUS_ASSIGN_OR_RETURN(const cpu::WeightView* o, Weight(p->o_proj()));
      w.q = *q;
      w.k = *k;
      w.v = *v;
      w.o = *o;
      w.q_bias = Optional(p->q_bias());
      w.k_bias = Optional(p->k_bias());
      w.v_bias = Optional(p->v_bias());
      w.q_norm = Optional(p->q_norm());
      w.k_norm = Optional(p->k_norm());
      cpu::AttentionConfig c;
      c.num_heads = p->num_heads();
      c.num_kv_heads = p->num_kv_heads();
      c.head_dim = p->head_dim();
      c.qk_norm = static_cast<cpu::QkNorm>(p->qk_norm());
      c.qk_norm_eps = p->qk_norm_eps();
      c.rope = ropes_.at(pc).get();
      JANUS_RETURN_IF_ERROR(ExpectCols(*x, Cols(*q), "attention input"));
      if (x->rows() != layout_.rows())
        return absl::InternalError(
            "attention input rows differ from the step's rows");
      Tensor y = Tensor::F32(x->rows(), Rows(*o));
      JANUS_RETURN_IF_ERROR(cpu::Attention(w, c, x->f32(), layout_, *cache_,
                                           p->layer(), y.f32()));
      *Output(instr, 0) = std::move(y);
      return absl::OkStatus();
    }
    case OpParams::MlaParams: {
      const auto* p = instr.params_as_MlaParams();
      JANUS_ASSIGN_OR_RETURN(const Tensor* x, Input(instr, 0, DType::kF32));
      cpu::MlaWeights w;
      w.q_proj = Optional(p->q_proj());
      w.q_a = Optional(p->q_a());
      w.q_a_norm = Optional(p->q_a_norm());
      w.q_b = Optional(p->q_b());
      JANUS_ASSIGN_OR_RETURN(const cpu::WeightView* kv_a, Weight(p->kv_a()));
      JANUS_ASSIGN_OR_RETURN(const cpu::WeightView* kv_a_norm,
                             Weight(p->kv_a_norm()));
      JANUS_ASSIGN_OR_RETURN(const cpu::WeightView* kv_b, Weight(p->kv_b()));
      JANUS_ASSIGN_OR_RETURN(const cpu::WeightView* o, Weight(p->o_proj()));
      w.kv_a = *kv_a;
      w.kv_a_norm = *kv_a_norm;
      w.kv_b = *kv_b;
      w.o = *o;
      cpu::MlaConfig c;
      c.num_heads = p->num_heads();
      c.q_lora_rank = p->q_lora_rank();
      c.kv_lora_rank = p->kv_lora_rank();
      c.qk_nope_head_dim = p->qk_nope_head_dim();
      c.qk_rope_head_dim = p->qk_rope_head_dim();
      c.v_head_dim = p->v_head_dim();
      c.norm_eps = p->norm_eps();
      c.softmax_scale = p->softmax_scale();
      c.rope = ropes_.at(pc).get();
      JANUS_RETURN_IF_ERROR(ExpectCols(*x, Cols(*kv_a), "mla input"));
      if (x->rows() != layout_.rows())
        return absl::InternalError(
            "mla input rows differ from the step's rows");
      Tensor y = Tensor::F32(x->rows(), Rows(*o));
      JANUS_RETURN_IF_ERROR(cpu::MlaAttention(w, c, x->f32(), layout_, *cache_,
                                              p->layer(), y.f32()));
      *Output(instr, 0) = std::move(y);
      return absl::OkStatus();
    }
    case OpParams::MlpParams: {
      const auto* p = instr.params_as_MlpParams();
      JANUS_ASSIGN_OR_RETURN(const Tensor* x, Input(instr, 0, DType::kF32));
      JANUS_ASSIGN_OR_RETURN(const cpu::WeightView* gate, Weight(p->gate()));
      JANUS_ASSIGN_OR_RETURN(const cpu::WeightView* up, Weight(p->up()));
      JANUS_ASSIGN_OR_RETURN(const cpu::WeightView* down, Weight(p->down()));
      JANUS_RETURN_IF_ERROR(ExpectCols(*x, Cols(*gate), "mlp input"));
      Tensor y = Tensor::F32(x->rows(), Rows(*down));
      JANUS_RETURN_IF_ERROR(cpu::Mlp(x->f32(), x->rows(), *gate, *up, *down,
                                     Optional(p->sigmoid_gate()), y.f32()));
      *Output(instr, 0) = std::move(y);
      return absl::OkStatus();
    }
    case OpParams::RouterParams: {
      const auto* p = instr.params_as_RouterParams();
      JANUS_ASSIGN_OR_RETURN(const Tensor* x, Input(instr, 0, DType::kF32));
      JANUS_ASSIGN_OR_RETURN(const cpu::WeightView* gate, Weight(p->gate()));
      JANUS_RETURN_IF_ERROR(ExpectCols(*x, Cols(*gate), "router input"));
      cpu::RouterConfig c;
      c.num_experts = p->num_experts();
      c.top_k = p->top_k();
      c.scoring = static_cast<cpu::RouterScoring>(p->scoring());
      c.norm_topk_prob = p->norm_topk_prob();
      c.routed_scaling_factor = p->routed_scaling_factor();
      c.n_group = p->n_group();
      c.topk_group = p->topk_group();
      c.group_scoring = static_cast<cpu::GroupScoring>(p->group_scoring());
      JANUS_RETURN_IF_ERROR(cpu::ValidateRouter(c));
      Tensor weights = Tensor::F32(x->rows(), c.top_k);
      Tensor ids = Tensor::I32(x->rows(), c.top_k);
      JANUS_RETURN_IF_ERROR(cpu::Route(c, *gate, Optional(p->correction_bias()),
                                       x->f32(), x->rows(), weights.f32(),
                                       ids.i32()));
      *Output(instr, 0) = std::move(weights);
      *Output(instr, 1) = std::move(ids);
      return absl::OkStatus();
    }
    case OpParams::ScheduleParams: {
      const auto* p = instr.params_as_ScheduleParams();
      JANUS_ASSIGN_OR_RETURN(const Tensor* ids, Input(instr, 0, DType::kI32));
      if (plan_->placements() == nullptr || p->placement() < 0 ||
          p->placement() >= static_cast<int>(plan_->placements()->size())) {
        return absl::InvalidArgumentError(
            absl::StrCat("placement ", p->placement(), " does not exist"));
      }
      const plan::Placement& placement =
          *plan_->placements()->Get(p->placement());
      cpu::PlacementView view;
      view.num_experts = placement.num_experts();
      view.num_ranks = topology_->num_moe;
      view.replica_offsets = placement.replica_offsets()->data();
      view.replica_rank = placement.replica_rank()->data();
      if (placement.replica_offsets()->size() !=
          static_cast<uint32_t>(view.num_experts) + 1) {
        return absl::InvalidArgumentError(
            "placement replica_offsets does not have num_experts + 1 entries");
      }
      Tensor assignment = Tensor::I32(ids->rows(), ids->cols());
      cpu::ScheduleStats stats;
      const bool first_replica = plan_->scheduler() != nullptr &&
                                 plan_->scheduler()->algorithm() ==
                                     plan::SchedulerAlgorithm::FirstReplica;
      JANUS_RETURN_IF_ERROR((first_replica ? cpu::ScheduleFirstReplica
                                           : cpu::ScheduleActivationBalanced)(
          view, ids->i32(), ids->rows(), ids->cols(), assignment.i32(),
          &stats));
      if (index_ == 0 && options_.collect_stats) {
        step_stats_.push_back({p->layer(), static_cast<int>(ids->rows()),
                               stats.a_max, stats.experts_per_rank,
                               stats.rows_per_rank, stats.pairs_per_rank});
      }
      if (index_ == 0 && options_.record_activations)
        step_ids_by_layer_.emplace_back(p->layer(), *ids);
      *Output(instr, 0) = std::move(assignment);
      return absl::OkStatus();
    }
    case OpParams::ExpertsParams: {
      const auto* p = instr.params_as_ExpertsParams();
      JANUS_ASSIGN_OR_RETURN(const Tensor* x, Input(instr, 0, DType::kF32));
      JANUS_ASSIGN_OR_RETURN(const Tensor* weights,
                             Input(instr, 1, DType::kF32));
      JANUS_ASSIGN_OR_RETURN(const Tensor* ids, Input(instr, 2, DType::kI32));
      const Tensor* assignment = nullptr;
      if (instr.inputs()->size() == 4) {
        JANUS_ASSIGN_OR_RETURN(assignment, Input(instr, 3, DType::kI32));
      }
      const int64_t top_k = ids->cols();
      for (const Tensor* t : {weights, ids, assignment}) {
        if (t != nullptr && (t->rows() != x->rows() || t->cols() != top_k)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "experts operand ", t->ShapeString(), " does not match ",
              x->rows(), " rows of top ", top_k));
        }
      }
      const int layer = p->layer();
      auto get_expert = [&](int e) -> absl::StatusOr<cpu::ExpertWeights> {
        if (e < 0 || e >= static_cast<int>(p->gate()->size()) ||
            e >= static_cast<int>(p->up()->size()) ||
            e >= static_cast<int>(p->down()->size())) {
          return absl::InvalidArgumentError(
              absl::StrCat("expert ", e, " has no weights in the plan"));
        }
        const cpu::WeightView* g = Optional(p->gate()->Get(e));
        const cpu::WeightView* u = Optional(p->up()->Get(e));
        const cpu::WeightView* d = Optional(p->down()->Get(e));
        if (g == nullptr || u == nullptr || d == nullptr) {
          return absl::FailedPreconditionError(absl::StrCat(
              "expert ", e, " of layer ", layer, " was scheduled on MoE rank ",
              index_, ", which holds no replica of it"));
        }
        return cpu::ExpertWeights{*g, *u, *d};
      };
      Tensor partial = Tensor::F32(x->rows(), x->cols());
      JANUS_RETURN_IF_ERROR(cpu::Experts(
          x->f32(), x->rows(), x->cols(), weights->f32(), ids->i32(), top_k,
          assignment ? assignment->i32() : nullptr, index_, get_expert,
          partial.f32()));
      *Output(instr, 0) = std::move(partial);
      return absl::OkStatus();
    }
    case OpParams::DispatchParams: {
      const auto* p = instr.params_as_DispatchParams();
      const CollectiveOp op{p->layer(), p->strategy(), p->phase(),
                            p->num_phases()};
      if (role_ == plan::Role::Attention) {
        std::vector<Tensor> inputs;
        for (uint32_t k = 0; k < instr.inputs()->size(); ++k) {
          const Tensor& t = registers_[instr.inputs()->Get(k)];
          if (!t.defined())
            return absl::InternalError("dispatch of an unset register");
          inputs.push_back(t);
        }
        return comm_->DispatchSend(op, inputs);
      }
      std::vector<Tensor> outputs;
      JANUS_ASSIGN_OR_RETURN(bool delivered,
                             comm_->DispatchReceive(op, &outputs));
      if (!delivered) return absl::OkStatus();
      if (outputs.size() != instr.outputs()->size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("dispatch delivered ", outputs.size(), " tensors for ",
                         instr.outputs()->size(), " outputs"));
      }
      for (size_t k = 0; k < outputs.size(); ++k)
        *Output(instr, k) = std::move(outputs[k]);
      return absl::OkStatus();
    }
    case OpParams::CombineParams: {
      const auto* p = instr.params_as_CombineParams();
      const CollectiveOp op{p->layer(), p->strategy(), p->phase(),
                            p->num_phases()};
      if (role_ == plan::Role::Moe) {
        JANUS_ASSIGN_OR_RETURN(const Tensor* partial,
                               Input(instr, 0, DType::kF32));
        return comm_->CombineSend(op, *partial);
      }
      Tensor y;
      JANUS_ASSIGN_OR_RETURN(bool delivered, comm_->CombineReceive(op, &y));
      if (delivered) *Output(instr, 0) = std::move(y);
      return absl::OkStatus();
    }
    case OpParams::LmHeadParams: {
      JANUS_ASSIGN_OR_RETURN(const Tensor* x, Input(instr, 0, DType::kF32));
      JANUS_ASSIGN_OR_RETURN(const cpu::WeightView* w,
                             Weight(instr.params_as_LmHeadParams()->weight()));
      JANUS_RETURN_IF_ERROR(ExpectCols(*x, Cols(*w), "lm_head input"));
      // Only the rows whose logits the host asked for (the last prompt row,
      // decode rows, ...).
      Tensor selected = Tensor::ZerosLike(*x, 0);
      if (x->rows() == layout_.rows()) {
        for (int r : logit_rows_)
          JANUS_RETURN_IF_ERROR(selected.AppendRows(x->SliceRows(r, 1)));
      } else {
        selected = *x;
      }
      Tensor logits = Tensor::F32(selected.rows(), Rows(*w));
      JANUS_RETURN_IF_ERROR(
          cpu::LmHead(selected.f32(), selected.rows(), *w, logits.f32()));
      *Output(instr, 0) = std::move(logits);
      return absl::OkStatus();
    }
    default:
      return absl::UnimplementedError(
          "instruction not supported by the cpu backend");
  }
}

}  // namespace janus::exec
