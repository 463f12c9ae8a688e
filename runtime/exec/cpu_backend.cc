#include "runtime/exec/cpu_backend.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/base/status.h"
#include "runtime/exec/program_check.h"

namespace janus::exec {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> CpuBackend::Create(const plan::Plan& plan,
                                                            const Topology& topology,
                                                            const EngineOptions& options) {
  if (topology.num_ranks() > options.max_ranks) {
    return absl::UnimplementedError(absl::StrCat(
        "the cpu backend runs one thread per rank and is limited to ", options.max_ranks,
        " ranks; the plan's deployment has ", topology.num_attention, " attention + ",
        topology.num_moe, " MoE ranks"));
  }
  JANUS_RETURN_IF_ERROR(
      Annotate(CheckProgramsRunnable(plan, topology), "the cpu backend cannot run this plan"));
  const plan::ModelInfo& model = *plan.model();

  // KV capacity per attention rank.
  JANUS_ASSIGN_OR_RETURN(std::vector<cpu::KvLayerSpec> specs, KvLayerSpecs(plan));
  int64_t bytes_per_token = 0;
  for (const auto& s : specs)
    bytes_per_token += 4 * (static_cast<int64_t>(s.key_width) + s.value_width);
  int64_t tokens = options.kv_cache_tokens;
  if (tokens == 0) {
    const int64_t max_pos = model.max_position_embeddings();
    tokens = max_pos * options.max_batch;
    const int64_t budget = (int64_t{4} << 30) / std::max<int64_t>(1, bytes_per_token);
    tokens = std::min(tokens, std::max(max_pos, budget));
  }
  const int64_t blocks = CeilDiv(tokens, options.kv_block_size);
  if (blocks > (int64_t{1} << 30) ||
      blocks * options.kv_block_size * bytes_per_token > (int64_t{1} << 40)) {
    return absl::InvalidArgumentError(
        absl::StrCat("a KV cache of ", tokens, " tokens per attention rank is too large"));
  }

  std::unique_ptr<CpuBackend> backend(new CpuBackend());
  backend->topology_ = topology;
  backend->kv_blocks_ = static_cast<int>(blocks);
  backend->prefill_chunk_ = options.prefill_chunk;
  backend->host_ = topology.num_ranks();
  backend->transport_ =
      std::make_unique<Transport>(topology.num_ranks() + 1, options.receive_timeout);
  RankOptions rank_options;
  rank_options.kv_block_size = options.kv_block_size;
  rank_options.kv_num_blocks = backend->kv_blocks_;
  rank_options.collect_stats = options.collect_stats;
  rank_options.record_activations = options.record_activations;
  rank_options.checkpoint_dir = options.checkpoint_dir;
  for (int r = 0; r < topology.num_ranks(); ++r) {
    const bool attention = r < topology.num_attention;
    const int index = attention ? r : r - topology.num_attention;
    absl::StatusOr<std::unique_ptr<Rank>> rank =
        Rank::Create(plan, &backend->topology_, backend->transport_.get(),
                     attention ? plan::Role::Attention : plan::Role::Moe, index, rank_options);
    if (!rank.ok()) {
      return Annotate(rank.status(),
                      absl::StrCat(attention ? "attention" : "moe", " rank ", index));
    }
    backend->ranks_.push_back(std::move(*rank));
  }
  for (auto& rank : backend->ranks_) {
    Rank* r = rank.get();
    backend->threads_.emplace_back([r] { r->Run(); });
  }
  return std::unique_ptr<Backend>(std::move(backend));
}

CpuBackend::~CpuBackend() { Shutdown(); }

void CpuBackend::Shutdown() {
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
}

absl::Status CpuBackend::Failed() const {
  if (!transport_->aborted()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("the engine stopped after an error: ", transport_->status().message()));
}

absl::Status CpuBackend::Release(std::vector<std::vector<int64_t>>& sequences) {
  std::vector<int> asked;
  for (int a = 0; a < topology_.num_attention; ++a) {
    if (sequences[a].empty()) continue;
    Message m;
    m.meta = {kRelease, static_cast<int64_t>(sequences[a].size())};
    m.meta.insert(m.meta.end(), sequences[a].begin(), sequences[a].end());
    sequences[a].clear();
    JANUS_RETURN_IF_ERROR(
        transport_->Send(host_, topology_.AttentionRank(a), kCommandTag, std::move(m)));
    asked.push_back(a);
  }
  for (int a : asked) {
    JANUS_RETURN_IF_ERROR(transport_
                              ->Receive(host_, topology_.AttentionRank(a), kReplyTag,
                                        absl::InfiniteDuration())
                              .status());
  }
  return absl::OkStatus();
}

absl::Status CpuBackend::Step(std::vector<InstanceStep>& steps, StepOutput* out) {
  const int A = topology_.num_attention;
  for (int a = 0; a < A; ++a) {
    InstanceStep& step = steps[a];
    Message m;
    const int64_t n = step.num_rows();
    Tensor id_tensor = Tensor::I32(n, 1);
    std::copy(step.ids.begin(), step.ids.end(), id_tensor.i32());
    Tensor row_tensor = Tensor::I32(n, 3);
    std::copy(step.rows.begin(), step.rows.end(), row_tensor.i32());
    m.tensors = {std::move(id_tensor), std::move(row_tensor)};
    m.meta = {kStep, static_cast<int64_t>(step.release.size())};
    m.meta.insert(m.meta.end(), step.release.begin(), step.release.end());
    step.release.clear();
    JANUS_RETURN_IF_ERROR(
        transport_->Send(host_, topology_.AttentionRank(a), kCommandTag, std::move(m)));
  }
  for (int j = 0; j < topology_.num_moe; ++j) {
    Message m;
    m.meta = {kStep};
    JANUS_RETURN_IF_ERROR(transport_->Send(host_, topology_.MoeRank(j), kCommandTag, std::move(m)));
  }

  std::vector<Message> replies(topology_.num_ranks());
  for (int r = 0; r < topology_.num_ranks(); ++r) {
    // No timeout: a rank either replies or aborts (its own waits are bounded).
    JANUS_ASSIGN_OR_RETURN(replies[r],
                           transport_->Receive(host_, r, kReplyTag, absl::InfiniteDuration()));
  }
  Message& moe0 = replies[topology_.MoeRank(0)];
  size_t pos = 0;
  JANUS_ASSIGN_OR_RETURN(out->stats, DecodeStepStats(moe0.meta, &pos));
  if (pos >= moe0.meta.size() || moe0.meta[pos] != static_cast<int64_t>(moe0.tensors.size()) ||
      pos + 1 + moe0.tensors.size() != moe0.meta.size()) {
    return absl::InternalError("malformed activation record from MoE rank 0");
  }
  for (size_t t = 0; t < moe0.tensors.size(); ++t) {
    out->ids_by_layer.emplace_back(static_cast<int>(moe0.meta[pos + 1 + t]),
                                   std::move(moe0.tensors[t]));
  }
  for (int a = 0; a < A; ++a) {
    Message& reply = replies[topology_.AttentionRank(a)];
    if (reply.tensors.size() != 1) {
      return absl::InternalError(
          absl::StrCat("attention rank ", a, " returned ", reply.tensors.size(), " tensors"));
    }
    out->logits.push_back(std::move(reply.tensors[0]));
  }
  return absl::OkStatus();
}

}  // namespace janus::exec
