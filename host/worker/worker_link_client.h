// The render worker's end of its link (worker_link.h): a thread that reads
// what the compositor sends, and round trips (desktop joins, surfaces,
// totals) made from the connection's thread. The compositor answers each
// request in order, so one request at a time waits for the next answer.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "host/compositor/worker_link.h"

namespace xen3d::host {

class WorkerLinkClient {
 public:
  // `on_closed` runs on the reader thread when the compositor goes away.
  WorkerLinkClient(WorkerLink& link, std::function<void(const std::string&)> on_closed);
  ~WorkerLinkClient();
  WorkerLinkClient(const WorkerLinkClient&) = delete;
  WorkerLinkClient& operator=(const WorkerLinkClient&) = delete;

  WorkerLink& link() { return link_; }

  // Sends `request` and decodes the answer into `answer` (its text points
  // into `storage`). With `fd`, the answer may carry one descriptor
  // (-1 when it did not). False with `error` when the link broke, the answer
  // did not come within 10 s or was not an A.
  template <class R, class A>
  bool request(const R& request, A& answer, std::vector<uint8_t>& storage, int* fd, std::string& error) {
    std::vector<int> fds;
    if (!round_trip([&] { return link_.send(request); }, storage, fds, error)) return false;
    if (fd) *fd = -1;
    const size_t allowed = fd ? 1 : 0;
    const auto e = proto::dispatch(storage.data(), storage.size(), proto::Sender::Host, [&](const auto& r) {
      if constexpr (std::is_same_v<std::decay_t<decltype(r)>, A>) {
        answer = r;
        return proto::DecodeError{};
      } else {
        return proto::DecodeError::rejected("not the answer asked for");
      }
    });
    if (!e.ok() || fds.size() > allowed) {
      error = "the compositor answered out of turn: " + (e.ok() ? std::string("unexpected descriptors") : e.describe());
      for (int f : fds) ::close(f);
      return false;
    }
    if (fd && !fds.empty()) *fd = fds[0];
    return true;
  }

 private:
  bool round_trip(const std::function<bool()>& send, std::vector<uint8_t>& answer, std::vector<int>& fds,
                  std::string& error);
  void run();

  WorkerLink& link_;
  std::function<void(const std::string&)> on_closed_;
  std::mutex request_mutex_;  // one request at a time
  std::mutex mutex_;
  std::condition_variable answered_;
  bool waiting_ = false;
  bool has_answer_ = false;
  std::vector<uint8_t> answer_;
  std::vector<int> answer_fds_;
  bool closed_ = false;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace xen3d::host
