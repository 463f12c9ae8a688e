// PlanToJson (checked field by field after parsing it back) and PlanToText (key
// lines).
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/plan/plan.h"
#include "test/unit/runtime/plan/test_plan.h"

namespace janus {
namespace {

using ::testing::HasSubstr;

class PlanDump : public ::testing::Test {
 protected:
  void SetUp() override {
    auto bytes = SerializePlan(*testing::MakeTestPlan());
    ASSERT_TRUE(bytes.ok());
    auto loaded = LoadedPlan::FromBytes(*bytes, "dump.jplan");
    ASSERT_TRUE(loaded.ok());
    loaded_ = std::make_unique<LoadedPlan>(*std::move(loaded));
  }
  std::unique_ptr<LoadedPlan> loaded_;
};

TEST_F(PlanDump, JsonHoldsEveryField) {
  nlohmann::json j = nlohmann::json::parse(PlanToJson(loaded_->plan()));
  EXPECT_EQ(j["version"], kPlanVersion);
  EXPECT_EQ(j["producer"], "plan unit test");
  EXPECT_EQ(j["model"]["model_type"], "mixtral");
  EXPECT_EQ(j["model"]["vocab_size"], 32);
  EXPECT_EQ(j["model"]["eos_token_ids"], nlohmann::json({2}));
  EXPECT_EQ(j["model"]["compute_dtype"], "F32");
  EXPECT_EQ(j["synthetic_weights_seed"], -1);
  EXPECT_EQ(j["files"][0]["path"], "model.safetensors");
  EXPECT_EQ(j["files"][0]["header_checksum"], 0x1234);
  ASSERT_EQ(j["weights"].size(), static_cast<size_t>(testing::kNumTestWeights));
  EXPECT_EQ(j["weights"][testing::kLmHead]["name"], "lm_head.weight");
  EXPECT_EQ(j["weights"][testing::kLmHead]["shape"], nlohmann::json({32, 8}));
  EXPECT_EQ(j["weights"][testing::kLmHead]["dtype"], "BF16");
  EXPECT_EQ(j["deployment"]["ranks"][2]["role"], "Moe");
  EXPECT_EQ(j["deployment"]["ranks"][2]["node"], 1);
  const auto& attn = j["programs"][0];
  EXPECT_EQ(attn["role"], "Attention");
  EXPECT_EQ(attn["output"], 4);
  EXPECT_EQ(attn["instrs"].size(), 18u);
  const auto& a = attn["instrs"][2];
  EXPECT_EQ(a["op"], "AttentionParams");
  EXPECT_EQ(a["inputs"], nlohmann::json({2}));
  EXPECT_EQ(a["params"]["q"], testing::kQ0);
  EXPECT_EQ(a["params"]["o_proj"], testing::kO0);
  EXPECT_EQ(a["params"]["qk_norm"], "None");
  EXPECT_EQ(a["params"]["rope"]["theta"], 1e6);
  EXPECT_EQ(attn["instrs"][1]["params"]["eps"],
            1e-5);  // shortest form, not 9.99999974737875e-06
  const auto& experts = j["programs"][1]["instrs"][4];
  EXPECT_EQ(experts["op"], "ExpertsParams");
  EXPECT_EQ(experts["params"]["down"], nlohmann::json({25, 26, 27, 28}));
  EXPECT_EQ(j["programs"][1]["instrs"][0]["params"]["strategy"], "TwoPhase");
  EXPECT_EQ(j["placements"][0]["replica_offsets"],
            nlohmann::json({0, 2, 3, 4, 6}));
  EXPECT_EQ(j["comm"]["inter_node_gbps"], 400);
  EXPECT_EQ(j["scheduler"]["algorithm"], "ActivationBalanced");
}

TEST_F(PlanDump, TextSummary) {
  const std::string text = PlanToText(loaded_->plan());
  EXPECT_THAT(text, HasSubstr("plan version 1, producer 'plan unit test'"));
  EXPECT_THAT(text, HasSubstr("model: mixtral, vocab 32, hidden 8, 2 layers, "
                              "max positions 64, compute F32"));
  EXPECT_THAT(
      text,
      HasSubstr(
          "checkpoint: '/nonexistent/checkpoint', 1 files, 31 weights, "));
  EXPECT_THAT(text, HasSubstr("file 0: model.safetensors, 1048576 bytes, "
                              "header checksum 0000000000001234"));
  EXPECT_THAT(text, HasSubstr("deployment: 1 attention + 2 MoE ranks, 2 GPUs "
                              "per node, gating on Moe"));
  EXPECT_THAT(text, HasSubstr("rank 2: Moe 1, node 1"));
  EXPECT_THAT(
      text,
      HasSubstr("program Attention: 5 registers, 18 instructions, output r4"));
  EXPECT_THAT(
      text, HasSubstr("program Moe: 5 registers, 7 instructions, output none"));
  EXPECT_THAT(text, HasSubstr("AttentionParams r2 -> r3 layer=0 num_heads=2 "
                              "num_kv_heads=1 head_dim=4 "
                              "q=2('model.layers.0.self_attn.q_proj.weight')"));
  EXPECT_THAT(text, HasSubstr("k_bias=-1 "));
  EXPECT_THAT(text,
              HasSubstr("rope=(theta=1000000.0 style=HalfSplit scaling=None"));
  EXPECT_THAT(text, HasSubstr("ExpertsParams   r0, r1, r2, r3 -> r4 layer=1 "
                              "placement=0 gate=[17..20] "
                              "up=[21..24] down=[25..28]"));
  EXPECT_THAT(text, HasSubstr("RouterParams    r0 -> r1, r2"));
  EXPECT_THAT(text, HasSubstr("layer 1: 4 experts, 6 replicas in 3 slots per "
                              "rank; replicas per expert "
                              "[2 1 1 2]; replicas per MoE rank {0:3 1:3}"));
  EXPECT_THAT(text, HasSubstr("layer 1: dispatch TwoPhase phase 0/2 (12.5 us), "
                              "dispatch TwoPhase phase 1/2 "
                              "(13.5 us), combine TwoPhase phase 0/2"));
  EXPECT_THAT(
      text,
      HasSubstr(
          "cost model: intra-node 900 GB/s 2 us, inter-node 400 GB/s 5 us"));
  EXPECT_THAT(text, HasSubstr("scheduler: ActivationBalanced"));
}

}  // namespace
}  // namespace janus
