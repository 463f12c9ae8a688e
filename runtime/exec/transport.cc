#include "runtime/exec/transport.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace janus::exec {

int64_t Message::ByteSize() const {
  int64_t bytes = static_cast<int64_t>(meta.size() * sizeof(int64_t));
  for (const Tensor& t : tensors)
    bytes += t.size() * static_cast<int64_t>(DTypeSize(t.dtype()));
  return bytes;
}

Transport::Transport(int num_endpoints, absl::Duration receive_timeout)
    : num_endpoints_(num_endpoints),
      receive_timeout_(receive_timeout),
      messages_(static_cast<size_t>(num_endpoints) * num_endpoints, 0),
      bytes_(static_cast<size_t>(num_endpoints) * num_endpoints, 0) {
  inboxes_.reserve(num_endpoints);
  for (int i = 0; i < num_endpoints; ++i)
    inboxes_.push_back(std::make_unique<Inbox>());
}

absl::Status Transport::CheckEndpoint(int endpoint, const char* what) const {
  if (endpoint < 0 || endpoint >= num_endpoints_) {
    return absl::InvalidArgumentError(
        absl::StrCat("transport: ", what, " endpoint ", endpoint,
                     " is out of range [0, ", num_endpoints_, ")"));
  }
  return absl::OkStatus();
}

absl::Status Transport::Send(int src, int dst, uint64_t tag, Message message) {
  if (absl::Status s = CheckEndpoint(src, "source"); !s.ok()) return s;
  if (absl::Status s = CheckEndpoint(dst, "destination"); !s.ok()) return s;
  if (aborted()) return status();
  {
    std::lock_guard<std::mutex> lock(counters_mu_);
    messages_[static_cast<size_t>(src) * num_endpoints_ + dst] += 1;
    bytes_[static_cast<size_t>(src) * num_endpoints_ + dst] +=
        message.ByteSize();
  }
  Inbox& inbox = *inboxes_[dst];
  {
    std::lock_guard<std::mutex> lock(inbox.mu);
    inbox.queues[{src, tag}].push_back(std::move(message));
  }
  inbox.cv.notify_all();
  return absl::OkStatus();
}

absl::StatusOr<Message> Transport::Receive(int dst, int src, uint64_t tag) {
  return Receive(dst, src, tag, receive_timeout_);
}

absl::StatusOr<Message> Transport::Receive(int dst, int src, uint64_t tag,
                                           absl::Duration timeout) {
  if (absl::Status s = CheckEndpoint(src, "source"); !s.ok()) return s;
  if (absl::Status s = CheckEndpoint(dst, "destination"); !s.ok()) return s;
  Inbox& inbox = *inboxes_[dst];
  std::unique_lock<std::mutex> lock(inbox.mu);
  const std::pair<int, uint64_t> key{src, tag};
  auto ready = [&] {
    if (aborted()) return true;
    auto it = inbox.queues.find(key);
    return it != inbox.queues.end() && !it->second.empty();
  };
  if (timeout == absl::InfiniteDuration()) {
    inbox.cv.wait(lock, ready);
  } else {
    if (!inbox.cv.wait_for(lock, absl::ToChronoMilliseconds(timeout), ready)) {
      lock.unlock();
      absl::Status error = absl::DeadlineExceededError(
          absl::StrFormat("transport: rank %d waited more than %s for a "
                          "message from rank %d (tag 0x%x); the "
                          "ranks' programs are out of step",
                          dst, absl::FormatDuration(timeout), src, tag));
      Abort(error);
      return status();
    }
  }
  if (aborted()) {
    lock.unlock();
    return status();
  }
  auto it = inbox.queues.find(key);
  Message message = std::move(it->second.front());
  it->second.pop_front();
  if (it->second.empty()) inbox.queues.erase(it);
  return message;
}

void Transport::Abort(const absl::Status& error) {
  {
    std::lock_guard<std::mutex> lock(abort_mu_);
    if (aborted_.load(std::memory_order_acquire)) return;
    abort_status_ =
        error.ok() ? absl::CancelledError("transport aborted") : error;
    aborted_.store(true, std::memory_order_release);
  }
  for (auto& inbox : inboxes_) {
    // Taking the lock orders the flag before any waiter's predicate check: no
    // lost wake-up.
    { std::lock_guard<std::mutex> lock(inbox->mu); }
    inbox->cv.notify_all();
  }
}

absl::Status Transport::status() const {
  std::lock_guard<std::mutex> lock(abort_mu_);
  return abort_status_;
}

int64_t Transport::messages_sent(int src, int dst) const {
  if (src < 0 || dst < 0 || src >= num_endpoints_ || dst >= num_endpoints_)
    return 0;
  std::lock_guard<std::mutex> lock(counters_mu_);
  return messages_[static_cast<size_t>(src) * num_endpoints_ + dst];
}

int64_t Transport::bytes_sent(int src, int dst) const {
  if (src < 0 || dst < 0 || src >= num_endpoints_ || dst >= num_endpoints_)
    return 0;
  std::lock_guard<std::mutex> lock(counters_mu_);
  return bytes_[static_cast<size_t>(src) * num_endpoints_ + dst];
}

int64_t Transport::pending_messages() const {
  int64_t pending = 0;
  for (const auto& inbox : inboxes_) {
    std::lock_guard<std::mutex> lock(inbox->mu);
    for (const auto& [key, queue] : inbox->queues)
      pending += static_cast<int64_t>(queue.size());
  }
  return pending;
}

}  // namespace janus::exec
