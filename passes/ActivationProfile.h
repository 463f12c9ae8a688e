//===- ActivationProfile.h - Recorded expert activation counts --*- C++ -*-===//
//
// The JSON file `janus-run --record-activations` writes and
// `--activation-profile` reads (format in docs/ARCHITECTURE.md "Activation
// profile"):
//   {"model_type", "num_layers", "num_experts",
//    "layers": [{"layer", "tokens", "expert_counts": [E], "coactivation": [[i,
//    j, count], ...]}]}
// Parsing checks the structure (types, lengths, ranges, duplicates);
// checkProfileMatchesModel checks the profile belongs to the model being
// compiled.
//
//===----------------------------------------------------------------------===//
#ifndef JANUS_PASSES_ACTIVATIONPROFILE_H
#define JANUS_PASSES_ACTIVATIONPROFILE_H

#include "passes/Placement.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::janus {

struct ProfileLayer {
  int64_t layer = 0;
  int64_t tokens = 0;
  std::vector<int64_t> expertCounts;
  std::vector<CoactivationPair> coactivation;
};

struct ActivationProfile {
  std::string modelType;
  int64_t numLayers = 0;
  int64_t numExperts = 0;
  std::vector<ProfileLayer> layers; ///< in file order, layer indices distinct

  const ProfileLayer *findLayer(int64_t layer) const;
  /// The layer's expert loads (counts) and co-activation, for the placement
  /// algorithm.
  LayerDemand demand(const ProfileLayer &layer) const;
};

/// Parses and structurally validates a profile. Errors name the key (and the
/// layers[] index).
llvm::Expected<ActivationProfile> parseActivationProfile(llvm::StringRef text);

/// Reads `path` and parses it; errors name the file.
llvm::Expected<ActivationProfile> readActivationProfile(llvm::StringRef path);

/// Fails, naming the key, when the profile's model_type, num_layers,
/// num_experts or layer set (exactly the model's MoE layers) disagree with the
/// model.
llvm::Error checkProfileMatchesModel(const ActivationProfile &profile,
                                     llvm::StringRef modelType,
                                     int64_t numLayers, int64_t numExperts,
                                     llvm::ArrayRef<int64_t> moeLayers);

} // namespace mlir::janus

#endif // JANUS_PASSES_ACTIVATIONPROFILE_H
