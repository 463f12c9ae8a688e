// The cuda backend (the whole plan on one GPU) against transformers' logits and against itself:
// bf16 tolerance on the fixtures whatever the deployment shape, CUDA graph replays equal to eager
// steps, batching, and memory sizing with its errors. Without a GPU only the creation error is
// checked; everything else skips.
#include "runtime/cuda/backend.h"

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "runtime/exec/engine.h"
#include "runtime/exec/reference_run.h"
#include "runtime/io/reference.h"
#include "test/unit/runtime/exec/test_plans.h"

namespace janus::cuda {
namespace {

using exec::Engine;
using exec::EngineOptions;
using exec::GenerationRequest;
using exec::testing::GreedyRequests;
using exec::testing::MakeShape;
using exec::testing::RelativeError;
using exec::testing::Shape;
using plan::CommStrategy;

// The documented bf16 tolerance (docs/cuda-backend.md): relative error per logits row.
constexpr double kTolerance = 3e-2;

bool HasGpu() {
  int n = 0;
  const bool ok = cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
  (void)cudaGetLastError();
  return ok;
}

#define SKIP_WITHOUT_GPU() \
  if (!HasGpu()) GTEST_SKIP() << "no CUDA device"

EngineOptions CudaOptions() {
  RegisterCudaBackend();
  EngineOptions options;
  options.backend = "cuda";
  options.gpu_memory_fraction = 0.5;
  return options;
}

const std::vector<std::vector<int32_t>> kPrompts = {
    {1, 5, 9, 2}, {7, 3, 3, 8, 11, 2, 40}, {60, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}};

TEST(CudaBackendTest, WithoutAGpuCreationIsAClearError) {
  if (HasGpu()) GTEST_SKIP() << "a CUDA device is present";
  auto plan = exec::testing::LoadPlan(exec::testing::TinyModel(),
                                      MakeShape(1, 1, 8, CommStrategy::Direct, 1));
  ASSERT_TRUE(plan.ok()) << plan.status();
  auto engine = Engine::Create(*plan, CudaOptions());
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(engine.status().message().find("no CUDA device"), std::string::npos)
      << engine.status();
}

class CudaFixtureTest : public ::testing::TestWithParam<std::tuple<std::string, int>> {};

TEST_P(CudaFixtureTest, MatchesTransformersWithinBf16Tolerance) {
  SKIP_WITHOUT_GPU();
  const auto [fixture, shape_index] = GetParam();
  const std::string dir = exec::testing::FixturesDir() + "/" + fixture;
  auto model = exec::testing::CheckpointModel(dir);
  ASSERT_TRUE(model.ok()) << model.status();
  const Shape shapes[] = {MakeShape(1, 1, 8, CommStrategy::Direct, 1),
                          MakeShape(2, 3, 8, CommStrategy::Direct, 1),
                          MakeShape(2, 3, 2, CommStrategy::Relay, 2, /*gating_on_attention=*/true)};
  auto plan = exec::testing::LoadPlan(*model, shapes[shape_index]);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EngineOptions options = CudaOptions();
  options.record_activations = true;  // the expert ids of every row
  auto engine = Engine::Create(*plan, options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  EngineOptions cpu_options;
  cpu_options.record_activations = true;
  auto cpu = Engine::Create(*plan, cpu_options);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  auto ref = ReadReferenceFile(dir + "/reference.json");
  ASSERT_TRUE(ref.ok()) << ref.status();
  // The fp32 cpu backend's routing (transformers' to 1e-6) tells where a bf16 router may pick the
  // other expert of a near tie: a case is compared up to the first such row.
  auto routing = exec::RunReferenceCases(**cpu, *ref, /*routing=*/true);
  ASSERT_TRUE(routing.ok()) << routing.status();
  auto ours = exec::RunReferenceCases(**engine, *ref, /*routing=*/true);
  ASSERT_TRUE(ours.ok()) << ours.status();
  const exec::ReferenceComparison cmp =
      exec::CompareWithReference(*ours, *ref, kTolerance, &*routing);
  EXPECT_TRUE(cmp.Passes(kTolerance)) << cmp.ToText(kTolerance);
  // Most rows are compared: a near tie is rare, a broken router is not.
  int compared = 0, rows = 0;
  for (size_t i = 0; i < cmp.cases.size(); ++i) {
    compared += cmp.cases[i].compared_rows;
    rows += static_cast<int>(ref->cases[i].prompt.size() + ref->cases[i].greedy.size() - 1);
  }
  EXPECT_GE(2 * compared, rows) << cmp.ToText(kTolerance);
  std::printf("%s shape %d: %s", fixture.c_str(), shape_index, cmp.ToText(kTolerance).c_str());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CudaFixtureTest,
                         ::testing::Combine(::testing::Values("mixtral_tiny", "mixtral_tied_tiny",
                                                              "qwen2moe_tiny"),
                                            ::testing::Values(0, 1, 2)));

std::unique_ptr<Engine> TinyEngine(EngineOptions options, bool shared_expert = true) {
  exec::testing::TinyOptions tiny;
  tiny.shared_expert = shared_expert;
  tiny.biases = true;
  auto plan = exec::testing::LoadPlan(exec::testing::TinyModel(tiny),
                                      MakeShape(1, 2, 8, CommStrategy::Direct, 1));
  EXPECT_TRUE(plan.ok()) << plan.status();
  if (!plan.ok()) return nullptr;
  auto engine = Engine::Create(*plan, options);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? std::move(*engine) : nullptr;
}

TEST(CudaBackendTest, DecodeGraphsReplayExactlyWhatEagerStepsCompute) {
  SKIP_WITHOUT_GPU();
  EngineOptions eager_options = CudaOptions();
  eager_options.cuda_graphs = false;
  auto eager = TinyEngine(eager_options);
  auto graphed = TinyEngine(CudaOptions());
  ASSERT_TRUE(eager && graphed);
  // Three rounds: eager warm-up, capture, replays.
  for (int round = 0; round < 3; ++round) {
    auto want = eager->Generate(GreedyRequests(kPrompts, 6));
    auto got = graphed->Generate(GreedyRequests(kPrompts, 6));
    ASSERT_TRUE(want.ok() && got.ok()) << want.status() << got.status();
    for (size_t i = 0; i < kPrompts.size(); ++i) {
      EXPECT_EQ((*got)[i].tokens, (*want)[i].tokens) << "round " << round << " prompt " << i;
      ASSERT_EQ((*got)[i].decode_logits.size(), (*want)[i].decode_logits.size());
      for (size_t s = 0; s < (*want)[i].decode_logits.size(); ++s)
        EXPECT_EQ((*got)[i].decode_logits[s], (*want)[i].decode_logits[s]) << "step " << s;
    }
  }
  const auto& backend = dynamic_cast<const CudaBackend&>(graphed->backend());
  EXPECT_GE(backend.memory_report().graphs, 1);
  EXPECT_GT(backend.memory_report().graph_replays, 0);
  EXPECT_EQ(dynamic_cast<const CudaBackend&>(eager->backend()).memory_report().graphs, 0);
}

TEST(CudaBackendTest, DeviceArgmaxGivesTheTokensHostSamplingGives) {
  SKIP_WITHOUT_GPU();
  auto engine = TinyEngine(CudaOptions());
  ASSERT_TRUE(engine);
  // With logits returned the engine samples on the host; without, the device's argmax answers.
  auto with_logits = engine->Generate(GreedyRequests(kPrompts, 8));
  std::vector<GenerationRequest> bare = GreedyRequests(kPrompts, 8);
  for (auto& r : bare) r.return_prefill_logits = r.return_decode_logits = false;
  auto ids_only = engine->Generate(bare);
  ASSERT_TRUE(with_logits.ok() && ids_only.ok()) << with_logits.status() << ids_only.status();
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    EXPECT_EQ((*ids_only)[i].tokens, (*with_logits)[i].tokens) << "prompt " << i;
    EXPECT_TRUE((*ids_only)[i].decode_logits.empty());
  }
}

TEST(CudaBackendTest, DeviceSamplingDrawsTheTokensHostSamplingDraws) {
  SKIP_WITHOUT_GPU();
  auto engine = TinyEngine(CudaOptions());
  ASSERT_TRUE(engine);
  // Temperature / top-k / top-p with per-prompt seeds: on the host from returned logits, and on
  // the device (LaunchSample, the same procedure and generator) when no logits are returned.
  for (const int top_k : {0, 5}) {
    std::vector<GenerationRequest> host = GreedyRequests(kPrompts, 8);
    for (size_t i = 0; i < host.size(); ++i) {
      host[i].sampling.temperature = 0.9f;
      host[i].sampling.top_k = top_k;
      host[i].sampling.top_p = 0.8f;
      host[i].sampling.seed = 100 + i;
    }
    std::vector<GenerationRequest> device = host;
    for (auto& r : device) r.return_prefill_logits = r.return_decode_logits = false;
    auto a = engine->Generate(host);
    auto b = engine->Generate(device);
    ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
    for (size_t i = 0; i < kPrompts.size(); ++i)
      EXPECT_EQ((*b)[i].tokens, (*a)[i].tokens) << "top_k " << top_k << " prompt " << i;
  }
}

TEST(CudaBackendTest, BatchingChunkingAndTheCpuBackendAgree) {
  SKIP_WITHOUT_GPU();
  EngineOptions batched_options = CudaOptions();
  batched_options.record_activations = true;
  EngineOptions chunked_options = batched_options;
  chunked_options.prefill_chunk = 3;
  chunked_options.max_batch = 1;
  EngineOptions cpu_options;
  cpu_options.record_activations = true;
  auto batched = TinyEngine(batched_options);
  auto chunked = TinyEngine(chunked_options);
  auto cpu = TinyEngine(cpu_options);
  ASSERT_TRUE(batched && chunked && cpu);
  // The prompts as reference cases (only their shapes matter to the runs): every prompt row's and
  // 4 greedy steps' logits, and the experts every row was routed to.
  ReferenceFile seed;
  for (const auto& p : kPrompts) {
    ReferenceCase c;
    c.prompt = p;
    c.greedy.assign(4, 0);
    c.prefill_logits.assign(p.size(), std::vector<float>(batched->vocab_size(), 0.5f));
    c.decode_logits.assign(4, std::vector<float>(batched->vocab_size(), 0.5f));
    seed.cases.push_back(c);
  }
  auto want = exec::RunReferenceCases(*cpu, seed, /*routing=*/true);
  auto a = exec::RunReferenceCases(*batched, seed, /*routing=*/true);
  auto b = exec::RunReferenceCases(*chunked, seed, /*routing=*/true);
  ASSERT_TRUE(want.ok() && a.ok() && b.ok()) << want.status() << a.status() << b.status();
  for (const auto* got : {&*a, &*b}) {
    const exec::ReferenceComparison cmp =
        exec::CompareWithReference(*got, *want, kTolerance, &*want);
    EXPECT_TRUE(cmp.Passes(kTolerance)) << cmp.ToText(kTolerance);
    int compared = 0;
    for (const auto& c : cmp.cases) compared += c.compared_rows;
    EXPECT_GE(compared, 20) << cmp.ToText(kTolerance);  // of 4+7+11 prompt + 3x3 decode rows
  }
}

// Prefill steps of >= 64 rows at head_dim 64 take the tensor-core attention path
// (kernels/paged_attention_mma.h), smaller steps the CUDA-core kernel. Two long prompts and a
// short one as one 165-row prefill step, and chunked into steps of 85 and 70 rows (later chunks
// attend to earlier ones), against (1) the fp32 cpu backend and (2) the same prompts in steps of
// <= 16 rows (the CUDA-core kernel). Rows after a router near tie are not compared, as in the
// fixture checks. Against fp32 the bound is kLongPromptTolerance: over 90-token prompts a bf16 run
// drifts further than over the fixtures' 8-12 tokens (measured on H200: up to 0.032 with the
// CUDA-core kernel, 0.040 with the tensor-core one, whose P is rounded to bf16 as in
// FlashAttention); the two kernels agree within kTolerance.
constexpr double kLongPromptTolerance = 5e-2;

TEST(CudaBackendTest, LongPromptsOnTheTensorCorePrefillPath) {
  SKIP_WITHOUT_GPU();
  exec::testing::TinyOptions tiny;
  tiny.shared_expert = true;
  tiny.head_dim = 64;
  tiny.max_pos = 256;
  auto plan = exec::testing::LoadPlan(exec::testing::TinyModel(tiny),
                                      MakeShape(1, 2, 8, CommStrategy::Direct, 1));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EngineOptions batched_options = CudaOptions();
  batched_options.record_activations = true;
  EngineOptions chunked_options = batched_options;
  chunked_options.prefill_chunk = 40;
  EngineOptions small_options = batched_options;
  small_options.prefill_chunk = 16;
  small_options.max_batch = 1;
  EngineOptions cpu_options;
  cpu_options.record_activations = true;
  auto batched = Engine::Create(*plan, batched_options);
  auto chunked = Engine::Create(*plan, chunked_options);
  auto small = Engine::Create(*plan, small_options);
  auto cpu = Engine::Create(*plan, cpu_options);
  ASSERT_TRUE(batched.ok() && chunked.ok() && small.ok() && cpu.ok())
      << batched.status() << chunked.status() << small.status() << cpu.status();
  ReferenceFile seed;
  for (int len : {90, 70, 5}) {
    ReferenceCase c;
    for (int i = 0; i < len; ++i) c.prompt.push_back(1 + (i * 7 + len) % 60);
    c.greedy.assign(3, 0);
    c.prefill_logits.assign(len, std::vector<float>((*batched)->vocab_size(), 0.5f));
    c.decode_logits.assign(3, std::vector<float>((*batched)->vocab_size(), 0.5f));
    seed.cases.push_back(c);
  }
  auto fp32 = exec::RunReferenceCases(**cpu, seed, /*routing=*/true);
  auto core = exec::RunReferenceCases(**small, seed, /*routing=*/true);
  auto a = exec::RunReferenceCases(**batched, seed, /*routing=*/true);
  auto b = exec::RunReferenceCases(**chunked, seed, /*routing=*/true);
  ASSERT_TRUE(fp32.ok() && core.ok() && a.ok() && b.ok())
      << fp32.status() << core.status() << a.status() << b.status();
  const std::pair<const ReferenceFile*, double> refs[] = {{&*fp32, kLongPromptTolerance},
                                                          {&*core, kTolerance}};
  for (const auto& [want, tolerance] : refs) {
    for (const auto* got : {&*a, &*b}) {
      const exec::ReferenceComparison cmp =
          exec::CompareWithReference(*got, *want, tolerance, want);
      EXPECT_TRUE(cmp.Passes(tolerance)) << cmp.ToText(tolerance);
      int compared = 0;
      for (const auto& c : cmp.cases) compared += c.compared_rows;
      EXPECT_GE(compared, 20) << cmp.ToText(tolerance);
    }
  }
}

TEST(CudaBackendTest, MemoryIsSizedFromTheFractionAndExhaustionIsAClearError) {
  SKIP_WITHOUT_GPU();
  auto engine = TinyEngine(CudaOptions());
  ASSERT_TRUE(engine);
  const auto report = dynamic_cast<const CudaBackend&>(engine->backend()).memory_report();
  EXPECT_GT(report.weight_bytes, 0);
  EXPECT_GT(report.activation_bytes, 0);
  EXPECT_GT(report.kv_tokens, 0);
  EXPECT_EQ(engine->kv_tokens_per_rank(), report.kv_tokens);

  exec::testing::TinyOptions tiny;
  auto plan = exec::testing::LoadPlan(exec::testing::TinyModel(tiny),
                                      MakeShape(1, 1, 8, CommStrategy::Direct, 1));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EngineOptions tiny_fraction = CudaOptions();
  tiny_fraction.gpu_memory_fraction = 1e-4;
  auto refused = Engine::Create(*plan, tiny_fraction);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_NE(refused.status().message().find("--gpu-memory-fraction"), std::string::npos)
      << refused.status();

  EngineOptions huge_cache = CudaOptions();
  huge_cache.kv_cache_tokens = int64_t{1} << 33;  // terabytes of KV
  auto oom = Engine::Create(*plan, huge_cache);
  ASSERT_FALSE(oom.ok());
  EXPECT_EQ(oom.status().code(), absl::StatusCode::kResourceExhausted) << oom.status();
  EXPECT_NE(oom.status().message().find("out of GPU memory: a KV cache of"), std::string::npos)
      << oom.status();

  EngineOptions bad_device = CudaOptions();
  bad_device.device = 99;
  auto no_device = Engine::Create(*plan, bad_device);
  ASSERT_FALSE(no_device.ok());
  EXPECT_NE(no_device.status().message().find("device 99 does not exist"), std::string::npos)
      << no_device.status();
  // The engine that was sized first still works after the failed creations.
  auto after = engine->Generate(GreedyRequests({kPrompts[0]}, 2));
  EXPECT_TRUE(after.ok()) << after.status();
}

}  // namespace
}  // namespace janus::cuda
