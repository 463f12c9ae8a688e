#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/io/safetensors.h"
#include "test/unit/runtime/io/test_util.h"

namespace janus {
namespace {

using ::janus::testing::ScopedTempDir;
using ::testing::HasSubstr;

std::string Floats(std::initializer_list<float> values) {
  std::string out;
  for (float v : values) out.append(reinterpret_cast<const char*>(&v), 4);
  return out;
}

TEST(Checkpoint, OpensEveryFixtureDirectory) {
  for (const char* dir :
       {"deepseekv2_tiny", "deepseekv3_tiny", "deepseekv3_yarn_tiny",
        "mixtral_tied_tiny", "mixtral_tiny", "olmoe_tiny", "qwen2moe_tiny",
        "qwen3moe_tiny"}) {
    SCOPED_TRACE(dir);
    auto ckpt = Checkpoint::Open(testing::SourceDir() + "/test/data/hf/" + dir);
    ASSERT_TRUE(ckpt.ok()) << ckpt.status();
    ASSERT_EQ(ckpt->files().size(), 1u);
    EXPECT_EQ(ckpt->file_names()[0], "model.safetensors");
    EXPECT_EQ(ckpt->TensorNames().size(), ckpt->files()[0].tensors().size());
    auto embed = ckpt->Find("model.embed_tokens.weight");
    ASSERT_TRUE(embed.ok()) << embed.status();
    EXPECT_EQ(embed->file, 0);
    EXPECT_EQ(embed->info->shape[0], 512);
    EXPECT_EQ(ckpt->Data(*embed).size(), embed->info->nbytes);
  }
}

TEST(Checkpoint, MissingTensorNamesTensorAndDirectory) {
  const std::string dir = testing::SourceDir() + "/test/data/hf/mixtral_tiny";
  auto ckpt = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok());
  auto missing = ckpt->Find("model.layers.9.mlp.weight");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("'model.layers.9.mlp.weight'"));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(dir));
}

class ShardedCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(
        WriteSafetensors(dir_.File("model-00001-of-00002.safetensors"),
                         {{"a", DType::kF32, {2}, Floats({1.5f, -2}), ""},
                          {"b", DType::kF32, {1}, Floats({3}), ""}})
            .ok());
    ASSERT_TRUE(
        WriteSafetensors(dir_.File("model-00002-of-00002.safetensors"),
                         {{"c", DType::kF32, {3}, Floats({4, 5, 6}), ""}})
            .ok());
  }
  void WriteIndex(const std::string& weight_map) {
    testing::WriteFile(dir_.File("model.safetensors.index.json"),
                       R"({"metadata": {"total_size": 24}, "weight_map": )" +
                           weight_map + "}");
  }
  std::string OpenError() {
    auto ckpt = Checkpoint::Open(dir_.path());
    EXPECT_FALSE(ckpt.ok());
    return ckpt.ok() ? "" : std::string(ckpt.status().message());
  }

  ScopedTempDir dir_;
};

TEST_F(ShardedCheckpoint, ResolvesEveryTensorToItsShard) {
  WriteIndex(
      R"({"c": "model-00002-of-00002.safetensors", "a": "model-00001-of-00002.safetensors",
                 "b": "model-00001-of-00002.safetensors"})");
  auto ckpt = Checkpoint::Open(dir_.path());
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_EQ(ckpt->file_names(),
            (std::vector<std::string>{"model-00001-of-00002.safetensors",
                                      "model-00002-of-00002.safetensors"}));
  EXPECT_EQ(ckpt->TensorNames(), (std::vector<std::string>{"a", "b", "c"}));
  auto c = ckpt->Find("c");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->file, 1);
  auto values = ckpt->files()[c->file].ReadAsFloat(*c->info);
  ASSERT_TRUE(values.ok());
  EXPECT_EQ(*values, (std::vector<float>{4, 5, 6}));
  auto a = ckpt->Find("a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->file, 0);
  EXPECT_EQ(*ckpt->files()[0].ReadAsFloat(*a->info),
            (std::vector<float>{1.5f, -2}));
}

TEST_F(ShardedCheckpoint, MissingShard) {
  WriteIndex(
      R"({"a": "model-00001-of-00002.safetensors", "z": "model-00003-of-00003.safetensors"})");
  std::string message = OpenError();
  EXPECT_THAT(message, HasSubstr("shard 'model-00003-of-00003.safetensors'"));
  EXPECT_THAT(message, HasSubstr("is missing"));
  EXPECT_THAT(message, HasSubstr(dir_.path()));
}

TEST_F(ShardedCheckpoint, IndexNamesTensorTheShardLacks) {
  WriteIndex(
      R"({"a": "model-00001-of-00002.safetensors", "c": "model-00001-of-00002.safetensors"})");
  std::string message = OpenError();
  EXPECT_THAT(
      message,
      HasSubstr("tensor 'c' in shard 'model-00001-of-00002.safetensors'"));
  EXPECT_THAT(message, HasSubstr("does not contain it"));
}

TEST_F(ShardedCheckpoint, MalformedIndex) {
  testing::WriteFile(dir_.File("model.safetensors.index.json"),
                     "{\"weight_map\": ");
  EXPECT_THAT(OpenError(), HasSubstr("not valid JSON"));
  WriteIndex("[]");
  EXPECT_THAT(OpenError(), HasSubstr("missing object 'weight_map'"));
  WriteIndex(R"({"a": 7})");
  EXPECT_THAT(OpenError(),
              HasSubstr("entry for tensor 'a' is not a file name"));
  WriteIndex(R"({"a": "../elsewhere/model.safetensors"})");
  EXPECT_THAT(OpenError(),
              HasSubstr("entry for tensor 'a' is not a file name"));
  WriteIndex("{}");
  EXPECT_THAT(OpenError(), HasSubstr("weight_map is empty"));
}

TEST_F(ShardedCheckpoint, CorruptShardIsReportedWithItsPath) {
  testing::WriteFile(dir_.File("model-00002-of-00002.safetensors"), "short");
  WriteIndex(R"({"c": "model-00002-of-00002.safetensors"})");
  EXPECT_THAT(OpenError(),
              HasSubstr("model-00002-of-00002.safetensors': file is 5 bytes"));
}

TEST(CheckpointErrors, MissingOrEmptyDirectory) {
  ScopedTempDir dir;
  auto empty = Checkpoint::Open(dir.path());
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(
      std::string(empty.status().message()),
      HasSubstr(
          "has neither model.safetensors nor model.safetensors.index.json"));
  auto absent = Checkpoint::Open(dir.File("nope"));
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(absent.status().message()),
              HasSubstr("does not exist"));
}

}  // namespace
}  // namespace janus
