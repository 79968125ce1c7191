// `local` transport: memfd shared memory, eventfd doorbells, rendezvous over a
// unix socket (SCM_RIGHTS). The socket stays open for the connection's life
// so each side notices at once when the other exits or is killed.
#include <cerrno>
#include <deque>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto/handshake.h"
#include "proto/handshake_pool.h"
#include "proto/socket_io.h"
#include "proto/transport_impl.h"

namespace xen3d::proto {

namespace {

class LocalTransport final : public Transport {
 public:
  LocalTransport(Sender side, int sock, int shm_fd, uint8_t* base, const ShmLayout& layout,
                 int wait_efd, int kick_efd)
      : sock_(sock), shm_fd_(shm_fd), wait_efd_(wait_efd), kick_efd_(kick_efd) {
    side_ = side;
    set_memory(base);
    layout_ = layout;
  }
  ~LocalTransport() override {
    for (int fd : arrived_fds_) ::close(fd);
    if (control_) munmap(control_, layout_.total_size);
    close_fd(sock_);
    close_fd(shm_fd_);
    close_fd(wait_efd_);
    close_fd(kick_efd_);
  }

  void kick(RingId, bool peer_sleeping) override {
    if (!peer_sleeping) return;
    uint64_t one = 1;
    ssize_t n = ::write(kick_efd_, &one, sizeof one);
    (void)n;  // a full eventfd counter already means "wake up"
  }

  void poke() override {
    uint64_t one = 1;
    ssize_t n = ::write(wait_efd_, &one, sizeof one);
    (void)n;  // a full counter already wakes the waiter
  }

  int readiness_fd() const override { return wait_efd_; }

  void forsake_after_fork() override {
    for (int fd : arrived_fds_) ::close(fd);
    arrived_fds_.clear();
    if (control_) munmap(control_, layout_.total_size);
    control_ = nullptr;
    for (int* fd : {&sock_, &shm_fd_, &wait_efd_, &kick_efd_}) close_fd(*fd);
    gone_ = true;
  }

  WaitResult wait(RingId ring, const std::function<bool()>& ready, int timeout_ms) override {
    if (gone_) return WaitResult::PeerGone;
    return doorbell_wait(ring, ready, timeout_ms, [&](int ms) {
      pollfd p[2] = {{wait_efd_, POLLIN, 0}, {sock_, POLLIN, 0}};
      int r = ::poll(p, 2, ms);
      if (r < 0 && errno != EINTR) return fail("poll failed: " + errno_text(errno));
      if (ready()) return true;  // drain what the peer queued before any hangup counts
      if (r > 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
        // Only the host sends on the socket once the rings exist: a
        // descriptor (frame_share), which the guest keeps for receive_fd
        // whatever it was waiting for when it came.
        int fd = -1;
        std::string why;
        switch (take_one_fd(sock_, fd, why)) {
          case FdMessage::Fd:
            if (side_ == Sender::Guest) {
              arrived_fds_.push_back(fd);
              break;
            }
            ::close(fd);
            return fail("the peer sent unexpected bytes on the rendezvous socket");
          case FdMessage::Nothing: break;
          case FdMessage::Closed: return fail("the peer closed the connection");
          case FdMessage::Other: return fail(why);
        }
      }
      if (r > 0 && (p[0].revents & POLLIN)) {
        uint64_t v;
        ssize_t n = ::read(wait_efd_, &v, sizeof v);
        (void)n;
      }
      return true;
    });
  }

  std::string name() const override { return "local"; }

  bool carries_fds() const override { return true; }
  bool send_fd(int fd, std::string& error) override {
    if (send_one_fd(sock_, fd, Deadline::in(kFdTimeoutMs))) return true;
    error = "cannot send a descriptor: " + errno_text(errno);
    return false;
  }
  int receive_fd(int timeout_ms, std::string& error) override {
    if (!arrived_fds_.empty()) {
      const int fd = arrived_fds_.front();
      arrived_fds_.pop_front();
      return fd;
    }
    return receive_one_fd(sock_, Deadline::in(timeout_ms), error);
  }

  bool handoff(TransportHandoff& out, std::string& error) const override {
    out.kind = TransportHandoff::Local;
    out.layout = layout_;
    for (int fd : {sock_, shm_fd_, wait_efd_, kick_efd_}) {
      const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
      if (copy < 0) {
        error = "cannot duplicate a connection descriptor: " + errno_text(errno);
        return false;
      }
      out.fds.push_back(copy);
    }
    return true;
  }

 private:
  bool fail(std::string why) {
    gone_ = true;
    peer_gone(std::move(why));
    return false;
  }

  // A one-byte message on a socket whose peer reads it next: a full socket
  // buffer means the peer is not reading at all.
  static constexpr int kFdTimeoutMs = 5000;
  int sock_, shm_fd_, wait_efd_, kick_efd_;
  // Guest side: descriptors that came while it waited for something else.
  std::deque<int> arrived_fds_;
  bool gone_ = false;
};

class LocalListener final : public Listener {
 public:
  LocalListener(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~LocalListener() override {
    close_fd(fd_);
    ::unlink(path_.c_str());
  }

  std::unique_ptr<Transport> accept(const HostPolicy& policy, const std::function<uint32_t()>& next_id,
                                    SessionInfo& info, std::string& error, int timeout_ms) override {
    auto handshake = [this, policy, next_id](int sock, SessionInfo& info, std::string& error) {
      return handshake_on(sock, policy, next_id, info, error);
    };
    return handshakes_.next(fd_, peer_of, handshake, info, error, timeout_ms);
  }

  std::string describe() const override { return "local:" + path_; }

 private:
  // The peer's uid from the kernel (SO_PEERCRED), never from its hello.
  static std::string peer_of(int sock) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return "uid ?";
    return "uid " + std::to_string(cred.uid);
  }

  std::unique_ptr<Transport> handshake_on(int sock, const HostPolicy& policy, const std::function<uint32_t()>& next_id,
                                          SessionInfo& info, std::string& error) {
    HelloDecision d;
    if (!host_read_hello_on(sock, policy, d, error)) return nullptr;
    const uint32_t connection_id = next_id();
    Deadline dl = Deadline::in(policy.handshake_timeout_ms);
    // The host owns the memory: sealed so a guest can never shrink it under us.
    int shm = memfd_create("xen3d-connection", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    uint8_t* base = nullptr;
    int host_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int guest_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    bool ok = shm >= 0 && host_efd >= 0 && guest_efd >= 0 &&
              ftruncate(shm, d.layout.total_size) == 0 &&
              fcntl(shm, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0;
    if (ok) {
      void* m = mmap(nullptr, d.layout.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, shm, 0);
      ok = m != MAP_FAILED;
      if (ok) base = static_cast<uint8_t*>(m);
    }
    if (!ok) {
      error = "cannot set up shared memory for a guest: " + errno_text(errno);
      send_record(sock, make_refuse("the host could not allocate shared memory"), nullptr, 0, dl);
      ::close(sock);
      if (shm >= 0) ::close(shm);
      if (host_efd >= 0) ::close(host_efd);
      if (guest_efd >= 0) ::close(guest_efd);
      return nullptr;
    }
    init_control_block(base, d.layout);
    const int fds[3] = {shm, host_efd, guest_efd};
    if (!send_record(sock, make_welcome(d.layout, connection_id, policy.host_renderer), fds, 3, dl)) {
      error = "handshake: cannot answer the guest: " + errno_text(errno);
      munmap(base, d.layout.total_size);
      ::close(sock);
      ::close(shm);
      ::close(host_efd);
      ::close(guest_efd);
      return nullptr;
    }
    info.connection_id = connection_id;
    info.peer_pid = d.pid;
    info.peer_name = d.client_name;
    info.host_renderer = policy.host_renderer;
    info.endpoint = describe();
    ucred cred{};
    socklen_t len = sizeof cred;
    const bool known = getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0;
    info.peer_id = known ? "uid " + std::to_string(cred.uid) : "uid ?";
    info.peer_is_host = known && cred.uid == geteuid();
    return std::make_unique<LocalTransport>(Sender::Host, sock, shm, base, d.layout, host_efd,
                                            guest_efd);
  }

  int fd_;
  std::string path_;
  HandshakePool handshakes_;  // last: its threads finish before the rest goes
};

bool unix_address(const Endpoint& ep, sockaddr_un& addr, std::string& error) {
  addr = {};
  addr.sun_family = AF_UNIX;
  if (ep.path.size() >= sizeof addr.sun_path) {
    error = "socket path too long: " + ep.path;
    return false;
  }
  std::memcpy(addr.sun_path, ep.path.c_str(), ep.path.size() + 1);
  return true;
}

}  // namespace

std::unique_ptr<Transport> connect_local(const Endpoint& ep, const ConnectRequest& req,
                                         SessionInfo& info, std::string& error) {
  const std::string where = ep.text();
  sockaddr_un addr;
  if (!unix_address(ep, addr, error)) return nullptr;
  int sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0 || ::connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    error = "cannot reach the Xen3D compositor at " + where + " (" + errno_text(err) +
            "). Is xen3d-compositor running? Set XEN3D_TRANSPORT=local:/path.sock or tcp:host:port.";
    if (sock >= 0) ::close(sock);
    return nullptr;
  }
  Deadline dl = Deadline::in(req.timeout_ms);
  std::vector<uint8_t> rec;
  std::vector<int> fds;
  if (!send_record(sock, make_hello(req), nullptr, 0, dl) ||
      !recv_record(sock, rec, kMaxRecordSize, &fds, dl, error)) {
    if (error.empty()) error = errno_text(errno);
    error = "handshake with the compositor at " + where + " failed: " + error;
    for (int f : fds) ::close(f);
    ::close(sock);
    return nullptr;
  }
  ShmLayout layout;
  auto drop = [&]() {
    for (int f : fds) ::close(f);
    ::close(sock);
  };
  if (!guest_read_welcome(rec, layout, info, error)) {
    drop();
    return nullptr;
  }
  struct stat st{};
  if (fds.size() != 3 || fstat(fds[0], &st) != 0 || st.st_size < layout.total_size) {
    error = "the compositor at " + where + " did not pass usable shared memory";
    drop();
    return nullptr;
  }
  void* m = mmap(nullptr, layout.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
  if (m == MAP_FAILED) {
    error = "cannot map the compositor's shared memory: " + errno_text(errno);
    drop();
    return nullptr;
  }
  info.endpoint = where;
  // fds: [shm, host doorbell (we kick), guest doorbell (we wait on)]
  return std::make_unique<LocalTransport>(Sender::Guest, sock, fds[0], static_cast<uint8_t*>(m),
                                          layout, fds[2], fds[1]);
}

std::unique_ptr<Transport> adopt_local(TransportHandoff& h, std::string& error) {
  struct stat st{};
  if (h.fds.size() != 4 || fstat(h.fds[1], &st) != 0 || st.st_size < h.layout.total_size) {
    error = "the handed-off local connection has no usable shared memory";
    return nullptr;
  }
  void* m = mmap(nullptr, h.layout.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, h.fds[1], 0);
  if (m == MAP_FAILED) {
    error = "cannot map the handed-off connection's shared memory: " + errno_text(errno);
    return nullptr;
  }
  auto t = std::make_unique<LocalTransport>(Sender::Host, h.fds[0], h.fds[1], static_cast<uint8_t*>(m), h.layout,
                                            h.fds[2], h.fds[3]);
  h.fds.clear();
  return t;
}

std::unique_ptr<Listener> listen_local(const Endpoint& ep, std::string& error) {
  sockaddr_un addr;
  if (!unix_address(ep, addr, error)) return nullptr;
  // A socket file left by a compositor that died is reused; a live one is not stolen.
  int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    ::close(probe);
    error = "another compositor is already listening on " + ep.text();
    return nullptr;
  }
  if (probe >= 0) ::close(probe);
  const int fd = listen_unix(ep.path, 64, 0, 0, error);
  if (fd < 0) return nullptr;
  return std::make_unique<LocalListener>(fd, ep.path);
}

}  // namespace xen3d::proto
