#include "proto/socket_io.h"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto/wire.h"

namespace xen3d::proto {

namespace {
int64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

// Waits for `events` on fd; false with errno ETIMEDOUT at the deadline.
bool wait_fd(int fd, short events, Deadline dl) {
  for (;;) {
    pollfd p{fd, events, 0};
    int r = poll(&p, 1, dl.remaining_ms());
    if (r > 0) return true;
    if (r == 0) {
      errno = ETIMEDOUT;
      return false;
    }
    if (errno != EINTR) return false;
  }
}
}  // namespace

Deadline Deadline::in(int timeout_ms) {
  return Deadline{timeout_ms < 0 ? -1 : now_ms() + timeout_ms};
}

int Deadline::remaining_ms() const {
  if (at_ms < 0) return -1;
  int64_t left = at_ms - now_ms();
  return left > 0 ? static_cast<int>(left) : 0;
}

bool send_all(int fd, const void* buf, size_t len, Deadline dl) {
  auto* p = static_cast<const uint8_t*>(buf);
  while (len) {
    ssize_t n = ::send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      p += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_fd(fd, POLLOUT, dl)) return false;
      continue;
    }
    return false;
  }
  return true;
}

bool recv_all(int fd, void* buf, size_t len, Deadline dl) {
  auto* p = static_cast<uint8_t*>(buf);
  while (len) {
    ssize_t n = ::recv(fd, p, len, MSG_DONTWAIT);
    if (n > 0) {
      p += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    if (n == 0) {
      errno = 0;
      return false;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_fd(fd, POLLIN, dl)) return false;
      continue;
    }
    return false;
  }
  return true;
}

bool send_record(int fd, const std::vector<uint8_t>& rec, const int* fds, int nfds, Deadline dl) {
  if (nfds == 0) return send_all(fd, rec.data(), rec.size(), dl);
  // The fds ride on the first byte; the rest goes as plain data.
  char control[CMSG_SPACE(sizeof(int) * 8)] = {};
  iovec iov{const_cast<uint8_t*>(rec.data()), 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
  std::memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
  for (;;) {
    if (!wait_fd(fd, POLLOUT, dl)) return false;
    ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n == 1) break;
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    return false;
  }
  return send_all(fd, rec.data() + 1, rec.size() - 1, dl);
}

namespace {

// One recvmsg, without waiting, into buf; the descriptors that came with it
// are appended to `rights` (owned by the caller), and `truncated` says some
// did not fit. Returns what recvmsg returns.
ssize_t recv_with_rights(int sock, void* buf, size_t len, std::vector<int>& rights, bool& truncated) {
  char control[CMSG_SPACE(sizeof(int) * 8)] = {};
  iovec iov{buf, len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = ::recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  truncated = n >= 0 && (msg.msg_flags & MSG_CTRUNC);
  if (n < 0) return n;
  for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    const int count = static_cast<int>((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < count; ++i) {
      int f;
      std::memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof f);
      rights.push_back(f);
    }
  }
  return n;
}

}  // namespace

bool recv_record(int fd, std::vector<uint8_t>& rec, size_t max_size, std::vector<int>* fds,
                 Deadline dl, std::string& error) {
  uint8_t header[kHeaderSize];
  size_t got = 0;
  while (got < kHeaderSize) {
    if (!wait_fd(fd, POLLIN, dl)) {
      error = errno == ETIMEDOUT ? "timed out waiting for the peer" : errno_text(errno);
      return false;
    }
    std::vector<int> rights;
    bool truncated = false;
    const ssize_t n = recv_with_rights(fd, header + got, kHeaderSize - got, rights, truncated);
    for (int f : rights) {
      if (fds) fds->push_back(f);
      else ::close(f);  // fds nobody asked for are not kept open
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      error = n == 0 ? "the peer closed the connection" : errno_text(errno);
      return false;
    }
    got += static_cast<size_t>(n);
  }
  const uint32_t size = header_size(header);
  if (size < kHeaderSize || size % 8 || size > max_size) {
    error = "peer sent a malformed record header (size " + std::to_string(size) + ")";
    return false;
  }
  rec.assign(header, header + kHeaderSize);
  rec.resize(size);
  if (!recv_all(fd, rec.data() + kHeaderSize, size - kHeaderSize, dl)) {
    error = errno == 0 ? "the peer closed the connection mid-record" : errno_text(errno);
    return false;
  }
  return true;
}

namespace {
constexpr uint8_t kFdMarker = 0xfd;
}  // namespace

bool send_one_fd(int sock, int fd, Deadline dl) {
  const std::vector<uint8_t> marker{kFdMarker};
  return send_record(sock, marker, &fd, 1, dl);
}

FdMessage take_one_fd(int sock, int& fd, std::string& error) {
  fd = -1;
  for (;;) {
    uint8_t byte = 0;
    std::vector<int> rights;
    bool truncated = false;
    const ssize_t n = recv_with_rights(sock, &byte, 1, rights, truncated);
    for (size_t i = 1; i < rights.size(); ++i) ::close(rights[i]);
    if (!rights.empty()) fd = rights[0];
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return FdMessage::Nothing;
    if (n <= 0) {
      if (fd >= 0) ::close(fd);
      fd = -1;
      error = n == 0 ? "the peer closed the connection" : errno_text(errno);
      return FdMessage::Closed;
    }
    if (byte != kFdMarker || fd < 0 || truncated) {
      if (fd >= 0) ::close(fd);
      fd = -1;
      error = "the peer sent unexpected bytes on the rendezvous socket";
      return FdMessage::Other;
    }
    return FdMessage::Fd;
  }
}

int receive_one_fd(int sock, Deadline dl, std::string& error) {
  for (;;) {
    if (!wait_fd(sock, POLLIN, dl)) {
      error = errno == ETIMEDOUT ? "timed out waiting for a descriptor" : errno_text(errno);
      return -1;
    }
    int fd = -1;
    switch (take_one_fd(sock, fd, error)) {
      case FdMessage::Fd: return fd;
      case FdMessage::Nothing: continue;
      default: return -1;
    }
  }
}

std::string errno_text(int err) { return std::strerror(err); }

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}


int listen_unix(const std::string& path, int backlog, int extra_type_flags, unsigned mode, std::string& error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string temp = path + ".new-" + std::to_string(getpid());
  if (path.size() >= sizeof addr.sun_path) {
    error = "socket path too long: " + path;
    return -1;
  }
  // A path at the length limit has no room for a temporary name: bound in place.
  if (temp.size() >= sizeof addr.sun_path) temp = path;
  std::memcpy(addr.sun_path, temp.c_str(), temp.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | extra_type_flags, 0);
  if (fd < 0) {
    error = "cannot create a socket: " + errno_text(errno);
    return -1;
  }
  ::unlink(temp.c_str());
  const char* step = nullptr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    step = "bind";
  } else if (mode != 0 && ::chmod(temp.c_str(), mode) != 0) {
    step = "chmod";
  } else if (::listen(fd, backlog) != 0) {
    step = "listen";
  } else if (temp != path && ::rename(temp.c_str(), path.c_str()) != 0) {
    step = "rename into place";
  }
  if (step == nullptr) return fd;
  error = "cannot listen on " + path + " (" + step + "): " + errno_text(errno);
  ::close(fd);
  if (temp != path) ::unlink(temp.c_str());
  return -1;
}

}  // namespace xen3d::proto
