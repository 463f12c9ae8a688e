//===- WeightLayout.h - The tensors a HuggingFace checkpoint holds -*- C++
//-*-===//
//
// From a ModelConfig, the exact list of checkpoint tensors a family's HF
// checkpoint holds (names as `save_pretrained` writes them, shapes as the
// modules declare them), grouped into the weights the `janus` module declares:
// one weight per tensor, or one per expert projection of a layer stacking its E
// per-expert tensors along a new dim 0. The importer checks a checkpoint
// against it; janus-make-model writes exactly it.
//
//===----------------------------------------------------------------------===//
#ifndef JANUS_DIALECTS_JANUS_IMPORT_WEIGHTLAYOUT_H
#define JANUS_DIALECTS_JANUS_IMPORT_WEIGHTLAYOUT_H

#include "dialects/janus/Import/ModelConfig.h"

#include "llvm/ADT/SmallVector.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::janus {

struct WeightSpec {
  std::string symbol; ///< symbol of the janus.weight
  std::vector<std::string>
      tensors; ///< checkpoint tensor names (E of them when stacked)
  llvm::SmallVector<int64_t> shape; ///< the shape of each tensor
  bool stacked = false; ///< weight shape = [tensors.size(), shape...]
  /// Kind of weight: norm weights are initialised near 1 by janus-make-model.
  bool isNorm = false;

  llvm::SmallVector<int64_t> weightShape() const;
};

/// Indices into WeightLayout::weights; -1 when the layer has no such weight.
struct LayerWeights {
  int inputNorm = -1, postAttentionNorm = -1;
  // GQA attention.
  int q = -1, k = -1, v = -1, o = -1, qBias = -1, kBias = -1, vBias = -1,
      qNorm = -1, kNorm = -1;
  // MLA attention (o shared with GQA).
  int qProj = -1, qA = -1, qANorm = -1, qB = -1, kvA = -1, kvANorm = -1,
      kvB = -1;
  // Dense MLP.
  int mlpGate = -1, mlpUp = -1, mlpDown = -1;
  // MoE block.
  int router = -1, routerBias = -1, expertsGate = -1, expertsUp = -1,
      expertsDown = -1;
  int sharedGate = -1, sharedUp = -1, sharedDown = -1, sharedSigmoidGate = -1;
};

struct WeightLayout {
  std::vector<WeightSpec> weights;
  int embedding = -1;
  int finalNorm = -1;
  int lmHead = -1; ///< -1 when tied: the lm_head reads the embedding
  std::vector<LayerWeights> layers;

  /// Every tensor name, with its shape, in declaration order.
  std::vector<std::pair<std::string, llvm::SmallVector<int64_t>>>
  tensors() const;
};

WeightLayout buildWeightLayout(const ModelConfig &config);

/// When `name` is a tensor of a DeepSeek multi-token-prediction layer
/// (`model.layers.N.*` with num_hidden_layers <= N < num_hidden_layers +
/// num_nextn_predict_layers), its layer index.
std::optional<int64_t> mtpLayerOf(const ModelConfig &config,
                                  llvm::StringRef name);

} // namespace mlir::janus

#endif // JANUS_DIALECTS_JANUS_IMPORT_WEIGHTLAYOUT_H
