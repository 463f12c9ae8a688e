// The in-process transport of the cpu backend: every rank is a thread, every
// message is a copy.
//
// Point-to-point mailboxes are keyed by (source, destination, tag); each key is
// a FIFO, so a rank that runs ahead into the next step never overtakes a
// message of the current one. Send never blocks; Receive blocks until the
// message arrives, the transport is aborted, or the receive timeout expires.
// Abort poisons the transport: every pending and future Send/Receive returns
// the abort error, so one failing rank unblocks all the others instead of
// leaving them waiting (the first error wins; a timeout aborts too). Counters
// record the route every message took, so tests can check that a strategy
// really sends what ARCHITECTURE.md says it sends.
#ifndef JANUS_RUNTIME_EXEC_TRANSPORT_H_
#define JANUS_RUNTIME_EXEC_TRANSPORT_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/exec/tensor.h"

namespace janus::exec {

// What travels between ranks: tensors (copied) and a small integer header whose
// meaning belongs to the sender and receiver (row segments for collectives, a
// command for the engine's steps).
struct Message {
  std::vector<Tensor> tensors;
  std::vector<int64_t> meta;

  int64_t ByteSize() const;
};

class Transport {
 public:
  // Endpoints are 0 .. num_endpoints - 1. A receive that waits longer than
  // `receive_timeout` aborts the transport with DeadlineExceeded (a safety net:
  // a correct program never waits long).
  explicit Transport(int num_endpoints,
                     absl::Duration receive_timeout = absl::InfiniteDuration());
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  int num_endpoints() const { return num_endpoints_; }

  // Queues `message` for `dst`. InvalidArgument for an endpoint out of range;
  // the abort error once aborted.
  absl::Status Send(int src, int dst, uint64_t tag, Message message);
  // Blocks until the oldest message from `src` with `tag` to `dst` arrives and
  // returns it, for at most the transport's receive timeout.
  absl::StatusOr<Message> Receive(int dst, int src, uint64_t tag);
  // Same with an explicit timeout (absl::InfiniteDuration(): wait until a
  // message or an abort; for waits whose length is not the program's business,
  // like a rank idling between requests).
  absl::StatusOr<Message> Receive(int dst, int src, uint64_t tag,
                                  absl::Duration timeout);

  // Poisons the transport with `error` (not OK) and wakes every waiting
  // receiver. Later calls keep the first error.
  void Abort(const absl::Status& error);
  bool aborted() const { return aborted_.load(std::memory_order_acquire); }
  // OK, or the error the transport was aborted with.
  absl::Status status() const;

  // Messages and tensor bytes sent from `src` to `dst` so far.
  int64_t messages_sent(int src, int dst) const;
  int64_t bytes_sent(int src, int dst) const;
  // Messages queued but not yet received (all mailboxes); 0 after a clean step.
  int64_t pending_messages() const;

 private:
  struct Inbox {
    std::mutex mu;
    std::condition_variable cv;
    std::map<std::pair<int, uint64_t>, std::deque<Message>>
        queues;  // (src, tag)
  };

  absl::Status CheckEndpoint(int endpoint, const char* what) const;

  const int num_endpoints_;
  const absl::Duration receive_timeout_;
  std::vector<std::unique_ptr<Inbox>> inboxes_;

  std::atomic<bool> aborted_{false};
  mutable std::mutex abort_mu_;
  absl::Status abort_status_;

  mutable std::mutex counters_mu_;
  std::vector<int64_t> messages_;  // [src * n + dst]
  std::vector<int64_t> bytes_;
};

}  // namespace janus::exec

#endif  // JANUS_RUNTIME_EXEC_TRANSPORT_H_
