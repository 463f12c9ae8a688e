// Every semantic invariant: one mutation of the valid test plan each, rejected
// with its message both by SerializePlan (producer side) and by the loader (a
// plan written without the checks).
#include <functional>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/plan/plan.h"
#include "test/unit/runtime/plan/test_plan.h"

namespace janus {
namespace {

using namespace ::janus::plan;  // NOLINT
using ::janus::testing::MakeTestPlan;
using ::janus::testing::PackUnchecked;
using ::testing::HasSubstr;

struct Violation {
  const char* name;
  std::function<void(PlanT*)> mutate;
  const char* message;
};

void PrintTo(const Violation& v, std::ostream* os) { *os << v.name; }

AttentionParamsT* Attn(PlanT* p, int instr) {
  return p->programs[0]->instrs[instr]->params.AsAttentionParams();
}
ExpertsParamsT* Experts(PlanT* p) {
  return p->programs[1]->instrs[4]->params.AsExpertsParams();
}
PlacementT* Place(PlanT* p) { return p->placements[0].get(); }
DeploymentT* Deploy(PlanT* p) { return p->deployment.get(); }

const Violation kViolations[] = {
    {"WeightIndexPastEnd", [](PlanT* p) { Attn(p, 2)->q = 31; },
     "programs[0] (Attention).instrs[2] (AttentionParams): weight 'q' is 31, "
     "but the plan has 31 weights"},
    {"WeightIndexBelowMinusOne", [](PlanT* p) { Attn(p, 8)->o_proj = -2; },
     "instrs[8] (AttentionParams): weight 'o_proj' is -2"},
    {"ExpertWeightPastEnd", [](PlanT* p) { Experts(p)->down[3] = 99; },
     "programs[1] (Moe).instrs[4] (ExpertsParams): weight 'down[3]' is 99"},
    {"LmHeadWeightPastEnd",
     [](PlanT* p) {
       p->programs[0]->instrs[17]->params.AsLmHeadParams()->weight = 40;
     },
     "(LmHeadParams): weight 'weight' is 40"},
    {"WeightFilePastEnd", [](PlanT* p) { p->weights[3]->file = 1; },
     "weights[3] ('model.layers.0.self_attn.k_proj.weight') names file 1, but "
     "the plan has 1 files"},
    {"WeightSizeMismatch", [](PlanT* p) { p->weights[0]->nbytes += 2; },
     "weights[0] ('model.embed_tokens.weight') has 514 bytes, but BF16 [32, 8] "
     "needs 512"},
    {"WeightNegativeDim", [](PlanT* p) { p->weights[1]->shape = {-8}; },
     "has shape [-8]"},
    {"WeightBadDtype",
     [](PlanT* p) { p->weights[1]->dtype = static_cast<plan::DType>(9); },
     "has dtype 9, which is not a dtype"},
    {"AbsoluteFilePath",
     [](PlanT* p) { p->files[0]->path = "/abs/model.safetensors"; },
     "files[0].path '/abs/model.safetensors' is not relative"},
    {"OneProgram", [](PlanT* p) { p->programs.pop_back(); },
     "the plan has 1 programs; it needs exactly one Attention and one Moe "
     "program"},
    {"TwoAttentionPrograms",
     [](PlanT* p) { p->programs[1]->role = Role::Attention; },
     "programs[1] has role 0; programs[role] must hold the Moe program"},
    {"InputRegisterPastEnd",
     [](PlanT* p) { p->programs[0]->instrs[3]->inputs[1] = 9; },
     "programs[0] (Attention).instrs[3] (AddParams) uses register 9, but the "
     "program has 5 registers"},
    {"OutputRegisterPastEnd",
     [](PlanT* p) { p->programs[1]->instrs[2]->outputs[1] = 5; },
     "programs[1] (Moe).instrs[2] (RouterParams) uses register 5"},
    {"ProgramOutputPastEnd", [](PlanT* p) { p->programs[0]->output = 5; },
     "programs[0] (Attention): output register 5 with 5 registers"},
    {"AttentionProgramWithoutOutput",
     [](PlanT* p) { p->programs[0]->output = -1; },
     "programs[0] (Attention): output register -1"},
    {"SchedulePlacementPastEnd",
     [](PlanT* p) {
       p->programs[1]->instrs[3]->params.AsScheduleParams()->placement = 1;
     },
     "(ScheduleParams): placement 1, but the plan has 1 placements"},
    {"ExpertListLength", [](PlanT* p) { Experts(p)->up.pop_back(); },
     "(ExpertsParams): 'up' lists 3 experts, but placement 0 has 4"},
    {"CommPhase",
     [](PlanT* p) {
       p->programs[0]->instrs[12]->params.AsDispatchParams()->phase = 2;
     },
     "(DispatchParams): strategy 1 phase 2 of 2"},
    {"HeadsNotDivisible", [](PlanT* p) { Attn(p, 2)->num_kv_heads = 3; },
     "num_heads 2, num_kv_heads 3"},
    {"RouterTopKAboveExperts",
     [](PlanT* p) {
       p->programs[1]->instrs[2]->params.AsRouterParams()->top_k = 5;
     },
     "(RouterParams): num_experts 4, top_k 5"},
    {"OffsetsLength", [](PlanT* p) { Place(p)->replica_offsets.pop_back(); },
     "placements[0] (layer 1): replica_offsets has 4 entries, expected "
     "num_experts + 1 = 5"},
    {"OffsetsStartAtZero", [](PlanT* p) { Place(p)->replica_offsets[0] = 1; },
     "replica_offsets[0] is not 0"},
    {"ExpertWithoutReplica", [](PlanT* p) { Place(p)->replica_offsets[2] = 2; },
     "placements[0] (layer 1): expert 1 has no replica (replica_offsets 2, 2)"},
    {"ReplicaListsLength", [](PlanT* p) { Place(p)->replica_slot.pop_back(); },
     "replica_offsets end at 6, but replica_rank has 6 and replica_slot 5 "
     "entries"},
    {"ReplicaRankOutOfRange", [](PlanT* p) { Place(p)->replica_rank[4] = 2; },
     "replica 4 is on MoE rank 2, outside [0, 2)"},
    {"ReplicaSlotOutOfRange", [](PlanT* p) { Place(p)->replica_slot[5] = 3; },
     "replica 5 is in slot 3, outside [0, 3)"},
    {"DuplicateRankSlot", [](PlanT* p) { Place(p)->replica_slot[2] = 0; },
     "two replicas share MoE rank 0 slot 0"},
    {"RankCount", [](PlanT* p) { Deploy(p)->moe_ranks = 3; },
     "deployment lists 3 ranks, but attention_ranks + moe_ranks = 4"},
    {"RankRole", [](PlanT* p) { Deploy(p)->ranks[1]->role = Role::Attention; },
     "deployment.ranks[1] is (rank 1, role 0, index 0), expected (rank 1, role "
     "Moe, index 0)"},
    {"RankIndex", [](PlanT* p) { Deploy(p)->ranks[2]->index = 0; },
     "deployment.ranks[2] is (rank 2, role 1, index 0)"},
    {"GpusPerNode", [](PlanT* p) { Deploy(p)->gpus_per_node = 0; },
     "deployment.gpus_per_node is 0"},
    {"NodeOverfull", [](PlanT* p) { Deploy(p)->gpus_per_node = 1; },
     "node 1 holds more than gpus_per_node = 1 ranks"},
    {"NodeSharedByRoles",
     [](PlanT* p) {
       Deploy(p)->ranks[0]->node = 1;
       Deploy(p)->gpus_per_node = 3;
     },
     "node 1 holds both attention and MoE ranks"},
    {"NoMoeRanks", [](PlanT* p) { Deploy(p)->moe_ranks = 0; },
     "each role needs at least one"},
    {"VocabZero", [](PlanT* p) { p->model->vocab_size = 0; },
     "model.vocab_size is 0"},
    {"HiddenNegative", [](PlanT* p) { p->model->hidden_size = -1; },
     "model.hidden_size is -1"},
};

class PlanInvariants : public ::testing::TestWithParam<Violation> {};

TEST_P(PlanInvariants, RejectedWithMessage) {
  const Violation& v = GetParam();
  auto p = MakeTestPlan();
  v.mutate(p.get());

  auto serialized = SerializePlan(*p);
  ASSERT_FALSE(serialized.ok()) << v.name << " was serialised";
  EXPECT_THAT(std::string(serialized.status().message()), HasSubstr(v.message));
  EXPECT_THAT(std::string(serialized.status().message()),
              HasSubstr("refusing to serialise plan: invalid plan: "));

  auto loaded = LoadedPlan::FromBytes(PackUnchecked(*p), "bad.jplan");
  ASSERT_FALSE(loaded.ok()) << v.name << " was loaded";
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(v.message));
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("loading plan 'bad.jplan': invalid plan: "));
}

INSTANTIATE_TEST_SUITE_P(All, PlanInvariants, ::testing::ValuesIn(kViolations),
                         [](const ::testing::TestParamInfo<Violation>& info) {
                           return info.param.name;
                         });

TEST(PlanInvariantsValid, TestPlanAndSyntheticPlanPass) {
  auto p = MakeTestPlan();
  ASSERT_TRUE(SerializePlan(*p).ok());
  // A synthetic-weights plan has no files; its weights' file index is not
  // checked.
  p->synthetic_weights_seed = 42;
  p->files.clear();
  auto bytes = SerializePlan(*p);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  ASSERT_TRUE(LoadedPlan::FromBytes(*bytes, "s.jplan").ok());
  // Optional tables may be absent.
  p = MakeTestPlan();
  p->comm.reset();
  p->scheduler.reset();
  ASSERT_TRUE(SerializePlan(*p).ok());
}

}  // namespace
}  // namespace janus
