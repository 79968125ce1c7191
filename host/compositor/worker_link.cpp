#include "host/compositor/worker_link.h"

#include <cerrno>
#include <poll.h>
#include <unistd.h>

namespace xen3d::host {

WorkerLink::Next WorkerLink::next(std::vector<uint8_t>& rec, std::vector<int>* fds, int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  const int r = ::poll(&p, 1, timeout_ms);
  if (r == 0 || (r < 0 && errno == EINTR)) return Next::Timeout;
  if (r < 0) {
    error_ = "poll: " + proto::errno_text(errno);
    return Next::Closed;
  }
  // Records arrive whole: a peer that stops mid-record is broken.
  std::vector<int> received;
  if (!proto::recv_record(fd_, rec, proto::kMaxRecordSize, &received, proto::Deadline::in(kSendTimeoutMs), error_)) {
    for (int f : received) ::close(f);
    if (error_.empty()) error_ = "the other end closed the link";
    return Next::Closed;
  }
  if (!fds && !received.empty()) {
    for (int f : received) ::close(f);
    error_ = "a record came with unexpected file descriptors";
    return Next::Closed;
  }
  if (fds) fds->insert(fds->end(), received.begin(), received.end());
  return Next::Record;
}

}  // namespace xen3d::host
