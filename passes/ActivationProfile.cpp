//===- ActivationProfile.cpp - Recorded expert activation counts ---------===//

#include "passes/ActivationProfile.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallSet.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <set>

using namespace mlir::janus;
using llvm::formatv;

namespace {
llvm::Error fail(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

// A required non-negative integer member of `object`; `where` prefixes the key
// in messages.
llvm::Expected<int64_t> getCount(const llvm::json::Object &object,
                                 llvm::StringRef key, llvm::StringRef where) {
  const llvm::json::Value *value = object.get(key);
  if (!value)
    return fail(formatv("missing key '{0}{1}'", where, key));
  std::optional<int64_t> number = value->getAsInteger();
  if (!number)
    return fail(formatv("key '{0}{1}' must be an integer", where, key));
  if (*number < 0)
    return fail(
        formatv("key '{0}{1}' must be >= 0 (got {2})", where, key, *number));
  return *number;
}

std::string layerPath(size_t index) {
  return formatv("layers[{0}].", index).str();
}
} // namespace

const ProfileLayer *ActivationProfile::findLayer(int64_t layer) const {
  for (const ProfileLayer &l : layers)
    if (l.layer == layer)
      return &l;
  return nullptr;
}

LayerDemand ActivationProfile::demand(const ProfileLayer &layer) const {
  LayerDemand demand;
  for (int64_t count : layer.expertCounts)
    demand.expertLoad.push_back(static_cast<double>(count));
  demand.coactivation = layer.coactivation;
  return demand;
}

llvm::Expected<ActivationProfile>
mlir::janus::parseActivationProfile(llvm::StringRef text) {
  llvm::Expected<llvm::json::Value> parsed = llvm::json::parse(text);
  if (!parsed)
    return fail("malformed JSON: " + llvm::toString(parsed.takeError()));
  const llvm::json::Object *root = parsed->getAsObject();
  if (!root)
    return fail("the top level must be a JSON object");

  ActivationProfile profile;
  std::optional<llvm::StringRef> modelType = root->getString("model_type");
  if (!modelType)
    return fail("missing or non-string key 'model_type'");
  profile.modelType = modelType->str();
  llvm::Expected<int64_t> numLayers = getCount(*root, "num_layers", "");
  if (!numLayers)
    return numLayers.takeError();
  llvm::Expected<int64_t> numExperts = getCount(*root, "num_experts", "");
  if (!numExperts)
    return numExperts.takeError();
  if (*numExperts == 0)
    return fail("key 'num_experts' must be > 0");
  profile.numLayers = *numLayers;
  profile.numExperts = *numExperts;

  const llvm::json::Array *layers = root->getArray("layers");
  if (!layers)
    return fail("missing or non-array key 'layers'");
  std::set<int64_t> seen;
  for (size_t i = 0; i < layers->size(); ++i) {
    std::string where = layerPath(i);
    const llvm::json::Object *object = (*layers)[i].getAsObject();
    if (!object)
      return fail(formatv("'layers[{0}]' must be an object", i));
    ProfileLayer layer;
    llvm::Expected<int64_t> index = getCount(*object, "layer", where);
    if (!index)
      return index.takeError();
    if (*index >= profile.numLayers)
      return fail(formatv("key '{0}layer' is {1}, outside num_layers = {2}",
                          where, *index, profile.numLayers));
    if (!seen.insert(*index).second)
      return fail(
          formatv("key '{0}layer': layer {1} appears twice", where, *index));
    layer.layer = *index;
    llvm::Expected<int64_t> tokens = getCount(*object, "tokens", where);
    if (!tokens)
      return tokens.takeError();
    layer.tokens = *tokens;

    const llvm::json::Array *counts = object->getArray("expert_counts");
    if (!counts)
      return fail(
          formatv("missing or non-array key '{0}expert_counts'", where));
    if (static_cast<int64_t>(counts->size()) != profile.numExperts)
      return fail(formatv(
          "key '{0}expert_counts' has {1} entries, expected num_experts = {2}",
          where, counts->size(), profile.numExperts));
    for (size_t e = 0; e < counts->size(); ++e) {
      std::optional<int64_t> count = (*counts)[e].getAsInteger();
      if (!count || *count < 0)
        return fail(formatv(
            "key '{0}expert_counts[{1}]' must be an integer >= 0", where, e));
      layer.expertCounts.push_back(*count);
    }

    // Optional: a layer where no token picked two experts together has none.
    if (const llvm::json::Value *coactValue = object->get("coactivation")) {
      const llvm::json::Array *coact = coactValue->getAsArray();
      if (!coact)
        return fail(formatv("key '{0}coactivation' must be an array", where));
      std::set<std::pair<int64_t, int64_t>> pairs;
      for (size_t p = 0; p < coact->size(); ++p) {
        const llvm::json::Array *triple = (*coact)[p].getAsArray();
        std::optional<int64_t> a, b, count;
        if (triple && triple->size() == 3) {
          a = (*triple)[0].getAsInteger();
          b = (*triple)[1].getAsInteger();
          count = (*triple)[2].getAsInteger();
        }
        if (!a || !b || !count)
          return fail(formatv(
              "key '{0}coactivation[{1}]' must be [i, j, count] integers",
              where, p));
        if (*a < 0 || *b >= profile.numExperts || *a >= *b || *count < 0)
          return fail(formatv(
              "key '{0}coactivation[{1}]' = [{2}, {3}, {4}] needs 0 <= i < j < "
              "num_experts = {5} and count >= 0",
              where, p, *a, *b, *count, profile.numExperts));
        if (!pairs.insert({*a, *b}).second)
          return fail(formatv(
              "key '{0}coactivation[{1}]': pair ({2}, {3}) appears twice",
              where, p, *a, *b));
        layer.coactivation.push_back({*a, *b, static_cast<double>(*count)});
      }
    }
    profile.layers.push_back(std::move(layer));
  }
  return profile;
}

llvm::Expected<ActivationProfile>
mlir::janus::readActivationProfile(llvm::StringRef path) {
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return fail(
        formatv("cannot read '{0}': {1}", path, buffer.getError().message()));
  llvm::Expected<ActivationProfile> profile =
      parseActivationProfile((*buffer)->getBuffer());
  if (!profile)
    return fail(
        formatv("'{0}': {1}", path, llvm::toString(profile.takeError())));
  return profile;
}

llvm::Error mlir::janus::checkProfileMatchesModel(
    const ActivationProfile &profile, llvm::StringRef modelType,
    int64_t numLayers, int64_t numExperts, llvm::ArrayRef<int64_t> moeLayers) {
  if (profile.modelType != modelType)
    return fail(formatv("key 'model_type' is '{0}' but the model is '{1}' (a "
                        "profile for another "
                        "model?)",
                        profile.modelType, modelType));
  if (profile.numLayers != numLayers)
    return fail(formatv("key 'num_layers' is {0} but the model has {1} layers",
                        profile.numLayers, numLayers));
  if (profile.numExperts != numExperts)
    return fail(
        formatv("key 'num_experts' is {0} but the model has {1} routed experts",
                profile.numExperts, numExperts));
  for (int64_t layer : moeLayers)
    if (!profile.findLayer(layer))
      return fail(
          formatv("key 'layers' has no entry for MoE layer {0}", layer));
  for (size_t i = 0; i < profile.layers.size(); ++i)
    if (!llvm::is_contained(moeLayers, profile.layers[i].layer))
      return fail(formatv("key 'layers[{0}].layer' is {1}, which is not a MoE "
                          "layer of the model",
                          i, profile.layers[i].layer));
  return llvm::Error::success();
}
