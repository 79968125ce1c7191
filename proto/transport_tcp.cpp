// `tcp` transport: for guests on another machine. No shared memory: each side
// keeps a private mirror of the rings, and kick() ships what this side
// produced (as DATA frames, bulk payloads inline) or consumed (as CREDIT
// frames) over one stream. Frames:
//
//   {u8 kind, u8 ring, u16 reserved=0, u32 len, u64 pos}  + len payload bytes
//   kind 1 DATA:   payload goes to ring position pos (the sender splits at the ring end)
//   kind 2 CREDIT: the consumer's new tail is pos (len 0)
//
// The receiver checks every frame against its mirror: positions must continue
// where the last frame ended and never overrun what the consumer released.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/handshake.h"
#include "proto/handshake_pool.h"
#include "proto/socket_io.h"
#include "proto/transport_impl.h"

namespace xen3d::proto {

namespace {

constexpr uint8_t kFrameData = 1;
constexpr uint8_t kFrameCredit = 2;
constexpr size_t kFrameHeader = 16;

void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// How long the host keeps writing to a guest that reads nothing (its socket
// stays full): then the guest is gone, and its connection's thread is free.
constexpr int kHostSendStallMs = 30000;

class TcpTransport final : public Transport {
 public:
  // `stall_ms`: how long a send may wait for the peer to read (-1: forever).
  TcpTransport(Sender side, int sock, uint8_t* base, const ShmLayout& layout, int stall_ms)
      : sock_(sock), stall_ms_(stall_ms) {
    side_ = side;
    set_memory(base);
    layout_ = layout;
    init_control_block(control_, layout_);
  }
  ~TcpTransport() override {
    if (control_) munmap(control_, layout_.total_size);
    close_fd(sock_);
  }

  void kick(RingId ring, bool) override {
    used_ = true;
    if (gone_) return;
    const int r = static_cast<int>(ring);
    RingCounters* c = counters(ring);
    if (produces(ring)) {
      const uint64_t head = c->head.load(std::memory_order_acquire);
      const uint32_t size = ring_size(ring);
      while (sent_[r] < head) {
        const uint64_t off = sent_[r] % size;
        const uint64_t len = std::min<uint64_t>(head - sent_[r], size - off);
        if (!send_frame(kFrameData, ring, sent_[r], ring_data(ring) + off, static_cast<uint32_t>(len))) return;
        sent_[r] += len;
      }
    } else {
      const uint64_t tail = c->tail.load(std::memory_order_acquire);
      if (tail != sent_[r]) {
        if (!send_frame(kFrameCredit, ring, tail, nullptr, 0)) return;
        sent_[r] = tail;
      }
    }
  }

  WaitResult wait(RingId, const std::function<bool()>& ready, int timeout_ms) override {
    used_ = true;
    Deadline dl = Deadline::in(timeout_ms);
    for (;;) {
      if (ready()) return WaitResult::Ready;
      if (gone_) return WaitResult::PeerGone;
      pollfd p{sock_, POLLIN, 0};
      int n = ::poll(&p, 1, dl.remaining_ms());
      if (n < 0 && errno != EINTR) return fail("poll failed: " + errno_text(errno));
      if (n > 0) pump();
      else if (n == 0) return ready() ? WaitResult::Ready : WaitResult::Timeout;
    }
  }

  std::string name() const override { return "tcp"; }
  int readiness_fd() const override { return sock_; }

  void forsake_after_fork() override {
    if (control_) munmap(control_, layout_.total_size);
    control_ = nullptr;
    close_fd(sock_);
    gone_ = true;
  }

  // Only before any byte moved: the worker starts its mirror from the
  // handshake's state, and the stream is its alone from then on.
  bool handoff(TransportHandoff& out, std::string& error) const override {
    if (used_) {
      error = "a tcp connection that has carried data cannot be handed off";
      return false;
    }
    const int copy = fcntl(sock_, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) {
      error = "cannot duplicate a connection descriptor: " + errno_text(errno);
      return false;
    }
    out.kind = TransportHandoff::Tcp;
    out.layout = layout_;
    out.fds.push_back(copy);
    return true;
  }

 private:
  WaitResult fail(std::string why) {
    if (!gone_) error_ = std::move(why);
    gone_ = true;
    return WaitResult::PeerGone;
  }

  // Sends one frame; while the socket is full it keeps reading what the peer
  // sends, so two sides that both write never deadlock. A peer that reads
  // nothing for stall_ms_ is gone: the wait is bounded like every other.
  bool send_frame(uint8_t kind, RingId ring, uint64_t pos, const uint8_t* data, uint32_t len) {
    uint8_t hdr[kFrameHeader] = {};
    hdr[0] = kind;
    hdr[1] = static_cast<uint8_t>(ring);
    store_le<uint32_t>(hdr + 4, len);
    store_le<uint64_t>(hdr + 8, pos);
    iovec iov[2] = {{hdr, kFrameHeader}, {const_cast<uint8_t*>(data), len}};
    int iovcnt = len ? 2 : 1;
    size_t total = kFrameHeader + len, done = 0;
    Deadline stalled = Deadline::in(stall_ms_);
    while (done < total) {
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = iovcnt;
      ssize_t n = ::sendmsg(sock_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        done += static_cast<size_t>(n);
        stalled = Deadline::in(stall_ms_);
        size_t adv = static_cast<size_t>(n);
        for (int i = 0; i < iovcnt && adv; ++i) {
          size_t take = std::min(adv, iov[i].iov_len);
          iov[i].iov_base = static_cast<uint8_t*>(iov[i].iov_base) + take;
          iov[i].iov_len -= take;
          adv -= take;
        }
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{sock_, POLLOUT | POLLIN, 0};
        const int r = ::poll(&p, 1, stalled.remaining_ms());
        if (r < 0 && errno != EINTR) return fail("poll: " + errno_text(errno)), false;
        if (r == 0) {
          fail(side_ == Sender::Guest ? "the compositor read nothing for " + std::to_string(stall_ms_ / 1000) +
                                            " s (stopped or hung?); XEN3D_ANSWER_TIMEOUT_S sets how long to wait"
                                      : "the guest read nothing for " + std::to_string(stall_ms_ / 1000) + " s");
          return false;
        }
        if (p.revents & POLLIN) pump();
        if (gone_) return false;
        continue;
      }
      fail(n == 0 ? "connection closed" : "send failed: " + errno_text(errno));
      return false;
    }
    return true;
  }

  // Reads whatever has arrived without blocking and applies complete frames.
  void pump() {
    for (;;) {
      if (gone_) return;
      if (payload_left_ == 0) {
        ssize_t n = ::recv(sock_, hdr_ + hdr_got_, kFrameHeader - hdr_got_, MSG_DONTWAIT);
        if (!read_ok(n)) return;
        hdr_got_ += static_cast<size_t>(n);
        if (hdr_got_ < kFrameHeader) continue;
        hdr_got_ = 0;
        if (!start_frame()) return;
        if (payload_left_ == 0) continue;
      }
      ssize_t n = ::recv(sock_, payload_dst_, payload_left_, MSG_DONTWAIT);
      if (!read_ok(n)) return;
      payload_dst_ += n;
      payload_left_ -= static_cast<size_t>(n);
      if (payload_left_ == 0) {
        counters(payload_ring_)->head.store(payload_end_, std::memory_order_release);
      }
    }
  }

  bool read_ok(ssize_t n) {
    if (n > 0) return true;
    if (n == 0) fail("the peer closed the connection");
    else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) fail("recv failed: " + errno_text(errno));
    return false;
  }

  bool start_frame() {
    const uint8_t kind = hdr_[0];
    const uint8_t r = hdr_[1];
    const uint32_t len = load_le<uint32_t>(hdr_ + 4);
    const uint64_t pos = load_le<uint64_t>(hdr_ + 8);
    if (r >= kRingCount || load_le<uint16_t>(hdr_ + 2) != 0) {
      fail("protocol violation: bad frame header");
      return false;
    }
    const RingId ring = static_cast<RingId>(r);
    RingCounters* c = counters(ring);
    const uint32_t size = ring_size(ring);
    if (kind == kFrameData && !produces(ring)) {
      const uint64_t head = c->head.load(std::memory_order_relaxed);
      const uint64_t tail = c->tail.load(std::memory_order_relaxed);
      if (pos != head || len == 0 || pos % size + len > size || pos + len - tail > size) {
        fail("protocol violation: data frame outside the ring's free space");
        return false;
      }
      payload_ring_ = ring;
      payload_dst_ = ring_data(ring) + pos % size;
      payload_left_ = len;
      payload_end_ = pos + len;
      return true;
    }
    if (kind == kFrameCredit && produces(ring) && len == 0) {
      const uint64_t head = c->head.load(std::memory_order_relaxed);
      const uint64_t tail = c->tail.load(std::memory_order_relaxed);
      if (pos < tail || pos > head) {
        fail("protocol violation: credit frame beyond the produced data");
        return false;
      }
      c->tail.store(pos, std::memory_order_release);
      return true;
    }
    fail("protocol violation: unexpected frame kind");
    return false;
  }

  int sock_;
  int stall_ms_;
  bool gone_ = false;
  bool used_ = false;  // kick() or wait() ran: handoff() is no longer possible
  uint64_t sent_[kRingCount] = {};
  uint8_t hdr_[kFrameHeader] = {};
  size_t hdr_got_ = 0;
  RingId payload_ring_ = RingId::Command;
  uint8_t* payload_dst_ = nullptr;
  size_t payload_left_ = 0;
  uint64_t payload_end_ = 0;
};

uint8_t* map_mirror(const ShmLayout& layout) {
  void* m = mmap(nullptr, layout.total_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return m == MAP_FAILED ? nullptr : static_cast<uint8_t*>(m);
}

}  // namespace

std::unique_ptr<Transport> adopt_tcp(TransportHandoff& h, std::string& error) {
  if (h.fds.size() != 1) {
    error = "the handed-off tcp connection has no socket";
    return nullptr;
  }
  uint8_t* base = map_mirror(h.layout);
  if (!base) {
    error = "cannot map a mirror of the handed-off connection's rings: " + errno_text(errno);
    return nullptr;
  }
  auto t = std::make_unique<TcpTransport>(Sender::Host, h.fds[0], base, h.layout, kHostSendStallMs);
  h.fds.clear();
  return t;
}

namespace {

class TcpListener final : public Listener {
 public:
  TcpListener(int fd, std::string text) : fd_(fd), text_(std::move(text)) {}
  ~TcpListener() override { close_fd(fd_); }

  std::unique_ptr<Transport> accept(const HostPolicy& policy, const std::function<uint32_t()>& next_id,
                                    SessionInfo& info, std::string& error, int timeout_ms) override {
    auto handshake = [this, policy, next_id](int sock, SessionInfo& info, std::string& error) {
      return handshake_on(sock, policy, next_id, info, error);
    };
    return handshakes_.next(fd_, peer_of, handshake, info, error, timeout_ms);
  }

  std::string describe() const override { return text_; }

 private:
  // The peer's address, without its port: one machine is one peer.
  static std::string peer_of(int sock) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    char host[NI_MAXHOST] = "?";
    if (getpeername(sock, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof host, nullptr, 0, NI_NUMERICHOST);
    }
    return std::string("tcp ") + host;
  }

  std::unique_ptr<Transport> handshake_on(int sock, const HostPolicy& policy, const std::function<uint32_t()>& next_id,
                                          SessionInfo& info, std::string& error) {
    HelloDecision d;
    HostPolicy tcp_policy = policy;
    tcp_policy.framebuffers = false;  // each side has a private mirror: nothing to share pixels through
    if (!host_read_hello_on(sock, tcp_policy, d, error)) return nullptr;
    const uint32_t connection_id = next_id();
    set_nodelay(sock);
    Deadline dl = Deadline::in(policy.handshake_timeout_ms);
    uint8_t* base = map_mirror(d.layout);
    if (!base || !send_record(sock, make_welcome(d.layout, connection_id, policy.host_renderer), nullptr, 0, dl)) {
      error = "handshake: cannot answer the guest: " + errno_text(errno);
      if (base) munmap(base, d.layout.total_size);
      ::close(sock);
      return nullptr;
    }
    info.connection_id = connection_id;
    info.peer_pid = d.pid;
    info.peer_name = d.client_name;
    info.host_renderer = policy.host_renderer;
    info.endpoint = text_;
    info.peer_id = peer_of(sock);
    return std::make_unique<TcpTransport>(Sender::Host, sock, base, d.layout, kHostSendStallMs);
  }

  int fd_;
  std::string text_;
  HandshakePool handshakes_;  // last: its threads finish before the rest goes
};

addrinfo* resolve(const Endpoint& ep, bool passive, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(ep.port);
  int rc = getaddrinfo(ep.host.empty() ? nullptr : ep.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    error = "cannot resolve " + ep.text() + ": " + gai_strerror(rc);
    return nullptr;
  }
  return res;
}

}  // namespace

std::unique_ptr<Transport> connect_tcp(const Endpoint& ep, const ConnectRequest& req,
                                       SessionInfo& info, std::string& error) {
  addrinfo* res = resolve(ep, false, error);
  if (!res) return nullptr;
  Deadline dl = Deadline::in(req.timeout_ms);
  int sock = -1;
  int last_err = 0;
  for (addrinfo* a = res; a && sock < 0; a = a->ai_next) {
    int s = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (s < 0) continue;
    if (::connect(s, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS) {
      pollfd p{s, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      if (::poll(&p, 1, dl.remaining_ms()) == 1 && getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
          err == 0) {
        sock = s;
        break;
      }
      last_err = err ? err : ETIMEDOUT;
    } else {
      last_err = errno;
    }
    ::close(s);
  }
  freeaddrinfo(res);
  if (sock < 0) {
    error = "cannot reach the Xen3D compositor at " + ep.text() + " (" + errno_text(last_err) +
            "). Is xen3d-compositor running with --listen " + ep.text() + "?";
    return nullptr;
  }
  fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) & ~O_NONBLOCK);
  set_nodelay(sock);
  std::vector<uint8_t> rec;
  if (!send_record(sock, make_hello(req), nullptr, 0, dl) ||
      !recv_record(sock, rec, kMaxRecordSize, nullptr, dl, error)) {
    if (error.empty()) error = errno_text(errno);
    error = "handshake with the compositor at " + ep.text() + " failed: " + error;
    ::close(sock);
    return nullptr;
  }
  ShmLayout layout;
  if (!guest_read_welcome(rec, layout, info, error)) {
    ::close(sock);
    return nullptr;
  }
  uint8_t* base = map_mirror(layout);
  if (!base) {
    error = "cannot allocate ring memory: " + errno_text(errno);
    ::close(sock);
    return nullptr;
  }
  info.endpoint = ep.text();
  return std::make_unique<TcpTransport>(Sender::Guest, sock, base, layout, req.answer_timeout_ms);
}

std::unique_ptr<Listener> listen_tcp(const Endpoint& ep, std::string& error) {
  addrinfo* res = resolve(ep, true, error);
  if (!res) return nullptr;
  int fd = -1;
  int last_err = 0;
  for (addrinfo* a = res; a && fd < 0; a = a->ai_next) {
    int s = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (s < 0) continue;
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(s, a->ai_addr, a->ai_addrlen) == 0 && ::listen(s, 64) == 0) {
      fd = s;
      break;
    }
    last_err = errno;
    ::close(s);
  }
  freeaddrinfo(res);
  if (fd < 0) {
    error = "cannot listen on " + ep.text() + ": " + errno_text(last_err);
    return nullptr;
  }
  // Port 0 asks for any free port: report the one we got.
  Endpoint bound = ep;
  sockaddr_storage ss{};
  socklen_t sl = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl) == 0) {
    if (ss.ss_family == AF_INET) bound.port = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    if (ss.ss_family == AF_INET6) bound.port = ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  }
  return std::make_unique<TcpListener>(fd, bound.text());
}

}  // namespace xen3d::proto
