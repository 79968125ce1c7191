// Blocking socket I/O with deadlines, and records passed with file descriptors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace xen3d::proto {

// A point in time a call must finish by (monotonic clock); -1 ms means forever.
struct Deadline {
  int64_t at_ms = -1;
  static Deadline in(int timeout_ms);
  int remaining_ms() const;  // -1 forever, 0 expired
};

// Writes all of buf. False (errno set) on error or deadline.
bool send_all(int fd, const void* buf, size_t len, Deadline dl);
// Reads exactly len bytes. False on error, EOF (errno 0) or deadline (ETIMEDOUT).
bool recv_all(int fd, void* buf, size_t len, Deadline dl);

// One protocol record over a stream socket, optionally with fds (SCM_RIGHTS).
bool send_record(int fd, const std::vector<uint8_t>& rec, const int* fds, int nfds, Deadline dl);
// Reads one record (header first, at most max_size bytes); received fds are
// appended to `fds` (and owned by the caller). `error` explains a failure.
bool recv_record(int fd, std::vector<uint8_t>& rec, size_t max_size, std::vector<int>* fds,
                 Deadline dl, std::string& error);

// One descriptor alone on a stream socket: a single marker byte carrying it
// (SCM_RIGHTS). receive_one_fd waits for it and returns it (owned by the
// caller), or -1 with `error` set; any extra descriptors that came along are
// closed. take_one_fd reads what is there now, without waiting.
bool send_one_fd(int sock, int fd, Deadline dl);
int receive_one_fd(int sock, Deadline dl, std::string& error);
enum class FdMessage { Fd, Nothing, Closed, Other };
FdMessage take_one_fd(int sock, int& fd, std::string& error);

// A listening Unix socket at `path` (SOCK_CLOEXEC plus `extra_type_flags`),
// made private with `mode` when it is not 0. It is bound under a temporary
// name and renamed into place once it listens, so a client that sees the file
// can connect to it. -1 with `error` set on failure; `path` is not replaced
// then.
int listen_unix(const std::string& path, int backlog, int extra_type_flags, unsigned mode, std::string& error);

std::string errno_text(int err);
void close_fd(int& fd);

}  // namespace xen3d::proto
