//===- ModelConfig.h - HuggingFace config.json, normalised ------*- C++ -*-===//
//
// Parses a HuggingFace `config.json` with llvm::json into one
// family-independent description of the model (no MLIR types), with the
// defaults and quirks of `transformers` 5.17 applied: absent keys take the
// value the family's configuration class gives them, and every family's
// semantics (which layers are dense, router scoring, renormalisation,
// group-limited top-k, q/k norms, RoPE) are resolved here, once, so the MLIR
// emitter and janus-make-model only read fields.
//
// Every problem is reported as a ConfigDiagnostic naming the file, the key
// (with its line when the key is present), and what was expected.
//
//===----------------------------------------------------------------------===//
#ifndef JANUS_DIALECTS_JANUS_IMPORT_MODELCONFIG_H
#define JANUS_DIALECTS_JANUS_IMPORT_MODELCONFIG_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mlir::janus {

enum class ModelFamily {
  Mixtral,
  Qwen2Moe,
  Qwen3Moe,
  Olmoe,
  DeepseekV2,
  DeepseekV3
};

/// The `model_type` strings the importer understands, in ModelFamily order.
llvm::ArrayRef<llvm::StringRef> supportedModelTypeNames();

enum class QkNormKind { None, Head, Full };
enum class RopeScalingKind { None, Linear, Yarn };
enum class RouterScoringKind { Softmax, Sigmoid };
enum class GroupScoringKind { Top2Sum, Max };
enum class WeightDType { BF16, F16, F32 };

/// One diagnostic about the config (or, for janus-make-model, its output).
/// `line` is 0 when the problem has no position in the file (a missing key).
struct ConfigDiagnostic {
  enum class Severity { Error, Warning, Remark };
  Severity severity = Severity::Error;
  std::string file;
  unsigned line = 0;
  unsigned column = 0;
  std::string message;
};

/// RoPE exactly as transformers' rope init functions compute it.
struct RopeConfig {
  double theta = 10000.0;
  bool interleaved =
      false; ///< DeepSeek pairs (2i, 2i+1); the others rotate halves.
  RopeScalingKind scaling = RopeScalingKind::None;
  double factor = 1.0;
  int64_t originalMaxPosition = 0; ///< yarn only
  double betaFast = 32.0;
  double betaSlow = 1.0;
  /// yarn: 0 stands for an absent (or zero) key: transformers tests `if mscale
  /// and mscale_all_dim`.
  double mscale = 0.0;
  double mscaleAllDim = 0.0;
  int64_t rotaryDim = 0; ///< dimensions rotated per head
};

struct RouterConfig {
  int64_t numExperts = 0;
  int64_t topK = 0;
  RouterScoringKind scoring = RouterScoringKind::Softmax;
  bool normTopkProb = false;
  double routedScalingFactor = 1.0;
  int64_t nGroup = 1; ///< 1: no group-limited selection
  int64_t topkGroup = 1;
  GroupScoringKind groupScoring = GroupScoringKind::Top2Sum;
  bool correctionBias = false; ///< DeepSeek-V3 `e_score_correction_bias`
};

struct ModelConfig {
  std::string configPath; ///< the config.json read (for diagnostics)
  std::string modelType;
  ModelFamily family = ModelFamily::Mixtral;

  int64_t vocabSize = 0;
  int64_t hiddenSize = 0;
  int64_t numLayers = 0;
  int64_t maxPositionEmbeddings = 0;
  double rmsNormEps = 1e-6;
  bool tieWordEmbeddings = false;
  std::optional<int64_t> bosTokenId;
  std::vector<int64_t> eosTokenIds;
  /// Element type named by `dtype` / `torch_dtype` (bf16 when absent or
  /// unusual); what synthetic weights use.
  WeightDType dtype = WeightDType::BF16;

  /// Dense FFN width (dense layers; Mixtral's experts use it too).
  int64_t intermediateSize = 0;
  /// Per layer: true when the layer's FFN is a routed MoE block.
  std::vector<bool> layerIsMoe;

  // Attention. `mla` selects the DeepSeek fields, otherwise the GQA fields are
  // meaningful.
  bool mla = false;
  int64_t numHeads = 0;
  int64_t numKvHeads = 0;
  int64_t headDim = 0;
  bool qkvBias = false;
  QkNormKind qkNorm = QkNormKind::None;
  int64_t qLoraRank = 0; ///< 0: `q_proj` (q_lora_rank null)
  int64_t kvLoraRank = 0;
  int64_t qkNopeHeadDim = 0;
  int64_t qkRopeHeadDim = 0;
  int64_t vHeadDim = 0;
  double mlaNormEps =
      1e-6; ///< q_a/kv_a RMSNorm eps (transformers hard-codes 1e-6)
  double softmaxScale =
      0.0; ///< attention logit scale (MLA: with the yarn mscale² correction)
  RopeConfig rope;

  // MoE blocks.
  RouterConfig router;
  int64_t moeIntermediateSize = 0;          ///< each routed expert's width
  int64_t sharedExpertIntermediateSize = 0; ///< 0: no shared expert
  bool sharedExpertGate = false;            ///< Qwen2-MoE sigmoid output gate

  /// DeepSeek multi-token-prediction layers stored after the model's layers
  /// (not imported).
  int64_t numNextnPredictLayers = 0;
  /// Present when config.json has a quantization_config: a one-line summary
  /// (`quant_method=fp8, fmt=e4m3, weight_block_size=[128, 128]`).
  std::optional<std::string> quantization;
  /// The position of `quantization_config` in config.json (0 if unknown).
  unsigned quantizationLine = 0;
  unsigned quantizationColumn = 0;

  int64_t numMoeLayers() const;
  llvm::StringRef familyName() const { return modelType; }
};

/// Reads and parses `configPath`. Returns std::nullopt when at least one error
/// was appended to `diags`; warnings may be appended either way.
std::optional<ModelConfig>
parseModelConfigFile(llvm::StringRef configPath,
                     std::vector<ConfigDiagnostic> &diags);

/// Same, from the text of a config.json (`configPath` names it in diagnostics).
std::optional<ModelConfig>
parseModelConfig(llvm::StringRef configPath, llvm::StringRef text,
                 std::vector<ConfigDiagnostic> &diags);

/// "path:line:col: error: message" (or "path: error: message" without a line).
std::string formatConfigDiagnostic(const ConfigDiagnostic &diag);

} // namespace mlir::janus

#endif // JANUS_DIALECTS_JANUS_IMPORT_MODELCONFIG_H
