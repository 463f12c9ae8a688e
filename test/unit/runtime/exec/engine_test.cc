// The engine end to end on plans built in code: every deployment shape and
// strategy gives the logits of a single-process reference forward pass (full
// recompute per step, no distribution, no scheduler); batching, chunked prefill
// and admission limits do not change results; bad requests are clear errors; a
// failing rank stops every rank without a hang; statistics and the activation
// profile count what ran; and the real Mixtral / Qwen2-MoE fixtures match
// transformers' logits.
#include "runtime/exec/cpu_backend.h"
#include "runtime/exec/engine.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/cpu/cpu.h"
#include "runtime/exec/reference_run.h"
#include "runtime/exec/weights.h"
#include "runtime/io/reference.h"
#include "test/unit/runtime/exec/test_plans.h"

namespace janus::exec {
namespace {

using plan::CommStrategy;
using testing::GreedyRequests;
using testing::LayerDesc;
using testing::MakeShape;
using testing::ModelDesc;
using testing::RelativeError;
using testing::Shape;

int Argmax(const std::vector<float>& v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

// Logits at every position of `tokens`, computed from scratch in one process
// with the CPU kernels (no plan program, no ranks, no collectives, no
// scheduler: experts are evaluated one by one).
std::vector<std::vector<float>> ReferenceForward(
    const ModelDesc& m, const WeightStore& w,
    const std::vector<int32_t>& tokens) {
  const int n = static_cast<int>(tokens.size()), H = m.hidden;
  auto W = [&](int i) { return *w.Find(i); };
  std::vector<float> x(static_cast<size_t>(n) * H), h(x.size()), y(x.size());
  EXPECT_TRUE(cpu::Embedding(W(m.embed), tokens.data(), n, x.data()).ok());
  std::vector<cpu::KvLayerSpec> specs(
      m.layers.size(), {m.kv_heads * m.head_dim, m.kv_heads * m.head_dim});
  auto cache = cpu::PagedKvCache::Create(16, (n + 15) / 16, specs);
  EXPECT_TRUE(cache.ok());
  int seq = *cache->AddSequence();
  EXPECT_TRUE(cache->Reserve(seq, n).ok());
  cpu::BatchLayout layout;
  for (int p = 0; p < n; ++p) {
    layout.seq.push_back(seq);
    layout.position.push_back(p);
  }
  cpu::RopeConfig rc;
  rc.theta = m.rope_theta;
  rc.rotary_dim = m.head_dim;
  rc.scaling = static_cast<cpu::RopeScaling>(m.rope_scaling);
  rc.factor = m.rope_factor;
  auto rope = cpu::RopeTable::Create(rc, m.max_pos);
  EXPECT_TRUE(rope.ok());
  for (size_t l = 0; l < m.layers.size(); ++l) {
    const LayerDesc& d = m.layers[l];
    EXPECT_TRUE(
        cpu::RmsNorm(x.data(), n, H, W(d.input_norm), m.eps, h.data()).ok());
    cpu::AttentionWeights aw{W(d.q), W(d.k), W(d.v), W(d.o)};
    aw.q_bias = w.Find(d.q_bias);
    aw.k_bias = w.Find(d.k_bias);
    aw.v_bias = w.Find(d.v_bias);
    cpu::AttentionConfig ac{m.heads, m.kv_heads, m.head_dim};
    ac.rope = &*rope;
    EXPECT_TRUE(cpu::Attention(aw, ac, h.data(), layout, *cache,
                               static_cast<int>(l), y.data())
                    .ok());
    cpu::Add(x.data(), y.data(), x.size(), x.data());
    EXPECT_TRUE(
        cpu::RmsNorm(x.data(), n, H, W(d.post_norm), m.eps, h.data()).ok());
    if (!d.moe) {
      EXPECT_TRUE(cpu::Mlp(h.data(), n, W(d.dense_gate), W(d.dense_up),
                           W(d.dense_down), nullptr, y.data())
                      .ok());
      cpu::Add(x.data(), y.data(), x.size(), x.data());
      continue;
    }
    cpu::RouterConfig router;
    router.num_experts = m.num_experts;
    router.top_k = m.top_k;
    router.norm_topk_prob = m.norm_topk_prob;
    std::vector<float> weights(static_cast<size_t>(n) * m.top_k);
    std::vector<int32_t> ids(weights.size());
    EXPECT_TRUE(cpu::Route(router, W(d.router), nullptr, h.data(), n,
                           weights.data(), ids.data())
                    .ok());
    std::vector<float> expert_out(H);
    for (int r = 0; r < n; ++r) {
      float* yr = &y[static_cast<size_t>(r) * H];
      std::fill(yr, yr + H, 0.0f);
      for (int k = 0; k < m.top_k; ++k) {
        const int e = ids[r * m.top_k + k];
        EXPECT_TRUE(cpu::Mlp(&h[static_cast<size_t>(r) * H], 1,
                             W(d.expert_gate[e]), W(d.expert_up[e]),
                             W(d.expert_down[e]), nullptr, expert_out.data())
                        .ok());
        for (int c = 0; c < H; ++c)
          yr[c] += weights[r * m.top_k + k] * expert_out[c];
      }
    }
    cpu::Add(x.data(), y.data(), x.size(), x.data());
    if (d.shared_gate >= 0) {
      EXPECT_TRUE(cpu::Mlp(h.data(), n, W(d.shared_gate), W(d.shared_up),
                           W(d.shared_down), w.Find(d.shared_sigmoid), y.data())
                      .ok());
      cpu::Add(x.data(), y.data(), x.size(), x.data());
    }
  }
  EXPECT_TRUE(
      cpu::RmsNorm(x.data(), n, H, W(m.final_norm), m.eps, h.data()).ok());
  std::vector<float> logits(static_cast<size_t>(n) * m.vocab);
  EXPECT_TRUE(cpu::LmHead(h.data(), n, W(m.lm_head), logits.data()).ok());
  std::vector<std::vector<float>> rows;
  for (int r = 0; r < n; ++r)
    rows.emplace_back(&logits[static_cast<size_t>(r) * m.vocab],
                      &logits[static_cast<size_t>(r + 1) * m.vocab]);
  return rows;
}

std::unique_ptr<WeightStore> AllWeights(const LoadedPlan& plan) {
  std::vector<int> all(plan.plan().weights()->size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  auto store = WeightStore::Create(plan.plan(), all);
  EXPECT_TRUE(store.ok()) << store.status();
  return std::move(*store);
}

const std::vector<std::vector<int32_t>> kPrompts = {
    {1, 17, 42, 9, 3, 60, 5}, {4, 8}, {33, 12, 7, 7, 7, 50, 21, 2, 11, 63, 0}};

void ExpectSameResults(const std::vector<GenerationResult>& a,
                       const std::vector<GenerationResult>& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].tokens, b[i].tokens) << "request " << i;
    ASSERT_EQ(a[i].prefill_logits.size(), b[i].prefill_logits.size());
    ASSERT_EQ(a[i].decode_logits.size(), b[i].decode_logits.size());
    for (size_t r = 0; r < a[i].prefill_logits.size(); ++r) {
      EXPECT_LE(RelativeError(a[i].prefill_logits[r], b[i].prefill_logits[r]),
                tol)
          << "request " << i << " row " << r;
    }
    for (size_t r = 0; r < a[i].decode_logits.size(); ++r) {
      EXPECT_LE(RelativeError(a[i].decode_logits[r], b[i].decode_logits[r]),
                tol)
          << "request " << i << " step " << r;
    }
  }
}

struct Case {
  std::string name;
  Shape shape;
  testing::TinyOptions model;
};

class SyntheticShapesTest : public ::testing::TestWithParam<Case> {};

TEST_P(SyntheticShapesTest, MatchesSingleProcessReference) {
  const Case& c = GetParam();
  ModelDesc model = testing::TinyModel(c.model);
  auto plan = testing::LoadPlan(model, c.shape);
  ASSERT_TRUE(plan.ok()) << plan.status();
  auto engine = Engine::Create(*plan);
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto results = (*engine)->Generate(GreedyRequests(kPrompts, 5));
  ASSERT_TRUE(results.ok()) << results.status();
  auto weights = AllWeights(*plan);
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    const GenerationResult& got = (*results)[i];
    auto want = ReferenceForward(model, *weights, kPrompts[i]);
    ASSERT_EQ(got.prefill_logits.size(), kPrompts[i].size());
    for (size_t r = 0; r < want.size(); ++r) {
      EXPECT_LE(RelativeError(got.prefill_logits[r], want[r]), 1e-5)
          << "prompt " << i << " position " << r;
    }
    // Greedy decoding by full recompute.
    std::vector<int32_t> tokens = kPrompts[i];
    ASSERT_EQ(got.tokens.size(), 5u);
    for (int s = 0; s < 5; ++s) {
      std::vector<float> last =
          ReferenceForward(model, *weights, tokens).back();
      EXPECT_LE(RelativeError(got.decode_logits[s], last), 1e-5)
          << "prompt " << i << " step " << s;
      EXPECT_EQ(got.tokens[s], Argmax(last)) << "prompt " << i << " step " << s;
      tokens.push_back(Argmax(last));
    }
  }
  EXPECT_EQ(dynamic_cast<const CpuBackend&>((*engine)->backend()).transport().pending_messages(), 0);
}

const testing::TinyOptions kRich{3, true, true, true, 11};

INSTANTIATE_TEST_SUITE_P(
    Shapes, SyntheticShapesTest,
    ::testing::Values(
        Case{"direct_1a1m", MakeShape(1, 1, 8, CommStrategy::Direct, 1), {}},
        Case{"direct_1a2m", MakeShape(1, 2, 8, CommStrategy::Direct, 1), {}},
        Case{"direct_2a3m", MakeShape(2, 3, 8, CommStrategy::Direct, 1), {}},
        Case{"rich_direct_2a3m", MakeShape(2, 3, 8, CommStrategy::Direct, 1),
             kRich},
        Case{"two_phase_3a2m_gpn2",
             MakeShape(3, 2, 2, CommStrategy::TwoPhase, 2), kRich},
        Case{"two_phase_one_instr_2a3m_gpn2",
             MakeShape(2, 3, 2, CommStrategy::TwoPhase, 1),
             {}},
        Case{"relay_2a3m_gpn2", MakeShape(2, 3, 2, CommStrategy::Relay, 2),
             kRich},
        Case{"gating_on_attention_2a2m",
             MakeShape(2, 2, 8, CommStrategy::Direct, 1, true), kRich},
        Case{"more_attention_than_sequences_4a1m",
             MakeShape(4, 1, 8, CommStrategy::Direct, 1),
             {}}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

class EngineTest : public ::testing::Test {
 protected:
  std::unique_ptr<Engine> Make(const Shape& shape, EngineOptions options = {},
                               testing::TinyOptions model = {}) {
    auto plan = testing::LoadPlan(testing::TinyModel(model), shape);
    EXPECT_TRUE(plan.ok()) << plan.status();
    auto engine = Engine::Create(*plan, options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? std::move(*engine) : nullptr;
  }
};

TEST_F(EngineTest, BatchingEqualsRunningAlone) {
  auto engine = Make(MakeShape(2, 3, 8, CommStrategy::Direct, 1));
  auto batched = engine->Generate(GreedyRequests(kPrompts, 6));
  ASSERT_TRUE(batched.ok()) << batched.status();
  std::vector<GenerationResult> alone;
  for (const auto& p : kPrompts) {
    auto one = engine->Generate(GreedyRequests({p}, 6));
    ASSERT_TRUE(one.ok()) << one.status();
    alone.push_back((*one)[0]);
  }
  ExpectSameResults(*batched, alone, 1e-6);
}

TEST_F(EngineTest, ShapesAgreeWithEachOther) {
  auto small = Make(MakeShape(1, 1, 8, CommStrategy::Direct, 1), {}, kRich);
  auto large = Make(MakeShape(2, 3, 2, CommStrategy::TwoPhase, 2), {}, kRich);
  auto a = small->Generate(GreedyRequests(kPrompts, 6));
  auto b = large->Generate(GreedyRequests(kPrompts, 6));
  ASSERT_TRUE(a.ok() && b.ok());
  ExpectSameResults(*a, *b, 1e-6);
}

TEST_F(EngineTest, ChunkedPrefillAndAdmissionLimitsDoNotChangeResults) {
  auto base = Make(MakeShape(2, 2, 8, CommStrategy::Direct, 1));
  auto want = base->Generate(GreedyRequests(kPrompts, 4));
  ASSERT_TRUE(want.ok());
  EngineOptions chunked;
  chunked.prefill_chunk = 3;
  chunked.kv_block_size = 4;
  auto got = Make(MakeShape(2, 2, 8, CommStrategy::Direct, 1), chunked)
                 ->Generate(GreedyRequests(kPrompts, 4));
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectSameResults(*got, *want, 1e-6);
  EngineOptions one_at_a_time;
  one_at_a_time.max_batch = 1;
  got = Make(MakeShape(2, 2, 8, CommStrategy::Direct, 1), one_at_a_time)
            ->Generate(GreedyRequests(kPrompts, 4));
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectSameResults(*got, *want, 1e-6);
  // A KV cache that holds one sequence at a time per rank: requests wait for
  // blocks.
  EngineOptions tight;
  tight.kv_cache_tokens = 16;
  tight.kv_block_size = 4;
  got = Make(MakeShape(1, 2, 8, CommStrategy::Direct, 1), tight)
            ->Generate(GreedyRequests(kPrompts, 4));
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectSameResults(*got, *want, 1e-6);
}

TEST_F(EngineTest, SamplingIsSeededAndDeterministic) {
  auto engine = Make(MakeShape(2, 2, 8, CommStrategy::Direct, 1));
  auto request = [](uint64_t seed, float temperature, int top_k, float top_p) {
    GenerationRequest r;
    r.prompt = {5, 6, 7};
    r.max_new_tokens = 12;
    r.sampling.temperature = temperature;
    r.sampling.top_k = top_k;
    r.sampling.top_p = top_p;
    r.sampling.seed = seed;
    return r;
  };
  auto a =
      engine->Generate({request(1, 1.5f, 0, 1.0f), request(2, 1.5f, 0, 1.0f),
                        request(1, 1.5f, 0, 1.0f)});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ((*a)[0].tokens, (*a)[2].tokens);
  EXPECT_NE((*a)[0].tokens, (*a)[1].tokens);
  auto alone = engine->Generate({request(2, 1.5f, 0, 1.0f)});
  EXPECT_EQ((*alone)[0].tokens, (*a)[1].tokens);
  // top_k = 1 and a tiny top_p are greedy.
  auto g =
      engine->Generate({request(3, 0.0f, 0, 1.0f), request(4, 2.0f, 1, 1.0f),
                        request(5, 2.0f, 0, 1e-6f)});
  ASSERT_TRUE(g.ok());
  EXPECT_EQ((*g)[0].tokens, (*g)[1].tokens);
  EXPECT_EQ((*g)[0].tokens, (*g)[2].tokens);
}

TEST_F(EngineTest, BadRequestsAreClearErrorsAndLeaveTheEngineUsable) {
  EngineOptions options;
  options.kv_cache_tokens = 32;
  auto engine = Make(MakeShape(1, 2, 8, CommStrategy::Direct, 1), options);
  auto expect_error = [&](GenerationRequest r, absl::StatusCode code,
                          const std::string& text) {
    auto got = engine->Generate({GreedyRequests({{1, 2}}, 1)[0], r});
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), code) << got.status();
    EXPECT_NE(got.status().message().find(text), std::string::npos)
        << got.status();
  };
  GenerationRequest r;
  r.prompt = {1, 64, 3};
  expect_error(r, absl::StatusCode::kInvalidArgument,
               "request 1: token id 64 at prompt position 1 is outside the "
               "vocabulary [0, 64)");
  r.prompt = {1, -1};
  expect_error(r, absl::StatusCode::kInvalidArgument,
               "token id -1 at prompt position 1");
  r.prompt = std::vector<int32_t>(60, 3);
  r.max_new_tokens = 5;
  expect_error(r, absl::StatusCode::kInvalidArgument,
               "exceeds the model's context of 64 positions");
  r.prompt = std::vector<int32_t>(30, 3);
  r.max_new_tokens = 5;
  expect_error(r, absl::StatusCode::kInvalidArgument, "KV cache");
  r.prompt = {};
  expect_error(r, absl::StatusCode::kInvalidArgument, "prompt is empty");
  r.prompt = {1};
  r.max_new_tokens = -1;
  expect_error(r, absl::StatusCode::kInvalidArgument, "max_new_tokens");
  r.max_new_tokens = 2;
  r.sampling.temperature = -1.0f;
  expect_error(r, absl::StatusCode::kInvalidArgument, "temperature");
  // Still works.
  auto ok = engine->Generate(GreedyRequests({{1, 2, 3}}, 3));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)[0].tokens.size(), 3u);
}

TEST_F(EngineTest, DeploymentsTheBackendCannotRunAreRefused) {
  auto plan = testing::LoadPlan(testing::TinyModel(),
                                MakeShape(2, 3, 8, CommStrategy::Direct, 1));
  ASSERT_TRUE(plan.ok());
  EngineOptions cuda;
  cuda.backend = "cuda";
  EXPECT_EQ(Engine::Create(*plan, cuda).status().code(),
            absl::StatusCode::kUnimplemented);
  EngineOptions bogus;
  bogus.backend = "tpu";
  EXPECT_EQ(Engine::Create(*plan, bogus).status().code(),
            absl::StatusCode::kInvalidArgument);
  EngineOptions few;
  few.max_ranks = 4;
  auto status = Engine::Create(*plan, few).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(status.message().find("2 attention + 3 MoE ranks"),
            std::string::npos)
      << status;

  // Programs whose communication does not pair up would deadlock: refused
  // before any thread runs.
  auto broken = testing::BuildPlan(testing::TinyModel(),
                                   MakeShape(1, 2, 8, CommStrategy::Direct, 1));
  auto& moe_instrs = broken->programs[1]->instrs;
  moe_instrs.pop_back();  // the last combine
  auto bytes = SerializePlan(*broken);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto loaded = LoadedPlan::FromBytes(*bytes, "broken");
  ASSERT_TRUE(loaded.ok());
  status = Engine::Create(*loaded).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("disagree"), std::string::npos) << status;
}

TEST_F(EngineTest, AFailingRankStopsEveryRankWithItsError) {
  // Attention layer 1 claims 8 heads: its kernel rejects the q_proj shape
  // mid-step, on rank 0 only after the MoE ranks have started the step.
  auto broken = testing::BuildPlan(testing::TinyModel(),
                                   MakeShape(2, 2, 8, CommStrategy::Direct, 1));
  int seen = 0;
  for (auto& instr : broken->programs[0]->instrs) {
    if (auto* a = instr->params.AsAttentionParams(); a && seen++ == 1)
      a->num_heads = 8;
  }
  auto bytes = SerializePlan(*broken);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto loaded = LoadedPlan::FromBytes(*bytes, "broken");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto engine = Engine::Create(*loaded);
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto got = (*engine)->Generate(GreedyRequests(kPrompts, 2));
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("attention rank"), std::string::npos)
      << got.status();
  EXPECT_NE(got.status().message().find("AttentionParams layer 1"),
            std::string::npos)
      << got.status();
  auto again = (*engine)->Generate(GreedyRequests(kPrompts, 2));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  engine->reset();  // joins every thread: must not hang
}

TEST_F(EngineTest, StatsAndActivationProfileCountWhatRan) {
  EngineOptions options;
  options.collect_stats = true;
  options.record_activations = true;
  auto engine = Make(MakeShape(1, 3, 8, CommStrategy::Direct, 1), options,
                     {3, false, true, false, 5});
  GenerationRequest r;
  r.prompt = kPrompts[2];
  r.max_new_tokens = 1;  // one step: the prefill
  ASSERT_TRUE(engine->Generate({r}).ok());
  const EngineStats& stats = engine->stats();
  EXPECT_EQ(stats.steps, 1);
  EXPECT_EQ(stats.rows, 11);
  ASSERT_EQ(stats.layers.size(), 2u);  // layers 1 and 2 are MoE, layer 0 dense
  nlohmann::json profile =
      nlohmann::json::parse(engine->activation_profile().ToJson());
  EXPECT_EQ(profile["model_type"], "mixtral");
  EXPECT_EQ(profile["num_layers"], 3);
  EXPECT_EQ(profile["num_experts"], 6);
  ASSERT_EQ(profile["layers"].size(), 2u);
  for (const auto& layer : profile["layers"]) {
    const int l = layer["layer"];
    const MoeLayerStats& s = stats.layers.at(l);
    EXPECT_EQ(layer["tokens"], 11);
    int64_t counted = 0, activated = 0;
    for (int64_t c : layer["expert_counts"]) {
      counted += c;
      activated += c > 0;
    }
    EXPECT_EQ(counted, 11 * 2);  // top-2, distinct experts per token
    int64_t pairs = 0;
    for (const auto& p : layer["coactivation"]) {
      EXPECT_LT(p[0].get<int>(), p[1].get<int>());
      pairs += p[2].get<int64_t>();
    }
    EXPECT_EQ(pairs, 11);  // one pair per token with top-2
    // Each activated expert is computed on exactly one rank; a_max is the
    // largest share.
    int64_t experts = 0, most = 0, pair_total = 0;
    for (size_t g = 0; g < s.experts_per_rank.size(); ++g) {
      experts += s.experts_per_rank[g];
      most = std::max(most, s.experts_per_rank[g]);
      pair_total += s.pairs_per_rank[g];
      EXPECT_LE(s.tokens_per_rank[g], 11);
    }
    EXPECT_EQ(experts, activated);
    EXPECT_EQ(s.a_max_max, most);
    EXPECT_EQ(pair_total, 22);
  }
  EXPECT_NE(stats.ToText().find("a_max"), std::string::npos);
  EXPECT_EQ(stats.prefill_steps, 1);
  EXPECT_EQ(stats.decode_steps, 0);
  // A second run: one prefill step and 3 decode steps of one row each, counted apart.
  const EngineStats first = engine->stats();
  r.max_new_tokens = 4;
  ASSERT_TRUE(engine->Generate({r}).ok());
  const EngineStats second = engine->stats().TimingSince(first);
  EXPECT_EQ(second.steps, 4);
  EXPECT_EQ(second.prefill_steps, 1);
  EXPECT_EQ(second.prefill_rows, 11);
  EXPECT_EQ(second.decode_steps, 3);
  EXPECT_EQ(second.decode_rows, 3);
  EXPECT_GT(second.decode_seconds, 0);
  EXPECT_TRUE(second.layers.empty());
  EXPECT_NE(second.TimingText().find("decode steps: 3 steps, 3 rows"), std::string::npos)
      << second.TimingText();
}

TEST_F(EngineTest, StopsAtEosAndPrefillsWithoutGenerating) {
  const Shape shape = MakeShape(2, 2, 8, CommStrategy::Direct, 1);
  auto free_run = Make(shape)->Generate(GreedyRequests({kPrompts[0]}, 6));
  ASSERT_TRUE(free_run.ok());
  const std::vector<int32_t> tokens = (*free_run)[0].tokens;
  // Make the third generated token the model's eos.
  auto plan = testing::BuildPlan(testing::TinyModel(), shape);
  plan->model->eos_token_ids = {tokens[2]};
  auto bytes = SerializePlan(*plan);
  ASSERT_TRUE(bytes.ok());
  auto loaded = LoadedPlan::FromBytes(*bytes, "eos");
  ASSERT_TRUE(loaded.ok());
  auto engine = Engine::Create(*loaded);
  ASSERT_TRUE(engine.ok());
  auto requests = GreedyRequests({kPrompts[0], kPrompts[0]}, 6);
  requests[0].stop_at_eos = true;
  auto got = (*engine)->Generate(requests);
  ASSERT_TRUE(got.ok()) << got.status();
  const auto first_eos = std::find(tokens.begin(), tokens.end(), tokens[2]);
  EXPECT_EQ((*got)[0].tokens,
            std::vector<int32_t>(tokens.begin(), first_eos + 1));
  EXPECT_TRUE((*got)[0].stopped_at_eos);
  EXPECT_EQ((*got)[0].decode_logits.size(), (*got)[0].tokens.size());
  EXPECT_EQ((*got)[1].tokens, tokens);  // without stop_at_eos
  EXPECT_FALSE((*got)[1].stopped_at_eos);

  // max_new_tokens = 0: prefill logits only.
  auto prefill = GreedyRequests({kPrompts[2]}, 0);
  got = (*engine)->Generate(prefill);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE((*got)[0].tokens.empty());
  EXPECT_EQ((*got)[0].prefill_logits.size(), kPrompts[2].size());
  EXPECT_TRUE((*got)[0].decode_logits.empty());
}

TEST_F(EngineTest, ReferenceRunsCompareAndReportMismatches) {
  auto engine = Make(MakeShape(1, 2, 8, CommStrategy::Direct, 1));
  ReferenceFile seed;
  for (const auto& p : kPrompts) {
    ReferenceCase c;
    c.prompt = p;
    // Only the shapes matter to the run: prompt rows and greedy steps of vocab-wide logits.
    c.greedy = {0, 0, 0};
    c.prefill_logits.assign(p.size(), std::vector<float>(64, 0.5f));
    c.decode_logits.assign(3, std::vector<float>(64, 0.5f));
    seed.cases.push_back(c);
  }
  auto ours = RunReferenceCases(*engine, seed);
  ASSERT_TRUE(ours.ok()) << ours.status();
  ReferenceComparison self = CompareWithReference(*ours, *ours);
  EXPECT_TRUE(self.Passes(0.0)) << self.ToText(0.0);
  EXPECT_EQ(self.cases.size(), 3u);
  ReferenceFile perturbed = *ours;
  perturbed.cases[1].decode_logits[1][5] += 1.0f;
  perturbed.cases[2].greedy[2] = (perturbed.cases[2].greedy[2] + 1) % 64;
  ReferenceComparison cmp = CompareWithReference(*ours, perturbed);
  EXPECT_FALSE(cmp.Passes(1e-4));
  EXPECT_GT(cmp.cases[1].decode_max_error, 1e-4);
  EXPECT_TRUE(cmp.cases[1].ids_match);
  EXPECT_FALSE(cmp.cases[2].ids_match);
  EXPECT_EQ(cmp.cases[2].first_mismatch, 2);
  EXPECT_NE(cmp.ToText(1e-4).find("case 2: 11 prompt tokens, 3 greedy steps"),
            std::string::npos);
  EXPECT_NE(cmp.ToText(1e-4).find("greedy ids differ at step 2"),
            std::string::npos);
  EXPECT_NE(cmp.ToText(1e-4).find("FAIL"), std::string::npos);

  // A differing id is accepted only where the reference's own choice was a near tie (its top-2
  // margin within near_tie of the row's largest |logit|), and only when asked for.
  const int g = ours->cases[2].greedy[2];
  const int j = (g + 1) % 64;
  ReferenceFile tie = *ours;
  std::vector<float>& row = tie.cases[2].decode_logits[2];
  float scale = 0;
  for (float v : row) scale = std::max(scale, std::abs(v));
  tie.cases[2].greedy[2] = j;
  row[j] = row[g] + 1e-4f * scale;
  ReferenceComparison strict = CompareWithReference(*ours, tie);
  EXPECT_FALSE(strict.cases[2].ids_match);
  ReferenceComparison lenient = CompareWithReference(*ours, tie, 1e-2);
  EXPECT_TRUE(lenient.cases[2].ids_match);
  EXPECT_TRUE(lenient.cases[2].near_tie);
  EXPECT_EQ(lenient.cases[2].first_mismatch, 2);
  EXPECT_NE(lenient.ToText(1e-2).find("greedy ids match up to a near tie at step 2"),
            std::string::npos)
      << lenient.ToText(1e-2);
  row[j] = row[g] + 0.5f * scale;  // a clear choice: the differing id is an error
  ReferenceComparison clear = CompareWithReference(*ours, tie, 1e-2);
  EXPECT_FALSE(clear.cases[2].ids_match);
  EXPECT_FALSE(clear.cases[2].near_tie);

  // Routing against a routing reference: one swapped expert in a row stops the comparison of
  // that case there (the rows after it may differ freely); two swapped experts are an error.
  auto routed_engine = [&] {
    EngineOptions o;
    o.record_activations = true;
    return Make(MakeShape(1, 2, 8, CommStrategy::Direct, 1), o);
  }();
  auto routed = RunReferenceCases(*routed_engine, seed, /*routing=*/true);
  ASSERT_TRUE(routed.ok()) << routed.status();
  ASSERT_EQ(routed->cases[2].routing.size(), kPrompts[2].size() + 2);  // prompt + 3 tokens - 1
  ReferenceComparison same = CompareWithReference(*routed, *routed, 0, &*routed);
  EXPECT_TRUE(same.Passes(0.0)) << same.ToText(0.0);
  EXPECT_EQ(same.cases[2].routing_tie_row, -1);
  ReferenceFile swapped = *routed;
  // Reordering a layer's experts is no difference; replacing one is.
  std::swap(swapped.cases[2].routing[1][0], swapped.cases[2].routing[1][1]);
  const std::vector<int32_t> original = routed->cases[2].routing[3];
  auto replace = [&](std::vector<int32_t>& ids, int j) {
    int e = 0;  // an expert neither layer 0 chose originally nor a replacement took
    while (std::find(original.begin(), original.begin() + 2, e) != original.begin() + 2 ||
           std::find(ids.begin(), ids.begin() + 2, e) != ids.begin() + 2)
      ++e;
    ids[j] = e;
  };
  replace(swapped.cases[2].routing[3], 0);
  for (auto& r : swapped.cases[2].prefill_logits) r[0] += 100.0f;  // rows 0..2 then differ too
  ReferenceComparison one = CompareWithReference(*routed, *routed, 0, &swapped);
  EXPECT_TRUE(one.Passes(0.0)) << one.ToText(0.0);  // logits are compared with *routed* itself
  EXPECT_EQ(one.cases[2].routing_tie_row, 3);
  EXPECT_FALSE(one.cases[2].routing_mismatch);
  EXPECT_EQ(one.cases[2].routing_differences, 1);
  EXPECT_NE(one.ToText(0.0).find("routing differs from the fp32 reference at fed row 3"),
            std::string::npos);
  ReferenceFile perturbed_after = *routed;
  for (size_t r = 3; r < perturbed_after.cases[2].prefill_logits.size(); ++r)
    perturbed_after.cases[2].prefill_logits[r][0] += 100.0f;
  ReferenceComparison cut = CompareWithReference(*routed, perturbed_after, 0, &swapped);
  EXPECT_TRUE(cut.Passes(0.0)) << cut.ToText(0.0);  // rows from 3 on are not compared
  ReferenceComparison uncut = CompareWithReference(*routed, perturbed_after, 0);
  EXPECT_FALSE(uncut.Passes(0.0)) << uncut.ToText(0.0);
  // After a differing greedy id the fed tokens differ: routing there is not compared at all.
  ReferenceFile diverged = *routed;
  const size_t P = diverged.cases[2].prompt.size();
  diverged.cases[2].greedy[0] = (diverged.cases[2].greedy[0] + 1) % 64;  // token fed at row P
  ReferenceFile rerouted = *routed;
  rerouted.cases[2].routing[P][0] = rerouted.cases[2].routing[P][1];  // row P: another token
  rerouted.cases[2].routing[P][1] = (rerouted.cases[2].routing[P][1] + 3) % 6;
  ReferenceComparison after = CompareWithReference(*routed, diverged, 0, &rerouted);
  EXPECT_EQ(after.cases[2].routing_tie_row, -1) << after.ToText(0.0);
  EXPECT_FALSE(after.cases[2].routing_mismatch);
  EXPECT_FALSE(after.cases[2].ids_match);  // the greedy difference itself still counts
  replace(swapped.cases[2].routing[3], 1);
  ReferenceComparison two = CompareWithReference(*routed, *routed, 0, &swapped);
  EXPECT_FALSE(two.Passes(0.0));
  EXPECT_TRUE(two.cases[2].routing_mismatch);

  // A reference for another vocabulary is refused, naming the case.
  ReferenceFile wrong = *ours;
  for (auto& row : wrong.cases[0].prefill_logits) row.resize(10);
  for (auto& c : wrong.cases) {
    for (auto& row : c.prefill_logits) row.resize(10);
    for (auto& row : c.decode_logits) row.resize(10);
  }
  auto refused = RunReferenceCases(*engine, wrong);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(
      refused.status().message().find("case 0: logits rows have 10 entries"),
      std::string::npos)
      << refused.status();
}

TEST(WeightsTest, RanksHoldOnlyTheirWeights) {
  ModelDesc model = testing::TinyModel({2, true, false, false, 3});
  auto plan =
      testing::BuildPlan(model, MakeShape(2, 3, 8, CommStrategy::Direct, 1));
  auto bytes = SerializePlan(*plan);
  ASSERT_TRUE(bytes.ok());
  auto loaded = LoadedPlan::FromBytes(*bytes, "t");
  ASSERT_TRUE(loaded.ok());
  std::set<int> expert_weights;
  for (const auto& l : model.layers) {
    for (const auto* v : {&l.expert_gate, &l.expert_up, &l.expert_down})
      expert_weights.insert(v->begin(), v->end());
  }
  for (int a = 0; a < 2; ++a) {
    for (int w : WeightsUsedByRank(loaded->plan(), plan::Role::Attention, a))
      EXPECT_EQ(expert_weights.count(w), 0u);
  }
  // Experts 0..5 on rank e % 3, experts 0 and 1 also on rank e + 1.
  const std::vector<std::set<int>> local = {{0, 3}, {1, 4, 0}, {2, 5, 1}};
  for (int j = 0; j < 3; ++j) {
    std::set<int> used;
    for (int w : WeightsUsedByRank(loaded->plan(), plan::Role::Moe, j))
      used.insert(w);
    for (size_t l = 0; l < model.layers.size(); ++l) {
      for (int e = 0; e < model.num_experts; ++e) {
        EXPECT_EQ(used.count(model.layers[l].expert_gate[e]), local[j].count(e))
            << "rank " << j << " expert " << e;
        EXPECT_EQ(used.count(model.layers[l].expert_down[e]),
                  local[j].count(e));
      }
      EXPECT_EQ(used.count(model.layers[l].router), 1u);
      EXPECT_EQ(used.count(model.layers[l].q), 0u);
    }
  }
}

TEST(WeightsTest, SyntheticWeightsAreDeterministicAndNormsNearOne) {
  auto a = SyntheticWeight(3, "model.layers.0.input_layernorm.weight", {64});
  EXPECT_EQ(a,
            SyntheticWeight(3, "model.layers.0.input_layernorm.weight", {64}));
  for (float v : a) EXPECT_NEAR(v, 1.0f, 0.11f);
  auto m1 =
      SyntheticWeight(3, "model.layers.0.self_attn.q_proj.weight", {8, 16});
  auto m2 =
      SyntheticWeight(4, "model.layers.0.self_attn.q_proj.weight", {8, 16});
  EXPECT_NE(m1, m2);
  for (float v : m1) EXPECT_LE(std::fabs(v), std::sqrt(3.0f / 16) + 1e-6f);
}

}  // namespace
}  // namespace janus::exec
