// janus-run: executes a Janus plan. See docs/runtime.md.
//
//   janus-run model.jplan --prompt-ids 1,17,42 --max-new-tokens 16
//   janus-run model.jplan --reference REF.json [--dump-logits OUT.json]
//   [--tolerance 1e-4] janus-run model.jplan --prompt-ids '1,2;3,4' --stats
//   --record-activations profile.json
//
// Errors print "janus-run: error: ..." on stderr and exit 1.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "runtime/base/status.h"
#include "runtime/exec/engine.h"
#include "runtime/exec/reference_run.h"
#include "runtime/io/reference.h"
#include "runtime/plan/plan.h"
#ifdef JANUS_HAVE_CUDA_BACKEND
#include "runtime/cuda/backend.h"
#endif

namespace janus {
namespace {

constexpr char kUsage[] =
    R"(usage: janus-run PLAN [options]

Runs a Janus plan (janus-compile output): every rank emulated by a thread (--backend=cpu), or the
whole plan on one GPU (--backend=cuda).

Generation:
  --prompt-ids IDS         comma-separated token ids; several prompts are batched: repeat the
                           flag or separate prompts with ';' ("1,17,42;5,6")
  --max-new-tokens N       tokens to generate per prompt (default 16)
  --temperature T          0 = greedy (default); > 0 samples
  --top-k K                keep the K most likely tokens (0 = all)
  --top-p P                nucleus sampling threshold in (0, 1] (default 1)
  --seed S                 sampling seed (default 0); prompt i uses S + i
  --stop-at-eos            stop a sequence after it generates an eos token
Reference check:
  --reference FILE         run every case of a reference.json (prefill logits at every prompt
                           position, then greedy decoding for as many steps as the case has) and
                           compare; exit 1 unless greedy ids match and every row is within tolerance
  --tolerance X            relative error per logits row (default 1e-4)
  --allow-near-ties        accept a differing greedy id where the reference's own top-2 margin
                           is within the tolerance (relative to the row's largest logit): the
                           bf16 cuda backend's check (docs/cuda-backend.md)
  --routing-ties           also run the cases on the fp32 cpu backend and compare each case only
                           up to the first row this backend routes to a different expert (one
                           swapped expert: a router near tie; more is an error)
  --dump-logits FILE       write the logits in the reference.json schema
Engine:
  --backend cpu|cuda       default cpu; cuda runs the whole plan on one GPU (builds with CUDA)
  --gpu-memory-fraction F  cuda: share of the GPU's memory for weights, activations and the KV
                           cache (default 0.9); the KV cache gets what is left
  --device N               cuda: which GPU (default 0)
  --no-cuda-graphs         cuda: run decode steps eagerly instead of replaying CUDA graphs
  --kv-block-size N        KV cache block size in tokens (default 16)
  --kv-cache-tokens N      KV cache capacity per attention rank (default: cpu context x max
                           batch; cuda what --gpu-memory-fraction leaves)
  --max-batch N            sequences in flight at once (default 8)
  --prefill-chunk N        most prompt tokens of one sequence per step (default: cpu the whole
                           prompt, cuda 512)
  --checkpoint-dir DIR     read the checkpoint from DIR instead of the plan's directory
Reports:
  --summary                print the plan summary
  --stats                  per MoE layer: a_max (most distinct experts on one MoE rank) and
                           tokens per MoE rank
  --record-activations F   write the activation profile (janus-compile --activation-profile)
  --timing                 wall time of decode steps and prefill steps (ms per step, rows/s)
  --repeat N               run the prompts N times (default 1) and time only the last run
                           (warm: CUDA graphs captured, activation buffers allocated)
  --benchmark-batches B,.. for each batch size B: B prompts (the first one, shifted by 7919*i
                           mod vocab), generated twice (greedy), the second run timed; one line
                           per B (decode ms per step, tokens/s)
)";

struct Flags {
  std::string plan;
  std::vector<std::vector<int32_t>> prompts;
  int max_new_tokens = 16;
  cpu::SamplingParams sampling;
  bool stop_at_eos = false;
  std::string reference;
  double tolerance = 1e-4;
  std::string dump_logits;
  bool summary = false;
  bool stats = false;
  bool allow_near_ties = false;
  bool timing = false;
  bool routing_ties = false;
  int repeat = 1;
  std::vector<int> benchmark_batches;
  bool no_cuda_graphs = false;
  std::string record_activations;
  exec::EngineOptions engine;
};

absl::Status ParsePrompts(absl::string_view value,
                          std::vector<std::vector<int32_t>>* prompts) {
  for (absl::string_view prompt : absl::StrSplit(value, ';')) {
    std::vector<int32_t> ids;
    prompt = absl::StripAsciiWhitespace(prompt);
    for (absl::string_view item : absl::StrSplit(prompt, ',')) {
      int32_t id;
      if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(item), &id)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--prompt-ids: '", item, "' in '", prompt,
            "' is not a token id (expected integers separated by ',')"));
      }
      ids.push_back(id);
    }
    prompts->push_back(std::move(ids));
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status ParseNumber(const std::string& flag, absl::string_view value,
                         T* out) {
  bool ok;
  if constexpr (std::is_same_v<T, float>) {
    ok = absl::SimpleAtof(value, out);
  } else if constexpr (std::is_same_v<T, double>) {
    ok = absl::SimpleAtod(value, out);
  } else {
    ok = absl::SimpleAtoi(value, out);
  }
  if (!ok)
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": '", value, "' is not a valid number"));
  return absl::OkStatus();
}

absl::StatusOr<Flags> ParseFlags(int argc, char** argv) {
  Flags f;
  using Setter = std::function<absl::Status(absl::string_view)>;
  std::map<std::string, Setter> with_value = {
      {"--prompt-ids",
       [&](absl::string_view v) { return ParsePrompts(v, &f.prompts); }},
      {"--max-new-tokens",
       [&](absl::string_view v) {
         return ParseNumber("--max-new-tokens", v, &f.max_new_tokens);
       }},
      {"--temperature",
       [&](absl::string_view v) {
         return ParseNumber("--temperature", v, &f.sampling.temperature);
       }},
      {"--top-k",
       [&](absl::string_view v) {
         return ParseNumber("--top-k", v, &f.sampling.top_k);
       }},
      {"--top-p",
       [&](absl::string_view v) {
         return ParseNumber("--top-p", v, &f.sampling.top_p);
       }},
      {"--seed",
       [&](absl::string_view v) {
         return ParseNumber("--seed", v, &f.sampling.seed);
       }},
      {"--reference",
       [&](absl::string_view v) {
         f.reference = std::string(v);
         return absl::OkStatus();
       }},
      {"--tolerance",
       [&](absl::string_view v) {
         return ParseNumber("--tolerance", v, &f.tolerance);
       }},
      {"--dump-logits",
       [&](absl::string_view v) {
         f.dump_logits = std::string(v);
         return absl::OkStatus();
       }},
      {"--backend",
       [&](absl::string_view v) {
         f.engine.backend = std::string(v);
         return absl::OkStatus();
       }},
      {"--kv-block-size",
       [&](absl::string_view v) {
         return ParseNumber("--kv-block-size", v, &f.engine.kv_block_size);
       }},
      {"--kv-cache-tokens",
       [&](absl::string_view v) {
         return ParseNumber("--kv-cache-tokens", v, &f.engine.kv_cache_tokens);
       }},
      {"--max-batch",
       [&](absl::string_view v) {
         return ParseNumber("--max-batch", v, &f.engine.max_batch);
       }},
      {"--prefill-chunk",
       [&](absl::string_view v) {
         return ParseNumber("--prefill-chunk", v, &f.engine.prefill_chunk);
       }},
      {"--checkpoint-dir",
       [&](absl::string_view v) {
         f.engine.checkpoint_dir = std::string(v);
         return absl::OkStatus();
       }},
      {"--benchmark-batches",
       [&](absl::string_view v) -> absl::Status {
         for (absl::string_view item : absl::StrSplit(v, ',')) {
           int b = 0;
           if (!absl::SimpleAtoi(item, &b) || b <= 0)
             return absl::InvalidArgumentError(absl::StrCat(
                 "--benchmark-batches: '", item, "' is not a positive batch size"));
           f.benchmark_batches.push_back(b);
         }
         return absl::OkStatus();
       }},
      {"--repeat",
       [&](absl::string_view v) { return ParseNumber("--repeat", v, &f.repeat); }},
      {"--gpu-memory-fraction",
       [&](absl::string_view v) {
         return ParseNumber("--gpu-memory-fraction", v,
                            &f.engine.gpu_memory_fraction);
       }},
      {"--device",
       [&](absl::string_view v) {
         return ParseNumber("--device", v, &f.engine.device);
       }},
      {"--record-activations",
       [&](absl::string_view v) {
         f.record_activations = std::string(v);
         return absl::OkStatus();
       }},
  };
  std::map<std::string, bool*> switches = {{"--summary", &f.summary},
                                           {"--allow-near-ties", &f.allow_near_ties},
                                           {"--timing", &f.timing},
                                           {"--routing-ties", &f.routing_ties},
                                           {"--no-cuda-graphs", &f.no_cuda_graphs},
                                           {"--stats", &f.stats},
                                           {"--stop-at-eos", &f.stop_at_eos}};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") return absl::CancelledError("help");
    if (arg.rfind("--", 0) != 0 || arg == "--") {
      if (!f.plan.empty())
        return absl::InvalidArgumentError(
            absl::StrCat("unexpected argument '", arg, "' (one plan only)"));
      f.plan = arg;
      continue;
    }
    std::string name = arg, value;
    bool has_value = false;
    if (size_t eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    if (auto s = switches.find(name); s != switches.end()) {
      if (has_value)
        return absl::InvalidArgumentError(
            absl::StrCat(name, " takes no value"));
      *s->second = true;
      continue;
    }
    auto setter = with_value.find(name);
    if (setter == with_value.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown option '", name, "' (see --help)"));
    }
    if (!has_value) {
      if (i + 1 >= argc)
        return absl::InvalidArgumentError(absl::StrCat(name, " needs a value"));
      value = argv[++i];
    }
    JANUS_RETURN_IF_ERROR(setter->second(value));
  }
  if (f.plan.empty())
    return absl::InvalidArgumentError(
        "no plan given (usage: janus-run PLAN [options]; see --help)");
  if (!f.reference.empty() && !f.prompts.empty()) {
    return absl::InvalidArgumentError(
        "--reference runs the reference's prompts; do not combine it with "
        "--prompt-ids");
  }
  if (f.repeat < 1) return absl::InvalidArgumentError("--repeat must be >= 1");
  if (!(f.tolerance >= 0))
    return absl::InvalidArgumentError("--tolerance must be >= 0");
  if (!f.reference.empty() &&
      (f.sampling.temperature != 0 || f.sampling.top_k != 0 ||
       f.sampling.top_p != 1)) {
    return absl::InvalidArgumentError(
        "--reference decodes greedily; sampling options do not apply");
  }
  if (f.routing_ties && f.reference.empty())
    return absl::InvalidArgumentError("--routing-ties needs --reference");
  f.engine.collect_stats = f.stats;
  f.engine.cuda_graphs = !f.no_cuda_graphs;
  f.engine.record_activations = !f.record_activations.empty() || f.routing_ties;
  return f;
}

absl::Status Run(const Flags& f, bool* passed) {
  JANUS_ASSIGN_OR_RETURN(LoadedPlan plan, LoadedPlan::FromFile(f.plan));
  if (f.summary) std::cout << PlanToText(plan.plan()) << std::flush;
  if (f.reference.empty() && f.prompts.empty() && f.benchmark_batches.empty()) {
    if (f.summary) return absl::OkStatus();
    return absl::InvalidArgumentError(
        "nothing to run: give --prompt-ids, --reference or --summary");
  }
  // Read the reference before starting ranks: a malformed file should fail
  // fast.
  ReferenceFile reference;
  if (!f.reference.empty()) {
    JANUS_ASSIGN_OR_RETURN(reference, ReadReferenceFile(f.reference));
    if (reference.cases.empty())
      return absl::InvalidArgumentError(
          absl::StrCat(f.reference, ": no cases"));
  }
  JANUS_ASSIGN_OR_RETURN(std::unique_ptr<exec::Engine> engine,
                         exec::Engine::Create(plan, f.engine));

  ReferenceFile ours;
  exec::EngineStats warm;  // before the timed run
  if (!f.benchmark_batches.empty()) {
    if (f.prompts.empty())
      return absl::InvalidArgumentError("--benchmark-batches needs --prompt-ids");
    for (int batch : f.benchmark_batches) {
      // Distinct prompts (the first one shifted per request), so the batch routes like real
      // traffic instead of repeating one token's experts.
      std::vector<exec::GenerationRequest> requests(batch);
      const int vocab = plan.plan().model()->vocab_size();
      for (int i = 0; i < batch; ++i) {
        exec::GenerationRequest& r = requests[i];
        for (int32_t t : f.prompts[0])
          r.prompt.push_back(static_cast<int32_t>((t + int64_t{7919} * i) % vocab));
        r.max_new_tokens = f.max_new_tokens;
      }
      JANUS_RETURN_IF_ERROR(Annotate(engine->Generate(requests).status(),
                                     absl::StrCat("batch ", batch)));
      const exec::EngineStats before = engine->stats();
      JANUS_RETURN_IF_ERROR(Annotate(engine->Generate(requests).status(),
                                     absl::StrCat("batch ", batch)));
      const exec::EngineStats run = engine->stats().TimingSince(before);
      const int64_t steps = run.decode_steps;
      const int64_t rows = run.decode_rows;
      const double seconds = run.decode_seconds;
      const double prefill = run.prefill_seconds;
      const double device = run.decode_device_seconds;
      const std::string on_device =
          device > 0 && steps > 0 ? absl::StrFormat("device %.3f ms, ", 1e3 * device / steps)
                                  : std::string();
      std::printf(
          "batch %4d: decode %.3f ms per step (%s%lld steps), %.1f tokens/s; prefill %.3f ms for "
          "%lld rows\n",
          batch, steps > 0 ? 1e3 * seconds / steps : 0.0, on_device.c_str(),
          static_cast<long long>(steps), seconds > 0 ? rows / seconds : 0.0, 1e3 * prefill,
          static_cast<long long>(run.prefill_rows));
    }
    std::fflush(stdout);
    return absl::OkStatus();
  }
  if (!f.reference.empty()) {
    ReferenceFile routing;
    if (f.routing_ties) {
      exec::EngineOptions cpu_options;
      cpu_options.checkpoint_dir = f.engine.checkpoint_dir;
      cpu_options.record_activations = true;
      JANUS_ASSIGN_OR_RETURN(std::unique_ptr<exec::Engine> cpu,
                             exec::Engine::Create(plan, cpu_options));
      absl::StatusOr<ReferenceFile> run =
          exec::RunReferenceCases(*cpu, reference, /*routing=*/true);
      if (!run.ok())
        return Annotate(run.status(), absl::StrCat(f.reference, " (cpu backend)"));
      routing = std::move(*run);
    }
    absl::StatusOr<ReferenceFile> run =
        exec::RunReferenceCases(*engine, reference, f.routing_ties);
    if (!run.ok()) return Annotate(run.status(), f.reference);
    ours = std::move(*run);
    exec::ReferenceComparison cmp = exec::CompareWithReference(
        ours, reference, f.allow_near_ties ? f.tolerance : 0,
        f.routing_ties ? &routing : nullptr);
    std::cout << cmp.ToText(f.tolerance);
    *passed = cmp.Passes(f.tolerance);
  } else {
    std::vector<exec::GenerationRequest> requests;
    for (size_t i = 0; i < f.prompts.size(); ++i) {
      exec::GenerationRequest r;
      r.prompt = f.prompts[i];
      r.max_new_tokens = f.max_new_tokens;
      r.sampling = f.sampling;
      r.sampling.seed = f.sampling.seed + i;
      r.stop_at_eos = f.stop_at_eos;
      r.return_prefill_logits = !f.dump_logits.empty();
      r.return_decode_logits = !f.dump_logits.empty();
      requests.push_back(std::move(r));
    }
    for (int r = 1; r < f.repeat; ++r)
      JANUS_RETURN_IF_ERROR(engine->Generate(requests).status());
    warm = engine->stats();
    JANUS_ASSIGN_OR_RETURN(std::vector<exec::GenerationResult> results,
                           engine->Generate(requests));
    for (size_t i = 0; i < results.size(); ++i) {
      std::cout << absl::StrJoin(results[i].tokens, ",") << "\n";
      ReferenceCase c;
      c.prompt = f.prompts[i];
      c.prefill_logits = std::move(results[i].prefill_logits);
      c.greedy = std::move(results[i].tokens);
      c.decode_logits = std::move(results[i].decode_logits);
      ours.cases.push_back(std::move(c));
    }
  }
  if (!f.dump_logits.empty()) {
    ours.model = plan.plan().model()->model_type()->str();
    JANUS_RETURN_IF_ERROR(WriteReferenceFile(f.dump_logits, ours));
  }
  if (f.stats) std::cout << "MoE statistics\n" << engine->stats().ToText();
  if (f.timing) {
    const exec::EngineStats last = engine->stats().TimingSince(warm);
    std::cout << last.TimingText();
  }
  if (!f.record_activations.empty()) {
    JANUS_RETURN_IF_ERROR(
        engine->activation_profile().WriteJson(f.record_activations));
  }
  std::cout << std::flush;
  return absl::OkStatus();
}

}  // namespace
}  // namespace janus

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(true);
#ifdef JANUS_HAVE_CUDA_BACKEND
  janus::cuda::RegisterCudaBackend();
#endif
  absl::StatusOr<janus::Flags> flags = janus::ParseFlags(argc, argv);
  if (!flags.ok()) {
    if (absl::IsCancelled(flags.status())) {
      std::cout << janus::kUsage;
      return 0;
    }
    std::cerr << "janus-run: error: " << flags.status().message() << "\n";
    return 1;
  }
  bool passed = true;
  absl::Status status = janus::Run(*flags, &passed);
  if (!status.ok()) {
    std::cout << std::flush;
    std::cerr << "janus-run: error: " << status.message() << "\n";
    return 1;
  }
  if (!passed) {
    std::cerr << "janus-run: error: the logits do not match the reference "
                 "within tolerance "
              << flags->tolerance << " or the greedy ids differ\n";
    return 1;
  }
  return 0;
}
