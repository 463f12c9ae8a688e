// The cpu backend: every rank of the plan's deployment is a thread (rank.h) running its role's
// program in lockstep with the others over the in-process transport (transport.h, comm.h). The
// backend is the host end of the transport: each step it sends every rank its command and gathers
// the replies. One attention instance per attention rank.
#ifndef JANUS_RUNTIME_EXEC_CPU_BACKEND_H_
#define JANUS_RUNTIME_EXEC_CPU_BACKEND_H_

#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/exec/backend.h"
#include "runtime/exec/rank.h"
#include "runtime/exec/transport.h"

namespace janus::exec {

class CpuBackend final : public Backend {
 public:
  // Checks the programs are runnable on the deployment, sizes the KV cache, maps every rank's
  // weights and starts the rank threads.
  static absl::StatusOr<std::unique_ptr<Backend>> Create(const plan::Plan& plan,
                                                         const Topology& topology,
                                                         const EngineOptions& options);
  ~CpuBackend() override;

  int num_instances() const override { return topology_.num_attention; }
  int kv_blocks_per_instance() const override { return kv_blocks_; }
  int prefill_chunk() const override { return prefill_chunk_; }
  absl::Status Step(std::vector<InstanceStep>& steps, StepOutput* out) override;
  absl::Status Release(std::vector<std::vector<int64_t>>& sequences) override;
  absl::Status Failed() const override;
  void Abort(const absl::Status& status) override { transport_->Abort(status); }

  // The transport, for tests that check the routes messages took.
  const Transport& transport() const { return *transport_; }

 private:
  CpuBackend() = default;
  void Shutdown();

  Topology topology_;
  int kv_blocks_ = 0;
  int prefill_chunk_ = 0;
  int host_ = 0;
  std::unique_ptr<Transport> transport_;
  std::vector<std::unique_ptr<Rank>> ranks_;
  std::vector<std::thread> threads_;
};

}  // namespace janus::exec

#endif  // JANUS_RUNTIME_EXEC_CPU_BACKEND_H_
