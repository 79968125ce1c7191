// xenemu: the wire format between xenemu-broker (an EMULATION of the Xen
// hypervisor, xenstored and the toolstack for CI machines without Xen) and
// its clients (xenemu_client.cpp, xenemu-ctl). The one place that defines it.
//
// Transport: a unix SOCK_SEQPACKET socket, so each request and each reply is
// one datagram. A datagram is a MsgHeader followed by `payload_len` bytes of
// fields written with Writer and checked with Reader (little-endian host
// order: both ends run on the same machine). File descriptors (memfds of
// granted pages, the per-connection eventfd) travel as SCM_RIGHTS.
//
// Strictly request/reply: a client sends one request and reads its reply
// before the next. Asynchronous state (event channel deliveries, watch
// events) stays in the broker; the broker makes the connection's eventfd
// readable while something is queued, and the client fetches it with a
// request (EvtPending, XsReadWatch). This keeps fd() level-triggered and
// exact, like /dev/xen/evtchn and the xenstore socket.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace xen3d::xen::xenemu {

inline constexpr uint32_t kMagic = 0x58454d55;  // "XEMU"
inline constexpr uint32_t kVersion = 1;
// Bounds the broker enforces; a datagram larger than this is a protocol error.
inline constexpr size_t kMaxPayload = 96 * 1024;
inline constexpr uint32_t kMaxMapPages = 4096;     // pages per map request (reply: 16 B a page)
inline constexpr uint32_t kMaxSharePages = 16384;  // pages per share request (reply: 4 B a page)
inline constexpr size_t kMaxFdsPerMsg = 250;       // below the kernel's SCM_MAX_FD (253)
inline constexpr size_t kMaxPathLen = 3072;        // XENSTORE_ABS_PATH_MAX
inline constexpr size_t kMaxValueLen = 4096;       // XENSTORE_PAYLOAD_MAX
inline constexpr size_t kMaxTokenLen = 1024;
inline constexpr size_t kMaxPerms = 64;
inline constexpr uint32_t kFirstGrantRef = 8;      // refs 0..7 are reserved, as in Xen
inline constexpr uint32_t kMaxPortsPerDomain = 4096;  // 2-level ABI on 64-bit guests

enum class Op : uint16_t {
  Hello = 1,         // u32 version, u16 domid, u16 kind -> u32 grant_limit, str message; eventfd
  Share,             // u16 peer, u8 writable, u8 notify, u32 count, u32 notify_off, u32 notify_port; memfd
                     //   -> u64 share_id, u32 refs[count]
  Unshare,           // u64 share_id, u32 first_page, u32 count
  Map,               // u16 domid, u8 writable, u8 notify, u32 count, u32 notify_off, u32 notify_port, u32 refs[count]
                     //   -> u64 map_id, u32 nfds, u32 count, {u32 fd_index, u64 offset}[count]; then FdBatch datagrams
  Unmap,             // u64 map_id
  EvtBindUnbound,    // u16 remote -> u32 port
  EvtBindInterdomain,  // u16 remote, u32 remote_port -> u32 port
  EvtNotify,         // u32 port
  EvtUnmask,         // u32 port
  EvtUnbind,         // u32 port
  EvtPending,        // -> u32 port (or error EAGAIN)
  XsRead,            // str path -> str value
  XsWrite,           // str path, str value
  XsRm,              // str path
  XsDirectory,       // str path -> u32 n, str child[n]
  XsSetPerms,        // str path, u32 n, {u16 domid, u8 access}[n]
  XsWatch,           // str path, str token
  XsUnwatch,         // str path, str token
  XsReadWatch,       // -> str path, str token (or error EAGAIN)
  ListDomains,       // -> u32 n, {u16 domid, u8 dying, str name}[n]   (dom0 only)
  CtlCreate,         // u16 domid, str name   (dom0 only)
  CtlDestroy,        // u16 domid             (dom0 only)
  FdBatch,           // broker -> client only: follows a Map reply, u32 nfds; the fds
  Last_,
};
inline constexpr uint16_t kReplyBit = 0x8000;

// What a connection is for; the broker only uses it in its log lines.
enum class Kind : uint16_t { Platform = 1, Sharer, Mapper, EventChannels, Store, Control, Last_ };

struct MsgHeader {
  uint32_t magic;
  uint16_t op;       // Op, | kReplyBit in replies
  uint16_t reserved;
  int32_t status;    // replies: 0, or an errno value
  uint32_t payload_len;
};
static_assert(sizeof(MsgHeader) == 16);

// Appends fields to a payload.
class Writer {
 public:
  Writer& u8(uint8_t v) { return raw(&v, 1); }
  Writer& u16(uint16_t v) { return raw(&v, 2); }
  Writer& u32(uint32_t v) { return raw(&v, 4); }
  Writer& u64(uint64_t v) { return raw(&v, 8); }
  Writer& str(std::string_view s) {  // u32 length, then the bytes (binary-safe)
    u32(static_cast<uint32_t>(s.size()));
    return raw(s.data(), s.size());
  }
  Writer& raw(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
    return *this;
  }
  const std::vector<uint8_t>& bytes() const { return buf_; }

 private:
  std::vector<uint8_t> buf_;
};

// Reads fields back; every read is bounds-checked and a failed read makes
// ok() false for good, so a handler checks once at the end.
class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  uint8_t u8() { uint8_t v = 0; raw(&v, 1); return v; }
  uint16_t u16() { uint16_t v = 0; raw(&v, 2); return v; }
  uint32_t u32() { uint32_t v = 0; raw(&v, 4); return v; }
  uint64_t u64() { uint64_t v = 0; raw(&v, 8); return v; }
  std::string str(size_t max_len) {
    uint32_t len = u32();
    if (!ok_ || len > max_len || len > n_ - off_) { ok_ = false; return {}; }
    std::string s(reinterpret_cast<const char*>(p_ + off_), len);
    off_ += len;
    return s;
  }
  void raw(void* out, size_t n) {
    if (!ok_ || n > n_ - off_) { ok_ = false; return; }
    std::memcpy(out, p_ + off_, n);
    off_ += n;
  }
  bool ok() const { return ok_; }
  bool done() const { return ok_ && off_ == n_; }  // everything read, nothing left over

 private:
  const uint8_t* p_;
  size_t n_;
  size_t off_ = 0;
  bool ok_ = true;
};

// One received datagram.
struct Message {
  MsgHeader hdr{};
  std::vector<uint8_t> payload;
  std::vector<int> fds;  // owned by the receiver: close them
  Reader reader() const { return Reader(payload.data(), payload.size()); }
  void close_fds() {
    for (int fd : fds) ::close(fd);
    fds.clear();
  }
};

// Sends one datagram with `nfds` descriptors. 0, or -1 with errno.
inline int send_message(int sock, uint16_t op, int32_t status, const std::vector<uint8_t>& payload,
                        const int* fds = nullptr, size_t nfds = 0) {
  if (payload.size() > kMaxPayload || nfds > kMaxFdsPerMsg) {
    errno = EMSGSIZE;
    return -1;
  }
  MsgHeader h{kMagic, op, 0, status, static_cast<uint32_t>(payload.size())};
  iovec iov[2] = {{&h, sizeof h}, {const_cast<uint8_t*>(payload.data()), payload.size()}};
  msghdr mh{};
  mh.msg_iov = iov;
  mh.msg_iovlen = payload.empty() ? 1 : 2;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * (nfds ? nfds : 1)), 0);
  if (nfds) {
    mh.msg_control = control.data();
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  ssize_t n;
  do n = ::sendmsg(sock, &mh, MSG_NOSIGNAL); while (n < 0 && errno == EINTR);
  if (n < 0) return -1;
  if (static_cast<size_t>(n) != sizeof h + payload.size()) {  // cannot happen on SEQPACKET
    errno = EMSGSIZE;
    return -1;
  }
  return 0;
}

// Receives one datagram. 1: a well-formed message in `m`; 0: the peer closed;
// -1: error (errno), including EPROTO for a datagram that is not ours
// (short, truncated, bad magic, length mismatch). Descriptors that came with
// a malformed datagram are closed here.
inline int recv_message(int sock, Message& m, int flags = 0) {
  m = Message{};
  std::vector<uint8_t> buf(sizeof(MsgHeader) + kMaxPayload + 1);
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMsg)];
  iovec iov{buf.data(), buf.size()};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  ssize_t n;
  do n = ::recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags); while (n < 0 && errno == EINTR);
  if (n < 0) return -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < k; i++) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        m.fds.push_back(fd);
      }
    }
  }
  if (n == 0 && m.fds.empty()) return 0;  // SEQPACKET: 0 bytes without fds is EOF
  bool bad = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || static_cast<size_t>(n) < sizeof(MsgHeader);
  if (!bad) {
    std::memcpy(&m.hdr, buf.data(), sizeof m.hdr);
    bad = m.hdr.magic != kMagic || m.hdr.payload_len != static_cast<size_t>(n) - sizeof(MsgHeader);
  }
  if (bad) {
    m.close_fds();
    errno = EPROTO;
    return -1;
  }
  m.payload.assign(buf.begin() + sizeof(MsgHeader), buf.begin() + n);
  return 1;
}

// Connects to the broker and introduces this connection as domain `dom`.
// The socket (blocking, close-on-exec), or -1 with `error` saying why; the
// eventfd the broker keeps readable while this connection has something
// queued comes back in `evfd`.
inline int connect_broker(const std::string& path, uint16_t dom, Kind kind, uint32_t& grant_limit, int& evfd,
                          std::string& error) {
  evfd = -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    error = "cannot reach the xenemu broker at '" + path + "': bad socket path";
    return -1;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int s = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0 || ::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    error = "cannot reach the xenemu broker at " + path + ": " + std::strerror(errno) +
            " (is xenemu-broker running?)";
    if (s >= 0) ::close(s);
    return -1;
  }
  Writer w;
  w.u32(kVersion).u16(dom).u16(static_cast<uint16_t>(kind));
  Message m;
  int rc = send_message(s, static_cast<uint16_t>(Op::Hello), 0, w.bytes()) < 0 ? -1 : recv_message(s, m);
  if (rc <= 0) {
    error = "cannot reach the xenemu broker at " + path + ": " +
            (rc == 0 ? std::string("it closed the connection") : std::string(std::strerror(errno)));
    ::close(s);
    return -1;
  }
  Reader r = m.reader();
  grant_limit = r.u32();
  std::string msg = r.str(kMaxPayload);
  if (m.hdr.op != (static_cast<uint16_t>(Op::Hello) | kReplyBit) || !r.done()) {
    error = "the xenemu broker at " + path + " sent a malformed reply";
  } else if (m.hdr.status != 0) {
    error = "the xenemu broker at " + path + " refused domain " + std::to_string(dom) + ": " + msg;
  } else if (m.fds.size() != 1) {
    error = "the xenemu broker at " + path + " sent no eventfd";
  } else {
    evfd = m.fds[0];
    return s;
  }
  m.close_fds();
  ::close(s);
  return -1;
}

}  // namespace xen3d::xen::xenemu
