//===- WeightLayout.cpp - The tensors a HuggingFace checkpoint holds ------===//
//
// Names and shapes follow the modules of transformers 5.17 (nn.Linear weights
// are [out, in]) and the legacy per-expert names `save_pretrained` writes
// (`experts.E.gate_proj.weight`, Mixtral's
// `block_sparse_moe.experts.E.w1/w2/w3.weight`).
//
//===----------------------------------------------------------------------===//

#include "dialects/janus/Import/WeightLayout.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir::janus;
using llvm::SmallVector;
using llvm::StringRef;

SmallVector<int64_t> WeightSpec::weightShape() const {
  SmallVector<int64_t> result;
  if (stacked)
    result.push_back(static_cast<int64_t>(tensors.size()));
  result.append(shape.begin(), shape.end());
  return result;
}

std::vector<std::pair<std::string, SmallVector<int64_t>>>
WeightLayout::tensors() const {
  std::vector<std::pair<std::string, SmallVector<int64_t>>> result;
  for (const WeightSpec &w : weights)
    for (const std::string &name : w.tensors)
      result.emplace_back(name, w.shape);
  return result;
}

namespace {
class LayoutBuilder {
public:
  explicit LayoutBuilder(const ModelConfig &c) : c(c) {}

  WeightLayout build() {
    int64_t h = c.hiddenSize;
    layout.embedding = add("model.embed_tokens.weight", {c.vocabSize, h});
    layout.layers.resize(c.numLayers);
    for (int64_t i = 0; i < c.numLayers; ++i)
      buildLayer(i, layout.layers[i]);
    layout.finalNorm = add("model.norm.weight", {h}, /*isNorm=*/true);
    if (!c.tieWordEmbeddings)
      layout.lmHead = add("lm_head.weight", {c.vocabSize, h});
    return std::move(layout);
  }

private:
  /// Symbols drop the `.weight` suffix: `@model.layers.0.self_attn.q_proj`.
  static std::string symbolFor(StringRef tensor) {
    if (tensor.consume_back(".weight"))
      return tensor.str();
    return tensor.str();
  }

  int add(const std::string &tensor, SmallVector<int64_t> shape,
          bool isNorm = false) {
    WeightSpec w;
    w.symbol = symbolFor(tensor);
    w.tensors = {tensor};
    w.shape = std::move(shape);
    w.isNorm = isNorm;
    layout.weights.push_back(std::move(w));
    return static_cast<int>(layout.weights.size() - 1);
  }

  /// `prefix + E + suffix` for every expert, stacked into `symbol`.
  int addStacked(const std::string &symbol, const std::string &prefix,
                 const std::string &suffix, SmallVector<int64_t> shape) {
    WeightSpec w;
    w.symbol = symbol;
    w.stacked = true;
    for (int64_t e = 0; e < c.router.numExperts; ++e)
      w.tensors.push_back(prefix + std::to_string(e) + suffix);
    w.shape = std::move(shape);
    layout.weights.push_back(std::move(w));
    return static_cast<int>(layout.weights.size() - 1);
  }

  void buildLayer(int64_t i, LayerWeights &lw) {
    std::string p = "model.layers." + std::to_string(i) + ".";
    int64_t h = c.hiddenSize;
    lw.inputNorm = add(p + "input_layernorm.weight", {h}, true);

    std::string a = p + "self_attn.";
    if (c.mla) {
      int64_t qHead = c.qkNopeHeadDim + c.qkRopeHeadDim;
      if (c.qLoraRank == 0) {
        lw.qProj = add(a + "q_proj.weight", {c.numHeads * qHead, h});
      } else {
        lw.qA = add(a + "q_a_proj.weight", {c.qLoraRank, h});
        lw.qANorm = add(a + "q_a_layernorm.weight", {c.qLoraRank}, true);
        lw.qB = add(a + "q_b_proj.weight", {c.numHeads * qHead, c.qLoraRank});
      }
      lw.kvA = add(a + "kv_a_proj_with_mqa.weight",
                   {c.kvLoraRank + c.qkRopeHeadDim, h});
      lw.kvANorm = add(a + "kv_a_layernorm.weight", {c.kvLoraRank}, true);
      lw.kvB = add(a + "kv_b_proj.weight",
                   {c.numHeads * (c.qkNopeHeadDim + c.vHeadDim), c.kvLoraRank});
      lw.o = add(a + "o_proj.weight", {h, c.numHeads * c.vHeadDim});
    } else {
      int64_t qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim;
      lw.q = add(a + "q_proj.weight", {qDim, h});
      lw.k = add(a + "k_proj.weight", {kvDim, h});
      lw.v = add(a + "v_proj.weight", {kvDim, h});
      lw.o = add(a + "o_proj.weight", {h, qDim});
      if (c.qkvBias) {
        lw.qBias = add(a + "q_proj.bias", {qDim});
        lw.kBias = add(a + "k_proj.bias", {kvDim});
        lw.vBias = add(a + "v_proj.bias", {kvDim});
      }
      if (c.qkNorm == QkNormKind::Head) {
        lw.qNorm = add(a + "q_norm.weight", {c.headDim}, true);
        lw.kNorm = add(a + "k_norm.weight", {c.headDim}, true);
      } else if (c.qkNorm == QkNormKind::Full) {
        // OLMoE: q_norm over hidden_size, k_norm over (hidden/heads) *
        // kv_heads.
        lw.qNorm = add(a + "q_norm.weight", {h}, true);
        lw.kNorm =
            add(a + "k_norm.weight", {(h / c.numHeads) * c.numKvHeads}, true);
      }
    }
    lw.postAttentionNorm =
        add(p + "post_attention_layernorm.weight", {h}, true);

    if (!c.layerIsMoe[i]) {
      int64_t f = c.intermediateSize;
      lw.mlpGate = add(p + "mlp.gate_proj.weight", {f, h});
      lw.mlpUp = add(p + "mlp.up_proj.weight", {f, h});
      lw.mlpDown = add(p + "mlp.down_proj.weight", {h, f});
      return;
    }

    int64_t e = c.router.numExperts, f = c.moeIntermediateSize;
    if (c.family == ModelFamily::Mixtral) {
      std::string m = p + "block_sparse_moe.";
      lw.router = add(m + "gate.weight", {e, h});
      lw.expertsGate =
          addStacked(m + "experts.w1", m + "experts.", ".w1.weight", {f, h});
      lw.expertsUp =
          addStacked(m + "experts.w3", m + "experts.", ".w3.weight", {f, h});
      lw.expertsDown =
          addStacked(m + "experts.w2", m + "experts.", ".w2.weight", {h, f});
      return;
    }
    std::string m = p + "mlp.";
    lw.router = add(m + "gate.weight", {e, h});
    if (c.router.correctionBias)
      lw.routerBias = add(m + "gate.e_score_correction_bias", {e});
    lw.expertsGate = addStacked(m + "experts.gate_proj", m + "experts.",
                                ".gate_proj.weight", {f, h});
    lw.expertsUp = addStacked(m + "experts.up_proj", m + "experts.",
                              ".up_proj.weight", {f, h});
    lw.expertsDown = addStacked(m + "experts.down_proj", m + "experts.",
                                ".down_proj.weight", {h, f});
    if (int64_t s = c.sharedExpertIntermediateSize) {
      // Qwen2-MoE names it shared_expert (+ a sigmoid gate), DeepSeek
      // shared_experts.
      std::string sp =
          m + (c.family == ModelFamily::Qwen2Moe ? "shared_expert."
                                                 : "shared_experts.");
      lw.sharedGate = add(sp + "gate_proj.weight", {s, h});
      lw.sharedUp = add(sp + "up_proj.weight", {s, h});
      lw.sharedDown = add(sp + "down_proj.weight", {h, s});
      if (c.sharedExpertGate)
        lw.sharedSigmoidGate = add(m + "shared_expert_gate.weight", {1, h});
    }
  }

  const ModelConfig &c;
  WeightLayout layout;
};
} // namespace

WeightLayout mlir::janus::buildWeightLayout(const ModelConfig &config) {
  return LayoutBuilder(config).build();
}

std::optional<int64_t> mlir::janus::mtpLayerOf(const ModelConfig &config,
                                               StringRef name) {
  if (config.family != ModelFamily::DeepseekV2 &&
      config.family != ModelFamily::DeepseekV3)
    return std::nullopt;
  if (!name.consume_front("model.layers."))
    return std::nullopt;
  StringRef index = name.take_until([](char ch) { return ch == '.'; });
  int64_t layer;
  if (index.getAsInteger(10, layer))
    return std::nullopt;
  if (layer >= config.numLayers &&
      layer < config.numLayers + config.numNextnPredictLayers)
    return layer;
  return std::nullopt;
}
