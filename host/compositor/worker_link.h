// The socketpair between xen3d-compositor and one of its render workers
// (docs/render-workers.md): worker_* records of proto/commands.toml, with
// file descriptors where a record says so. Both ends use this class; the
// compositor decodes what the worker sends as it decodes a guest's records.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "proto/commands.gen.h"
#include "proto/socket_io.h"

namespace xen3d::host {

class WorkerLink {
 public:
  explicit WorkerLink(int fd) : fd_(fd) {}
  ~WorkerLink() { proto::close_fd(fd_); }
  WorkerLink(const WorkerLink&) = delete;
  WorkerLink& operator=(const WorkerLink&) = delete;

  int fd() const { return fd_; }

  // Sends one record (and `fds`, not taken over). Safe from several threads.
  template <class R>
  bool send(const R& r, const int* fds = nullptr, int nfds = 0) {
    std::vector<uint8_t> buf(proto::wire_size(r));
    proto::encode(buf.data(), r);
    std::lock_guard<std::mutex> g(send_mutex_);
    return proto::send_record(fd_, buf, fds, nfds, proto::Deadline::in(kSendTimeoutMs));
  }

  enum class Next { Record, Timeout, Closed };
  // Waits up to timeout_ms (-1: forever) for the next record. Closed: the
  // other end is gone or broke the framing (error() says which). Received
  // descriptors are appended to `fds` (owned by the caller); without `fds`
  // a record that carries some is an error.
  Next next(std::vector<uint8_t>& rec, std::vector<int>* fds, int timeout_ms);
  const std::string& error() const { return error_; }

 private:
  // A peer that takes this long to drain a small record is stuck.
  static constexpr int kSendTimeoutMs = 5000;
  int fd_;
  std::mutex send_mutex_;
  std::string error_;
};

}  // namespace xen3d::host
