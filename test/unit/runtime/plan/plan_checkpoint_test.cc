// VerifyCheckpointMatches / OpenPlanCheckpoint against a checkpoint written for
// the test plan.
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/plan/plan.h"
#include "test/unit/runtime/io/test_util.h"
#include "test/unit/runtime/plan/test_plan.h"

namespace janus {
namespace {

using ::janus::testing::ScopedTempDir;
using ::testing::HasSubstr;

class PlanCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    ckpt_dir_ = dir_.File("ckpt");
    std::filesystem::create_directory(ckpt_dir_);
    plan_ = testing::MakeTestPlan();
    ASSERT_TRUE(testing::BindToNewCheckpoint(plan_.get(), ckpt_dir_).ok());
    Reload();
  }
  void Reload() {
    auto bytes = SerializePlan(*plan_);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    auto loaded = LoadedPlan::FromBytes(*bytes, "test.jplan");
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    loaded_ = std::make_unique<LoadedPlan>(*std::move(loaded));
  }
  std::string MatchError(const std::string& override_dir = "") {
    absl::Status status =
        VerifyCheckpointMatches(loaded_->plan(), override_dir);
    EXPECT_FALSE(status.ok());
    return std::string(status.message());
  }
  std::string ModelPath() const { return ckpt_dir_ + "/model.safetensors"; }

  ScopedTempDir dir_;
  std::string ckpt_dir_;
  std::unique_ptr<plan::PlanT> plan_;
  std::unique_ptr<LoadedPlan> loaded_;
};

TEST_F(PlanCheckpoint, MatchesAndGivesEveryWeightsBytes) {
  ASSERT_TRUE(VerifyCheckpointMatches(loaded_->plan()).ok());
  auto files = OpenPlanCheckpoint(loaded_->plan());
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 1u);
  auto independent = SafetensorsFile::Open(ModelPath());
  ASSERT_TRUE(independent.ok());
  for (const plan::WeightRef* w : *loaded_->plan().weights()) {
    auto bytes = WeightBytes(*files, *w);
    const TensorInfo* info = independent->Find(w->name()->str());
    ASSERT_NE(info, nullptr);
    auto expected = independent->Data(*info);
    ASSERT_EQ(bytes.size(), expected.size());
    EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), expected.begin()))
        << w->name()->str();
  }
  EXPECT_EQ(PlanCheckpointDir(loaded_->plan()), ckpt_dir_);
  EXPECT_EQ(PlanCheckpointDir(loaded_->plan(), "/x"), "/x");
}

TEST_F(PlanCheckpoint, MovedDirectory) {
  const std::string moved = dir_.File("moved");
  std::filesystem::rename(ckpt_dir_, moved);
  std::string message = MatchError();
  EXPECT_THAT(message, HasSubstr(ModelPath()));
  EXPECT_THAT(message, HasSubstr("does not exist: the checkpoint moved"));
  // The override points the plan at the new place.
  EXPECT_TRUE(VerifyCheckpointMatches(loaded_->plan(), moved).ok());
}

TEST_F(PlanCheckpoint, ChangedSize) {
  std::string bytes = testing::ReadFile(ModelPath());
  testing::WriteFile(ModelPath(), bytes + "x");
  std::string message = MatchError();
  EXPECT_THAT(message, HasSubstr(absl::StrCat("is ", bytes.size() + 1,
                                              " bytes, the plan expects ",
                                              bytes.size())));
  EXPECT_THAT(message, HasSubstr("changed since compilation"));
}

TEST_F(PlanCheckpoint, ChangedHeaderSameSize) {
  // Swap two digits of a shape in the JSON header: same length, same data size,
  // new header.
  std::string bytes = testing::ReadFile(ModelPath());
  const std::string from = "\"shape\":[32,8]", to = "\"shape\":[8,32]";
  size_t at = bytes.find(from);
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, from.size(), to);
  testing::WriteFile(ModelPath(), bytes);
  std::string message = MatchError();
  EXPECT_THAT(message, HasSubstr("header checksum"));
  EXPECT_THAT(message, HasSubstr("changed since compilation"));
}

TEST_F(PlanCheckpoint, ChangedDataOnlyIsAccepted) {
  // Weights' values are not part of the contract (fine-tuned weights of the
  // same shapes run).
  std::string bytes = testing::ReadFile(ModelPath());
  bytes[bytes.size() - 1] ^= 0x55;
  testing::WriteFile(ModelPath(), bytes);
  EXPECT_TRUE(VerifyCheckpointMatches(loaded_->plan()).ok());
}

TEST_F(PlanCheckpoint, CorruptFileOfTheRightSize) {
  std::string bytes = testing::ReadFile(ModelPath());
  bytes[3] = 0x7f;  // header length now far past the end
  testing::WriteFile(ModelPath(), bytes);
  std::string message = MatchError();
  EXPECT_THAT(message, HasSubstr("no longer reads"));
  EXPECT_THAT(message, HasSubstr("runs past the end of the file"));
}

TEST_F(PlanCheckpoint, WeightDisagreesWithHeader) {
  plan_->weights[testing::kQ0]->shape = {4,
                                         16};  // same byte count, other shape
  Reload();
  EXPECT_THAT(
      MatchError(),
      HasSubstr("weights[2] ('model.layers.0.self_attn.q_proj.weight') in '" +
                ModelPath() + "': shape is [8, 8], the plan says [4, 16]"));
  plan_ = testing::MakeTestPlan();
  ASSERT_TRUE(testing::BindToNewCheckpoint(plan_.get(), ckpt_dir_).ok());
  plan_->weights[testing::kNorm0]->dtype = plan::DType::F16;
  Reload();
  EXPECT_THAT(MatchError(), HasSubstr("dtype is BF16, the plan says F16"));
  plan_->weights[testing::kNorm0]->dtype = plan::DType::BF16;
  plan_->weights[testing::kNorm0]->offset += 2;
  Reload();
  EXPECT_THAT(MatchError(), HasSubstr("the plan says ["));
  plan_->weights[testing::kNorm0]->offset -= 2;
  plan_->weights[testing::kNorm0]->name = "model.layers.0.no_such_norm.weight";
  Reload();
  EXPECT_THAT(MatchError(),
              HasSubstr("('model.layers.0.no_such_norm.weight')"));
  EXPECT_THAT(MatchError(), HasSubstr("the file has no such tensor"));
}

TEST_F(PlanCheckpoint, SyntheticPlanNeedsNoFiles) {
  plan_->synthetic_weights_seed = 1;
  plan_->files.clear();
  Reload();
  ASSERT_TRUE(
      VerifyCheckpointMatches(loaded_->plan(), "/definitely/not/here").ok());
  auto files = OpenPlanCheckpoint(loaded_->plan());
  ASSERT_TRUE(files.ok());
  EXPECT_TRUE(files->empty());
}

}  // namespace
}  // namespace janus
