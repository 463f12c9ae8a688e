#include "runtime/exec/engine.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/base/status.h"

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
  if (options.backend == "cuda") {
    return absl::UnimplementedError(
        "backend 'cuda' is not available in this build (no GPU backend is "
        "built yet); use --backend=cpu");
  }
  if (options.backend != "cpu") {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown backend '", options.backend, "' (expected cpu or cuda)"));
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
  const Topology& topology = engine->topology_;
  if (topology.num_ranks() > options.max_ranks) {
    return absl::UnimplementedError(absl::StrCat(
        "the cpu backend runs one thread per rank and is limited to ",
        options.max_ranks, " ranks; the plan's deployment has ",
        topology.num_attention, " attention + ", topology.num_moe,
        " MoE ranks"));
  }
  JANUS_RETURN_IF_ERROR(Annotate(CheckProgramsRunnable(plan, topology),
                                 "the cpu backend cannot run this plan"));
  const plan::ModelInfo& model = *plan.model();
  if (model.vocab_size() <= 0 || model.max_position_embeddings() <= 0) {
    return absl::InvalidArgumentError(
        "the plan's model has no vocabulary or no context length");
  }

  // KV capacity per attention rank.
  JANUS_ASSIGN_OR_RETURN(std::vector<cpu::KvLayerSpec> specs,
                         KvLayerSpecs(plan));
  int64_t bytes_per_token = 0;
  for (const auto& s : specs)
    bytes_per_token += 4 * (static_cast<int64_t>(s.key_width) + s.value_width);
  int64_t tokens = options.kv_cache_tokens;
  if (tokens == 0) {
    const int64_t max_pos = model.max_position_embeddings();
    tokens = max_pos * options.max_batch;
    const int64_t budget =
        (int64_t{4} << 30) / std::max<int64_t>(1, bytes_per_token);
    tokens = std::min(tokens, std::max(max_pos, budget));
  }
  const int64_t blocks = CeilDiv(tokens, options.kv_block_size);
  if (blocks > (int64_t{1} << 30) ||
      blocks * options.kv_block_size * bytes_per_token > (int64_t{1} << 40)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a KV cache of ", tokens, " tokens per attention rank is too large"));
  }
  engine->kv_blocks_per_rank_ = static_cast<int>(blocks);
  engine->options_ = options;
  engine->free_blocks_.assign(topology.num_attention,
                              engine->kv_blocks_per_rank_);
  engine->release_.assign(topology.num_attention, {});
  engine->activations_ = std::make_unique<ActivationRecorder>(
      model.model_type()->str(), model.num_layers(), model.num_experts());

  engine->host_ = topology.num_ranks();
  engine->transport_ = std::make_unique<Transport>(topology.num_ranks() + 1,
                                                   options.receive_timeout);
  RankOptions rank_options;
  rank_options.kv_block_size = options.kv_block_size;
  rank_options.kv_num_blocks = engine->kv_blocks_per_rank_;
  rank_options.collect_stats = options.collect_stats;
  rank_options.record_activations = options.record_activations;
  rank_options.checkpoint_dir = options.checkpoint_dir;
  for (int r = 0; r < topology.num_ranks(); ++r) {
    const bool attention = r < topology.num_attention;
    const int index = attention ? r : r - topology.num_attention;
    absl::StatusOr<std::unique_ptr<Rank>> rank =
        Rank::Create(plan, &engine->topology_, engine->transport_.get(),
                     attention ? plan::Role::Attention : plan::Role::Moe, index,
                     rank_options);
    if (!rank.ok()) {
      return Annotate(
          rank.status(),
          absl::StrCat(attention ? "attention" : "moe", " rank ", index));
    }
    engine->ranks_.push_back(std::move(*rank));
  }
  for (auto& rank : engine->ranks_) {
    Rank* r = rank.get();
    engine->threads_.emplace_back([r] { r->Run(); });
  }
  return engine;
}

Engine::~Engine() { (void)Shutdown(); }

absl::Status Engine::Shutdown() {
  if (transport_ != nullptr && !transport_->aborted()) {
    for (int r = 0; r < topology_.num_ranks(); ++r) {
      Message m;
      m.meta = {kShutdown};
      (void)transport_->Send(host_, r, kCommandTag, std::move(m));
    }
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  return absl::OkStatus();
}

absl::Status Engine::Failed() const {
  if (!transport_->aborted()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "the engine stopped after an error: ", transport_->status().message()));
}

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
  JANUS_RETURN_IF_ERROR(Failed());
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
      const int rank = next_attention_rank_ % topology_.num_attention;
      if (free_blocks_[rank] < s->blocks) break;
      free_blocks_[rank] -= s->blocks;
      s->rank = rank;
      s->id = next_sequence_++;
      next_attention_rank_ =
          (next_attention_rank_ + 1) % topology_.num_attention;
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
  if (status.ok()) {
    // Free the finished sequences' KV blocks now rather than with the next
    // step.
    std::vector<int> asked;
    for (int a = 0; a < topology_.num_attention && status.ok(); ++a) {
      if (release_[a].empty()) continue;
      Message m;
      m.meta = {kRelease, static_cast<int64_t>(release_[a].size())};
      m.meta.insert(m.meta.end(), release_[a].begin(), release_[a].end());
      release_[a].clear();
      status = transport_->Send(host_, topology_.AttentionRank(a), kCommandTag,
                                std::move(m));
      asked.push_back(a);
    }
    for (int a : asked) {
      if (!status.ok()) break;
      status = transport_
                   ->Receive(host_, topology_.AttentionRank(a), kReplyTag,
                             absl::InfiniteDuration())
                   .status();
    }
  }
  if (!status.ok()) {
    // Whatever failed, no rank may keep waiting for this step: poison the
    // transport.
    transport_->Abort(status);
    return transport_->status();
  }
  return results;
}

absl::Status Engine::RunStep(std::vector<Sequence*>& running) {
  const int A = topology_.num_attention;
  // Per attention rank: the rows, and for each logits row the sequence and
  // prompt position it belongs to (-1: a decode row).
  std::vector<std::vector<int32_t>> ids(A), rows(A);
  struct LogitRow {
    Sequence* seq;
    int64_t position;
    bool prefill;
  };
  std::vector<std::vector<LogitRow>> logit_rows(A);
  int64_t total_rows = 0;
  for (Sequence* s : running) {
    const auto& prompt = s->spec->prompt;
    const int64_t prompt_len = static_cast<int64_t>(prompt.size());
    auto add_row = [&](int32_t token, int64_t position, bool want,
                       bool prefill) {
      ids[s->rank].push_back(token);
      rows[s->rank].insert(rows[s->rank].end(),
                           {static_cast<int32_t>(s->id),
                            static_cast<int32_t>(position), want ? 1 : 0});
      if (want) logit_rows[s->rank].push_back({s, position, prefill});
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
    Message m;
    const int64_t n = static_cast<int64_t>(ids[a].size());
    Tensor id_tensor = Tensor::I32(n, 1);
    std::copy(ids[a].begin(), ids[a].end(), id_tensor.i32());
    Tensor row_tensor = Tensor::I32(n, 3);
    std::copy(rows[a].begin(), rows[a].end(), row_tensor.i32());
    m.tensors = {std::move(id_tensor), std::move(row_tensor)};
    m.meta = {kStep, static_cast<int64_t>(release_[a].size())};
    m.meta.insert(m.meta.end(), release_[a].begin(), release_[a].end());
    release_[a].clear();
    JANUS_RETURN_IF_ERROR(transport_->Send(host_, topology_.AttentionRank(a),
                                           kCommandTag, std::move(m)));
  }
  for (int j = 0; j < topology_.num_moe; ++j) {
    Message m;
    m.meta = {kStep};
    JANUS_RETURN_IF_ERROR(transport_->Send(host_, topology_.MoeRank(j),
                                           kCommandTag, std::move(m)));
  }

  std::vector<Message> replies(topology_.num_ranks());
  for (int r = 0; r < topology_.num_ranks(); ++r) {
    // No timeout: a rank either replies or aborts (its own waits are bounded).
    JANUS_ASSIGN_OR_RETURN(
        replies[r],
        transport_->Receive(host_, r, kReplyTag, absl::InfiniteDuration()));
  }
  stats_.steps += 1;
  stats_.rows += total_rows;
  {
    const Message& moe0 = replies[topology_.MoeRank(0)];
    size_t pos = 0;
    JANUS_ASSIGN_OR_RETURN(std::vector<MoeLayerStepStats> layer_stats,
                           DecodeStepStats(moe0.meta, &pos));
    for (const auto& s : layer_stats) stats_.Add(s);
    if (pos >= moe0.meta.size() ||
        moe0.meta[pos] != static_cast<int64_t>(moe0.tensors.size()) ||
        pos + 1 + moe0.tensors.size() != moe0.meta.size()) {
      return absl::InternalError("malformed activation record from MoE rank 0");
    }
    for (size_t t = 0; t < moe0.tensors.size(); ++t) {
      const Tensor& layer_ids = moe0.tensors[t];
      JANUS_RETURN_IF_ERROR(activations_->Record(
          static_cast<int>(moe0.meta[pos + 1 + t]), layer_ids.i32(),
          static_cast<int>(layer_ids.rows()),
          static_cast<int>(layer_ids.cols())));
    }
  }

  const int vocab = vocab_size();
  const auto* eos = plan().model()->eos_token_ids();
  for (int a = 0; a < A; ++a) {
    const Message& reply = replies[topology_.AttentionRank(a)];
    if (reply.tensors.size() != 1 ||
        reply.tensors[0].rows() != static_cast<int64_t>(logit_rows[a].size()) ||
        reply.tensors[0].cols() != vocab ||
        reply.tensors[0].dtype() != DType::kF32) {
      return absl::InternalError(absl::StrCat(
          "attention rank ", a, " returned ",
          reply.tensors.empty() ? std::string("nothing")
                                : reply.tensors[0].ShapeString(),
          " for ", logit_rows[a].size(), " logits rows of ", vocab));
    }
    const Tensor& logits = reply.tensors[0];
    for (size_t k = 0; k < logit_rows[a].size(); ++k) {
      const LogitRow& lr = logit_rows[a][k];
      Sequence* s = lr.seq;
      const float* row = logits.f32_row(static_cast<int64_t>(k));
      const int64_t prompt_len = static_cast<int64_t>(s->spec->prompt.size());
      if (lr.prefill && s->spec->return_prefill_logits)
        s->result->prefill_logits.emplace_back(row, row + vocab);
      const bool samples = !lr.prefill || lr.position == prompt_len - 1;
      if (!samples || s->spec->max_new_tokens == 0) continue;
      JANUS_ASSIGN_OR_RETURN(
          int32_t token,
          cpu::Sample(row, vocab, s->spec->sampling, s->result->tokens.size()));
      s->result->tokens.push_back(token);
      if (s->spec->return_decode_logits)
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
