// The `xen` transport: the same rings as `local`, in pages the guest grants to
// dom0, with an event channel for a doorbell and xenstore for the rendezvous.
//
// Rendezvous, under the guest's /local/domain/<g>/data/xen3d/<cid>/ (docs/xen.md):
//   guest: hello (hex record)                      -> host: welcome | refuse
//   guest: control-ref, index-refs, data-pages,
//          event-channel, state = ready            -> host: host-state = connected | failed: why
// The guest owns the memory (only it can grant), so the host maps exactly the
// layout it put in its own welcome; the index pages list the data pages' refs
// (xenstore values are too small for thousands of refs).
//
// Liveness: each side maps the control page with notify-on-unmap on its own
// "alive" byte, so a process that dies clears the byte and rings the peer at
// once. A destroyed domain unmaps nothing: the host learns of it from
// @releaseDomain (XenListener) instead.
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <thread>

#include "proto/handshake.h"
#include "proto/socket_io.h"
#include "proto/transport_impl.h"
#include "xen/xen_api.h"
#include "xen/xenstore_value.h"

namespace xen3d::proto {

using xen::DomId;
using xen::GrantRef;
using xen::kPageSize;

namespace {

// Bytes of the control page past the ControlBlock, cleared by notify-on-unmap.
constexpr uint32_t kGuestAliveOffset = kControlBlockSize - 1;
constexpr uint32_t kHostAliveOffset = kControlBlockSize - 2;
static_assert(sizeof(ControlBlock) < kHostAliveOffset);
constexpr uint32_t kRefsPerIndexPage = kPageSize / sizeof(GrantRef);
// The most memory a guest may share beside its rings: 2 GiB, the largest
// buffer arena (arena_grant's 512 index pages).
constexpr uint32_t kMaxSharedMemoryPages = 512 * kRefsPerIndexPage;
constexpr const char* kRaiseGrantLimit =
    "Raise it as root: echo 65536 > /sys/module/xen_gntalloc/parameters/limit "
    "(or xen_gntalloc.limit=65536 on the guest kernel command line)";
// Grant-backed rings are scarcer than memfds (gntalloc allows 1024 pages per
// guest by default), so guests that ask for nothing get rings small enough
// for two GL programs within that default: 354 pages each.
constexpr uint32_t kXenDefaultCmdKib = 128, kXenDefaultBulkKib = 1024, kXenReplyKib = 256;

std::string hex(const std::vector<uint8_t>& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (uint8_t b : bytes) {
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  return s;
}

bool unhex(const std::string& s, std::vector<uint8_t>& out) {
  if (s.size() % 2 || s.size() > 2 * kMaxRecordSize) return false;
  out.clear();
  for (size_t i = 0; i < s.size(); i += 2) {
    auto nib = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; };
    int hi = nib(s[i]), lo = nib(s[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<uint8_t>(hi << 4 | lo));
  }
  return true;
}

bool parse_refs(const std::string& s, std::vector<GrantRef>& refs, size_t max) {
  refs.clear();
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    uint32_t v;
    if (!xen::parse_xs_u32(item, v) || refs.size() >= max) return false;
    refs.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return !refs.empty();
}

// Memory beyond the rings the guest shared as it connected (the buffer
// arena: ConnectRequest::memory_pages), listed by read-only index pages as
// the rings' pages are.
struct SharedMemory {
  uint8_t* base = nullptr;           // mapped (guest: shared) pages; host: on demand
  uint32_t pages = 0;
  std::vector<GrantRef> index_refs;  // the index pages' refs: what arena_grant names
  std::vector<GrantRef> refs;        // host: the pages' refs, read once from the index
  std::string problem;               // why there is none
  // Host: the compositor maps on demand (serving the guest itself); a render
  // worker maps when it adopts the connection, before its sandbox forbids it.
  bool map_on_demand = false;
};

// Host: maps the pages whose refs the index listed.
bool map_shared_memory(xen::GrantMapper& mapper, DomId peer, SharedMemory& m, std::string& error) {
  m.base = static_cast<uint8_t*>(mapper.map_domain_grant_refs(m.pages, peer, m.refs.data(), true));
  if (!m.base) {
    error = "cannot map the " + std::to_string(m.pages) + " pages the guest shared: " + errno_text(errno);
    return false;
  }
  return true;
}

// Set by the listener when a guest's domain is destroyed (no unmap notify comes then).
struct DomainLiveness {
  std::atomic<bool> gone{false};
};

class XenTransport final : public Transport {
 public:
  struct Parts {
    std::unique_ptr<xen::XenPlatform> platform;
    std::unique_ptr<xen::XenStore> store;  // to remove the rendezvous directory at the end
    std::unique_ptr<xen::EventChannels> evtchn;
    std::unique_ptr<xen::GrantSharer> sharer;  // guest
    std::unique_ptr<xen::GrantMapper> mapper;  // host
    xen::Port port = 0;
    uint8_t* control = nullptr;
    uint8_t* data = nullptr;
    uint32_t data_pages = 0;
    std::string dir;  // the connection's xenstore directory (absolute on the host)
    std::shared_ptr<DomainLiveness> domain;  // host only
    DomId peer = 0;
    // Host side, for a render worker to map the same rings (handoff()).
    GrantRef control_ref = 0;
    std::vector<GrantRef> data_refs;
    // The port is this side's to unbind at the end (a render worker shares
    // the compositor's, which outlives it for its last words).
    bool owns_port = true;
    SharedMemory memory;
  };

  XenTransport(Sender side, ShmLayout layout, Parts parts) : p_(std::move(parts)) {
    side_ = side;
    layout_ = layout;
    control_ = p_.control;
    data_ = p_.data;
    evtchn_fd_ = p_.evtchn->fd();
  }

  ~XenTransport() override {
    if (forsaken_) return;  // the handles do nothing either
    release_memory(p_.memory.base);
    // Unmapping fires our notify: the peer sees us go even if it is asleep.
    if (p_.sharer) {
      p_.sharer->unshare(p_.data, p_.data_pages);
      p_.sharer->unshare(p_.control, 1);
    } else {
      p_.mapper->unmap(p_.data, p_.data_pages);
      p_.mapper->unmap(p_.control, 1);
    }
    if (p_.owns_port) p_.evtchn->unbind(p_.port);
    if (p_.store) p_.store->rm(p_.dir);
  }

  void kick(RingId, bool peer_sleeping) override {
    if (peer_sleeping && !gone_) p_.evtchn->notify(p_.port);
  }

  // In a child of fork() (guest side): unmaps this process's copies of the
  // pages and closes its copies of the handles' descriptors, telling neither
  // Xen nor the host anything (no unshare, no unbind, no xenstore): all of it
  // is the parent's. Otherwise the child's copies keep the grants alive and
  // the host sees the parent leave only when the child does.
  void forsake_after_fork() override {
    if (forsaken_ || !p_.sharer) return;
    forsaken_ = gone_ = true;
    if (p_.memory.base) ::munmap(p_.memory.base, size_t{p_.memory.pages} * xen::kPageSize);
    ::munmap(p_.data, size_t{p_.data_pages} * xen::kPageSize);
    ::munmap(p_.control, xen::kPageSize);
    p_.memory.base = p_.data = p_.control = nullptr;
    p_.sharer->forsake_after_fork();
    p_.evtchn->forsake_after_fork();
    if (p_.store) p_.store->forsake_after_fork();
    p_.platform->forsake_after_fork();
  }

  bool handoff(TransportHandoff& out, std::string& error) const override {
    if (side_ != Sender::Host || p_.data_refs.size() != p_.data_pages) {
      error = "this xen connection cannot be handed to another process";
      return false;
    }
    // The event channel handle itself: its bound port goes with it (one
    // interdomain channel has one dom0 end, and gntdev's unmap notify holds it).
    out.fds = p_.evtchn->share();
    if (out.fds.empty()) {
      error = "cannot share the event channel handle: " + errno_text(errno);
      return false;
    }
    out.kind = TransportHandoff::Xen;
    out.layout = layout_;
    out.words = {p_.peer, p_.control_ref, p_.port, p_.data_pages};
    out.words.insert(out.words.end(), p_.data_refs.begin(), p_.data_refs.end());
    // Then the shared memory: pages, index pages, the index refs, the refs.
    const SharedMemory& m = p_.memory;
    out.words.push_back(uint32_t(m.refs.size()));
    out.words.push_back(uint32_t(m.index_refs.size()));
    out.words.insert(out.words.end(), m.index_refs.begin(), m.index_refs.end());
    out.words.insert(out.words.end(), m.refs.begin(), m.refs.end());
    return true;
  }
  std::string peer_problem() const override {
    const char* why = peer_alive_problem();
    return why ? why : "";
  }

  WaitResult wait(RingId ring, const std::function<bool()>& ready, int timeout_ms) override {
    if (gone_) return WaitResult::PeerGone;
    return doorbell_wait(ring, ready, timeout_ms, [&](int ms) {
      if (const char* why = peer_alive_problem()) return fail(why);
      // Events are hints (the first after bind_interdomain is spurious, and
      // they coalesce): wake, and let the caller re-check the ring. The slice
      // bounds how late a destroyed domain is noticed.
      pollfd pfd{evtchn_fd_, POLLIN, 0};
      int r = ::poll(&pfd, 1, ms < 0 || ms > 200 ? 200 : ms);
      if (r < 0 && errno != EINTR) return fail("poll on the event channel failed: " + errno_text(errno));
      if (r > 0) {
        int port = p_.evtchn->pending();
        if (port >= 0) p_.evtchn->unmask(static_cast<xen::Port>(port));
      }
      if (ready()) return true;
      if (const char* why = peer_alive_problem()) return fail(why);
      return true;
    });
  }

  std::string name() const override { return "xen"; }
  int readiness_fd() const override { return evtchn_fd_; }

  uint8_t* share_memory(uint32_t& pages, std::vector<uint32_t>& words, std::string& error) override {
    SharedMemory& m = p_.memory;
    if (!p_.sharer || !m.base) {
      error = m.problem.empty() ? "no memory was shared with the compositor when connecting" : m.problem;
      return nullptr;
    }
    pages = m.pages;
    words = m.index_refs;
    return m.base;
  }

  uint8_t* map_memory(uint32_t pages, const std::vector<uint32_t>& words, std::string& error) override {
    SharedMemory& m = p_.memory;
    if (!p_.mapper || m.refs.empty()) {
      error = m.problem.empty() ? "the guest shared no memory when connecting" : m.problem;
      return nullptr;
    }
    if (pages != m.pages || words != m.index_refs) {
      error = "the guest's arena is not the memory it shared when connecting (" + std::to_string(m.pages) + " pages)";
      return nullptr;
    }
    if (!m.base && !m.map_on_demand) {
      error = m.problem;
      return nullptr;
    }
    if (!m.base && !map_shared_memory(*p_.mapper, p_.peer, m, error)) return nullptr;
    return m.base;
  }

  void release_memory(uint8_t* base) override {
    SharedMemory& m = p_.memory;
    if (forsaken_ || !base || base != m.base) return;
    if (p_.sharer) {
      p_.sharer->unshare(m.base, m.pages);
    } else {
      p_.mapper->unmap(m.base, m.pages);
    }
    m.base = nullptr;
  }

 private:

  const char* peer_alive_problem() const {
    const uint32_t peer_alive = side_ == Sender::Host ? kGuestAliveOffset : kHostAliveOffset;
    if (reinterpret_cast<volatile uint8_t*>(control_)[peer_alive] == 0) {
      return side_ == Sender::Host ? "the guest unmapped its rings (it exited or crashed)"
                                   : "the compositor unmapped the rings (it exited or crashed)";
    }
    if (p_.domain && p_.domain->gone.load()) return "the guest's domain was destroyed";
    return nullptr;
  }
  bool fail(std::string why) {
    gone_ = true;
    peer_gone(std::move(why));
    return false;
  }

  Parts p_;
  int evtchn_fd_ = -1;
  bool gone_ = false;
  bool forsaken_ = false;  // forsake_after_fork() ran: nothing here is this process's
};

// Waits until `path` has a value (watching `dir`), the deadline passes, or
// `error` is set. The value is returned in `value`.
bool wait_for_value(xen::XenStore& xs, const std::string& path, std::string& value, Deadline dl) {
  for (;;) {
    if (xs.read(path, value)) return true;
    int ms = dl.remaining_ms();
    if (ms == 0) return false;
    pollfd pfd{xs.fileno(), POLLIN, 0};
    ::poll(&pfd, 1, ms < 0 || ms > 100 ? 100 : ms);  // a watch event or a re-check
    std::string p, t;
    while (xs.read_watch(p, t)) {
    }
  }
}

uint32_t data_pages_of(const ShmLayout& layout) {
  return static_cast<uint32_t>((layout.total_size - kControlBlockSize) / kPageSize);
}

std::string grant_limit_advice(xen::XenPlatform& x, uint32_t pages) {
  uint32_t limit = x.grant_limit_pages();
  char mib[32];
  std::snprintf(mib, sizeof mib, "%.1f", (pages + 1) * 4.0 / 1024.0);
  std::string s = "this connection needs " + std::to_string(pages + 1) + " grant pages (" + mib + " MiB)";
  if (limit) s += ", and the guest's gntalloc limit is " + std::to_string(limit) + " pages in all";
  return s + ". " + kRaiseGrantLimit + ", or ask for smaller rings.";
}

}  // namespace

// ----------------------------------------------------------------- guest --

// Shares up to req.memory_pages (at least req.memory_min_pages, at most half
// the guest's grant limit: the other half stays for the rings of its other
// GL programs) and the read-only pages that list their refs. Records why not
// in p.memory.problem; the connection goes on either way. `index` and
// `index_pages`: what to unshare once the host has read the list.
void share_connect_memory(XenTransport::Parts& p, DomId backend, const ConnectRequest& req, void*& index,
                          uint32_t& index_pages) {
  SharedMemory& m = p.memory;
  index = nullptr;
  index_pages = 0;
  uint32_t pages = req.memory_pages;
  const uint32_t limit = p.platform->grant_limit_pages();
  if (limit && pages > limit / 2) pages = limit / 2;
  if (!pages || pages < req.memory_min_pages) {
    m.problem = "the guest's gntalloc limit of " + std::to_string(limit) + " grant pages leaves no room for " +
                std::to_string(req.memory_min_pages / 256) + " MiB (an arena takes at most half the limit). " +
                kRaiseGrantLimit + ".";
    return;
  }
  index_pages = (pages + kRefsPerIndexPage - 1) / kRefsPerIndexPage;
  std::vector<GrantRef> refs(pages);
  m.index_refs.assign(index_pages, 0);
  auto* data = static_cast<uint8_t*>(p.sharer->share_pages(backend, pages, refs.data(), true));
  index = data ? p.sharer->share_pages(backend, index_pages, m.index_refs.data(), false) : nullptr;
  if (!index) {
    const int err = errno;
    if (data) p.sharer->unshare(data, pages);
    m.index_refs.clear();
    index_pages = 0;
    if (err != ENOSPC && err != ENOMEM) {
      m.problem = "cannot share pages with dom" + std::to_string(backend) + ": " + errno_text(err);
    } else {
      m.problem = "out of grant pages: an arena needs " + std::to_string(pages + (pages + 1023) / 1024) + " more";
      if (limit) m.problem += ", and the guest's gntalloc limit is " + std::to_string(limit) + " pages in all";
      m.problem += ". " + std::string(kRaiseGrantLimit) + ", or set a smaller XEN3D_ARENA_MIB.";
    }
    return;
  }
  std::memcpy(index, refs.data(), refs.size() * sizeof(GrantRef));
  m.base = data;
  m.pages = pages;
}

std::string ref_list(const std::vector<GrantRef>& refs) {
  std::string list;
  for (GrantRef r : refs) list += (list.empty() ? "" : ",") + std::to_string(r);
  return list;
}

std::unique_ptr<Transport> connect_xen(const Endpoint& ep, const ConnectRequest& req_in, SessionInfo& info,
                                       std::string& error) {
  const std::string where = ep.text();
  const DomId backend = ep.backend_domid;
  auto fail = [&](const std::string& why) -> std::unique_ptr<Transport> {
    error = "xen transport (" + where + "): " + why;
    return nullptr;
  };
  XenTransport::Parts p;
  p.platform = xen::open_xen(error);
  if (!p.platform) return fail(error);
  p.store = p.platform->open_store(error);
  if (!p.store) return fail(error);
  std::string self;
  p.store->read("domid", self);
  static std::atomic<uint32_t> serial{0};
  const std::string cid = "c" + std::to_string(getpid()) + "-" + std::to_string(serial++);
  p.dir = "data/xen3d/" + cid;
  xen::XenStore& xs = *p.store;
  Deadline dl = Deadline::in(req_in.timeout_ms);

  ConnectRequest req = req_in;
  if (!xs.write(p.dir, "") ||
      !xs.set_permissions(p.dir, {{static_cast<DomId>(std::atoi(self.c_str())), xen::XsPerm::None},
                                  {backend, xen::XsPerm::Read}}) ||
      !xs.watch(p.dir, "xen3d") || !xs.write(p.dir + "/hello", hex(make_hello(req)))) {
    return fail("cannot write " + p.dir + " in xenstore: " + errno_text(errno));
  }
  auto cleanup = [&] {
    xs.unwatch(p.dir, "xen3d");
    xs.rm(p.dir);
  };
  std::string answer;
  std::vector<uint8_t> rec;
  if (!wait_for_value(xs, p.dir + "/welcome", answer, dl)) {
    cleanup();
    return fail("no answer from the compositor in dom" + std::to_string(backend) +
                " (is xen3d-compositor --listen xen running there?)");
  }
  ShmLayout layout;
  if (!unhex(answer, rec) || !guest_read_welcome(rec, layout, info, error)) {
    cleanup();
    return fail(error.empty() ? "unreadable welcome" : error);
  }
  p.data_pages = data_pages_of(layout);

  p.evtchn = p.platform->open_event_channels(error);
  p.sharer = p.evtchn ? p.platform->open_sharer(error) : nullptr;
  if (!p.sharer) {
    cleanup();
    return fail(error);
  }
  int port = p.evtchn->bind_unbound_port(backend);
  if (port < 0) {
    cleanup();
    return fail("cannot allocate an event channel: " + errno_text(errno));
  }
  p.port = static_cast<xen::Port>(port);
  GrantRef control_ref = 0;
  std::vector<GrantRef> refs(p.data_pages);
  const uint32_t index_pages = (p.data_pages + kRefsPerIndexPage - 1) / kRefsPerIndexPage;
  std::vector<GrantRef> index_refs(index_pages);
  void* control = p.sharer->share_page_notify(backend, &control_ref, true, kGuestAliveOffset, p.port);
  void* data = control ? p.sharer->share_pages(backend, p.data_pages, refs.data(), true) : nullptr;
  void* index = data ? p.sharer->share_pages(backend, index_pages, index_refs.data(), false) : nullptr;
  if (!index) {
    const int err = errno;
    if (data) p.sharer->unshare(data, p.data_pages);
    if (control) p.sharer->unshare(control, 1);
    p.evtchn->unbind(p.port);
    cleanup();
    if (err == ENOSPC || err == ENOMEM) return fail("out of grant pages: " + grant_limit_advice(*p.platform, p.data_pages + index_pages));
    return fail("cannot share pages with dom" + std::to_string(backend) + ": " + errno_text(err));
  }
  p.control = static_cast<uint8_t*>(control);
  p.data = static_cast<uint8_t*>(data);
  p.control[kGuestAliveOffset] = 1;
  std::memcpy(index, refs.data(), refs.size() * sizeof(GrantRef));
  void* memory_index = nullptr;
  uint32_t memory_index_pages = 0;
  if (req.memory_pages) share_connect_memory(p, backend, req, memory_index, memory_index_pages);

  bool written = xs.write(p.dir + "/control-ref", std::to_string(control_ref)) &&
                 xs.write(p.dir + "/index-refs", ref_list(index_refs)) &&
                 xs.write(p.dir + "/data-pages", std::to_string(p.data_pages)) &&
                 xs.write(p.dir + "/event-channel", std::to_string(p.port)) &&
                 (!p.memory.base || (xs.write(p.dir + "/memory-pages", std::to_string(p.memory.pages)) &&
                                     xs.write(p.dir + "/memory-index-refs", ref_list(p.memory.index_refs)))) &&
                 xs.write(p.dir + "/state", "ready");
  std::string host_state;
  // The compositor answered, so it is alive: mapping hundreds of grant pages
  // on a loaded dom0 (seen under emulated Xen: over 5 s) must not make the
  // guest give up and unshare under the host's feet.
  if (written) wait_for_value(xs, p.dir + "/host-state", host_state, Deadline::in(std::max(req.timeout_ms, 30000)));
  // The host copied the refs: the index pages can go back to the grant pool.
  p.sharer->unshare(index, index_pages);
  if (memory_index) p.sharer->unshare(memory_index, memory_index_pages);
  xs.unwatch(p.dir, "xen3d");
  if (host_state != "connected") {
    std::string why = !written ? "cannot publish the rings in xenstore: " + errno_text(errno)
                      : host_state.empty() ? "the compositor did not map the rings in time"
                                           : "the compositor could not map the rings: " + host_state;
    if (p.memory.base) p.sharer->unshare(p.memory.base, p.memory.pages);
    p.sharer->unshare(p.data, p.data_pages);
    p.sharer->unshare(p.control, 1);
    p.evtchn->unbind(p.port);
    xs.rm(p.dir);
    return fail(why);
  }
  info.endpoint = where;
  p.peer = backend;
  return std::make_unique<XenTransport>(Sender::Guest, layout, std::move(p));
}

// ------------------------------------------------------------------ host --

namespace {

class XenListener final : public Listener {
 public:
  XenListener(std::unique_ptr<xen::XenPlatform> x, std::unique_ptr<xen::XenStore> xs)
      : x_(std::move(x)), xs_(std::move(xs)) {}

  bool start(std::string& error) {
    if (!xs_->watch("@introduceDomain", "introduce") || !xs_->watch("@releaseDomain", "release")) {
      error = "cannot watch @introduceDomain/@releaseDomain (" + errno_text(errno) +
              "): the compositor must run in dom0";
      return false;
    }
    rescan_domains();
    return true;
  }

  ~XenListener() override {
    for (auto& [d, live] : domains_) xs_->unwatch(domain_dir(d), "d" + std::to_string(d));
  }

  std::unique_ptr<Transport> accept(const HostPolicy& policy_in, const std::function<uint32_t()>& next_id,
                                    SessionInfo& info, std::string& error, int timeout_ms) override {
    error.clear();
    HostPolicy policy = policy_in;
    policy.default_cmd_ring_kib = std::min(policy.default_cmd_ring_kib, kXenDefaultCmdKib);
    policy.default_bulk_heap_kib = std::min(policy.default_bulk_heap_kib, kXenDefaultBulkKib);
    policy.reply_ring_kib = std::min(policy.reply_ring_kib, kXenReplyKib);
    Deadline dl = Deadline::in(timeout_ms);
    for (;;) {
      drain_watches();
      while (!dirty_.empty()) {
        DomId d = *dirty_.begin();
        if (auto t = serve_domain(d, policy, next_id, info, error)) return t;
        if (!error.empty()) return nullptr;  // one failed guest; the caller logs it and calls again
        dirty_.erase(d);
      }
      int ms = dl.remaining_ms();
      if (ms == 0) return nullptr;
      pollfd pfd{xs_->fileno(), POLLIN, 0};
      ::poll(&pfd, 1, ms < 0 || ms > 1000 ? 1000 : ms);
    }
  }

  std::string describe() const override { return "xen (" + x_->name() + ")"; }

 private:
  struct Pending {
    ShmLayout layout;
    bool done = false;  // refused, failed or connected: nothing more to do
    uint32_t pid = 0;
    uint32_t connection_id = 0;
    std::string client_name;
  };

  static std::string domain_dir(DomId d) { return "/local/domain/" + std::to_string(d) + "/data/xen3d"; }

  void drain_watches() {
    std::string path, token;
    while (xs_->read_watch(path, token)) {
      if (token == "introduce" || token == "release") {
        rescan_domains();
      } else if (token.size() > 1 && token[0] == 'd') {
        dirty_.insert(static_cast<DomId>(std::atoi(token.c_str() + 1)));
      }
    }
  }

  void rescan_domains() {
    std::vector<xen::DomainInfo> list;
    std::string error;
    std::set<DomId> live;
    if (x_->list_domains(list, error)) {
      for (const auto& d : list)
        if (!d.dying && d.domid != xen::kDom0) live.insert(d.domid);
    }
    for (auto it = domains_.begin(); it != domains_.end();) {
      if (live.count(it->first)) {
        ++it;
        continue;
      }
      it->second->gone = true;  // its connections notice within one wait slice
      xs_->unwatch(domain_dir(it->first), "d" + std::to_string(it->first));
      pending_.erase(it->first);
      dirty_.erase(it->first);
      it = domains_.erase(it);
    }
    for (DomId d : live) {
      if (domains_.count(d)) continue;
      domains_[d] = std::make_shared<DomainLiveness>();
      xs_->watch(domain_dir(d), "d" + std::to_string(d));  // fires once now: the domain gets scanned
    }
  }

  std::unique_ptr<Transport> serve_domain(DomId d, const HostPolicy& policy, const std::function<uint32_t()>& next_id,
                                          SessionInfo& info, std::string& error) {
    std::vector<std::string> cids;
    auto& pending = pending_[d];
    if (!xs_->directory(domain_dir(d), cids)) cids.clear();
    // Forget connections whose directory is gone.
    for (auto it = pending.begin(); it != pending.end();) {
      it = std::find(cids.begin(), cids.end(), it->first) == cids.end() ? pending.erase(it) : std::next(it);
    }
    for (const std::string& cid : cids) {
      const std::string dir = domain_dir(d) + "/" + cid;
      auto [it, fresh] = pending.try_emplace(cid);
      Pending& c = it->second;
      if (c.done) continue;
      if (fresh || c.layout.total_size == 0) {
        std::string hello_hex;
        std::vector<uint8_t> rec;
        if (!xs_->read(dir + "/hello", hello_hex)) {
          pending.erase(it);  // not written yet: the next watch event brings it back
          continue;
        }
        HelloDecision h;
        if (!unhex(hello_hex, rec)) {
          h.reason = "hello is not a hex record";
        } else {
          h = host_read_hello(rec, policy);
        }
        if (!h.accepted) {
          c.done = true;
          answer(d, dir + "/welcome", hex(make_refuse(h.reason)));
          error = "refused a guest in dom" + std::to_string(d) + ": " + h.reason;
          return nullptr;
        }
        c.layout = h.layout;
        c.pid = h.pid;
        c.client_name = h.client_name;
        c.connection_id = next_id();
        answer(d, dir + "/welcome", hex(make_welcome(c.layout, c.connection_id, policy.host_renderer)));
        continue;
      }
      std::string state;
      if (!xs_->read(dir + "/state", state) || state != "ready") continue;
      c.done = true;
      std::string why;
      auto t = map_guest(d, dir, c, why);
      if (!t) {
        answer(d, dir + "/host-state", "failed: " + why);
        error = "cannot connect a guest in dom" + std::to_string(d) + " (" + c.client_name + "): " + why;
        return nullptr;
      }
      answer(d, dir + "/host-state", "connected");
      std::string vm;
      xs_->read("/local/domain/" + std::to_string(d) + "/name", vm);
      info.connection_id = c.connection_id;
      info.peer_pid = c.pid;
      info.peer_name = c.client_name;
      info.peer_domid = d;
      info.peer_vm = vm.empty() ? "dom" + std::to_string(d) : vm;
      info.peer_id = "dom" + std::to_string(d);
      info.host_renderer = policy.host_renderer;
      info.endpoint = describe();
      return t;
    }
    return nullptr;
  }

  // dom0 writes inside the guest's directory: the guest must be able to read it.
  void answer(DomId d, const std::string& path, const std::string& value) {
    xs_->write(path, value);
    xs_->set_permissions(path, {{d, xen::XsPerm::Read}});
  }

  std::unique_ptr<Transport> map_guest(DomId d, const std::string& dir, const Pending& c, std::string& why) {
    std::string v_control, v_index, v_pages, v_port;
    uint32_t control_ref = 0, pages = 0, guest_port = 0;
    std::vector<GrantRef> index_refs;
    const uint32_t want_pages = data_pages_of(c.layout);
    const uint32_t want_index = (want_pages + kRefsPerIndexPage - 1) / kRefsPerIndexPage;
    if (!xs_->read(dir + "/control-ref", v_control) || !xs_->read(dir + "/index-refs", v_index) ||
        !xs_->read(dir + "/data-pages", v_pages) || !xs_->read(dir + "/event-channel", v_port) ||
        !xen::parse_xs_u32(v_control, control_ref) || !xen::parse_xs_u32(v_pages, pages) || !xen::parse_xs_u32(v_port, guest_port) ||
        !parse_refs(v_index, index_refs, want_index)) {
      why = "incomplete or malformed ring description in " + dir;
      return nullptr;
    }
    if (pages != want_pages || index_refs.size() != want_index) {
      why = "the guest shared " + std::to_string(pages) + " pages where the welcome asked for " +
            std::to_string(want_pages);
      return nullptr;
    }
    XenTransport::Parts p;
    p.platform = xen::open_xen(why);
    if (!p.platform) return nullptr;
    p.store = p.platform->open_store(why);
    p.evtchn = p.store ? p.platform->open_event_channels(why) : nullptr;
    p.mapper = p.evtchn ? p.platform->open_mapper(why) : nullptr;
    if (!p.mapper) return nullptr;
    int port = p.evtchn->bind_interdomain(d, guest_port);
    if (port < 0) {
      why = "cannot bind the guest's event channel " + std::to_string(guest_port) + ": " + errno_text(errno);
      return nullptr;
    }
    p.port = static_cast<xen::Port>(port);
    auto* control = static_cast<uint8_t*>(p.mapper->map_grant_ref_notify(d, control_ref, true, kHostAliveOffset, p.port));
    void* index = control ? p.mapper->map_domain_grant_refs(want_index, d, index_refs.data(), false) : nullptr;
    std::vector<GrantRef> refs(want_pages);
    if (index) {
      // Copied once: the guest may rewrite its index pages at any time.
      std::memcpy(refs.data(), index, refs.size() * sizeof(GrantRef));
      p.mapper->unmap(index, want_index);
    }
    auto* data = index ? static_cast<uint8_t*>(p.mapper->map_domain_grant_refs(want_pages, d, refs.data(), true)) : nullptr;
    if (!data) {
      why = "cannot map the guest's grant pages: " + errno_text(errno);
      if (control) p.mapper->unmap(control, 1);
      p.evtchn->unbind(p.port);
      return nullptr;
    }
    if (control[kGuestAliveOffset] != 1) {
      why = "the guest went away while connecting";
      p.mapper->unmap(data, want_pages);
      p.mapper->unmap(control, 1);
      p.evtchn->unbind(p.port);
      return nullptr;
    }
    init_control_block(control, c.layout);  // leaves the alive bytes past the ControlBlock alone
    control[kHostAliveOffset] = 1;
    p.control = control;
    p.data = data;
    p.data_pages = want_pages;
    p.dir = dir;
    p.domain = domains_[d];
    p.peer = d;
    p.control_ref = control_ref;
    p.data_refs = std::move(refs);
    read_shared_memory(d, dir, *p.mapper, p.memory);
    p.memory.map_on_demand = true;
    return std::make_unique<XenTransport>(Sender::Host, c.layout, std::move(p));
  }

  // The memory the guest shared beside its rings, if any: its refs, read
  // once from its index pages. A bad description costs the guest its arena
  // (arena_grant then says why), not its connection.
  void read_shared_memory(DomId d, const std::string& dir, xen::GrantMapper& mapper, SharedMemory& m) {
    std::string v_pages, v_index;
    if (!xs_->read(dir + "/memory-pages", v_pages)) return;
    uint32_t pages = 0;
    const uint32_t max_index = kMaxSharedMemoryPages / kRefsPerIndexPage;
    if (!xs_->read(dir + "/memory-index-refs", v_index) || !xen::parse_xs_u32(v_pages, pages) || !pages ||
        pages > kMaxSharedMemoryPages || !parse_refs(v_index, m.index_refs, max_index) ||
        m.index_refs.size() != (pages + kRefsPerIndexPage - 1) / kRefsPerIndexPage) {
      m.index_refs.clear();
      m.problem = "the guest's description of its shared memory in " + dir + " is malformed";
      return;
    }
    void* index = mapper.map_domain_grant_refs(uint32_t(m.index_refs.size()), d, m.index_refs.data(), false);
    if (!index) {
      m.problem = "cannot map the index of the guest's shared memory: " + errno_text(errno);
      return;
    }
    // Copied once: the guest may rewrite its index pages at any time.
    m.refs.resize(pages);
    std::memcpy(m.refs.data(), index, pages * sizeof(GrantRef));
    mapper.unmap(index, uint32_t(m.index_refs.size()));
    m.pages = pages;
  }

  std::unique_ptr<xen::XenPlatform> x_;
  std::unique_ptr<xen::XenStore> xs_;
  std::map<DomId, std::shared_ptr<DomainLiveness>> domains_;
  std::map<DomId, std::map<std::string, Pending>> pending_;
  std::set<DomId> dirty_;
};

}  // namespace

std::unique_ptr<Transport> adopt_xen(TransportHandoff& h, std::string& error) {
  const auto& w = h.words;
  const uint32_t pages = data_pages_of(h.layout);
  const size_t memory_at = 4 + size_t{pages};
  const size_t memory_pages = w.size() >= memory_at + 2 ? w[memory_at] : 0;
  const size_t memory_index = w.size() >= memory_at + 2 ? w[memory_at + 1] : 0;
  if (w.size() < 4 || w[3] != pages || w.size() != memory_at + 2 + memory_index + memory_pages || w[0] == 0 ||
      w[0] > 0x7fef || memory_pages > kMaxSharedMemoryPages) {
    error = "the xen handoff does not describe the connection's " + std::to_string(pages) + " data pages";
    return nullptr;
  }
  const auto domid = static_cast<DomId>(w[0]);
  XenTransport::Parts p;
  p.platform = xen::open_xen(error);
  p.evtchn = p.platform ? p.platform->adopt_event_channels(h.fds, error) : nullptr;
  p.mapper = p.evtchn ? p.platform->open_mapper(error) : nullptr;
  if (!p.mapper) return nullptr;
  p.port = static_cast<xen::Port>(w[2]);  // bound by the compositor, on the shared handle
  p.owns_port = false;
  std::vector<GrantRef> refs(w.begin() + 4, w.begin() + memory_at);
  // The control page without notify-on-unmap: the compositor's mapping
  // carries the host's alive byte for as long as it holds the connection.
  auto* control = static_cast<uint8_t*>(p.mapper->map_domain_grant_refs(1, domid, &w[1], true));
  auto* data = control ? static_cast<uint8_t*>(p.mapper->map_domain_grant_refs(pages, domid, refs.data(), true)) : nullptr;
  if (!data) {
    error = "cannot map the guest's grant pages: " + errno_text(errno);
    if (control) p.mapper->unmap(control, 1);
    return nullptr;
  }
  p.control = control;
  p.data = data;
  p.data_pages = pages;
  p.peer = domid;
  if (memory_pages) {
    // Mapped now: the worker's sandbox forbids mapping grants later (any
    // guest's refs could be named then).
    SharedMemory& m = p.memory;
    m.pages = uint32_t(memory_pages);
    m.index_refs.assign(w.begin() + memory_at + 2, w.begin() + memory_at + 2 + memory_index);
    m.refs.assign(w.begin() + memory_at + 2 + memory_index, w.end());
    std::string why;
    if (!map_shared_memory(*p.mapper, domid, m, why)) m.problem = why;
  }
  return std::make_unique<XenTransport>(Sender::Host, h.layout, std::move(p));
}

std::unique_ptr<Listener> listen_xen(const Endpoint& ep, std::string& error) {
  (void)ep;
  auto x = xen::open_xen(error);
  if (!x) return nullptr;
  auto xs = x->open_store(error);
  if (!xs) return nullptr;
  auto l = std::make_unique<XenListener>(std::move(x), std::move(xs));
  if (!l->start(error)) return nullptr;
  return l;
}

}  // namespace xen3d::proto
