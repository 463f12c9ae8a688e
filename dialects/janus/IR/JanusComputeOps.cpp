//===- JanusComputeOps.cpp - verifiers of the janus compute ops -----------===//
//
// Every shape a compute op reads from its weights is checked against the op's attributes and
// the activation width (`hidden`), so an importer bug or a config/checkpoint mismatch fails
// here with the offending operand named, not as a wrong answer at run time.
//
//===----------------------------------------------------------------------===//

#include "dialects/janus/IR/JanusOps.h"
#include "dialects/janus/IR/JanusVerify.h"

using namespace mlir;
using namespace mlir::janus;
using namespace mlir::janus::detail;

//===----------------------------------------------------------------------===//
// WeightRefOp
//===----------------------------------------------------------------------===//

LogicalResult
WeightRefOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  auto weight =
      symbolTable.lookupNearestSymbolFrom<WeightOp>(*this, getWeightAttr());
  if (!weight)
    return emitOpError() << getWeightAttr() << " does not name a janus.weight";
  if (weight.getType() != getType())
    return emitOpError() << "result type " << getType()
                         << " differs from the type of " << getWeightAttr()
                         << ", " << weight.getType();
  return success();
}

//===----------------------------------------------------------------------===//
// EmbeddingOp, RmsNormOp, LmHeadOp
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::verify() {
  int64_t hidden = getTable().getType().getDimSize(1);
  if (width(getResult()) != hidden)
    return emitOpError() << "result width " << width(getResult())
                         << " differs from the table's hidden size " << hidden;
  int64_t numIds = getIds().getType().getDimSize(0);
  if (!tokensAgree(numIds, rows(getResult())))
    return emitOpError() << "has " << numIds << " ids but "
                         << rows(getResult()) << " result rows";
  return success();
}

LogicalResult RmsNormOp::verify() {
  if (failed(expectShape(*this, "weight", getWeight(), {width(getX())},
                         "[width of x]")))
    return failure();
  if (!isPositive(getEps()))
    return emitOpError("expects eps > 0");
  return success();
}

LogicalResult LmHeadOp::verify() {
  int64_t vocab = getWeight().getType().getDimSize(0);
  if (failed(expectShape(*this, "weight", getWeight(), {vocab, width(getX())},
                         "[vocab, hidden]")))
    return failure();
  if (width(getResult()) != vocab)
    return emitOpError() << "result width " << width(getResult())
                         << " differs from the vocabulary size " << vocab;
  if (!tokensAgree(rows(getX()), rows(getResult())))
    return emitOpError() << "has " << rows(getX()) << " input rows but "
                         << rows(getResult()) << " result rows";
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

LogicalResult AttentionOp::verify() {
  int64_t numHeads = getNumHeadsAttr().getInt();
  int64_t numKvHeads = getNumKvHeadsAttr().getInt();
  int64_t headDim = getHeadDimAttr().getInt();
  if (failed(expectAtLeast(*this, "layer", getLayerAttr().getInt(), 0)) ||
      failed(expectAtLeast(*this, "num_heads", numHeads, 1)) ||
      failed(expectAtLeast(*this, "num_kv_heads", numKvHeads, 1)) ||
      failed(expectAtLeast(*this, "head_dim", headDim, 1)))
    return failure();
  if (numHeads % numKvHeads != 0)
    return emitOpError() << "expects num_kv_heads (" << numKvHeads
                         << ") to divide num_heads (" << numHeads << ")";

  int64_t hidden = width(getX());
  int64_t qWidth = numHeads * headDim, kvWidth = numKvHeads * headDim;
  if (failed(expectShape(*this, "q", getQ(), {qWidth, hidden},
                         "[num_heads * head_dim, hidden]")) ||
      failed(expectShape(*this, "k", getK(), {kvWidth, hidden},
                         "[num_kv_heads * head_dim, hidden]")) ||
      failed(expectShape(*this, "v", getV(), {kvWidth, hidden},
                         "[num_kv_heads * head_dim, hidden]")) ||
      failed(expectShape(*this, "o", getO(), {hidden, qWidth},
                         "[hidden, num_heads * head_dim]")))
    return failure();
  if (getQBias() && failed(expectShape(*this, "q_bias", getQBias(), {qWidth},
                                       "[num_heads * head_dim]")))
    return failure();
  if (getKBias() && failed(expectShape(*this, "k_bias", getKBias(), {kvWidth},
                                       "[num_kv_heads * head_dim]")))
    return failure();
  if (getVBias() && failed(expectShape(*this, "v_bias", getVBias(), {kvWidth},
                                       "[num_kv_heads * head_dim]")))
    return failure();

  switch (getQkNorm()) {
  case QkNorm::none:
    if (getQNorm() || getKNorm())
      return emitOpError("has q_norm/k_norm weights but qk_norm = none");
    break;
  case QkNorm::head:
  case QkNorm::full: {
    bool perHead = getQkNorm() == QkNorm::head;
    if (!getQNorm() || !getKNorm())
      return emitOpError() << "expects q_norm and k_norm weights with qk_norm = "
                           << stringifyQkNorm(getQkNorm());
    if (failed(expectShape(*this, "q_norm", getQNorm(),
                           {perHead ? headDim : qWidth},
                           perHead ? "[head_dim]" : "[num_heads * head_dim]")) ||
        failed(expectShape(*this, "k_norm", getKNorm(),
                           {perHead ? headDim : kvWidth},
                           perHead ? "[head_dim]"
                                   : "[num_kv_heads * head_dim]")))
      return failure();
    if (!isPositive(getQkNormEps()))
      return emitOpError("expects qk_norm_eps > 0");
    break;
  }
  }

  if (getRope().getRotaryDim() > headDim)
    return emitOpError() << "expects rope rotary_dim ("
                         << getRope().getRotaryDim() << ") <= head_dim ("
                         << headDim << ")";
  return success();
}

//===----------------------------------------------------------------------===//
// MlaAttentionOp
//===----------------------------------------------------------------------===//

LogicalResult MlaAttentionOp::verify() {
  int64_t numHeads = getNumHeadsAttr().getInt();
  int64_t qLoraRank = getQLoraRankAttr().getInt();
  int64_t kvLoraRank = getKvLoraRankAttr().getInt();
  int64_t nope = getQkNopeHeadDimAttr().getInt();
  int64_t ropeDim = getQkRopeHeadDimAttr().getInt();
  int64_t vDim = getVHeadDimAttr().getInt();
  if (failed(expectAtLeast(*this, "layer", getLayerAttr().getInt(), 0)) ||
      failed(expectAtLeast(*this, "num_heads", numHeads, 1)) ||
      failed(expectAtLeast(*this, "q_lora_rank", qLoraRank, 0)) ||
      failed(expectAtLeast(*this, "kv_lora_rank", kvLoraRank, 1)) ||
      failed(expectAtLeast(*this, "qk_nope_head_dim", nope, 1)) ||
      failed(expectAtLeast(*this, "qk_rope_head_dim", ropeDim, 1)) ||
      failed(expectAtLeast(*this, "v_head_dim", vDim, 1)))
    return failure();

  int64_t hidden = width(getX());
  int64_t qWidth = numHeads * (nope + ropeDim);
  if (qLoraRank == 0) {
    if (!getQProj() || getQA() || getQANorm() || getQB())
      return emitOpError("expects q_proj and no q_a/q_a_norm/q_b with "
                         "q_lora_rank = 0");
    if (failed(expectShape(*this, "q_proj", getQProj(), {qWidth, hidden},
                           "[num_heads * (qk_nope_head_dim + "
                           "qk_rope_head_dim), hidden]")))
      return failure();
  } else {
    if (getQProj() || !getQA() || !getQANorm() || !getQB())
      return emitOpError("expects q_a, q_a_norm, q_b and no q_proj with "
                         "q_lora_rank > 0");
    if (failed(expectShape(*this, "q_a", getQA(), {qLoraRank, hidden},
                           "[q_lora_rank, hidden]")) ||
        failed(expectShape(*this, "q_a_norm", getQANorm(), {qLoraRank},
                           "[q_lora_rank]")) ||
        failed(expectShape(*this, "q_b", getQB(), {qWidth, qLoraRank},
                           "[num_heads * (qk_nope_head_dim + "
                           "qk_rope_head_dim), q_lora_rank]")))
      return failure();
  }
  if (failed(expectShape(*this, "kv_a", getKvA(), {kvLoraRank + ropeDim, hidden},
                         "[kv_lora_rank + qk_rope_head_dim, hidden]")) ||
      failed(expectShape(*this, "kv_a_norm", getKvANorm(), {kvLoraRank},
                         "[kv_lora_rank]")) ||
      failed(expectShape(*this, "kv_b", getKvB(),
                         {numHeads * (nope + vDim), kvLoraRank},
                         "[num_heads * (qk_nope_head_dim + v_head_dim), "
                         "kv_lora_rank]")) ||
      failed(expectShape(*this, "o", getO(), {hidden, numHeads * vDim},
                         "[hidden, num_heads * v_head_dim]")))
    return failure();

  if (!isPositive(getNormEps()))
    return emitOpError("expects norm_eps > 0");
  if (!isPositive(getSoftmaxScale()))
    return emitOpError("expects softmax_scale > 0");
  if (getRope().getRotaryDim() != ropeDim)
    return emitOpError() << "expects rope rotary_dim ("
                         << getRope().getRotaryDim()
                         << ") = qk_rope_head_dim (" << ropeDim << ")";
  return success();
}

//===----------------------------------------------------------------------===//
// MlpOp, SharedExpertOp
//===----------------------------------------------------------------------===//

static LogicalResult verifyGatedMlp(Operation *op, Value x, Value gate, Value up,
                                    Value down) {
  int64_t hidden = width(x);
  int64_t inter = cast<RankedTensorType>(gate.getType()).getDimSize(0);
  if (failed(expectShape(op, "gate", gate, {inter, hidden},
                         "[intermediate, hidden]")) ||
      failed(expectShape(op, "up", up, {inter, hidden},
                         "[intermediate, hidden]")) ||
      failed(expectShape(op, "down", down, {hidden, inter},
                         "[hidden, intermediate]")))
    return failure();
  return success();
}

LogicalResult MlpOp::verify() {
  return verifyGatedMlp(*this, getX(), getGate(), getUp(), getDown());
}

LogicalResult SharedExpertOp::verify() {
  if (failed(verifyGatedMlp(*this, getX(), getGate(), getUp(), getDown())))
    return failure();
  if (getSigmoidGate() &&
      failed(expectShape(*this, "sigmoid_gate", getSigmoidGate(),
                         {1, width(getX())}, "[1, hidden]")))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// RouterOp
//===----------------------------------------------------------------------===//

LogicalResult RouterOp::verify() {
  int64_t numExperts = getNumExpertsAttr().getInt();
  int64_t topK = getTopKAttr().getInt();
  int64_t numGroups = getNGroupAttr().getInt();
  int64_t topkGroup = getTopkGroupAttr().getInt();
  if (failed(expectAtLeast(*this, "num_experts", numExperts, 1)) ||
      failed(expectAtLeast(*this, "top_k", topK, 1)) ||
      failed(expectAtLeast(*this, "n_group", numGroups, 1)) ||
      failed(expectAtLeast(*this, "topk_group", topkGroup, 1)))
    return failure();
  if (topK > numExperts)
    return emitOpError() << "expects top_k (" << topK << ") <= num_experts ("
                         << numExperts << ")";
  if (numExperts % numGroups != 0)
    return emitOpError() << "expects n_group (" << numGroups
                         << ") to divide num_experts (" << numExperts << ")";
  if (topkGroup > numGroups)
    return emitOpError() << "expects topk_group (" << topkGroup
                         << ") <= n_group (" << numGroups << ")";
  int64_t selectable = topkGroup * (numExperts / numGroups);
  if (topK > selectable)
    return emitOpError() << "expects top_k (" << topK
                         << ") <= topk_group * num_experts / n_group ("
                         << selectable << ")";
  if (!isPositive(getRoutedScalingFactor()))
    return emitOpError("expects routed_scaling_factor > 0");

  if (failed(expectShape(*this, "gate", getGateW(), {numExperts, width(getX())},
                         "[num_experts, hidden]")))
    return failure();
  if (getBias() && failed(expectShape(*this, "bias", getBias(), {numExperts},
                                      "[num_experts]")))
    return failure();
  if (width(getWeights()) != topK || width(getIds()) != topK)
    return emitOpError() << "expects results of width top_k = " << topK
                         << ", got " << getWeights().getType() << " and "
                         << getIds().getType();
  if (!tokensAgree(rows(getX()), rows(getWeights())) ||
      !tokensAgree(rows(getX()), rows(getIds())) ||
      !tokensAgree(rows(getWeights()), rows(getIds())))
    return emitOpError("expects as many result rows as input rows");
  return success();
}

//===----------------------------------------------------------------------===//
// ExpertsOp
//===----------------------------------------------------------------------===//

LogicalResult ExpertsOp::verify() {
  int64_t numExperts = getNumExpertsAttr().getInt();
  if (failed(expectAtLeast(*this, "layer", getLayerAttr().getInt(), 0)) ||
      failed(expectAtLeast(*this, "num_experts", numExperts, 1)))
    return failure();
  int64_t hidden = width(getX());
  int64_t inter = getGate().getType().getDimSize(1);
  if (failed(expectShape(*this, "gate", getGate(), {numExperts, inter, hidden},
                         "[num_experts, intermediate, hidden]")) ||
      failed(expectShape(*this, "up", getUp(), {numExperts, inter, hidden},
                         "[num_experts, intermediate, hidden]")) ||
      failed(expectShape(*this, "down", getDown(), {numExperts, hidden, inter},
                         "[num_experts, hidden, intermediate]")))
    return failure();

  int64_t topK = width(getIds());
  if (width(getWeights()) != topK)
    return emitOpError() << "expects weights and ids of the same width, got "
                         << getWeights().getType() << " and "
                         << getIds().getType();
  if (!tokensAgree(rows(getX()), rows(getWeights())) ||
      !tokensAgree(rows(getX()), rows(getIds())))
    return emitOpError("expects x, weights and ids with the same rows");

  if (static_cast<bool>(getAssignment()) != getPlacement().has_value())
    return emitOpError("expects assignment and placement together");
  if (getAssignment() &&
      (width(getAssignment()) != topK ||
       !tokensAgree(rows(getAssignment()), rows(getIds()))))
    return emitOpError() << "expects assignment shaped like ids "
                         << getIds().getType() << ", got "
                         << getAssignment().getType();
  return success();
}

LogicalResult ExpertsOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  FlatSymbolRefAttr ref = getPlacementAttr();
  if (!ref)
    return success();
  auto placement = symbolTable.lookupNearestSymbolFrom<PlacementOp>(*this, ref);
  if (!placement)
    return emitOpError() << "placement " << ref
                         << " does not name a janus.placement";
  if (placement.getNumExperts() != getNumExperts() ||
      placement.getLayer() != getLayer())
    return emitOpError() << "has layer " << getLayer() << " with "
                         << getNumExperts() << " experts but placement " << ref
                         << " is for layer " << placement.getLayer() << " with "
                         << placement.getNumExperts();
  return success();
}
