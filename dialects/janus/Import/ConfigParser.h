//===- ConfigParser.h - config.json -> ModelConfig, internals ---*- C++ -*-===//
//
// Internal to the importer: the parser behind parseModelConfig, split over
// ModelConfig.cpp (family, dimensions, layer kinds, attention) and
// ConfigRouting.cpp (RoPE, router, shared experts).
//
//===----------------------------------------------------------------------===//
#ifndef JANUS_DIALECTS_JANUS_IMPORT_CONFIGPARSER_H
#define JANUS_DIALECTS_JANUS_IMPORT_CONFIGPARSER_H

#include "dialects/janus/Import/ConfigKeyReader.h"
#include "dialects/janus/Import/ModelConfig.h"

#include "llvm/ADT/STLExtras.h"

#include <cmath>
#include <optional>
#include <vector>

namespace mlir::janus::detail {

/// Sanity bounds: larger values are typos, and would make huge modules.
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxExperts = 65536;

/// What a family's configuration class gives keys the importer does not
/// require.
struct FamilyDefaults {
  double rmsNormEps;
  int64_t maxPositionEmbeddings;
  std::optional<int64_t> bos;
  std::optional<int64_t> eos;
  double ropeTheta;
  int64_t numKvHeads; ///< 0: num_attention_heads
};

FamilyDefaults defaultsFor(ModelFamily family);

inline bool isDeepseek(ModelFamily f) {
  return f == ModelFamily::DeepseekV2 || f == ModelFamily::DeepseekV3;
}

/// transformers' yarn_get_mscale.
inline double yarnGetMscale(double scale, double mscale) {
  if (scale <= 1)
    return 1.0;
  return 0.1 * mscale * std::log(scale) + 1.0;
}

class ConfigParser {
public:
  ConfigParser(llvm::StringRef path, llvm::StringRef text,
               const llvm::json::Object &root,
               std::vector<ConfigDiagnostic> &diags)
      : r(path, text, root, diags), diags(diags), errorsBefore(countErrors()) {
    c.configPath = path.str();
  }

  std::optional<ModelConfig> parse() {
    if (!parseFamily())
      return std::nullopt;
    parseCommon();
    parseLayerKinds();
    if (c.mla)
      parseMla();
    else
      parseGqa();
    parseRope();
    if (c.numMoeLayers() > 0)
      parseMoe();
    if (countErrors() != errorsBefore)
      return std::nullopt;
    return std::move(c);
  }

private:
  size_t countErrors() const {
    return llvm::count_if(diags, [](const ConfigDiagnostic &d) {
      return d.severity == ConfigDiagnostic::Severity::Error;
    });
  }
  bool ok() const { return countErrors() == errorsBefore; }

  bool parseFamily();
  void parseCommon();
  void parseLayerKinds();
  void parseGqa();
  void parseMla();
  void parseRope();
  void parseMoe();
  int64_t numExperts();
  std::optional<int64_t> cachedNumExperts;

  KeyReader r;
  std::vector<ConfigDiagnostic> &diags;
  size_t errorsBefore;
  ModelConfig c;
  FamilyDefaults defaults{};
};

} // namespace mlir::janus::detail

#endif // JANUS_DIALECTS_JANUS_IMPORT_CONFIGPARSER_H
