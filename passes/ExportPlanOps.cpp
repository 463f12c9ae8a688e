//===- ExportPlanOps.cpp - One plan instruction per janus op --------------===//
//
// The per-op half of exportPlan: each compute op becomes one Instr of its
// side's program with the params ARCHITECTURE.md "Plan programs" defines; each
// comm op becomes one Instr per phase in both programs.
//
//===----------------------------------------------------------------------===//

#include "passes/PlanExporter.h"

using namespace mlir;
using namespace mlir::janus;

namespace mlir::janus::exporter {

namespace {
const char *sideName(Side side) {
  return side == kAttention ? "attention" : "MoE";
}
} // namespace

LogicalResult PlanExporter::exportComm(Operation *op, bool dispatch) {
  // Dispatch sends from the attention side; combine sends from the MoE side.
  Side from = dispatch ? kAttention : kMoe, to = dispatch ? kMoe : kAttention;
  int64_t layer, phase, numPhases;
  CommStrategy strategy;
  double predictedUs;
  if (auto d = dyn_cast<CommDispatchOp>(op)) {
    layer = d.getLayer(), phase = d.getPhase(), numPhases = d.getNumPhases();
    strategy = d.getStrategy(),
    predictedUs = d.getPredictedUsAttr().getValueAsDouble();
  } else {
    auto c = cast<CommCombineOp>(op);
    layer = c.getLayer(), phase = c.getPhase(), numPhases = c.getNumPhases();
    strategy = c.getStrategy(),
    predictedUs = c.getPredictedUsAttr().getValueAsDouble();
  }
  SmallVector<int> sent, received;
  for (auto [operand, result] :
       llvm::zip(op->getOperands(), op->getResults())) {
    FailureOr<int> reg = input(op, from, operand);
    if (failed(reg))
      return failure();
    sent.push_back(*reg);
    programs[from].alias(result, *reg);
    // A later phase delivers into the registers the first phase named.
    std::optional<int> prior = programs[to].lookup(operand);
    int target = prior ? *prior : programs[to].define(result);
    programs[to].alias(result, target);
    received.push_back(target);
  }
  auto params = [&]() {
    jp::OpParamsUnion u;
    if (dispatch) {
      jp::DispatchParamsT p;
      p.layer = static_cast<int32_t>(layer);
      p.strategy = planStrategy(strategy);
      p.phase = static_cast<int32_t>(phase);
      p.num_phases = static_cast<int32_t>(numPhases);
      p.predicted_us = static_cast<float>(predictedUs);
      u.Set(std::move(p));
    } else {
      jp::CombineParamsT p;
      p.layer = static_cast<int32_t>(layer);
      p.strategy = planStrategy(strategy);
      p.phase = static_cast<int32_t>(phase);
      p.num_phases = static_cast<int32_t>(numPhases);
      p.predicted_us = static_cast<float>(predictedUs);
      u.Set(std::move(p));
    }
    return u;
  };
  emit(from, sent, {}, params());
  emit(to, {}, received, params());
  return success();
}

LogicalResult PlanExporter::exportOp(Operation *op, Side side,
                                     std::optional<int64_t> layer) {
  if (auto ref = dyn_cast<WeightRefOp>(op)) {
    FailureOr<SmallVector<int>> indices = weightsOf(ref);
    if (failed(indices))
      return failure();
    weightValues[ref.getResult()] = *indices;
    return success();
  }
  auto onlyOn = [&](Side expected) -> LogicalResult {
    if (side == expected)
      return success();
    return op->emitOpError() << "runs on the " << sideName(side)
                             << " sub-cluster, but the plan runs it on the "
                             << sideName(expected) << " side only";
  };
  // Inputs: the activation operands (weights are resolved separately).
  auto activations = [&](ValueRange values) -> FailureOr<SmallVector<int>> {
    SmallVector<int> regs;
    for (Value v : values) {
      FailureOr<int> reg = input(op, side, v);
      if (failed(reg))
        return failure();
      regs.push_back(*reg);
    }
    return regs;
  };
  auto outputs = [&]() {
    SmallVector<int> regs;
    for (Value result : op->getResults())
      regs.push_back(programs[side].define(result));
    return regs;
  };
  // Resolves a weight operand into `field`, or fails from the enclosing
  // function.
#define JANUS_WEIGHT(field, value, name)                                       \
  do {                                                                         \
    FailureOr<int> w = optionalWeight(op, value, name);                        \
    if (failed(w))                                                             \
      return failure();                                                        \
    field = *w;                                                                \
  } while (0)

  jp::OpParamsUnion params;
  SmallVector<Value> ins;
  if (auto embed = dyn_cast<EmbeddingOp>(op)) {
    if (failed(onlyOn(kAttention)))
      return failure();
    jp::EmbedParamsT p;
    JANUS_WEIGHT(p.table, embed.getTable(), "table");
    params.Set(std::move(p));
    ins = {embed.getIds()};
  } else if (auto norm = dyn_cast<RmsNormOp>(op)) {
    jp::RmsNormParamsT p;
    JANUS_WEIGHT(p.weight, norm.getWeight(), "weight");
    p.eps = attrFloat(norm.getEpsAttr());
    params.Set(std::move(p));
    ins = {norm.getX()};
  } else if (auto add = dyn_cast<AddOp>(op)) {
    params.Set(jp::AddParamsT{});
    ins = {add.getLhs(), add.getRhs()};
  } else if (auto attn = dyn_cast<AttentionOp>(op)) {
    if (failed(onlyOn(kAttention)))
      return failure();
    jp::AttentionParamsT p;
    p.layer = static_cast<int32_t>(attn.getLayer());
    p.num_heads = static_cast<int32_t>(attn.getNumHeads());
    p.num_kv_heads = static_cast<int32_t>(attn.getNumKvHeads());
    p.head_dim = static_cast<int32_t>(attn.getHeadDim());
    JANUS_WEIGHT(p.q, attn.getQ(), "q");
    JANUS_WEIGHT(p.k, attn.getK(), "k");
    JANUS_WEIGHT(p.v, attn.getV(), "v");
    JANUS_WEIGHT(p.o_proj, attn.getO(), "o");
    JANUS_WEIGHT(p.q_bias, attn.getQBias(), "q_bias");
    JANUS_WEIGHT(p.k_bias, attn.getKBias(), "k_bias");
    JANUS_WEIGHT(p.v_bias, attn.getVBias(), "v_bias");
    JANUS_WEIGHT(p.q_norm, attn.getQNorm(), "q_norm");
    JANUS_WEIGHT(p.k_norm, attn.getKNorm(), "k_norm");
    switch (attn.getQkNorm()) {
    case QkNorm::none:
      p.qk_norm = jp::QkNorm::None;
      break;
    case QkNorm::head:
      p.qk_norm = jp::QkNorm::PerHead;
      break;
    case QkNorm::full:
      p.qk_norm = jp::QkNorm::Full;
      break;
    }
    p.qk_norm_eps = attrFloat(attn.getQkNormEpsAttr());
    p.rope = convertRope(attn.getRope());
    params.Set(std::move(p));
    ins = {attn.getX()};
  } else if (auto mla = dyn_cast<MlaAttentionOp>(op)) {
    if (failed(onlyOn(kAttention)))
      return failure();
    jp::MlaParamsT p;
    p.layer = static_cast<int32_t>(mla.getLayer());
    p.num_heads = static_cast<int32_t>(mla.getNumHeads());
    p.q_lora_rank = static_cast<int32_t>(mla.getQLoraRank());
    p.kv_lora_rank = static_cast<int32_t>(mla.getKvLoraRank());
    p.qk_nope_head_dim = static_cast<int32_t>(mla.getQkNopeHeadDim());
    p.qk_rope_head_dim = static_cast<int32_t>(mla.getQkRopeHeadDim());
    p.v_head_dim = static_cast<int32_t>(mla.getVHeadDim());
    JANUS_WEIGHT(p.q_proj, mla.getQProj(), "q_proj");
    JANUS_WEIGHT(p.q_a, mla.getQA(), "q_a");
    JANUS_WEIGHT(p.q_a_norm, mla.getQANorm(), "q_a_norm");
    JANUS_WEIGHT(p.q_b, mla.getQB(), "q_b");
    JANUS_WEIGHT(p.kv_a, mla.getKvA(), "kv_a");
    JANUS_WEIGHT(p.kv_a_norm, mla.getKvANorm(), "kv_a_norm");
    JANUS_WEIGHT(p.kv_b, mla.getKvB(), "kv_b");
    JANUS_WEIGHT(p.o_proj, mla.getO(), "o");
    p.norm_eps = attrFloat(mla.getNormEpsAttr());
    p.softmax_scale = attrFloat(mla.getSoftmaxScaleAttr());
    p.rope = convertRope(mla.getRope());
    params.Set(std::move(p));
    ins = {mla.getX()};
  } else if (auto mlp = dyn_cast<MlpOp>(op)) {
    if (failed(onlyOn(kAttention)))
      return failure();
    jp::MlpParamsT p;
    JANUS_WEIGHT(p.gate, mlp.getGate(), "gate");
    JANUS_WEIGHT(p.up, mlp.getUp(), "up");
    JANUS_WEIGHT(p.down, mlp.getDown(), "down");
    params.Set(std::move(p));
    ins = {mlp.getX()};
  } else if (auto shared = dyn_cast<SharedExpertOp>(op)) {
    if (failed(onlyOn(kAttention)))
      return failure();
    jp::MlpParamsT p;
    JANUS_WEIGHT(p.gate, shared.getGate(), "gate");
    JANUS_WEIGHT(p.up, shared.getUp(), "up");
    JANUS_WEIGHT(p.down, shared.getDown(), "down");
    JANUS_WEIGHT(p.sigmoid_gate, shared.getSigmoidGate(), "sigmoid_gate");
    params.Set(std::move(p));
    ins = {shared.getX()};
  } else if (auto router = dyn_cast<RouterOp>(op)) {
    if (!layer)
      return op->emitOpError(
          "is in a partition without a layer; the plan's router needs one");
    jp::Gating here =
        side == kAttention ? jp::Gating::Attention : jp::Gating::Moe;
    if (gating && *gating != here)
      return op->emitOpError(
          "runs on a different sub-cluster than an earlier router; the plan "
          "has one gating side for the whole model");
    gating = here;
    jp::RouterParamsT p;
    p.layer = static_cast<int32_t>(*layer);
    p.num_experts = static_cast<int32_t>(router.getNumExperts());
    p.top_k = static_cast<int32_t>(router.getTopK());
    p.scoring = router.getScoring() == RouterScoring::sigmoid
                    ? jp::RouterScoring::Sigmoid
                    : jp::RouterScoring::Softmax;
    p.norm_topk_prob = router.getNormTopkProb();
    p.routed_scaling_factor = attrFloat(router.getRoutedScalingFactorAttr());
    p.n_group = static_cast<int32_t>(router.getNGroup());
    p.topk_group = static_cast<int32_t>(router.getTopkGroup());
    p.group_scoring = router.getGroupScoring() == GroupScoring::max
                          ? jp::GroupScoring::Max
                          : jp::GroupScoring::Top2Sum;
    JANUS_WEIGHT(p.gate, router.getGateW(), "gate");
    JANUS_WEIGHT(p.correction_bias, router.getBias(), "bias");
    if (plan.model->num_experts == 0) {
      plan.model->num_experts = p.num_experts;
      plan.model->top_k = p.top_k;
    }
    params.Set(std::move(p));
    ins = {router.getX()};
  } else if (auto schedule = dyn_cast<ScheduleOp>(op)) {
    if (failed(onlyOn(kMoe)))
      return failure();
    jp::ScheduleParamsT p;
    p.placement = placementIndex(schedule.getPlacementAttr());
    if (p.placement < 0)
      return op->emitOpError("names a placement the module does not define");
    p.layer = plan.placements[p.placement]->layer;
    params.Set(std::move(p));
    ins = {schedule.getIds()};
  } else if (auto experts = dyn_cast<ExpertsOp>(op)) {
    if (failed(onlyOn(kMoe)))
      return failure();
    if (!experts.getAssignment() || !experts.getPlacementAttr())
      return op->emitOpError(
          "is not scheduled: plan export needs janus-insert-scheduler to "
          "have run");
    jp::ExpertsParamsT p;
    p.layer = static_cast<int32_t>(experts.getLayer());
    p.placement = placementIndex(experts.getPlacementAttr());
    if (p.placement < 0)
      return op->emitOpError("names a placement the module does not define");
    for (auto [list, value, name] :
         {std::tuple{&p.gate, experts.getGate(), "gate"},
          std::tuple{&p.up, experts.getUp(), "up"},
          std::tuple{&p.down, experts.getDown(), "down"}}) {
      auto it = weightValues.find(value);
      if (it == weightValues.end())
        return op->emitOpError()
               << "operand '" << name << "' is not a janus.weight_ref";
      if (static_cast<int64_t>(it->second.size()) !=
          static_cast<int64_t>(experts.getNumExperts()))
        return op->emitOpError()
               << "operand '" << name << "' stacks " << it->second.size()
               << " checkpoint tensors for " << experts.getNumExperts()
               << " experts";
      list->assign(it->second.begin(), it->second.end());
    }
    params.Set(std::move(p));
    ins = {experts.getX(), experts.getWeights(), experts.getIds(),
           experts.getAssignment()};
  } else if (auto head = dyn_cast<LmHeadOp>(op)) {
    if (failed(onlyOn(kAttention)))
      return failure();
    jp::LmHeadParamsT p;
    JANUS_WEIGHT(p.weight, head.getWeight(), "weight");
    params.Set(std::move(p));
    ins = {head.getX()};
  } else {
    return op->emitOpError("has no plan instruction");
  }
#undef JANUS_WEIGHT
  FailureOr<SmallVector<int>> inRegs = activations(ins);
  if (failed(inRegs))
    return failure();
  emit(side, *inRegs, outputs(), std::move(params));
  return success();
}

} // namespace mlir::janus::exporter
