// xenemu client: the xen_api.h classes over xenemu-broker, an EMULATION of
// Xen for machines without it (CI). Grant pages are memfds: the sharer
// creates and maps one, the broker hands it to mappers, who mmap its pages
// into one contiguous range. Each handle has its own broker connection, so
// handles work from different threads and a process death closes them all,
// which is how the broker knows to run notify-on-unmap.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "xen/emulation/xenemu_protocol.h"
#include "xen/xen_api.h"

namespace xen3d::xen {
namespace {

using namespace xenemu;

// One broker connection: a request, then its reply, under a lock.
class BrokerConn {
 public:
  static std::unique_ptr<BrokerConn> open(const std::string& path, DomId dom, Kind kind, std::string& error) {
    uint32_t limit = 0;
    int evfd = -1;
    int s = connect_broker(path, dom, kind, limit, evfd, error);
    if (s < 0) return nullptr;
    return std::unique_ptr<BrokerConn>(new BrokerConn(s, evfd, limit));
  }
  // A connection another process shares (BrokerConn::share): takes the descriptors.
  static std::unique_ptr<BrokerConn> adopt(int sock, int evfd) {
    return std::unique_ptr<BrokerConn>(new BrokerConn(sock, evfd, 0));
  }
  ~BrokerConn() { forsake(); }
  // Closes this process's descriptors; after fork() the child's copies go
  // and the broker sees the connection end only when the parent's do.
  void forsake() {
    if (sock_ >= 0) ::close(sock_);
    if (evfd_ >= 0) ::close(evfd_);
    sock_ = evfd_ = -1;
  }
  int evfd() const { return evfd_; }
  // Copies of [socket, event fd]. Requests from two processes would
  // interleave: the sharer stops using the connection while the other holds it.
  std::vector<int> share() const {
    const int s = fcntl(sock_, F_DUPFD_CLOEXEC, 0);
    const int e = s >= 0 ? fcntl(evfd_, F_DUPFD_CLOEXEC, 0) : -1;
    if (e < 0) {
      if (s >= 0) ::close(s);
      return {};
    }
    return {s, e};
  }
  uint32_t grant_limit() const { return grant_limit_; }

  // 0 with the reply in `out`, or an errno value (the broker's refusal, or
  // ENOTCONN once the broker has cut this connection, e.g. because the
  // domain was destroyed). `extra_fds(reply)` says how many descriptors
  // follow a successful reply in FdBatch datagrams; they land in out.fds.
  int call(Op op, const Writer& req, Message& out, const int* fds = nullptr, size_t nfds = 0,
           const std::function<uint32_t(const Message&)>& extra_fds = nullptr) {
    std::lock_guard<std::mutex> lock(mu_);
    if (send_message(sock_, static_cast<uint16_t>(op), 0, req.bytes(), fds, nfds) < 0)
      return errno == EPIPE || errno == ECONNRESET ? ENOTCONN : errno;
    int rc = recv_message(sock_, out);
    if (rc <= 0) return rc == 0 || errno == ECONNRESET ? ENOTCONN : errno;
    if (out.hdr.op != (static_cast<uint16_t>(op) | kReplyBit)) {
      out.close_fds();
      return EPROTO;
    }
    if (out.hdr.status != 0) {
      out.close_fds();
      return out.hdr.status;
    }
    uint32_t want = extra_fds ? extra_fds(out) : 0;
    while (out.fds.size() < want) {
      Message batch;
      rc = recv_message(sock_, batch);
      if (rc <= 0 || batch.hdr.op != (static_cast<uint16_t>(Op::FdBatch) | kReplyBit)) {
        batch.close_fds();
        out.close_fds();
        return rc == 0 ? ENOTCONN : EPROTO;
      }
      out.fds.insert(out.fds.end(), batch.fds.begin(), batch.fds.end());
    }
    if (out.fds.size() != want) {
      out.close_fds();
      return EPROTO;
    }
    return 0;
  }

 private:
  BrokerConn(int s, int evfd, uint32_t limit) : sock_(s), evfd_(evfd), grant_limit_(limit) {}
  int sock_, evfd_;
  uint32_t grant_limit_;
  std::mutex mu_;
};

// Sets errno from a call's status; true when it succeeded.
bool ok(int status) {
  if (status == 0) return true;
  errno = status;
  return false;
}

class EmuSharer final : public GrantSharer {
 public:
  explicit EmuSharer(std::unique_ptr<BrokerConn> c) : conn_(std::move(c)) {}

  void* share_pages(DomId peer, uint32_t count, GrantRef* refs, bool writable) override {
    return share(peer, count, refs, writable, false, 0, 0);
  }
  void* share_page_notify(DomId peer, GrantRef* ref, bool writable, uint32_t notify_offset,
                          Port notify_port) override {
    return share(peer, 1, ref, writable, true, notify_offset, notify_port);
  }

  // Like xengntshr_unshare (a munmap): any whole pages of one share.
  int unshare(void* start, uint32_t count) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto* p = static_cast<uint8_t*>(start);
    auto it = shares_.upper_bound(p);
    if (it == shares_.begin() || count == 0) return errno = EINVAL, -1;
    --it;
    auto& [sid, live] = it->second;
    size_t off = static_cast<size_t>(p - it->first);
    size_t first = off / kPageSize;
    if (off % kPageSize || first >= live.size() || count > live.size() - first) return errno = EINVAL, -1;
    for (size_t i = first; i < first + count; i++)
      if (!live[i]) return errno = EINVAL, -1;
    Writer w;
    w.u64(sid).u32(static_cast<uint32_t>(first)).u32(count);
    Message m;
    int st = conn_->call(Op::Unshare, w, m);
    ::munmap(p, count * kPageSize);
    for (size_t i = first; i < first + count; i++) live[i] = false;
    if (std::none_of(live.begin(), live.end(), [](bool b) { return b; })) shares_.erase(it);
    // A broker that cut us off (domain destroyed) has freed the grants already.
    return ok(st == ENOTCONN ? 0 : st) ? 0 : -1;
  }
  void forsake_after_fork() override {
    conn_->forsake();
    shares_.clear();  // the mappings are the caller's to unmap
  }

 private:
  void* share(DomId peer, uint32_t count, GrantRef* refs, bool writable, bool notify, uint32_t notify_offset,
              Port notify_port) {
    if (count == 0 || count > kMaxSharePages || !refs) return errno = EINVAL, nullptr;
    size_t len = size_t(count) * kPageSize;
    // Sealed against shrinking: a sharer must not be able to SIGBUS a mapper.
    int fd = ::memfd_create("xenemu-grant", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return nullptr;
    void* mem = MAP_FAILED;
    if (::ftruncate(fd, static_cast<off_t>(len)) == 0 &&
        ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0)
      mem = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mem == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      return errno = e, nullptr;
    }
    Writer w;
    w.u16(peer).u8(writable).u8(notify).u32(count).u32(notify_offset).u32(notify_port);
    Message m;
    int st = conn_->call(Op::Share, w, m, &fd, 1);
    ::close(fd);  // the mapping and the broker hold the pages now
    Reader r = m.reader();
    uint64_t sid = r.u64();
    std::vector<GrantRef> got(count);
    for (auto& g : got) g = r.u32();
    if (st == 0 && !r.done()) st = EPROTO;
    if (st != 0) {
      ::munmap(mem, len);
      return errno = st, nullptr;
    }
    std::copy(got.begin(), got.end(), refs);
    std::lock_guard<std::mutex> lock(mu_);
    shares_[static_cast<uint8_t*>(mem)] = {sid, std::vector<bool>(count, true)};
    return mem;
  }

  std::unique_ptr<BrokerConn> conn_;
  std::mutex mu_;
  std::map<uint8_t*, std::pair<uint64_t, std::vector<bool>>> shares_;  // base -> (share id, page still shared)
};

class EmuMapper final : public GrantMapper {
 public:
  explicit EmuMapper(std::unique_ptr<BrokerConn> c) : conn_(std::move(c)) {}

  void* map_domain_grant_refs(uint32_t count, DomId domid, const GrantRef* refs, bool writable) override {
    return map(count, domid, refs, writable, false, 0, 0);
  }
  void* map_grant_ref_notify(DomId domid, GrantRef ref, bool writable, uint32_t notify_offset,
                             Port notify_port) override {
    return map(1, domid, &ref, writable, true, notify_offset, notify_port);
  }

  // Like xengnttab_unmap: exactly one earlier mapping.
  int unmap(void* start, uint32_t count) override {
    std::vector<uint64_t> mids;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = maps_.find(static_cast<uint8_t*>(start));
      if (it == maps_.end() || it->second.pages != count) return errno = EINVAL, -1;
      mids = std::move(it->second.mids);
      maps_.erase(it);
    }
    ::munmap(start, count * kPageSize);
    bool all_ok = true;
    for (uint64_t mid : mids) all_ok = release(mid) && all_ok;
    return all_ok ? 0 : -1;
  }

 private:
  // Xen maps any number of refs at once; the broker takes kMaxMapPages a
  // request, so a larger map is several requests placed in one reservation.
  void* map(uint32_t count, DomId domid, const GrantRef* refs, bool writable, bool notify, uint32_t notify_offset,
            Port notify_port) {
    if (count == 0 || !refs) return errno = EINVAL, nullptr;
    const size_t len = size_t(count) * kPageSize;
    void* base = ::mmap(nullptr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return nullptr;
    Mapped mapped{{}, count};
    int err = 0;
    for (uint32_t done = 0; done < count && !err;) {
      const uint32_t n = std::min(count - done, kMaxMapPages);
      uint64_t mid = 0;
      err = map_chunk(static_cast<uint8_t*>(base) + size_t(done) * kPageSize, n, domid, refs + done, writable, notify,
                      notify_offset, notify_port, mid);
      if (!err) mapped.mids.push_back(mid);
      done += n;
    }
    if (err) {
      ::munmap(base, len);
      for (uint64_t mid : mapped.mids) release(mid);  // without their notify having meant anything
      return errno = err, nullptr;
    }
    std::lock_guard<std::mutex> lock(mu_);
    maps_[static_cast<uint8_t*>(base)] = std::move(mapped);
    return base;
  }

  // One broker request: its pages put in place at `at` (MAP_FIXED). 0 or an errno.
  int map_chunk(uint8_t* at, uint32_t count, DomId domid, const GrantRef* refs, bool writable, bool notify,
                uint32_t notify_offset, Port notify_port, uint64_t& mid) {
    Writer w;
    w.u16(domid).u8(writable).u8(notify).u32(count).u32(notify_offset).u32(notify_port);
    for (uint32_t i = 0; i < count; i++) w.u32(refs[i]);
    Message m;
    int st = conn_->call(Op::Map, w, m, nullptr, 0, [](const Message& reply) {
      Reader r = reply.reader();
      r.u64();
      return r.u32();
    });
    if (st != 0) return st;
    Reader r = m.reader();
    mid = r.u64();
    uint32_t nfds = r.u32();
    uint32_t n = r.u32();
    std::vector<std::pair<uint32_t, uint64_t>> pages(n);
    for (auto& [idx, off] : pages) {
      idx = r.u32();
      off = r.u64();
    }
    bool sane = r.done() && n == count && nfds == m.fds.size();
    for (auto& pg : pages) sane = sane && pg.first < nfds;
    int err = sane ? 0 : EPROTO;
    for (uint32_t i = 0; !err && i < count; i++) {
      int prot = PROT_READ | (writable ? PROT_WRITE : 0);
      if (::mmap(at + size_t(i) * kPageSize, kPageSize, prot, MAP_SHARED | MAP_FIXED, m.fds[pages[i].first],
                 static_cast<off_t>(pages[i].second)) == MAP_FAILED) {
        err = errno;
      }
    }
    m.close_fds();
    if (err) release(mid);
    return err;
  }

  bool release(uint64_t mid) {
    Writer u;
    u.u64(mid);
    Message m;
    int st = conn_->call(Op::Unmap, u, m);
    // A broker that cut us off (domain destroyed) has dropped the map already.
    return ok(st == ENOTCONN ? 0 : st);
  }

  struct Mapped {
    std::vector<uint64_t> mids;  // one broker map per kMaxMapPages
    uint32_t pages;
  };
  std::unique_ptr<BrokerConn> conn_;
  std::mutex mu_;
  std::map<uint8_t*, Mapped> maps_;  // by base
};

class EmuEventChannels final : public EventChannels {
 public:
  explicit EmuEventChannels(std::unique_ptr<BrokerConn> c) : conn_(std::move(c)) {}
  int fd() const override { return conn_->evfd(); }
  int bind_unbound_port(DomId remote) override {
    Writer w;
    w.u16(remote);
    return port_call(Op::EvtBindUnbound, w);
  }
  int bind_interdomain(DomId remote, Port remote_port) override {
    Writer w;
    w.u16(remote).u32(remote_port);
    return port_call(Op::EvtBindInterdomain, w);
  }
  int notify(Port port) override { return simple(Op::EvtNotify, port); }
  int pending() override { return port_call(Op::EvtPending, Writer()); }
  int unmask(Port port) override { return simple(Op::EvtUnmask, port); }
  int unbind(Port port) override { return simple(Op::EvtUnbind, port); }
  std::vector<int> share() const override { return conn_->share(); }
  void forsake_after_fork() override { conn_->forsake(); }

 private:
  int port_call(Op op, const Writer& w) {
    Message m;
    int st = conn_->call(op, w, m);
    Reader r = m.reader();
    uint32_t port = r.u32();
    if (st == 0 && (!r.done() || port > 0x7fffffff)) st = EPROTO;
    return ok(st) ? static_cast<int>(port) : -1;
  }
  int simple(Op op, Port port) {
    Writer w;
    w.u32(port);
    Message m;
    return ok(conn_->call(op, w, m)) ? 0 : -1;
  }
  std::unique_ptr<BrokerConn> conn_;
};

class EmuXenStore final : public XenStore {
 public:
  explicit EmuXenStore(std::unique_ptr<BrokerConn> c) : conn_(std::move(c)) {}
  bool read(const std::string& path, std::string& value) override {
    Writer w;
    w.str(path);
    Message m;
    if (!ok(conn_->call(Op::XsRead, w, m))) return false;
    Reader r = m.reader();
    std::string v = r.str(kMaxPayload);
    if (!r.done()) return errno = EPROTO, false;
    value = std::move(v);
    return true;
  }
  bool write(const std::string& path, const std::string& value) override {
    if (path.size() > kMaxPathLen || value.size() > kMaxValueLen) return errno = E2BIG, false;
    Writer w;
    w.str(path).str(value);
    Message m;
    return ok(conn_->call(Op::XsWrite, w, m));
  }
  bool rm(const std::string& path) override { return path_only(Op::XsRm, path); }
  bool directory(const std::string& path, std::vector<std::string>& children) override {
    Writer w;
    w.str(path);
    Message m;
    if (!ok(conn_->call(Op::XsDirectory, w, m))) return false;
    Reader r = m.reader();
    uint32_t n = r.u32();
    std::vector<std::string> kids;
    for (uint32_t i = 0; i < n && r.ok(); i++) kids.push_back(r.str(kMaxPathLen));
    if (!r.done()) return errno = EPROTO, false;
    children = std::move(kids);
    return true;
  }
  bool set_permissions(const std::string& path, const std::vector<XsPerm>& perms) override {
    if (perms.empty() || perms.size() > kMaxPerms) return errno = EINVAL, false;
    Writer w;
    w.str(path).u32(static_cast<uint32_t>(perms.size()));
    for (const XsPerm& p : perms) w.u16(p.domid).u8(p.access);
    Message m;
    return ok(conn_->call(Op::XsSetPerms, w, m));
  }
  bool watch(const std::string& path, const std::string& token) override {
    return path_token(Op::XsWatch, path, token);
  }
  bool unwatch(const std::string& path, const std::string& token) override {
    return path_token(Op::XsUnwatch, path, token);
  }
  int fileno() override { return conn_->evfd(); }
  bool read_watch(std::string& path, std::string& token) override {
    Message m;
    if (!ok(conn_->call(Op::XsReadWatch, Writer(), m))) return false;
    Reader r = m.reader();
    std::string p = r.str(kMaxPathLen), t = r.str(kMaxTokenLen);
    if (!r.done()) return errno = EPROTO, false;
    path = std::move(p);
    token = std::move(t);
    return true;
  }
  void forsake_after_fork() override { conn_->forsake(); }

 private:
  bool path_only(Op op, const std::string& path) {
    if (path.size() > kMaxPathLen) return errno = E2BIG, false;
    Writer w;
    w.str(path);
    Message m;
    return ok(conn_->call(op, w, m));
  }
  bool path_token(Op op, const std::string& path, const std::string& token) {
    if (path.size() > kMaxPathLen || token.size() > kMaxTokenLen) return errno = E2BIG, false;
    Writer w;
    w.str(path).str(token);
    Message m;
    return ok(conn_->call(op, w, m));
  }
  std::unique_ptr<BrokerConn> conn_;
};

class EmuPlatform final : public XenPlatform {
 public:
  EmuPlatform(std::string path, DomId dom, std::unique_ptr<BrokerConn> c)
      : path_(std::move(path)), dom_(dom), conn_(std::move(c)) {}
  std::string name() const override { return "xenemu (emulation of Xen)"; }
  std::unique_ptr<GrantSharer> open_sharer(std::string& error) override {
    auto c = BrokerConn::open(path_, dom_, Kind::Sharer, error);
    return c ? std::make_unique<EmuSharer>(std::move(c)) : nullptr;
  }
  std::unique_ptr<GrantMapper> open_mapper(std::string& error) override {
    auto c = BrokerConn::open(path_, dom_, Kind::Mapper, error);
    return c ? std::make_unique<EmuMapper>(std::move(c)) : nullptr;
  }
  std::unique_ptr<EventChannels> open_event_channels(std::string& error) override {
    auto c = BrokerConn::open(path_, dom_, Kind::EventChannels, error);
    return c ? std::make_unique<EmuEventChannels>(std::move(c)) : nullptr;
  }
  std::unique_ptr<EventChannels> adopt_event_channels(std::vector<int>& fds, std::string& error) override {
    if (fds.size() != 2) {
      error = "xenemu: an event channel handle is two descriptors, not " + std::to_string(fds.size());
      return nullptr;
    }
    auto c = BrokerConn::adopt(fds[0], fds[1]);
    fds.clear();
    return std::make_unique<EmuEventChannels>(std::move(c));
  }
  std::unique_ptr<XenStore> open_store(std::string& error) override {
    auto c = BrokerConn::open(path_, dom_, Kind::Store, error);
    return c ? std::make_unique<EmuXenStore>(std::move(c)) : nullptr;
  }
  bool list_domains(std::vector<DomainInfo>& out, std::string& error) override {
    Message m;
    int st = conn_->call(Op::ListDomains, Writer(), m);
    if (st == EPERM) {
      error = "xenemu: only dom0 may list domains (this is domain " + std::to_string(dom_) + ")";
      return false;
    }
    if (st != 0) {
      error = "xenemu: listing domains failed: " + std::string(strerror(st));
      return false;
    }
    Reader r = m.reader();
    uint32_t n = r.u32();
    std::vector<DomainInfo> list;
    for (uint32_t i = 0; i < n && r.ok(); i++) {
      DomId d = r.u16();
      bool dying = r.u8();
      r.str(kMaxPayload);  // the name, for xenemu-ctl
      list.push_back({d, dying});
    }
    if (!r.done()) {
      error = "xenemu: malformed domain list from the broker";
      return false;
    }
    out = std::move(list);
    return true;
  }
  uint32_t grant_limit_pages() override { return conn_->grant_limit(); }
  void forsake_after_fork() override { conn_->forsake(); }

 private:
  std::string path_;
  DomId dom_;
  std::unique_ptr<BrokerConn> conn_;  // for list_domains, and to check the domain exists
};

}  // namespace

std::unique_ptr<XenPlatform> open_xen_emulation(const std::string& broker_socket, std::string& error) {
  DomId dom = kDom0;
  if (const char* env = std::getenv("XEN3D_XENEMU_DOMID"); env && *env) {
    char* end = nullptr;
    errno = 0;
    unsigned long v = std::strtoul(env, &end, 10);
    if (errno || *end || v > 0x7FEF) {
      error = std::string("XEN3D_XENEMU_DOMID='") + env + "' is not a domain id (0..32751)";
      return nullptr;
    }
    dom = static_cast<DomId>(v);
  }
  auto c = BrokerConn::open(broker_socket, dom, Kind::Platform, error);
  if (!c) return nullptr;
  return std::make_unique<EmuPlatform>(broker_socket, dom, std::move(c));
}

}  // namespace xen3d::xen
