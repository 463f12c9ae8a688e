// Unit tests of the activation-profile reader (passes/ActivationProfile.h): a
// valid profile round-trips into placement demand; every malformed key and
// every model mismatch is an error that names the key.
#include "passes/ActivationProfile.h"

#include <gtest/gtest.h>

#include <string>

namespace mlir::janus {
namespace {

constexpr const char *kValid =
    R"({"model_type": "mixtral", "num_layers": 2, "num_experts": 4,
  "layers": [
    {"layer": 0, "tokens": 10, "expert_counts": [9, 6, 3, 2], "coactivation": [[0, 1, 5], [2, 3, 1]]},
    {"layer": 1, "tokens": 10, "expert_counts": [5, 5, 5, 5]}]})";

std::string errorOf(const std::string &text) {
  llvm::Expected<ActivationProfile> p = parseActivationProfile(text);
  if (p)
    return "";
  return llvm::toString(p.takeError());
}

std::string withLayer0(const std::string &layer0) {
  return R"({"model_type": "mixtral", "num_layers": 2, "num_experts": 4, "layers": [)" +
         layer0 + "]}";
}

TEST(ActivationProfileTest, ParsesValidProfile) {
  llvm::Expected<ActivationProfile> p = parseActivationProfile(kValid);
  ASSERT_TRUE(static_cast<bool>(p)) << llvm::toString(p.takeError());
  EXPECT_EQ(p->modelType, "mixtral");
  EXPECT_EQ(p->numLayers, 2);
  EXPECT_EQ(p->numExperts, 4);
  ASSERT_EQ(p->layers.size(), 2u);
  const ProfileLayer *l0 = p->findLayer(0);
  ASSERT_NE(l0, nullptr);
  EXPECT_EQ(l0->expertCounts, (std::vector<int64_t>{9, 6, 3, 2}));
  LayerDemand d = p->demand(*l0);
  EXPECT_EQ(d.expertLoad, (std::vector<double>{9, 6, 3, 2}));
  ASSERT_EQ(d.coactivation.size(), 2u);
  EXPECT_EQ(d.coactivation[0].a, 0);
  EXPECT_EQ(d.coactivation[0].b, 1);
  EXPECT_EQ(d.coactivation[0].count, 5);
  EXPECT_TRUE(p->findLayer(1)->coactivation.empty());
  EXPECT_EQ(p->findLayer(5), nullptr);
  EXPECT_FALSE(static_cast<bool>(checkProfileMatchesModel(
      *p, "mixtral", 2, 4, std::vector<int64_t>{0, 1})));
}

TEST(ActivationProfileTest, StructuralErrorsNameTheKey) {
  EXPECT_NE(errorOf("{").find("malformed JSON"), std::string::npos);
  EXPECT_NE(errorOf("[]").find("JSON object"), std::string::npos);
  EXPECT_NE(errorOf(R"({"num_layers": 2, "num_experts": 4, "layers": []})")
                .find("'model_type'"),
            std::string::npos);
  EXPECT_NE(
      errorOf(
          R"({"model_type": "x", "num_layers": "2", "num_experts": 4, "layers": []})")
          .find("'num_layers' must be an integer"),
      std::string::npos);
  EXPECT_NE(
      errorOf(
          R"({"model_type": "x", "num_layers": 2, "num_experts": 0, "layers": []})")
          .find("'num_experts' must be > 0"),
      std::string::npos);
  EXPECT_NE(errorOf(R"({"model_type": "x", "num_layers": 2, "num_experts": 4})")
                .find("'layers'"),
            std::string::npos);
  EXPECT_NE(
      errorOf(withLayer0(
                  R"({"layer": 0, "tokens": 1, "expert_counts": [1, 2, 3]})"))
          .find("'layers[0].expert_counts' has 3 entries, expected num_experts "
                "= 4"),
      std::string::npos);
  EXPECT_NE(
      errorOf(
          withLayer0(
              R"({"layer": 0, "tokens": 1, "expert_counts": [1, 2, -3, 4]})"))
          .find("'layers[0].expert_counts[2]'"),
      std::string::npos);
  EXPECT_NE(
      errorOf(
          withLayer0(
              R"({"layer": 7, "tokens": 1, "expert_counts": [1, 2, 3, 4]})"))
          .find("'layers[0].layer' is 7, outside num_layers = 2"),
      std::string::npos);
  EXPECT_NE(
      errorOf(withLayer0(R"({"tokens": 1, "expert_counts": [1, 2, 3, 4]})"))
          .find("missing key 'layers[0].layer'"),
      std::string::npos);
  EXPECT_NE(
      errorOf(withLayer0(
                  R"({"layer": 1, "tokens": 1, "expert_counts": [1, 2, 3, 4]},
                                  {"layer": 1, "tokens": 1, "expert_counts": [1, 2, 3, 4]})"))
          .find("'layers[1].layer': layer 1 appears twice"),
      std::string::npos);
  EXPECT_NE(
      errorOf(
          withLayer0(R"({"layer": 0, "tokens": 1, "expert_counts": [1, 2, 3, 4],
                                   "coactivation": [[1, 0, 3]]})"))
          .find("'layers[0].coactivation[0]' = [1, 0, 3]"),
      std::string::npos);
  EXPECT_NE(
      errorOf(
          withLayer0(R"({"layer": 0, "tokens": 1, "expert_counts": [1, 2, 3, 4],
                                   "coactivation": [[0, 4, 3]]})"))
          .find("num_experts = 4"),
      std::string::npos);
  EXPECT_NE(
      errorOf(
          withLayer0(R"({"layer": 0, "tokens": 1, "expert_counts": [1, 2, 3, 4],
                                   "coactivation": [[0, 1]]})"))
          .find("[i, j, count]"),
      std::string::npos);
  EXPECT_NE(
      errorOf(
          withLayer0(R"({"layer": 0, "tokens": 1, "expert_counts": [1, 2, 3, 4],
                                   "coactivation": [[0, 1, 2], [0, 1, 2]]})"))
          .find("appears twice"),
      std::string::npos);
}

TEST(ActivationProfileTest, ModelMismatchesNameTheKey) {
  llvm::Expected<ActivationProfile> p = parseActivationProfile(kValid);
  ASSERT_TRUE(static_cast<bool>(p));
  auto mismatch = [&](llvm::StringRef type, int64_t layers, int64_t experts,
                      std::vector<int64_t> moe) {
    llvm::Error e = checkProfileMatchesModel(*p, type, layers, experts, moe);
    return e ? llvm::toString(std::move(e)) : std::string();
  };
  EXPECT_NE(
      mismatch("qwen3_moe", 2, 4, {0, 1}).find("'model_type' is 'mixtral'"),
      std::string::npos);
  EXPECT_NE(mismatch("mixtral", 3, 4, {0, 1})
                .find("'num_layers' is 2 but the model has 3"),
            std::string::npos);
  EXPECT_NE(mismatch("mixtral", 2, 8, {0, 1}).find("'num_experts' is 4"),
            std::string::npos);
  EXPECT_NE(mismatch("mixtral", 2, 4, {1})
                .find("'layers[0].layer' is 0, which is not a MoE layer"),
            std::string::npos);
  // A model whose MoE layer the profile lacks.
  llvm::Expected<ActivationProfile> one = parseActivationProfile(withLayer0(
      R"({"layer": 0, "tokens": 1, "expert_counts": [1, 2, 3, 4]})"));
  ASSERT_TRUE(static_cast<bool>(one));
  llvm::Error e = checkProfileMatchesModel(*one, "mixtral", 2, 4,
                                           std::vector<int64_t>{0, 1});
  ASSERT_TRUE(static_cast<bool>(e));
  EXPECT_NE(llvm::toString(std::move(e)).find("no entry for MoE layer 1"),
            std::string::npos);
}

TEST(ActivationProfileTest, MissingFileNamesThePath) {
  llvm::Expected<ActivationProfile> p =
      readActivationProfile("/nonexistent/profile.json");
  ASSERT_FALSE(static_cast<bool>(p));
  EXPECT_NE(llvm::toString(p.takeError()).find("/nonexistent/profile.json"),
            std::string::npos);
}

} // namespace
} // namespace mlir::janus
