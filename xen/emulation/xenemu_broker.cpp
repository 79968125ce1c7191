// xenemu-broker: an EMULATION of one Xen host for machines where Xen cannot
// run (CI). It holds what the hypervisor, xenstored and the toolstack would:
// domains, the xenstore tree, grant tables and event channels, and serves
// the processes that play dom0 and the guests over a unix SOCK_SEQPACKET
// socket (wire format: xenemu_protocol.h; semantics: README.md).
//
// Single-threaded poll loop. Every client message is validated; a client that
// sends something malformed is logged and disconnected exactly as if its
// process had died (its notify-on-unmap runs), and the broker carries on.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "xen/emulation/xenemu_protocol.h"
#include "xen/xen_api.h"

namespace {

using namespace xen3d::xen;
using namespace xen3d::xen::xenemu;

void log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void log(const char* fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  fprintf(stderr, "xenemu-broker: %s\n", line);
}

// Thrown by a handler for input no correct client sends; the connection is dropped.
struct ProtocolError {
  std::string why;
};

// Error reply with an errno value (the request was well-formed but refused).
struct Refused {
  int err;
};

// A memfd a guest shared. Grants and notify records hold it; the last one
// closes it. Mappers' mmaps keep the pages alive on their own after that.
struct Memfd {
  int fd;
  explicit Memfd(int f) : fd(f) {}
  ~Memfd() { ::close(fd); }
  Memfd(const Memfd&) = delete;
  Memfd& operator=(const Memfd&) = delete;
};

// "Zero this byte and signal that port" (gntalloc/gntdev UNMAP_NOTIFY).
struct Notify {
  std::shared_ptr<Memfd> mem;
  uint64_t byte_offset;  // in the memfd
  DomId dom;             // the domain whose port it is
  Port port;
};

struct Grant {
  uint64_t share_id;
  DomId peer;
  bool writable;
  std::shared_ptr<Memfd> mem;
  uint64_t offset;  // of the page in mem
};

struct Share {
  uint64_t conn;
  DomId dom;
  std::vector<GrantRef> refs;  // 0 once that page is unshared
  uint32_t live;               // refs still granted
  std::optional<Notify> notify;
};

struct Mapping {
  uint64_t conn;
  std::optional<Notify> notify;
};

// One event channel port, Linux evtchn delivery state included.
struct PortState {
  uint64_t conn;       // the evtchn handle (connection) that bound it
  bool interdomain;    // else unbound, waiting for `remote`
  DomId remote;
  Port remote_port;
  bool masked = false;   // delivered and not yet unmasked
  bool latched = false;  // an event arrived while masked
};

struct Domain {
  std::string name;
  std::map<GrantRef, Grant> grants;
  uint32_t next_ref = kFirstGrantRef;
  std::map<Port, PortState> ports;
};

struct Watch {
  std::string abs;  // absolute path, or a special "@..." name
  std::string token;
  bool relative;
};

struct Conn {
  uint64_t id;
  int sock;
  int evfd = -1;
  bool hello = false;
  DomId dom = kDom0;
  Kind kind = Kind::Platform;
  bool signaled = false;  // evfd currently readable
  std::deque<Port> delivered;
  std::deque<std::pair<std::string, std::string>> watch_events;
  std::vector<Watch> watches;
  std::set<uint64_t> shares, maps;
  ~Conn() {
    ::close(sock);
    if (evfd >= 0) ::close(evfd);
  }
};

struct Node {
  std::string value;
  std::vector<XsPerm> perms;
};

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Platform: return "platform";
    case Kind::Sharer: return "sharer";
    case Kind::Mapper: return "mapper";
    case Kind::EventChannels: return "evtchn";
    case Kind::Store: return "xenstore";
    case Kind::Control: return "control";
    default: return "?";
  }
}

constexpr size_t kMaxConns = 4096;
constexpr size_t kMaxWatchesPerConn = 512;
constexpr size_t kMaxQueuedWatchEvents = 4096;
constexpr size_t kMaxNodes = 200000;
constexpr DomId kFirstReservedDomid = 0x7FF0;  // DOMID_FIRST_RESERVED

class Broker {
 public:
  Broker(int listen_fd, int sig_fd, uint32_t grant_limit, bool wake_on_peer_close)
      : listen_fd_(listen_fd), sig_fd_(sig_fd), grant_limit_(grant_limit), wake_on_peer_close_(wake_on_peer_close) {
    domains_[kDom0].name = "Domain-0";
    for (const char* p : {"/", "/local", "/local/domain", "/local/domain/0"}) store_[p].perms = {{kDom0, XsPerm::None}};
    store_["/local/domain/0/name"] = {"Domain-0", {{kDom0, XsPerm::None}}};
    store_["/local/domain/0/domid"] = {"0", {{kDom0, XsPerm::None}}};
  }

  void run();

 private:
  // --- connections ---
  void accept_one();
  void on_readable(uint64_t id);
  void dispatch(Conn& c, Message& m);
  void reply(Conn& c, Op op, int status, const Writer& w, const std::vector<int>& fds = {});
  void request_close(uint64_t id, bool run_notifies, const std::string& why);
  void close_now(uint64_t id, bool run_notifies, const std::string& why);
  void run_conn_notifies(Conn& c);
  void teardown(uint64_t id);
  void update_ready(Conn& c);
  Conn* conn(uint64_t id) {
    auto it = conns_.find(id);
    return it == conns_.end() ? nullptr : it->second.get();
  }

  // --- handlers; they throw ProtocolError or Refused ---
  void op_hello(Conn& c, Message& m);
  void op_share(Conn& c, Message& m, Writer& out);
  void op_unshare(Conn& c, Reader& r);
  void op_map(Conn& c, Reader& r, Writer& out, std::vector<int>& fds);
  void op_unmap(Conn& c, Reader& r);
  void op_evtchn(Conn& c, Op op, Reader& r, Writer& out);
  void op_store(Conn& c, Op op, Reader& r, Writer& out);
  void op_control(Conn& c, Op op, Reader& r, Writer& out);

  // --- grants ---
  void release_share_pages(uint64_t share_id, uint32_t first, uint32_t count, bool run_notify);
  void fire_notify(const Notify& n);

  // --- event channels ---
  Port alloc_port(Domain& d);
  void deliver(DomId dom, Port port);
  void send_from(DomId dom, Port port);
  void close_port(DomId dom, Port port);

  // --- xenstore ---
  std::string resolve(const Conn& c, const std::string& path) const;
  unsigned perm_for(DomId dom, const std::vector<XsPerm>& perms) const;
  int check_node(DomId dom, const std::string& path, unsigned perm) const;
  void xs_write(DomId dom, const std::string& path, const std::string& value);
  void xs_rm_subtree(const std::string& path);
  const std::vector<XsPerm>& visible_perms(const std::string& path,
                                           const std::map<std::string, std::vector<XsPerm>>* removed) const;
  void fire_watches(const std::string& changed, const std::map<std::string, std::vector<XsPerm>>* removed);
  void fire_special(const char* name);
  void queue_watch_event(Conn& c, const Watch& w, const std::string& abs_path);

  // --- domains ---
  void create_domain(DomId d, const std::string& name);
  void destroy_domain(DomId d);

  int listen_fd_, sig_fd_;
  uint32_t grant_limit_;
  bool wake_on_peer_close_;  // not Xen: see --wake-on-peer-close
  uint64_t next_conn_ = 1, next_share_ = 1, next_map_ = 1;
  std::map<uint64_t, std::unique_ptr<Conn>> conns_;
  std::vector<std::pair<uint64_t, bool>> closing_;  // (conn, run_notifies), handled at the end of a loop pass
  std::map<DomId, Domain> domains_;
  std::map<uint64_t, Share> shares_;
  std::map<uint64_t, Mapping> maps_;
  std::map<std::string, Node> store_;
};

// ----------------------------------------------------------------------------
// Poll loop and connections

void Broker::run() {
  for (;;) {
    std::vector<pollfd> pfds = {{sig_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    std::vector<uint64_t> ids;
    for (auto& [id, c] : conns_) {
      pfds.push_back({c->sock, POLLIN, 0});
      ids.push_back(id);
    }
    if (::poll(pfds.data(), pfds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      log("poll failed: %s", strerror(errno));
      return;
    }
    if (pfds[0].revents) {
      signalfd_siginfo si;
      if (::read(sig_fd_, &si, sizeof si) > 0) log("signal %u, exiting", si.ssi_signo);
      return;
    }
    if (pfds[1].revents & POLLIN) accept_one();
    for (size_t i = 0; i < ids.size(); i++)
      if (pfds[i + 2].revents) on_readable(ids[i]);
    // Connections that went away in this pass: notifies of all of them
    // first (a dying process drops its evtchn handle in the same instant as
    // its grant handles; the peer must still see the signal), then teardown.
    auto closing = std::move(closing_);
    closing_.clear();
    for (auto& [id, notifies] : closing)
      if (Conn* c = conn(id); c && notifies) run_conn_notifies(*c);
    for (auto& [id, notifies] : closing) teardown(id);
  }
}

void Broker::accept_one() {
  int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno != EAGAIN && errno != EINTR) log("accept failed: %s", strerror(errno));
    return;
  }
  if (conns_.size() >= kMaxConns) {
    log("too many connections (%zu), refusing one", conns_.size());
    ::close(fd);
    return;
  }
  auto c = std::make_unique<Conn>();
  c->id = next_conn_++;
  c->sock = fd;
  conns_[c->id] = std::move(c);
}

void Broker::on_readable(uint64_t id) {
  // A few messages per pass so that one busy client cannot starve the rest.
  for (int budget = 16; budget > 0; budget--) {
    Conn* c = conn(id);
    if (!c) return;
    if (std::find_if(closing_.begin(), closing_.end(), [&](auto& p) { return p.first == id; }) != closing_.end())
      return;
    Message m;
    int rc = recv_message(c->sock, m, MSG_DONTWAIT);
    if (rc == 0) {
      request_close(id, true, "closed");
      return;
    }
    if (rc < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      request_close(id, true, errno == EPROTO ? "malformed datagram (dropped)" : strerror(errno));
      return;
    }
    try {
      dispatch(*c, m);
    } catch (const ProtocolError& e) {
      m.close_fds();
      request_close(id, true, "protocol error (dropped): " + e.why);
      return;
    }
    m.close_fds();  // anything a handler did not take
  }
}

void Broker::reply(Conn& c, Op op, int status, const Writer& w, const std::vector<int>& fds) {
  if (send_message(c.sock, static_cast<uint16_t>(op) | kReplyBit, status, w.bytes(), fds.data(), fds.size()) < 0)
    // A correct client reads each reply before its next request, so a full
    // socket means it does not: drop it rather than block everyone.
    request_close(c.id, true, std::string("cannot send reply: ") + strerror(errno));
}

void Broker::dispatch(Conn& c, Message& m) {
  if (m.hdr.op == 0 || m.hdr.op >= static_cast<uint16_t>(Op::FdBatch))
    throw ProtocolError{"unknown op " + std::to_string(m.hdr.op)};
  Op op = static_cast<Op>(m.hdr.op);
  if (!c.hello) {
    if (op != Op::Hello) throw ProtocolError{"first message is not hello"};
    op_hello(c, m);
    return;
  }
  if (op == Op::Hello) throw ProtocolError{"second hello"};
  if (op != Op::Share && !m.fds.empty()) throw ProtocolError{"unexpected file descriptors"};
  Writer out;
  std::vector<int> fds;
  int status = 0;
  Reader r = m.reader();
  try {
    switch (op) {
      case Op::Share: op_share(c, m, out); break;
      case Op::Unshare: op_unshare(c, r); break;
      case Op::Map: op_map(c, r, out, fds); break;
      case Op::Unmap: op_unmap(c, r); break;
      case Op::EvtBindUnbound: case Op::EvtBindInterdomain: case Op::EvtNotify: case Op::EvtUnmask:
      case Op::EvtUnbind: case Op::EvtPending:
        op_evtchn(c, op, r, out);
        break;
      case Op::XsRead: case Op::XsWrite: case Op::XsRm: case Op::XsDirectory: case Op::XsSetPerms:
      case Op::XsWatch: case Op::XsUnwatch: case Op::XsReadWatch:
        op_store(c, op, r, out);
        break;
      case Op::ListDomains: case Op::CtlCreate: case Op::CtlDestroy: op_control(c, op, r, out); break;
      default: throw ProtocolError{"unexpected op"};
    }
  } catch (const Refused& e) {
    status = e.err;
    out = Writer();
    fds.clear();
  }
  Conn* still = conn(c.id);  // a handler may have closed it (destroying its own domain)
  if (!still) return;
  if (fds.empty()) {
    reply(c, op, status, out);
    return;
  }
  // A Map reply: the memfds follow in batches below the kernel's SCM_MAX_FD.
  reply(c, op, status, out);
  for (size_t i = 0; i < fds.size(); i += kMaxFdsPerMsg) {
    size_t n = std::min(kMaxFdsPerMsg, fds.size() - i);
    Writer w;
    w.u32(static_cast<uint32_t>(n));
    if (send_message(c.sock, static_cast<uint16_t>(Op::FdBatch) | kReplyBit, 0, w.bytes(), fds.data() + i, n) < 0) {
      request_close(c.id, true, std::string("cannot send fds: ") + strerror(errno));
      return;
    }
  }
}

void Broker::op_hello(Conn& c, Message& m) {
  Reader r = m.reader();
  uint32_t version = r.u32();
  DomId dom = r.u16();
  uint16_t kind = r.u16();
  if (!r.done() || !m.fds.empty() || kind == 0 || kind >= static_cast<uint16_t>(Kind::Last_))
    throw ProtocolError{"malformed hello"};
  Writer w;
  auto refuse = [&](int err, const std::string& msg) {
    w.u32(0).str(msg);
    send_message(c.sock, static_cast<uint16_t>(Op::Hello) | kReplyBit, err, w.bytes());
    log("refused a connection: %s", msg.c_str());
    request_close(c.id, false, "refused");
  };
  if (version != kVersion) {
    refuse(EPROTONOSUPPORT, "protocol version " + std::to_string(version) + " is not the broker's " +
                                std::to_string(kVersion));
    return;
  }
  if (!domains_.count(dom)) {
    refuse(ESRCH, "domain " + std::to_string(dom) + " does not exist (create it with xenemu-ctl create)");
    return;
  }
  c.evfd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (c.evfd < 0) {
    refuse(errno, std::string("eventfd: ") + strerror(errno));
    return;
  }
  c.hello = true;
  c.dom = dom;
  c.kind = static_cast<Kind>(kind);
  w.u32(grant_limit_).str("ok");
  std::vector<int> fds = {c.evfd};
  reply(c, Op::Hello, 0, w, fds);
  log("connection %llu: domain %u %s", static_cast<unsigned long long>(c.id), dom, kind_name(c.kind));
}

void Broker::request_close(uint64_t id, bool run_notifies, const std::string& why) {
  for (auto& p : closing_)
    if (p.first == id) return;
  if (Conn* c = conn(id); c && c->hello)
    log("connection %llu (domain %u %s): %s", static_cast<unsigned long long>(id), c->dom, kind_name(c->kind),
        why.c_str());
  closing_.push_back({id, run_notifies});
}

void Broker::close_now(uint64_t id, bool run_notifies, const std::string& why) {
  Conn* c = conn(id);
  if (!c) return;
  log("connection %llu (domain %u %s): %s", static_cast<unsigned long long>(id), c->dom, kind_name(c->kind),
      why.c_str());
  if (run_notifies) run_conn_notifies(*c);
  teardown(id);
}

// What a process death does first: the unmap notifications of its grants
// and mappings (they are then released without notifying again).
void Broker::run_conn_notifies(Conn& c) {
  for (uint64_t sid : c.shares) {
    auto it = shares_.find(sid);
    if (it != shares_.end() && it->second.notify) {
      fire_notify(*it->second.notify);
      it->second.notify.reset();
    }
  }
  for (uint64_t mid : c.maps) {
    auto it = maps_.find(mid);
    if (it != maps_.end() && it->second.notify) {
      fire_notify(*it->second.notify);
      it->second.notify.reset();
    }
  }
}

void Broker::teardown(uint64_t id) {
  Conn* c = conn(id);
  if (!c) return;
  std::set<uint64_t> shares = c->shares, maps = c->maps;
  for (uint64_t sid : shares) {
    auto it = shares_.find(sid);
    if (it != shares_.end())
      release_share_pages(sid, 0, static_cast<uint32_t>(it->second.refs.size()), false);
  }
  for (uint64_t mid : maps) maps_.erase(mid);
  if (auto d = domains_.find(c->dom); c->hello && d != domains_.end()) {
    std::vector<Port> ports;
    for (auto& [p, ps] : d->second.ports)
      if (ps.conn == id) ports.push_back(p);
    for (Port p : ports) close_port(c->dom, p);
  }
  conns_.erase(id);  // closes the socket and eventfd; its watches go with it
}

void Broker::update_ready(Conn& c) {
  bool ready = !c.delivered.empty() || !c.watch_events.empty();
  if (ready && !c.signaled) {
    uint64_t one = 1;
    if (::write(c.evfd, &one, sizeof one) == sizeof one) c.signaled = true;
  } else if (!ready && c.signaled) {
    uint64_t v;
    (void)!::read(c.evfd, &v, sizeof v);
    c.signaled = false;
  }
}

// ----------------------------------------------------------------------------
// Grants

void Broker::op_share(Conn& c, Message& m, Writer& out) {
  Reader r = m.reader();
  DomId peer = r.u16();
  bool writable = r.u8();
  bool notify = r.u8();
  uint32_t count = r.u32();
  uint32_t notify_off = r.u32();
  Port notify_port = r.u32();
  if (!r.done() || m.fds.size() != 1) throw ProtocolError{"malformed share"};
  int fd = m.fds[0];
  m.fds.clear();
  auto mem = std::make_shared<Memfd>(fd);  // owns it from here on
  if (count == 0 || count > kMaxSharePages || (notify && (count != 1 || notify_off >= kPageSize)))
    throw Refused{EINVAL};
  // The memfd must be a sealed regular file of the right size, so that a
  // client cannot shrink it under a mapper (which would SIGBUS dom0).
  struct stat st;
  int seals = ::fcntl(fd, F_GET_SEALS);
  if (::fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != static_cast<off_t>(count * kPageSize) ||
      seals < 0 || !(seals & F_SEAL_SHRINK))
    throw ProtocolError{"share without a sealed memfd of the right size"};
  Domain& d = domains_[c.dom];
  if (notify && !d.ports.count(notify_port)) throw Refused{EINVAL};
  if (d.grants.size() + count > grant_limit_) {
    log("domain %u: grant limit of %u pages reached (%zu granted, %u asked)", c.dom, grant_limit_,
        d.grants.size(), count);
    throw Refused{ENOSPC};
  }
  uint64_t sid = next_share_++;
  Share& s = shares_[sid];
  s.conn = c.id;
  s.dom = c.dom;
  s.live = count;
  out.u64(sid);
  for (uint32_t i = 0; i < count; i++) {
    // Unique per granting domain, never a reserved entry; skip refs in use after a wrap.
    while (d.next_ref < kFirstGrantRef || d.grants.count(d.next_ref))
      d.next_ref = d.next_ref >= (1u << 30) ? kFirstGrantRef : d.next_ref + 1;
    GrantRef ref = d.next_ref++;
    d.grants[ref] = {sid, peer, writable, mem, uint64_t(i) * kPageSize};
    s.refs.push_back(ref);
    out.u32(ref);
  }
  if (notify) s.notify = Notify{mem, notify_off, c.dom, notify_port};
  c.shares.insert(sid);
}

void Broker::op_unshare(Conn& c, Reader& r) {
  uint64_t sid = r.u64();
  uint32_t first = r.u32(), count = r.u32();
  if (!r.done()) throw ProtocolError{"malformed unshare"};
  auto it = shares_.find(sid);
  if (it == shares_.end() || it->second.conn != c.id || first > it->second.refs.size() ||
      count > it->second.refs.size() - first)
    throw Refused{EINVAL};
  release_share_pages(sid, first, count, true);
}

void Broker::release_share_pages(uint64_t sid, uint32_t first, uint32_t count, bool run_notify) {
  Share& s = shares_.at(sid);
  auto d = domains_.find(s.dom);
  for (uint32_t i = first; i < first + count; i++) {
    if (!s.refs[i]) continue;
    if (d != domains_.end()) d->second.grants.erase(s.refs[i]);
    s.refs[i] = 0;
    s.live--;
  }
  // share_page_notify shares one page, so its notification goes with it.
  if (s.notify && s.live == 0) {
    if (run_notify) fire_notify(*s.notify);
    s.notify.reset();
  }
  if (s.live == 0) {
    if (Conn* c = conn(s.conn)) c->shares.erase(sid);
    shares_.erase(sid);
  }
}

void Broker::fire_notify(const Notify& n) {
  uint8_t zero = 0;
  if (::pwrite(n.mem->fd, &zero, 1, static_cast<off_t>(n.byte_offset)) != 1)
    log("notify: cannot zero the byte: %s", strerror(errno));
  send_from(n.dom, n.port);
}

void Broker::op_map(Conn& c, Reader& r, Writer& out, std::vector<int>& fds) {
  DomId dom = r.u16();
  bool writable = r.u8();
  bool notify = r.u8();
  uint32_t count = r.u32();
  uint32_t notify_off = r.u32();
  Port notify_port = r.u32();
  if (!r.ok() || count > kMaxMapPages) throw ProtocolError{"malformed map"};
  std::vector<GrantRef> refs(count);
  for (auto& ref : refs) ref = r.u32();
  if (!r.done()) throw ProtocolError{"malformed map refs"};
  if (count == 0 || (notify && (count != 1 || notify_off >= kPageSize))) throw Refused{EINVAL};
  if (notify && !domains_[c.dom].ports.count(notify_port)) throw Refused{EINVAL};
  auto dit = domains_.find(dom);
  if (dit == domains_.end()) throw Refused{EINVAL};
  // All or nothing: check every ref before answering.
  std::vector<const Grant*> grants;
  for (GrantRef ref : refs) {
    auto g = dit->second.grants.find(ref);
    if (g == dit->second.grants.end() || g->second.peer != c.dom) throw Refused{EINVAL};
    grants.push_back(&g->second);
  }
  for (const Grant* g : grants)
    if (writable && !g->writable) throw Refused{EACCES};
  uint64_t mid = next_map_++;
  std::map<const Memfd*, uint32_t> index;  // each memfd sent once
  std::vector<std::pair<uint32_t, uint64_t>> pages;
  for (const Grant* g : grants) {
    auto [it, fresh] = index.emplace(g->mem.get(), static_cast<uint32_t>(fds.size()));
    if (fresh) fds.push_back(g->mem->fd);
    pages.push_back({it->second, g->offset});
  }
  out.u64(mid).u32(static_cast<uint32_t>(fds.size())).u32(count);
  for (auto& [idx, off] : pages) out.u32(idx).u64(off);
  Mapping& mp = maps_[mid];
  mp.conn = c.id;
  if (notify) mp.notify = Notify{grants[0]->mem, grants[0]->offset + notify_off, c.dom, notify_port};
  c.maps.insert(mid);
}

void Broker::op_unmap(Conn& c, Reader& r) {
  uint64_t mid = r.u64();
  if (!r.done()) throw ProtocolError{"malformed unmap"};
  auto it = maps_.find(mid);
  if (it == maps_.end() || it->second.conn != c.id) throw Refused{EINVAL};
  if (it->second.notify) fire_notify(*it->second.notify);
  maps_.erase(it);
  c.maps.erase(mid);
}

// ----------------------------------------------------------------------------
// Event channels

Port Broker::alloc_port(Domain& d) {
  for (Port p = 1; p < kMaxPortsPerDomain; p++)  // the lowest free port, like Xen
    if (!d.ports.count(p)) return p;
  throw Refused{ENOSPC};
}

// An event arrives at (dom, port): the Linux evtchn model. An unmasked port
// is delivered once and masked; while masked, events latch into one.
void Broker::deliver(DomId dom, Port port) {
  auto d = domains_.find(dom);
  if (d == domains_.end()) return;
  auto p = d->second.ports.find(port);
  if (p == d->second.ports.end()) return;
  PortState& ps = p->second;
  if (ps.masked) {
    ps.latched = true;
    return;
  }
  ps.masked = true;
  if (Conn* c = conn(ps.conn)) {
    c->delivered.push_back(port);
    update_ready(*c);
  }
}

// Domain `dom` signals its port `port`: the other end gets the event.
void Broker::send_from(DomId dom, Port port) {
  auto d = domains_.find(dom);
  if (d == domains_.end()) return;
  auto p = d->second.ports.find(port);
  if (p == d->second.ports.end() || !p->second.interdomain) return;  // unbound: dropped, like Xen
  deliver(p->second.remote, p->second.remote_port);
}

void Broker::close_port(DomId dom, Port port) {
  auto d = domains_.find(dom);
  if (d == domains_.end()) return;
  auto p = d->second.ports.find(port);
  if (p == d->second.ports.end()) return;
  PortState ps = p->second;
  d->second.ports.erase(p);
  if (Conn* c = conn(ps.conn)) {
    std::erase(c->delivered, port);
    update_ready(*c);
  }
  if (ps.interdomain) {
    // The other end falls back to unbound (waiting for us), as in Xen's
    // evtchn_close, which does NOT signal it: a peer learns of a death
    // through notify-on-unmap or @releaseDomain.
    auto rd = domains_.find(ps.remote);
    if (rd == domains_.end()) return;
    auto rp = rd->second.ports.find(ps.remote_port);
    if (rp == rd->second.ports.end()) return;
    rp->second.interdomain = false;
    rp->second.remote = dom;
    rp->second.remote_port = 0;
    if (wake_on_peer_close_) deliver(ps.remote, ps.remote_port);
  }
}

void Broker::op_evtchn(Conn& c, Op op, Reader& r, Writer& out) {
  Domain& d = domains_[c.dom];
  auto owned = [&](Port p) -> PortState& {
    auto it = d.ports.find(p);
    if (it == d.ports.end() || it->second.conn != c.id) throw Refused{op == Op::EvtNotify ? ENOTCONN : EINVAL};
    return it->second;
  };
  switch (op) {
    case Op::EvtBindUnbound: {
      DomId remote = r.u16();
      if (!r.done()) throw ProtocolError{"malformed bind_unbound_port"};
      Port p = alloc_port(d);
      d.ports[p] = PortState{c.id, false, remote, 0};
      out.u32(p);
      return;
    }
    case Op::EvtBindInterdomain: {
      DomId remote = r.u16();
      Port rport = r.u32();
      if (!r.done()) throw ProtocolError{"malformed bind_interdomain"};
      auto rd = domains_.find(remote);
      if (rd == domains_.end()) throw Refused{ESRCH};
      auto rp = rd->second.ports.find(rport);
      if (rp == rd->second.ports.end() || rp->second.interdomain || rp->second.remote != c.dom)
        throw Refused{EINVAL};
      Port p = alloc_port(d);
      d.ports[p] = PortState{c.id, true, remote, rport};
      // Re-look-up: alloc may have rehashed nothing (std::map), but remote may be our own domain.
      PortState& rps = domains_[remote].ports.at(rport);
      rps.interdomain = true;
      rps.remote = c.dom;
      rps.remote_port = p;
      // Xen sets the new local port pending unconditionally, in case the
      // remote side signalled the unbound port before we bound it.
      deliver(c.dom, p);
      out.u32(p);
      return;
    }
    case Op::EvtNotify: {
      Port p = r.u32();
      if (!r.done()) throw ProtocolError{"malformed notify"};
      owned(p);
      send_from(c.dom, p);
      return;
    }
    case Op::EvtUnmask: {
      Port p = r.u32();
      if (!r.done()) throw ProtocolError{"malformed unmask"};
      PortState& ps = owned(p);
      if (!ps.masked) return;
      ps.masked = false;
      if (ps.latched) {
        ps.latched = false;
        deliver(c.dom, p);  // the latched event, once
      }
      return;
    }
    case Op::EvtUnbind: {
      Port p = r.u32();
      if (!r.done()) throw ProtocolError{"malformed unbind"};
      owned(p);
      close_port(c.dom, p);
      return;
    }
    case Op::EvtPending: {
      if (!r.done()) throw ProtocolError{"malformed pending"};
      if (c.delivered.empty()) throw Refused{EAGAIN};
      Port p = c.delivered.front();
      c.delivered.pop_front();
      update_ready(c);
      out.u32(p);
      return;
    }
    default: throw ProtocolError{"bad evtchn op"};
  }
}

// ----------------------------------------------------------------------------
// xenstore (permission model and watch rules of xenstored)

bool valid_abs_path(const std::string& p) {
  if (p.empty() || p[0] != '/' || p.size() > kMaxPathLen) return false;
  if (p == "/") return true;
  if (p.back() == '/' || p.find("//") != std::string::npos) return false;
  for (char ch : p)
    if (!(isalnum(static_cast<unsigned char>(ch)) || ch == '/' || ch == '-' || ch == '_' || ch == '@')) return false;
  return true;
}

std::string parent_of(const std::string& p) {
  size_t i = p.rfind('/');
  return i == 0 ? "/" : p.substr(0, i);
}

bool is_ancestor_or_self(const std::string& a, const std::string& p) {
  return a == p || a == "/" || (p.size() > a.size() && p.compare(0, a.size(), a) == 0 && p[a.size()] == '/');
}

std::string home_of(DomId d) { return "/local/domain/" + std::to_string(d); }

// Absolute path for a client path; "" when invalid.
std::string Broker::resolve(const Conn& c, const std::string& path) const {
  std::string abs = (!path.empty() && path[0] == '/') ? path : home_of(c.dom) + "/" + path;
  return (path.empty() || !valid_abs_path(abs)) ? std::string() : abs;
}

// xenstored's perm_for_conn: dom0 and the owner get everything, then the
// first matching entry, then perms[0]'s access as the default.
unsigned Broker::perm_for(DomId dom, const std::vector<XsPerm>& perms) const {
  if (dom == kDom0 || perms[0].domid == dom) return XsPerm::Both;
  for (size_t i = 1; i < perms.size(); i++)
    if (perms[i].domid == dom) return perms[i].access;
  return perms[0].access;
}

// 0 when `dom` has `perm` on the existing node; else the errno xenstored
// gives, which hides whether the node exists from a domain that may not
// look at the nearest existing ancestor (get_node + errno_from_parents).
int Broker::check_node(DomId dom, const std::string& path, unsigned perm) const {
  auto it = store_.find(path);
  int err;
  if (it != store_.end()) {
    if ((perm_for(dom, it->second.perms) & perm) == perm) return 0;
    err = EACCES;
  } else {
    err = ENOENT;
  }
  std::string a = path;
  do {
    a = parent_of(a);
  } while (!store_.count(a));
  return (perm_for(dom, store_.at(a).perms) & perm) ? err : EACCES;
}

// Creates missing parents; new nodes inherit the parent's permissions and
// an unprivileged creator becomes the owner (xenstored's construct_node:
// dom0 keeps the inherited owner).
void Broker::xs_write(DomId dom, const std::string& path, const std::string& value) {
  std::vector<std::string> missing;
  for (std::string a = path; !store_.count(a); a = parent_of(a)) missing.push_back(a);
  if (store_.size() + missing.size() > kMaxNodes) throw Refused{ENOSPC};
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    Node n;
    n.perms = store_.at(parent_of(*it)).perms;
    if (dom != kDom0) n.perms[0].domid = dom;
    store_[*it] = std::move(n);
  }
  store_[path].value = value;
  fire_watches(path, nullptr);
}

void Broker::xs_rm_subtree(const std::string& path) {
  std::map<std::string, std::vector<XsPerm>> removed;
  auto it = store_.find(path);
  while (it != store_.end() && is_ancestor_or_self(path, it->first)) {
    removed[it->first] = it->second.perms;
    it = store_.erase(it);
  }
  fire_watches(path, &removed);
}

// The permissions that decide whether a watcher may see an event on `path`:
// the node's own, or those it had just before it was removed, or the
// nearest ancestor's.
const std::vector<XsPerm>& Broker::visible_perms(
    const std::string& path, const std::map<std::string, std::vector<XsPerm>>* removed) const {
  for (std::string a = path;; a = parent_of(a)) {
    if (auto it = store_.find(a); it != store_.end()) return it->second.perms;
    if (removed)
      if (auto it = removed->find(a); it != removed->end()) return it->second;
  }
}

void Broker::queue_watch_event(Conn& c, const Watch& w, const std::string& abs_path) {
  if (c.watch_events.size() >= kMaxQueuedWatchEvents) {
    log("connection %llu: watch event queue full, event on %s dropped", static_cast<unsigned long long>(c.id),
        abs_path.c_str());
    return;
  }
  std::string p = abs_path;
  std::string home = home_of(c.dom) + "/";
  if (w.relative && p.compare(0, home.size(), home) == 0) p = p.substr(home.size());
  c.watch_events.push_back({p, w.token});
  update_ready(c);
}

// A change of `changed`: watches on it or an ancestor see `changed`; when
// a subtree was removed, watches inside it see their own path. A domain
// only hears of nodes it may read.
void Broker::fire_watches(const std::string& changed, const std::map<std::string, std::vector<XsPerm>>* removed) {
  for (auto& [id, c] : conns_) {
    for (const Watch& w : c->watches) {
      if (w.abs[0] == '@') continue;
      std::string ev;
      if (is_ancestor_or_self(w.abs, changed))
        ev = changed;
      else if (removed && is_ancestor_or_self(changed, w.abs))
        ev = w.abs;
      else
        continue;
      if (!(perm_for(c->dom, visible_perms(ev, removed)) & XsPerm::Read)) continue;
      queue_watch_event(*c, w, ev);
    }
  }
}

// @introduceDomain / @releaseDomain: privileged watchers only.
void Broker::fire_special(const char* name) {
  for (auto& [id, c] : conns_)
    if (c->dom == kDom0)
      for (const Watch& w : c->watches)
        if (w.abs == name) queue_watch_event(*c, w, name);
}

void Broker::op_store(Conn& c, Op op, Reader& r, Writer& out) {
  if (op == Op::XsReadWatch) {
    if (!r.done()) throw ProtocolError{"malformed read_watch"};
    if (c.watch_events.empty()) throw Refused{EAGAIN};
    auto [path, token] = std::move(c.watch_events.front());
    c.watch_events.pop_front();
    update_ready(c);
    out.str(path).str(token);
    return;
  }
  std::string given = r.str(kMaxPathLen);
  if (!r.ok()) throw ProtocolError{"malformed xenstore path"};
  if (op == Op::XsWatch || op == Op::XsUnwatch) {
    std::string token = r.str(kMaxTokenLen);
    if (!r.done()) throw ProtocolError{"malformed watch"};
    bool special = !given.empty() && given[0] == '@';
    if (special && given != "@introduceDomain" && given != "@releaseDomain") throw Refused{EINVAL};
    std::string abs = special ? given : resolve(c, given);
    if (abs.empty()) throw Refused{EINVAL};
    auto it = std::find_if(c.watches.begin(), c.watches.end(),
                           [&](const Watch& w) { return w.abs == abs && w.token == token; });
    if (op == Op::XsUnwatch) {
      if (it == c.watches.end()) throw Refused{ENOENT};
      c.watches.erase(it);  // events already queued stay queued
      return;
    }
    if (it != c.watches.end()) throw Refused{EEXIST};
    if (c.watches.size() >= kMaxWatchesPerConn) throw Refused{E2BIG};
    c.watches.push_back({abs, token, !special && given[0] != '/'});
    // xenstored fires every new watch once, right away.
    c.watch_events.push_back({given, token});
    update_ready(c);
    return;
  }
  std::string path = resolve(c, given);
  switch (op) {
    case Op::XsRead: {
      if (!r.done()) throw ProtocolError{"malformed read"};
      if (path.empty()) throw Refused{EINVAL};
      if (int e = check_node(c.dom, path, XsPerm::Read)) throw Refused{e};
      out.str(store_.at(path).value);
      return;
    }
    case Op::XsWrite: {
      std::string value = r.str(kMaxValueLen);
      if (!r.done()) throw ProtocolError{"malformed write"};
      if (path.empty()) throw Refused{EINVAL};
      int e = check_node(c.dom, path, XsPerm::Write);
      if (e && e != ENOENT) throw Refused{e};
      xs_write(c.dom, path, value);
      return;
    }
    case Op::XsRm: {
      if (!r.done()) throw ProtocolError{"malformed rm"};
      if (path.empty() || path == "/") throw Refused{EINVAL};
      int e = check_node(c.dom, path, XsPerm::Write);
      // xenstored: removing what is not there is fine when the parent is.
      if (e == ENOENT && store_.count(parent_of(path))) return;
      if (e) throw Refused{e};
      xs_rm_subtree(path);
      return;
    }
    case Op::XsDirectory: {
      if (!r.done()) throw ProtocolError{"malformed directory"};
      if (path.empty()) throw Refused{EINVAL};
      if (int e = check_node(c.dom, path, XsPerm::Read)) throw Refused{e};
      std::vector<std::string> kids;
      std::string prefix = path == "/" ? "/" : path + "/";
      for (auto it = store_.upper_bound(prefix); it != store_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
           ++it)
        if (it->first.find('/', prefix.size()) == std::string::npos) kids.push_back(it->first.substr(prefix.size()));
      out.u32(static_cast<uint32_t>(kids.size()));
      for (auto& k : kids) out.str(k);
      return;
    }
    case Op::XsSetPerms: {
      uint32_t n = r.u32();
      if (!r.ok() || n > kMaxPerms) throw ProtocolError{"malformed set_permissions"};
      std::vector<XsPerm> perms;
      for (uint32_t i = 0; i < n; i++) {
        DomId d = r.u16();
        uint8_t a = r.u8();
        if (a > XsPerm::Both) throw Refused{EINVAL};
        perms.push_back({d, static_cast<XsPerm::Access>(a)});
      }
      if (!r.done()) throw ProtocolError{"malformed set_permissions"};
      if (path.empty() || perms.empty()) throw Refused{EINVAL};
      if (int e = check_node(c.dom, path, XsPerm::Write)) throw Refused{e};
      Node& node = store_.at(path);
      if (c.dom != kDom0 && node.perms[0].domid != c.dom) throw Refused{EACCES};  // owner or dom0 only
      if (c.dom != kDom0 && perms[0].domid != c.dom) throw Refused{EPERM};      // no giving nodes away
      node.perms = perms;
      fire_watches(path, nullptr);
      return;
    }
    default: throw ProtocolError{"bad xenstore op"};
  }
}

// ----------------------------------------------------------------------------
// Domains (what xl create / xl destroy would do)

void Broker::create_domain(DomId d, const std::string& name) {
  domains_[d].name = name;
  std::string home = home_of(d);
  store_[home] = Node{"", {{d, XsPerm::None}}};
  fire_watches(home, nullptr);
  xs_write(kDom0, home + "/name", name);
  xs_write(kDom0, home + "/domid", std::to_string(d));
  fire_special("@introduceDomain");
  log("domain %u (%s) created", d, name.c_str());
}

// A destroyed domain does not unmap cleanly: its connections are cut
// without their unmap notifications. Pages it shared live on in mappers.
void Broker::destroy_domain(DomId d) {
  std::vector<uint64_t> ids;
  for (auto& [id, c] : conns_)
    if (c->hello && c->dom == d) ids.push_back(id);
  for (uint64_t id : ids) close_now(id, false, "domain destroyed");
  if (store_.count(home_of(d))) xs_rm_subtree(home_of(d));
  domains_.erase(d);
  fire_special("@releaseDomain");
  log("domain %u destroyed", d);
}

void Broker::op_control(Conn& c, Op op, Reader& r, Writer& out) {
  switch (op) {
    case Op::ListDomains: {
      if (!r.done()) throw ProtocolError{"malformed list"};
      if (c.dom != kDom0) throw Refused{EPERM};
      out.u32(static_cast<uint32_t>(domains_.size()));
      for (auto& [id, d] : domains_) out.u16(id).u8(0).str(d.name);
      return;
    }
    case Op::CtlCreate: {
      DomId d = r.u16();
      std::string name = r.str(64);
      if (!r.done()) throw ProtocolError{"malformed create"};
      if (c.dom != kDom0) throw Refused{EPERM};
      if (d == kDom0 || d >= kFirstReservedDomid || name.empty()) throw Refused{EINVAL};
      for (char ch : name)
        if (!isprint(static_cast<unsigned char>(ch))) throw Refused{EINVAL};
      if (domains_.count(d)) throw Refused{EEXIST};
      create_domain(d, name);
      return;
    }
    case Op::CtlDestroy: {
      DomId d = r.u16();
      if (!r.done()) throw ProtocolError{"malformed destroy"};
      if (c.dom != kDom0) throw Refused{EPERM};
      if (d == kDom0) throw Refused{EINVAL};
      if (!domains_.count(d)) throw Refused{ESRCH};
      destroy_domain(d);
      return;
    }
    default: throw ProtocolError{"bad control op"};
  }
}

void usage(FILE* f) {
  fprintf(f,
          "usage: xenemu-broker --socket PATH [--grant-limit PAGES] [--wake-on-peer-close]\n"
          "An EMULATION of a Xen host (domains, xenstore, grant tables, event\n"
          "channels) for machines without Xen; clients use XEN3D_XENEMU=PATH.\n"
          "  --socket PATH        unix socket to listen on (replaced if stale)\n"
          "  --grant-limit PAGES  pages each domain may grant (default 1024)\n"
          "  --wake-on-peer-close NOT like Xen: when one end of an interdomain\n"
          "                       channel closes, the other end gets one event\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  unsigned long limit = 1024;
  bool wake_on_peer_close = false;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else if (a == "--wake-on-peer-close") {
      wake_on_peer_close = true;
    } else if (a == "--socket" && i + 1 < argc) {
      path = argv[++i];
    } else if (a == "--grant-limit" && i + 1 < argc) {
      char* end = nullptr;
      errno = 0;
      limit = strtoul(argv[++i], &end, 10);
      if (errno || *end || limit == 0 || limit > (1u << 24)) {
        fprintf(stderr, "xenemu-broker: bad --grant-limit '%s' (1..16777216 pages)\n", argv[i]);
        return 2;
      }
    } else {
      fprintf(stderr, "xenemu-broker: unknown or incomplete option '%s'\n", a.c_str());
      usage(stderr);
      return 2;
    }
  }
  if (path.empty()) {
    fprintf(stderr, "xenemu-broker: --socket PATH is required\n");
    usage(stderr);
    return 2;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    fprintf(stderr, "xenemu-broker: socket path too long: %s\n", path.c_str());
    return 2;
  }
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);

  // SIGTERM/SIGINT end the loop cleanly (the socket file is removed).
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigprocmask(SIG_BLOCK, &sigs, nullptr);
  int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
  signal(SIGPIPE, SIG_IGN);

  int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (lfd < 0 || sfd < 0) {
    fprintf(stderr, "xenemu-broker: socket: %s\n", strerror(errno));
    return 1;
  }
  ::unlink(path.c_str());  // a stale socket of an earlier broker
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || listen(lfd, 64) < 0) {
    fprintf(stderr, "xenemu-broker: cannot listen on %s: %s\n", path.c_str(), strerror(errno));
    return 1;
  }
  log("emulating a Xen host on %s (grant limit %lu pages per domain%s)", path.c_str(), limit,
      wake_on_peer_close ? ", peer close wakes the other end: not like Xen" : "");
  {
    Broker b(lfd, sfd, static_cast<uint32_t>(limit), wake_on_peer_close);
    b.run();
  }
  ::unlink(path.c_str());
  ::close(lfd);
  ::close(sfd);
  return 0;
}
