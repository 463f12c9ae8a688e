#include "runtime/exec/engine.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/base/status.h"
#include "runtime/exec/cpu_backend.h"

namespace janus::exec {

struct Engine::Sequence {
  size_t request = 0;
  const GenerationRequest* spec = nullptr;
  int64_t id = 0;
  int rank = 0;     // attention index
  int blocks = 0;   // KV blocks reserved for it
  int64_t fed = 0;  // tokens written to the KV cache (= next position)
  GenerationResult* result = nullptr;
  bool done = false;
};

namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// KV slots a request needs: its prompt, and every generated token but the last
// (never fed back).
int64_t KvTokensNeeded(const GenerationRequest& r) {
  return static_cast<int64_t>(r.prompt.size()) +
         std::max(0, r.max_new_tokens - 1);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(const LoadedPlan& loaded,
                                                       EngineOptions options) {
  BackendFactory factory;
  if (options.backend == "cpu") {
    factory = &CpuBackend::Create;
  } else {
    factory = FindBackend(options.backend);
    if (!factory && options.backend == "cuda") {
      return absl::UnimplementedError(
          "backend 'cuda' is not available in this build (built without CUDA); use "
          "--backend=cpu");
    }
    if (!factory) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown backend '", options.backend, "' (expected cpu or cuda)"));
    }
  }
  if (options.kv_block_size <= 0 || options.kv_block_size > (1 << 20)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kv block size must be in [1, 2^20], got ", options.kv_block_size));
  }
  if (options.max_batch <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max batch must be > 0, got ", options.max_batch));
  }
  if (options.prefill_chunk < 0 || options.kv_cache_tokens < 0) {
    return absl::InvalidArgumentError(
        "prefill chunk and kv cache tokens must be >= 0");
  }
  if (!(options.gpu_memory_fraction > 0 && options.gpu_memory_fraction <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "gpu memory fraction must be in (0, 1], got ", options.gpu_memory_fraction));
  }
  std::unique_ptr<Engine> engine(new Engine());
  JANUS_ASSIGN_OR_RETURN(
      LoadedPlan copy, LoadedPlan::FromBytes(loaded.bytes(), loaded.origin()));
  engine->plan_ = std::make_unique<LoadedPlan>(std::move(copy));
  const plan::Plan& plan = engine->plan_->plan();
  JANUS_RETURN_IF_ERROR(
      Annotate(VerifyCheckpointMatches(plan, options.checkpoint_dir),
               absl::StrCat("plan ", loaded.origin())));
  JANUS_ASSIGN_OR_RETURN(engine->topology_,
                         Topology::FromDeployment(*plan.deployment()));
  const plan::ModelInfo& model = *plan.model();
  if (model.vocab_size() <= 0 || model.max_position_embeddings() <= 0) {
    return absl::InvalidArgumentError(
        "the plan's model has no vocabulary or no context length");
  }
  JANUS_ASSIGN_OR_RETURN(engine->backend_,
                         factory(plan, engine->topology_, options));
  const int instances = engine->backend_->num_instances();
  engine->kv_blocks_per_rank_ = engine->backend_->kv_blocks_per_instance();
  engine->options_ = options;
  engine->options_.prefill_chunk = engine->backend_->prefill_chunk();
  engine->free_blocks_.assign(instances, engine->kv_blocks_per_rank_);
  engine->release_.assign(instances, {});
  engine->activations_ = std::make_unique<ActivationRecorder>(
      model.model_type()->str(), model.num_layers(), model.num_experts());
  return engine;
}

Engine::~Engine() = default;

absl::Status Engine::ValidateRequest(size_t i,
                                     const GenerationRequest& r) const {
  const plan::ModelInfo& model = *plan().model();
  const std::string what = absl::StrCat("request ", i);
  if (r.prompt.empty())
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": the prompt is empty"));
  for (size_t p = 0; p < r.prompt.size(); ++p) {
    if (r.prompt[p] < 0 || r.prompt[p] >= model.vocab_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": token id ", r.prompt[p], " at prompt position ", p,
          " is outside the vocabulary [0, ", model.vocab_size(), ")"));
    }
  }
  if (r.max_new_tokens < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": max_new_tokens must be >= 0, got ", r.max_new_tokens));
  }
  const int64_t total =
      static_cast<int64_t>(r.prompt.size()) + r.max_new_tokens;
  if (total > model.max_position_embeddings()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": the prompt (", r.prompt.size(), " tokens) plus ",
        r.max_new_tokens, " new tokens exceeds the model's context of ",
        model.max_position_embeddings(),
        " positions (max_position_embeddings)"));
  }
  if (KvTokensNeeded(r) > kv_tokens_per_rank()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": the prompt (", r.prompt.size(), " tokens) plus ",
                     r.max_new_tokens, " new tokens needs ", KvTokensNeeded(r),
                     " KV cache slots, more than the ", kv_tokens_per_rank(),
                     " one attention rank holds (raise --kv-cache-tokens)"));
  }
  return Annotate(cpu::Validate(r.sampling), absl::StrCat(what, ": sampling"));
}

absl::StatusOr<std::vector<GenerationResult>> Engine::Generate(
    const std::vector<GenerationRequest>& requests) {
  JANUS_RETURN_IF_ERROR(backend_->Failed());
  for (size_t i = 0; i < requests.size(); ++i)
    JANUS_RETURN_IF_ERROR(ValidateRequest(i, requests[i]));

  std::vector<GenerationResult> results(requests.size());
  std::vector<Sequence> sequences(requests.size());
  std::deque<Sequence*> waiting;
  for (size_t i = 0; i < requests.size(); ++i) {
    Sequence& s = sequences[i];
    s.request = i;
    s.spec = &requests[i];
    s.result = &results[i];
    s.blocks = static_cast<int>(
        CeilDiv(KvTokensNeeded(requests[i]), options_.kv_block_size));
    waiting.push_back(&s);
  }
  std::vector<Sequence*> running;
  absl::Status status = absl::OkStatus();
  while (status.ok() && (!waiting.empty() || !running.empty())) {
    // Admission: FIFO, round-robin over attention ranks, worst-case KV blocks
    // reserved up front.
    while (!waiting.empty() &&
           static_cast<int>(running.size()) < options_.max_batch) {
      Sequence* s = waiting.front();
      const int rank = next_attention_rank_ % backend_->num_instances();
      if (free_blocks_[rank] < s->blocks) break;
      free_blocks_[rank] -= s->blocks;
      s->rank = rank;
      s->id = next_sequence_++;
      next_attention_rank_ =
          (next_attention_rank_ + 1) % backend_->num_instances();
      running.push_back(s);
      waiting.pop_front();
    }
    if (running.empty()) {
      status = absl::InternalError(
          "no request fits the KV cache although every block is free");
      break;
    }
    status = RunStep(running);
    for (Sequence* s : running) {
      if (s->done) {
        free_blocks_[s->rank] += s->blocks;
        release_[s->rank].push_back(s->id);
      }
    }
    running.erase(std::remove_if(running.begin(), running.end(),
                                 [](Sequence* s) { return s->done; }),
                  running.end());
  }
  // Free the finished sequences' KV blocks now rather than with the next step.
  if (status.ok()) status = backend_->Release(release_);
  if (!status.ok()) {
    // Whatever failed, no rank may keep waiting for this step: poison the
    // transport.
    backend_->Abort(status);
    return backend_->Failed().ok() ? status : backend_->Failed();
  }
  return results;
}

// The MoE layers' ids cover every instance's rows, instance after instance (the dispatch order).
absl::Status Engine::RecordRouting(const std::vector<std::vector<Sequence*>>& row_sequence,
                                   const StepOutput& out) {
  std::vector<Sequence*> rows;
  for (const auto& instance : row_sequence) rows.insert(rows.end(), instance.begin(), instance.end());
  std::vector<const std::pair<int, Tensor>*> layers;
  for (const auto& entry : out.ids_by_layer) layers.push_back(&entry);
  std::stable_sort(layers.begin(), layers.end(),
                   [](const auto* a, const auto* b) { return a->first < b->first; });
  for (size_t r = 0; r < rows.size(); ++r) {
    if (!rows[r]->spec->return_routing) continue;
    std::vector<int32_t> ids;
    for (const auto* layer : layers) {
      const Tensor& t = layer->second;
      if (t.rows() != static_cast<int64_t>(rows.size()) || t.dtype() != DType::kI32) {
        return absl::InternalError(absl::StrCat("the expert ids of layer ", layer->first, " are ",
                                                t.ShapeString(), " for ", rows.size(), " rows"));
      }
      ids.insert(ids.end(), t.i32_row(r), t.i32_row(r) + t.cols());
    }
    rows[r]->result->routing.push_back(std::move(ids));
  }
  return absl::OkStatus();
}

absl::Status Engine::RunStep(std::vector<Sequence*>& running) {
  const int A = backend_->num_instances();
  // Per attention instance: the rows, and for each logits row the sequence and
  // prompt position it belongs to.
  std::vector<InstanceStep> steps(A);
  struct LogitRow {
    Sequence* seq;
    int64_t position;
    bool prefill;
  };
  std::vector<std::vector<LogitRow>> logit_rows(A);
  std::vector<std::vector<Sequence*>> row_sequence(A);  // each row's sequence
  int64_t total_rows = 0;
  for (Sequence* s : running) {
    const auto& prompt = s->spec->prompt;
    const int64_t prompt_len = static_cast<int64_t>(prompt.size());
    InstanceStep& step = steps[s->rank];
    auto add_row = [&](int32_t token, int64_t position, bool want,
                       bool prefill) {
      step.ids.push_back(token);
      step.rows.insert(step.rows.end(),
                       {static_cast<int32_t>(s->id),
                        static_cast<int32_t>(position), want ? 1 : 0});
      if (want) logit_rows[s->rank].push_back({s, position, prefill});
      row_sequence[s->rank].push_back(s);
      ++total_rows;
    };
    if (s->fed < prompt_len) {
      int64_t n = prompt_len - s->fed;
      if (options_.prefill_chunk > 0)
        n = std::min<int64_t>(n, options_.prefill_chunk);
      for (int64_t p = s->fed; p < s->fed + n; ++p) {
        const bool last = p == prompt_len - 1;
        const bool want = s->spec->return_prefill_logits ||
                          (last && s->spec->max_new_tokens > 0);
        add_row(prompt[p], p, want, true);
      }
      s->fed += n;
    } else {
      add_row(s->result->tokens.back(), s->fed, true, false);
      s->fed += 1;
    }
  }
  for (int a = 0; a < A; ++a) {
    steps[a].release = std::move(release_[a]);
    release_[a].clear();
    // Ids instead of logits when nobody reads the logits and every row samples alike (the seeds
    // and step counters may differ: they travel per row).
    bool same = !logit_rows[a].empty();
    const cpu::SamplingParams* first =
        same ? &logit_rows[a].front().seq->spec->sampling : nullptr;
    for (const LogitRow& lr : logit_rows[a]) {
      const GenerationRequest& r = *lr.seq->spec;
      same = same && !r.return_prefill_logits && !r.return_decode_logits &&
             r.sampling.temperature == first->temperature && r.sampling.top_k == first->top_k &&
             r.sampling.top_p == first->top_p;
      if (!same) break;
      steps[a].seeds.push_back(r.sampling.seed);
      steps[a].step_counters.push_back(lr.seq->result->tokens.size());
    }
    steps[a].tokens_only = same;
    if (same) steps[a].sampling = *first;
  }

  bool decode_only = true;
  for (Sequence* s : running)
    decode_only = decode_only && s->fed > static_cast<int64_t>(s->spec->prompt.size());
  StepOutput out;
  const absl::Time start = absl::Now();
  JANUS_RETURN_IF_ERROR(backend_->Step(steps, &out));
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  stats_.steps += 1;
  stats_.rows += total_rows;
  if (decode_only) {
    stats_.decode_steps += 1;
    stats_.decode_rows += total_rows;
    stats_.decode_seconds += seconds;
    stats_.decode_device_seconds += out.device_seconds;
  } else {
    stats_.prefill_steps += 1;
    stats_.prefill_rows += total_rows;
    stats_.prefill_seconds += seconds;
    stats_.prefill_device_seconds += out.device_seconds;
  }
  for (const auto& s : out.stats) stats_.Add(s);
  for (const auto& [layer, layer_ids] : out.ids_by_layer) {
    JANUS_RETURN_IF_ERROR(activations_->Record(
        layer, layer_ids.i32(), static_cast<int>(layer_ids.rows()),
        static_cast<int>(layer_ids.cols())));
  }
  JANUS_RETURN_IF_ERROR(RecordRouting(row_sequence, out));
  if (out.logits.size() != static_cast<size_t>(A)) {
    return absl::InternalError(absl::StrCat("the backend returned logits for ",
                                            out.logits.size(), " of ", A,
                                            " attention instances"));
  }

  const int vocab = vocab_size();
  const auto* eos = plan().model()->eos_token_ids();
  for (int a = 0; a < A; ++a) {
    const std::vector<int32_t>* tokens =
        a < static_cast<int>(out.tokens.size()) && !out.tokens[a].empty() ? &out.tokens[a]
                                                                            : nullptr;
    // The backend answered with the drawn ids (tokens_only), or with logits to sample from here.
    const Tensor& logits = out.logits[a];
    if (tokens != nullptr) {
      if (!steps[a].tokens_only || tokens->size() != logit_rows[a].size()) {
        return absl::InternalError(absl::StrCat("attention instance ", a, " returned ",
                                                tokens->size(), " token ids for ",
                                                logit_rows[a].size(), " logits rows"));
      }
    } else if (logits.rows() != static_cast<int64_t>(logit_rows[a].size()) ||
               logits.cols() != vocab || logits.dtype() != DType::kF32) {
      return absl::InternalError(absl::StrCat(
          "attention instance ", a, " returned ", logits.ShapeString(), " for ",
          logit_rows[a].size(), " logits rows of ", vocab));
    }
    for (size_t k = 0; k < logit_rows[a].size(); ++k) {
      const LogitRow& lr = logit_rows[a][k];
      Sequence* s = lr.seq;
      const float* row =
          tokens == nullptr ? logits.f32_row(static_cast<int64_t>(k)) : nullptr;
      const int64_t prompt_len = static_cast<int64_t>(s->spec->prompt.size());
      if (row != nullptr && lr.prefill && s->spec->return_prefill_logits)
        s->result->prefill_logits.emplace_back(row, row + vocab);
      const bool samples = !lr.prefill || lr.position == prompt_len - 1;
      if (!samples || s->spec->max_new_tokens == 0) continue;
      int32_t token;
      if (row != nullptr) {
        JANUS_ASSIGN_OR_RETURN(
            token, cpu::Sample(row, vocab, s->spec->sampling, s->result->tokens.size()));
      } else {
        token = (*tokens)[k];
        if (token < 0 || token >= vocab) {
          return absl::InternalError(absl::StrCat("sequence ", s->id, ": the device sampler gave ",
                                                  token, " (a NaN in the logits?)"));
        }
      }
      s->result->tokens.push_back(token);
      if (row != nullptr && s->spec->return_decode_logits)
        s->result->decode_logits.emplace_back(row, row + vocab);
      if (s->spec->stop_at_eos && eos != nullptr &&
          std::find(eos->begin(), eos->end(), token) != eos->end()) {
        s->result->stopped_at_eos = true;
        s->done = true;
      }
    }
  }
  for (Sequence* s : running) {
    const int64_t prompt_len = static_cast<int64_t>(s->spec->prompt.size());
    if (s->fed >= prompt_len &&
        static_cast<int>(s->result->tokens.size()) >= s->spec->max_new_tokens)
      s->done = true;
  }
  return absl::OkStatus();
}

}  // namespace janus::exec
