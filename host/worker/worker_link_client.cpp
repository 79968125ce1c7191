#include "host/worker/worker_link_client.h"

#include <unistd.h>

#include <chrono>

#include "common/log.h"

namespace xen3d::host {

WorkerLinkClient::WorkerLinkClient(WorkerLink& link, std::function<void(const std::string&)> on_closed)
    : link_(link), on_closed_(std::move(on_closed)), thread_([this] { run(); }) {}

WorkerLinkClient::~WorkerLinkClient() {
  done_ = true;
  thread_.join();
  for (int f : answer_fds_) ::close(f);
}

bool WorkerLinkClient::round_trip(const std::function<bool()>& send, std::vector<uint8_t>& answer,
                                  std::vector<int>& fds, std::string& error) {
  std::lock_guard<std::mutex> one(request_mutex_);
  std::unique_lock<std::mutex> g(mutex_);
  if (closed_) {
    error = "the compositor closed the link";
    return false;
  }
  waiting_ = true;
  has_answer_ = false;
  if (!send()) {
    waiting_ = false;
    error = "cannot reach the compositor: " + proto::errno_text(errno);
    return false;
  }
  const bool got = answered_.wait_for(g, std::chrono::seconds(10), [&] { return has_answer_ || closed_; });
  waiting_ = false;
  if (!got || !has_answer_) {
    error = closed_ ? "the compositor closed the link" : "the compositor did not answer within 10 s";
    return false;
  }
  has_answer_ = false;
  answer.swap(answer_);
  fds.swap(answer_fds_);
  answer_fds_.clear();
  return true;
}

void WorkerLinkClient::run() {
  std::vector<uint8_t> rec;
  std::vector<int> fds;
  while (!done_) {
    fds.clear();
    const auto n = link_.next(rec, &fds, 200);
    if (n == WorkerLink::Next::Timeout) continue;
    if (n == WorkerLink::Next::Closed) {
      {
        std::lock_guard<std::mutex> g(mutex_);
        closed_ = true;
      }
      answered_.notify_all();
      if (!done_ && on_closed_) on_closed_(link_.error());
      return;
    }
    std::lock_guard<std::mutex> g(mutex_);
    if (!waiting_ || has_answer_) {
      // The compositor sends nothing unasked: a stray answer (one that came
      // after its request timed out) is dropped.
      XLOG_DEBUG("dropped a link record nobody waits for");
      for (int f : fds) ::close(f);
      continue;
    }
    answer_.swap(rec);
    answer_fds_ = fds;
    has_answer_ = true;
    answered_.notify_all();
  }
}

}  // namespace xen3d::host
