// Serialisation round trip and the loader's integrity checks (every flipped
// byte, every truncation).
#include "runtime/plan/plan.h"

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/base/checksum.h"
#include "test/unit/runtime/io/test_util.h"
#include "test/unit/runtime/plan/test_plan.h"

namespace janus {
namespace {

using ::testing::HasSubstr;

std::string SerializedTestPlan() {
  auto bytes = SerializePlan(*testing::MakeTestPlan());
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : "";
}

TEST(PlanSerialization, RoundTripsEveryField) {
  const std::string bytes = SerializedTestPlan();
  auto loaded = LoadedPlan::FromBytes(bytes, "<memory>");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const plan::Plan& p = loaded->plan();
  EXPECT_EQ(p.version(), kPlanVersion);
  EXPECT_EQ(p.model()->model_type()->str(), "mixtral");
  EXPECT_EQ(p.weights()->size(),
            static_cast<uint32_t>(testing::kNumTestWeights));
  EXPECT_EQ(p.weights()->Get(testing::kLmHead)->name()->str(),
            "lm_head.weight");
  EXPECT_EQ(p.programs()
                ->Get(0)
                ->instrs()
                ->Get(2)
                ->params_as_AttentionParams()
                ->rope()
                ->theta(),
            1e6f);
  EXPECT_EQ(p.placements()->Get(0)->replica_rank()->size(), 6u);
  // The checksum covers the nested plan bytes.
  const auto* envelope = plan::GetPlanFile(loaded->bytes().data());
  EXPECT_EQ(loaded->checksum(),
            Fnv1a64(envelope->plan()->data(), envelope->plan()->size()));
  EXPECT_EQ(loaded->checksum(), envelope->checksum());
  // Unpack -> serialise again gives the same file: nothing is lost or
  // reordered.
  std::unique_ptr<plan::PlanT> unpacked(p.UnPack());
  auto again = SerializePlan(*unpacked);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, bytes);
  // PackUnchecked (the tests' producer of invalid plans) builds the same
  // envelope.
  EXPECT_EQ(testing::PackUnchecked(*testing::MakeTestPlan()), bytes);
}

TEST(PlanSerialization, NestedPlanIsAlignedAndHasNoIdentifier) {
  const std::string bytes = SerializedTestPlan();
  ASSERT_TRUE(flatbuffers::BufferHasIdentifier(bytes.data(), "JNSP"));
  const auto* envelope = plan::GetPlanFile(bytes.data());
  const uint8_t* nested = envelope->plan()->data();
  EXPECT_EQ((nested - reinterpret_cast<const uint8_t*>(bytes.data())) % 16, 0);
  EXPECT_FALSE(flatbuffers::BufferHasIdentifier(nested, "JNSP"));
}

TEST(PlanSerialization, FromFile) {
  testing::ScopedTempDir dir;
  const std::string bytes = SerializedTestPlan();
  testing::WriteFile(dir.File("p.jplan"), bytes);
  auto loaded = LoadedPlan::FromFile(dir.File("p.jplan"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->origin(), dir.File("p.jplan"));
  EXPECT_EQ(loaded->bytes(), bytes);
  auto missing = LoadedPlan::FromFile(dir.File("absent.jplan"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("absent.jplan"));
}

TEST(PlanSerialization, LoadedPlanSurvivesMoves) {
  auto loaded = LoadedPlan::FromBytes(SerializedTestPlan(), "a");
  ASSERT_TRUE(loaded.ok());
  LoadedPlan moved = *std::move(loaded);
  LoadedPlan assigned = std::move(moved);
  EXPECT_EQ(assigned.plan().model()->vocab_size(), 32);
}

TEST(PlanLoading, RejectsEveryFlippedByte) {
  const std::string bytes = SerializedTestPlan();
  ASSERT_GT(bytes.size(), 1000u);
  int checksum_rejections = 0;
  for (uint8_t mask : {0x01, 0x80, 0xff}) {
    for (size_t i = 0; i < bytes.size(); ++i) {
      std::string corrupt = bytes;
      corrupt[i] = static_cast<char>(corrupt[i] ^ mask);
      auto loaded = LoadedPlan::FromBytes(std::move(corrupt), "corrupt.jplan");
      ASSERT_FALSE(loaded.ok())
          << "byte " << i << " ^ " << int{mask} << " was accepted";
      EXPECT_THAT(std::string(loaded.status().message()),
                  HasSubstr("corrupt.jplan"));
      if (absl::StrContains(loaded.status().message(),
                            "plan checksum mismatch: the file is corrupt")) {
        ++checksum_rejections;
      }
    }
  }
  // Most of the file is the nested plan: most flips must be caught by the
  // checksum itself.
  EXPECT_GT(checksum_rejections, static_cast<int>(bytes.size()));
}

// Corruption with a recomputed checksum (what a buggy producer could write):
// the nested verifier and the invariants must stop it, or the plan must be safe
// to read and dump. Never a crash (this test is the one to run under
// ASan/UBSan).
TEST(PlanLoading, CorruptNestedPlanWithValidChecksumNeverCrashes) {
  const std::string bytes = SerializedTestPlan();
  const auto* nested_vec = plan::GetPlanFile(bytes.data())->plan();
  const std::string nested(reinterpret_cast<const char*>(nested_vec->data()),
                           nested_vec->size());
  int accepted = 0;
  for (uint8_t mask : {0x01, 0xff}) {
    for (size_t i = 0; i < nested.size(); ++i) {
      std::string corrupt = nested;
      corrupt[i] = static_cast<char>(corrupt[i] ^ mask);
      auto loaded =
          LoadedPlan::FromBytes(testing::WrapNested(corrupt), "fuzz.jplan");
      if (!loaded.ok()) continue;
      // e.g. a float, an offset or a name's character changed: still a valid
      // plan. Dumping every one of them takes seconds; every 8th still reaches
      // every field kind.
      if (++accepted % 8 != 1) continue;
      EXPECT_FALSE(PlanToText(loaded->plan()).empty());
      EXPECT_FALSE(PlanToJson(loaded->plan()).empty());
      (void)VerifyCheckpointMatches(loaded->plan());
    }
  }
  EXPECT_LT(accepted, static_cast<int>(nested.size()));
}

TEST(PlanLoading, RejectsEveryTruncationAndTrailingBytes) {
  const std::string bytes = SerializedTestPlan();
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto loaded = LoadedPlan::FromBytes(bytes.substr(0, n), "cut.jplan");
    ASSERT_FALSE(loaded.ok()) << "truncation to " << n << " bytes was accepted";
  }
  auto longer =
      LoadedPlan::FromBytes(bytes + std::string(8, '\0'), "long.jplan");
  ASSERT_FALSE(longer.ok());
  EXPECT_THAT(std::string(longer.status().message()),
              HasSubstr("not in canonical form"));
}

TEST(PlanLoading, SpecificMessages) {
  auto empty = LoadedPlan::FromBytes("", "e.jplan");
  EXPECT_THAT(std::string(empty.status().message()),
              HasSubstr("0 bytes is not a plan file"));

  std::string bytes = SerializedTestPlan();
  std::string wrong_id = bytes;
  wrong_id[4] = 'X';
  auto id = LoadedPlan::FromBytes(wrong_id, "id.jplan");
  EXPECT_THAT(std::string(id.status().message()),
              HasSubstr("loading plan 'id.jplan': not a Janus plan (no "
                        "\"JNSP\" file identifier)"));

  std::string flipped = bytes;
  flipped[bytes.size() - 40] ^=
      0x10;  // inside the nested plan (the envelope's head comes first)
  auto checksum = LoadedPlan::FromBytes(flipped, "c.jplan");
  EXPECT_THAT(std::string(checksum.status().message()),
              HasSubstr("plan checksum mismatch: the file is corrupt"));
  EXPECT_EQ(checksum.status().code(), absl::StatusCode::kDataLoss);

  auto garbage = LoadedPlan::FromBytes(
      std::string(4, '\x10') + "JNSP" + std::string(64, '\x7f'), "g.jplan");
  EXPECT_THAT(std::string(garbage.status().message()),
              HasSubstr("the plan envelope is malformed"));
}

TEST(PlanLoading, RejectsOtherVersions) {
  auto p = testing::MakeTestPlan();
  p->version = kPlanVersion + 1;
  auto bytes = SerializePlan(*p);
  ASSERT_TRUE(bytes.ok());
  auto loaded = LoadedPlan::FromBytes(*bytes, "v.jplan");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("plan version 2, this runtime reads version 1"));
}

TEST(PlanLoading, NestedBufferThatFailsTheVerifier) {
  // A correctly checksummed envelope around bytes that are not a Plan: only the
  // nested verifier can catch this (a producer bug, not corruption in transit).
  std::string junk(64, '\0');
  junk[0] = 0x7f;  // root offset past the end
  flatbuffers::FlatBufferBuilder fbb;
  fbb.ForceVectorAlignment(junk.size(), 1, 16);
  auto vec = fbb.CreateVector(reinterpret_cast<const uint8_t*>(junk.data()),
                              junk.size());
  plan::FinishPlanFileBuffer(
      fbb, plan::CreatePlanFile(fbb, Fnv1a64(junk.data(), junk.size()), vec));
  std::string bytes(reinterpret_cast<const char*>(fbb.GetBufferPointer()),
                    fbb.GetSize());
  auto loaded = LoadedPlan::FromBytes(bytes, "n.jplan");
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("the nested plan failed FlatBuffers verification"));
}

TEST(PlanSerialization, RefusesUnpackablePlans) {
  auto p = testing::MakeTestPlan();
  p->model.reset();
  EXPECT_THAT(std::string(SerializePlan(*p).status().message()),
              HasSubstr("model is missing"));
  p = testing::MakeTestPlan();
  p->programs[1]->instrs[2]->params.Reset();
  EXPECT_THAT(std::string(SerializePlan(*p).status().message()),
              HasSubstr("programs[1].instrs[2].params is missing"));
  p = testing::MakeTestPlan();
  p->programs[0]->instrs[2]->params.AsAttentionParams()->rope.reset();
  EXPECT_THAT(std::string(SerializePlan(*p).status().message()),
              HasSubstr("programs[0].instrs[2].rope is missing"));
}

}  // namespace
}  // namespace janus
