// xen-pv-display-guest: a test guest and toolstack for Xen's PV display
// protocol (displif, xen/io/displif.h), to drive the Xen3D compositor's
// displif backend (xen/displif_backend.cpp) from outside, under real Xen or
// the xenemu EMULATION (XEN3D_XENEMU=broker.sock, XEN3D_XENEMU_DOMID=D).
//
//   toolstack-add / toolstack-remove  (dom0)  the xenstore nodes of one vdispl
//       device, as libxl writes and removes them (libxl__device_add_async ->
//       libxl__device_generic_add + libxl__set_xenstore_vdispl;
//       libxl__device_destroy / libxl__xs_path_cleanup).
//   front  (the guest)  what Linux's xen-drm-front (drivers/gpu/drm/xen) does
//       with be-alloc=0: the XenBus handshake, a request ring and an event
//       page per connector, display buffers in its own grant pages listed in
//       page directories, and the requests a DRM client causes (dumb buffer,
//       framebuffer, mode set, page flips). --attack makes it a hostile guest.
//   state  (dom0)  the device's XenBus states, optionally all its nodes.
//
// It uses only xen/xen_api.h, so one binary runs on both. Run --help.
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

// xen/io/ring.h (interface version 0) expands xen_mb() & co. to mb()/rmb()/wmb(),
// which each user supplies.
#define mb() std::atomic_thread_fence(std::memory_order_seq_cst)
#define rmb() std::atomic_thread_fence(std::memory_order_acquire)
#define wmb() std::atomic_thread_fence(std::memory_order_release)
#include <xen/io/displif.h>

#include "xen/xen_api.h"
#include "xen/displif_ops.h"
#include "xen/xenstore_value.h"

namespace {

using namespace xen3d::xen;
using Clock = std::chrono::steady_clock;

// ------------------------------------------------------------ utilities --

struct Failure {
  std::string what;
};
struct UsageError {
  std::string what;
};
struct Interrupted {};

std::string vformat(const char* fmt, va_list ap) {
  char buf[2048];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  return buf;
}

[[noreturn]] __attribute__((format(printf, 1, 2))) void fail(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::string s = vformat(fmt, ap);
  va_end(ap);
  throw Failure{s};
}

[[noreturn]] __attribute__((format(printf, 1, 2))) void usage_error(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::string s = vformat(fmt, ap);
  va_end(ap);
  throw UsageError{s};
}

// Progress on stdout, one flushed line each: tests wait for these lines.
__attribute__((format(printf, 1, 2))) void say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::string s = vformat(fmt, ap);
  va_end(ap);
  std::printf("pv-display-guest: %s\n", s.c_str());
  std::fflush(stdout);
}

// Remarks that are not failures, on stderr.
__attribute__((format(printf, 1, 2))) void note(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::string s = vformat(fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "pv-display-guest: note: %s\n", s.c_str());
}

std::string errno_text(int e) { return std::strerror(e); }

std::string status_text(int32_t status) {
  if (status == 0) return "ok";
  if (status < 0 && status > -4096) return std::strerror(-status);
  return "not an errno";
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t i = s.find(sep, start);
    out.push_back(s.substr(start, i == std::string::npos ? std::string::npos : i - start));
    if (i == std::string::npos) return out;
    start = i + 1;
  }
}

std::vector<uint32_t> parse_numbers(const std::string& s, size_t count, const char* what) {
  std::vector<std::string> parts = split(s, ',');
  std::vector<uint32_t> v(parts.size());
  if (parts.size() != count) usage_error("%s: expected %zu comma-separated numbers, got '%s'", what, count, s.c_str());
  for (size_t i = 0; i < parts.size(); ++i)
    if (!parse_xs_u32(parts[i], v[i])) usage_error("%s: '%s' is not a number", what, parts[i].c_str());
  return v;
}

double parse_seconds(const std::string& s, const char* what) {
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || errno || *end || !std::isfinite(v))
    usage_error("%s: '%s' is not a number of seconds", what, s.c_str());
  return v;
}

DomId parse_domid(const std::string& s) {
  uint32_t v;
  if (!parse_xs_u32(s, v) || v > 0x7FEF) usage_error("'%s' is not a domain id", s.c_str());
  return static_cast<DomId>(v);
}

uint32_t parse_devid(const std::string& s) {
  uint32_t v;
  if (!parse_xs_u32(s, v)) usage_error("'%s' is not a device id", s.c_str());
  return v;
}

// XenBus states (xen/io/xenbus.h).
enum XenbusState : int {
  Unknown = 0, Initialising = 1, InitWait = 2, Initialised = 3, Connected = 4, Closing = 5, Closed = 6,
  Reconfiguring = 7, Reconfigured = 8
};

std::string state_text(int s) {
  static const char* names[] = {"Unknown", "Initialising", "InitWait", "Initialised", "Connected",
                                "Closing", "Closed",       "Reconfiguring", "Reconfigured"};
  if (s == -1) return "missing";
  if (s >= 0 && s <= 8) return std::to_string(s) + " (" + names[s] + ")";
  return std::to_string(s) + " (?)";
}

// -1: the node is missing or unreadable; 0 (Unknown) when it holds no number.
int read_state(XenStore& xs, const std::string& path) {
  std::string v;
  uint32_t s = 0;
  if (!xs.read(path, v)) return -1;
  if (!parse_xs_u32(v, s) || s > 1000) return Unknown;
  return static_cast<int>(s);
}

// xenstore-ls -p notation: (n7,r0) is "owner 7, no access for others, dom0 reads".
std::string perms_text(const std::vector<XsPerm>& perms) {
  std::string s = "(";
  for (size_t i = 0; i < perms.size(); ++i) {
    static const char letters[] = {'n', 'r', 'w', 'b'};
    s += (i ? "," : "");
    s += letters[perms[i].access & 3];
    s += std::to_string(perms[i].domid);
  }
  return s + ")";
}

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART: poll() returns EINTR
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a broken connection to Xen (or the emulation) is an error, not a kill
}

template <class T>
T vread(const T& x) {
  return *static_cast<const volatile T*>(&x);
}
template <class T>
void vwrite(T& x, T v) {
  *static_cast<volatile T*>(&x) = v;
}

std::unique_ptr<XenPlatform> open_platform() {
  std::string error;
  auto x = open_xen(error);
  if (!x) fail("cannot open Xen: %s", error.c_str());
  return x;
}

std::unique_ptr<XenStore> open_store(XenPlatform& x) {
  std::string error;
  auto xs = x.open_store(error);
  if (!xs) fail("cannot open xenstore (%s): %s", x.name().c_str(), error.c_str());
  return xs;
}

// The toolstack commands write dom0's and the guest's nodes: only dom0 may.
void require_dom0(XenStore& xs, const char* cmd) {
  std::string v;
  if (xs.read("domid", v) && v != "0")
    fail("%s must run as dom0, and this process is domain %s (XEN3D_XENEMU_DOMID=0 or unset)", cmd, v.c_str());
}

std::string frontend_path(DomId dom, uint32_t dev) {
  return "/local/domain/" + std::to_string(dom) + "/device/" XENDISPL_DRIVER_NAME "/" + std::to_string(dev);
}
std::string backend_path(DomId dom, uint32_t dev) {
  return "/local/domain/0/backend/" XENDISPL_DRIVER_NAME "/" + std::to_string(dom) + "/" + std::to_string(dev);
}
std::string libxl_path(DomId dom, uint32_t dev) {
  return "/libxl/" + std::to_string(dom) + "/device/" XENDISPL_DRIVER_NAME "/" + std::to_string(dev);
}

// Polls `fd` (a watch event may be queued) until `path` holds one of
// `wanted`, or the deadline. The last state read is returned in `last`.
bool wait_store_state(XenStore& xs, const std::string& path, const std::vector<int>& wanted, double seconds,
                      int& last) {
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  for (;;) {
    last = read_state(xs, path);
    if (std::find(wanted.begin(), wanted.end(), last) != wanted.end()) return true;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
    if (left <= 0 || g_stop) return false;
    pollfd pfd{xs.fileno(), POLLIN, 0};
    ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left, 100)));
    std::string p, t;
    while (xs.read_watch(p, t)) {
    }
  }
}

// ------------------------------------------------------------ toolstack --

// dom0's writes, checked and shown.
class ToolstackWriter {
 public:
  explicit ToolstackWriter(XenStore& xs) : xs_(xs) {}
  void write(const std::string& path, const std::string& value, const std::vector<XsPerm>* perms) {
    if (!xs_.write(path, value)) {
      const int e = errno;
      fail("cannot write %s: %s%s", path.c_str(), errno_text(e).c_str(),
           e == EACCES ? " (the toolstack commands must run as dom0: XEN3D_XENEMU_DOMID=0 or unset)" : "");
    }
    if (perms && !xs_.set_permissions(path, *perms))
      fail("cannot set the permissions of %s: %s", path.c_str(), errno_text(errno).c_str());
    const std::string how = perms ? " " + perms_text(*perms) : " (inherited)";
    say("wrote %s = \"%s\"%s", path.c_str(), value.c_str(), how.c_str());
  }

 private:
  XenStore& xs_;
};

// libxl__xs_path_cleanup: rm the path, then its parents while they are empty.
void path_cleanup(XenStore& xs, const std::string& path) {
  if (!xs.rm(path)) {
    // Gone with its domain (/local/domain/D goes when D is destroyed).
    if (errno == ENOENT) return say("%s is already gone", path.c_str());
    fail("cannot remove %s: %s", path.c_str(), errno_text(errno).c_str());
  }
  say("removed %s", path.c_str());
  std::string p = path;
  for (;;) {
    const size_t slash = p.rfind('/');
    if (slash == std::string::npos || slash == 0) return;
    p.resize(slash);
    std::string v;
    std::vector<std::string> kids;
    if (!xs.read(p, v) || !v.empty() || !xs.directory(p, kids) || !kids.empty()) return;
    if (!xs.rm(p)) return;
    say("removed %s (empty)", p.c_str());
  }
}

int cmd_toolstack_add(const std::vector<std::string>& args) {
  std::vector<std::string> pos;
  uint32_t be_alloc = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--be-alloc" && i + 1 < args.size()) {
      if (!parse_xs_u32(args[++i], be_alloc) || be_alloc > 1) usage_error("--be-alloc takes 0 or 1");
    } else if (args[i].rfind("--", 0) == 0) {
      usage_error("toolstack-add: unknown option %s", args[i].c_str());
    } else {
      pos.push_back(args[i]);
    }
  }
  if (pos.size() != 3) usage_error("toolstack-add DOMID DEVID WxH[,WxH...]");
  const DomId dom = parse_domid(pos[0]);
  const uint32_t dev = parse_devid(pos[1]);
  if (dom == kDom0) usage_error("toolstack-add: the frontend domain cannot be dom0");
  std::vector<std::pair<uint32_t, uint32_t>> modes;
  for (const std::string& r : split(pos[2], ',')) {
    uint32_t w, h;
    if (!parse_xs_resolution(r, 16384, w, h)) usage_error("'%s' is not a resolution WxH", r.c_str());
    modes.push_back({w, h});
  }

  auto x = open_platform();
  auto xs = open_store(*x);
  require_dom0(*xs, "toolstack-add");
  const std::string d = std::to_string(dom);
  const std::string fe = frontend_path(dom, dev), be = backend_path(dom, dev), lx = libxl_path(dom, dev);
  std::vector<std::string> kids;
  if (!xs->directory("/local/domain/" + d, kids))
    fail("domain %u does not exist (no /local/domain/%u: %s); create it first (xenemu-ctl SOCKET create %u NAME, "
         "or xl create)", dom, dom, errno_text(errno).c_str(), dom);
  // libxl__device_exists looks at libxl's own copy; leftovers in the
  // frontend and backend directories are removed below, as libxl does.
  std::string v;
  if (xs->read(lx, v))
    fail("the device already exists in xenstore (%s); toolstack-remove it first", lx.c_str());

  // libxl__device_generic_add's three permission sets.
  const std::vector<XsPerm> frontend_perms = {{dom, XsPerm::None}, {kDom0, XsPerm::Read}};
  const std::vector<XsPerm> ro_frontend_perms = {{kDom0, XsPerm::None}, {dom, XsPerm::Read}};
  const std::vector<XsPerm> backend_perms = {{kDom0, XsPerm::None}, {dom, XsPerm::Read}};

  // libxl does all of this in one transaction; xen_api.h has none, so the
  // order matters: the directories and their contents first, the backend's
  // `frontend` just before the state nodes, and the state nodes last. A
  // backend must therefore wait for its `state` node before it starts: one
  // that starts on `frontend` can write InitWait before our state 1 lands.
  if (xs->read(fe, v) || xs->read(be, v))
    note("removing leftovers of an earlier device in %s and %s", fe.c_str(), be.c_str());
  xs->rm(fe);
  xs->rm(be);
  ToolstackWriter w(*xs);
  w.write(fe, "", &frontend_perms);
  w.write(fe + "/backend", be, &frontend_perms);
  w.write(fe + "/backend-id", "0", &frontend_perms);
  w.write(fe + "/" XENDISPL_FIELD_BE_ALLOC, std::to_string(be_alloc), &ro_frontend_perms);
  for (size_t i = 0; i < modes.size(); ++i) {
    const std::string c = fe + "/" + std::to_string(i);
    // Created implicitly under libxl (inheriting the frontend directory's
    // permissions): the guest owns it, so it can publish its rings there.
    w.write(c, "", &frontend_perms);
    w.write(c + "/" XENDISPL_FIELD_RESOLUTION,
            std::to_string(modes[i].first) + XENDISPL_RESOLUTION_SEPARATOR + std::to_string(modes[i].second),
            &ro_frontend_perms);
    w.write(c + "/" XENDISPL_FIELD_UNIQUE_ID, "xen3d-" + std::to_string(i), &ro_frontend_perms);
  }
  w.write(be, "", &backend_perms);
  w.write(be + "/frontend-id", d, &backend_perms);
  w.write(be + "/online", "1", &backend_perms);
  // libxl's own copy (libxl_path), which nothing but libxl reads.
  w.write(lx + "/frontend", fe, nullptr);
  w.write(lx + "/backend", be, nullptr);
  w.write(lx + "/frontend-id", d, nullptr);
  w.write(lx + "/online", "1", nullptr);
  w.write(lx + "/state", std::to_string(Initialising), nullptr);
  w.write(fe + "/state", std::to_string(Initialising), &frontend_perms);
  w.write(be + "/frontend", fe, &backend_perms);
  w.write(be + "/state", std::to_string(Initialising), &backend_perms);
  say("added vdispl device %u to domain %u: %zu connector(s)", dev, dom, modes.size());
  return 0;
}

int cmd_toolstack_remove(const std::vector<std::string>& args) {
  std::vector<std::string> pos;
  bool graceful = false;
  double timeout = 10;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--graceful") {
      graceful = true;
    } else if (args[i] == "--timeout" && i + 1 < args.size()) {
      timeout = parse_seconds(args[++i], "--timeout");
    } else if (args[i].rfind("--", 0) == 0) {
      usage_error("toolstack-remove: unknown option %s", args[i].c_str());
    } else {
      pos.push_back(args[i]);
    }
  }
  if (pos.size() != 2) usage_error("toolstack-remove DOMID DEVID [--graceful] [--timeout SEC]");
  const DomId dom = parse_domid(pos[0]);
  const uint32_t dev = parse_devid(pos[1]);
  auto x = open_platform();
  auto xs = open_store(*x);
  require_dom0(*xs, "toolstack-remove");
  const std::string fe = frontend_path(dom, dev), be = backend_path(dom, dev), lx = libxl_path(dom, dev);
  if (graceful && read_state(*xs, be + "/state") != -1) {
    // xl vdispl-detach: online 0 and Closing, then wait for the backend's Closed.
    if (!xs->write(be + "/online", "0") || !xs->write(be + "/state", std::to_string(Closing)))
      fail("cannot write %s: %s", be.c_str(), errno_text(errno).c_str());
    say("wrote %s/online = \"0\", %s/state = \"5\"", be.c_str(), be.c_str());
    if (!xs->watch(be + "/state", "remove")) fail("cannot watch %s/state: %s", be.c_str(), errno_text(errno).c_str());
    int last = -1;
    if (wait_store_state(*xs, be + "/state", {Closed, -1}, timeout, last))
      say("backend reached %s", state_text(last).c_str());
    else
      note("the backend did not reach Closed within %g s (state %s): removing the device anyway, as libxl does",
           timeout, state_text(last).c_str());
    xs->unwatch(be + "/state", "remove");
  }
  // libxl__device_destroy: the frontend first, then the backend, then libxl's copy.
  path_cleanup(*xs, fe);
  path_cleanup(*xs, be);
  path_cleanup(*xs, lx);
  say("removed vdispl device %u of domain %u", dev, dom);
  return 0;
}

void dump_tree(XenStore& xs, const std::string& path) {
  std::string v;
  if (!xs.read(path, v)) {
    std::printf("%s: unreadable (%s)\n", path.c_str(), errno_text(errno).c_str());
    return;
  }
  std::printf("%s = \"%s\"\n", path.c_str(), v.c_str());
  std::vector<std::string> kids;
  if (xs.directory(path, kids))
    for (const std::string& k : kids) dump_tree(xs, path + "/" + k);
}

int cmd_state(const std::vector<std::string>& args) {
  std::vector<std::string> pos;
  bool tree = false;
  for (const std::string& a : args) {
    if (a == "--tree")
      tree = true;
    else if (a.rfind("--", 0) == 0)
      usage_error("state: unknown option %s", a.c_str());
    else
      pos.push_back(a);
  }
  if (pos.size() != 2) usage_error("state DOMID DEVID [--tree]");
  const DomId dom = parse_domid(pos[0]);
  const uint32_t dev = parse_devid(pos[1]);
  auto x = open_platform();
  auto xs = open_store(*x);
  const std::string fe = frontend_path(dom, dev), be = backend_path(dom, dev);
  const int bs = read_state(*xs, be + "/state"), fs = read_state(*xs, fe + "/state");
  std::printf("backend %s/state = %s\n", be.c_str(), state_text(bs).c_str());
  std::printf("frontend %s/state = %s\n", fe.c_str(), state_text(fs).c_str());
  std::string err;
  if (xs->read(be + "/error", err)) std::printf("backend error: %s\n", err.c_str());
  if (tree) {
    dump_tree(*xs, be);
    dump_tree(*xs, fe);
  }
  std::fflush(stdout);
  return bs >= 0 && fs >= 0 ? 0 : 1;
}

// ---------------------------------------------------------------- front --

struct Rect {
  uint32_t x, y, w, h;
  uint8_t r, g, b;
};

struct FrontOptions {
  uint32_t devid = 0;
  double timeout = 20;
  uint32_t flips = 1;
  uint8_t fill[3] = {0, 0, 128};
  std::vector<Rect> rects, after_rects;
  double hold = 0;
  std::string attack;
  bool all_connectors = false;
  bool destroy = false;
  bool writable_buffers = false;
};

constexpr uint32_t kXRGB8888 = 0x34325258;  // DRM_FORMAT_XRGB8888, fourcc 'X','R','2','4'
constexpr uint32_t kRefsPerDirPage = (kPageSize - offsetof(xendispl_page_directory, gref)) / sizeof(grant_ref_t);
constexpr uint32_t kMaxConnectors = 16;
static_assert(sizeof(xendispl_req) == 64 && sizeof(xendispl_resp) == 64 && sizeof(xendispl_evt) == 64);
static_assert(kRefsPerDirPage == 1023);

std::string op_text(uint8_t op) {
  if (const char* n = displif_op_name(op)) return n;
  char b[16];
  std::snprintf(b, sizeof b, "op_0x%02x", op);
  return b;
}

bool all_zero(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  return std::all_of(b, b + n, [](uint8_t c) { return c == 0; });
}

struct Connector {
  uint32_t index = 0;
  uint32_t width = 0, height = 0;
  std::string dir;  // <frontend>/<index>
  void* req_page = nullptr;
  void* evt_page = nullptr;
  GrantRef req_ref = 0, evt_ref = 0;
  int req_port = -1, evt_port = -1;
  xen_displif_front_ring_t ring{};
  uint16_t next_id = 0;     // xen-drm-front: evt_next_id, from 0 per ring
  uint16_t evt_id = 0;      // the id the next event must carry, from 0 per event page
  uint32_t evt_cons = 0;    // our copy of in_cons
  std::deque<uint64_t> flip_events;
  uint32_t flips_done = 0;
  std::string suffix() const { return index ? " (connector " + std::to_string(index) + ")" : ""; }
};

// Guest memory granted to the backend: a buffer and its page directory.
struct SharedBuffer {
  uint8_t* data = nullptr;
  uint32_t pages = 0;
  std::vector<GrantRef> refs;
  uint8_t* dir = nullptr;
  uint32_t dir_pages = 0;
  std::vector<GrantRef> dir_refs;
};

struct DisplayBuffer {
  uint32_t connector = 0;
  uint64_t dbuf_cookie = 0, fb_cookie = 0;
  uint32_t width = 0, height = 0, size = 0;
  SharedBuffer mem;
  bool created = false, attached = false;
};

enum class WaitResult { Done, Timeout, BackendLeft, Stopped };

class Front {
 public:
  explicit Front(FrontOptions o) : opt_(std::move(o)) {}
  ~Front() { release_memory(); }

  int run() {
    open();
    handshake();
    for (Connector& c : conns_) {
      if (c.index != 0 && !opt_.all_connectors) break;
      show_on(c);
    }
    if (!opt_.attack.empty()) {
      if (!attack()) {  // the backend cut the device off, as it should have
        teardown(true);
        return 0;
      }
    }
    if (!opt_.after_rects.empty()) {
      for (auto& b : bufs_)
        for (const Rect& r : opt_.after_rects) draw(*b, r);
      say("drew after-rects");
    }
    hold();
    if (opt_.destroy) destroy_all();
    teardown(true);
    return 0;
  }

  // After a failure: close what can be closed, without waiting for anyone.
  void abandon() {
    try {
      teardown(false);
    } catch (const Failure&) {
    }
  }

 private:
  // --------------------------------------------------------- XenBus --

  void open() {
    x_ = open_platform();
    xs_ = open_store(*x_);
    std::string error;
    ev_ = x_->open_event_channels(error);
    if (!ev_) fail("cannot open event channels (%s): %s", x_->name().c_str(), error.c_str());
    gs_ = x_->open_sharer(error);
    if (!gs_) fail("cannot open the grant sharer (%s): %s", x_->name().c_str(), error.c_str());

    std::string v;
    uint32_t self = 0;
    const std::string rel = "device/" XENDISPL_DRIVER_NAME "/" + std::to_string(opt_.devid);
    if (xs_->read("domid", v) && parse_xs_u32(v, self) && self <= 0x7FEF) {
      self_ = static_cast<DomId>(self);
      fe_ = frontend_path(self_, opt_.devid);
    } else {
      fe_ = rel;  // relative to our /local/domain/<id>
    }
    if (!xs_->read(fe_ + "/backend", be_)) {
      fail("no vdispl device %u in this domain (cannot read %s/backend: %s): run toolstack-add in dom0 first%s",
           opt_.devid, fe_.c_str(), errno_text(errno).c_str(),
           self_ == kDom0 ? "; this process is dom0 (set XEN3D_XENEMU_DOMID to the guest's domid)" : "");
    }
    uint32_t peer = 0;
    if (!xs_->read(fe_ + "/backend-id", v) || !parse_xs_u32(v, peer) || peer > 0x7FEF)
      fail("%s/backend-id is missing or not a domain id", fe_.c_str());
    peer_ = static_cast<DomId>(peer);
    if (xs_->read(fe_ + "/" XENDISPL_FIELD_BE_ALLOC, v) && v == "1")
      note("be-alloc is 1: this frontend allocates its buffers anyway (flags 0), like xen-drm-front with be-alloc=0");
    std::string modes;
    for (uint32_t i = 0;; ++i) {
      if (!xs_->read(fe_ + "/" + std::to_string(i) + "/" XENDISPL_FIELD_RESOLUTION, v)) break;
      if (i == kMaxConnectors) fail("more than %u connectors", kMaxConnectors);
      Connector c;
      c.index = i;
      c.dir = fe_ + "/" + std::to_string(i);
      if (!parse_xs_resolution(v, 16384, c.width, c.height)) fail("%s/resolution is '%s', not WxH", c.dir.c_str(), v.c_str());
      modes += " " + std::to_string(i) + "=" + v;
      conns_.push_back(std::move(c));
    }
    if (conns_.empty()) fail("no connectors: %s/0/resolution is missing", fe_.c_str());
    say("domain %u, device %s, backend %s in dom%u, %zu connector(s):%s", self_, fe_.c_str(), be_.c_str(), peer_,
        conns_.size(), modes.c_str());
  }

  int backend_state() { return read_state(*xs_, be_ + "/state"); }

  std::string backend_error() {
    std::string e;
    return xs_->read(be_ + "/error", e) ? " (backend error: " + e + ")" : "";
  }

  // Like xenbus_switch_state, which reads the node first so that a frontend
  // closing after the toolstack removed its directory does not recreate it.
  // False (nothing written) when the node is gone.
  bool set_state(int s) {
    if (read_state(*xs_, fe_ + "/state") == -1) return false;
    if (!xs_->write(fe_ + "/state", std::to_string(s)))
      fail("cannot write %s/state: %s", fe_.c_str(), errno_text(errno).c_str());
    state_ = s;
    return true;
  }

  void must_set_state(int s) {
    if (!set_state(s)) fail("%s/state is gone: the toolstack removed the device", fe_.c_str());
  }

  void handshake() {
    if (!xs_->watch(be_ + "/state", "backend-state"))
      fail("cannot watch %s/state: %s", be_.c_str(), errno_text(errno).c_str());
    // Like a (re)probe: the frontend starts from Initialising. A frontend left
    // half-connected by a run that died closes first, so the backend lets go.
    const int own = read_state(*xs_, fe_ + "/state");
    if (own != Initialising) {
      note("frontend state is %s: starting over", state_text(own).c_str());
      if (own != Closed) {
        must_set_state(Closed);
        int last;
        wait_store_state(*xs_, be_ + "/state", {InitWait, Closing, Closed, -1}, std::min(opt_.timeout, 5.0), last);
      }
      must_set_state(Initialising);
    }
    state_ = Initialising;
    say("waiting for the backend (state %s) to reach InitWait", state_text(backend_state()).c_str());
    int bs = -1;
    WaitResult w = wait_until([&] { return (bs = backend_state()) == InitWait; }, false);
    if (w == WaitResult::Stopped) throw Interrupted{};
    if (w != WaitResult::Done)
      fail("timed out after %g s waiting for the backend to reach InitWait (2): %s/state is %s%s; is the Xen3D "
           "compositor (its displif backend) running in dom%u?",
           opt_.timeout, be_.c_str(), state_text(bs).c_str(), backend_error().c_str(), peer_);

    for (Connector& c : conns_) publish(c);
    must_set_state(Initialised);
    say("published %zu connector(s), state Initialised; waiting for the backend to connect", conns_.size());
    w = wait_until(
        [&] {
          bs = backend_state();
          return bs == Connected || bs == Closing || bs == Closed || bs == -1;
        },
        false);
    if (w == WaitResult::Stopped) throw Interrupted{};
    if (w != WaitResult::Done)
      fail("timed out after %g s waiting for the backend to connect: %s/state is %s%s", opt_.timeout, be_.c_str(),
           state_text(bs).c_str(), backend_error().c_str());
    if (bs != Connected)
      fail("the backend refused to connect: %s/state is %s%s", be_.c_str(), state_text(bs).c_str(),
           backend_error().c_str());
    must_set_state(Connected);
    connected_ = true;
    say("connected (%zu connectors)", conns_.size());
  }

  // One connector's request ring and event page (xen_drm_front_evtchnl.c:
  // evtchnl_alloc + evtchnl_publish), both granted writable: the backend
  // writes responses and events into them.
  void publish(Connector& c) {
    c.req_page = gs_->share_pages(peer_, 1, &c.req_ref, true);
    if (!c.req_page) fail("cannot share the request ring page: %s", errno_text(errno).c_str());
    auto* sring = static_cast<xen_displif_sring_t*>(c.req_page);
    XEN_FRONT_RING_INIT(&c.ring, sring, kPageSize);
    c.evt_page = gs_->share_pages(peer_, 1, &c.evt_ref, true);
    if (!c.evt_page) fail("cannot share the event page: %s", errno_text(errno).c_str());
    std::memset(c.evt_page, 0, kPageSize);
    c.req_port = ev_->bind_unbound_port(peer_);
    if (c.req_port < 0) fail("cannot allocate an event channel for dom%u: %s", peer_, errno_text(errno).c_str());
    c.evt_port = ev_->bind_unbound_port(peer_);
    if (c.evt_port < 0) fail("cannot allocate an event channel for dom%u: %s", peer_, errno_text(errno).c_str());
    const std::pair<const char*, uint32_t> nodes[] = {{XENDISPL_FIELD_REQ_RING_REF, c.req_ref},
                                                      {XENDISPL_FIELD_REQ_CHANNEL, uint32_t(c.req_port)},
                                                      {XENDISPL_FIELD_EVT_RING_REF, c.evt_ref},
                                                      {XENDISPL_FIELD_EVT_CHANNEL, uint32_t(c.evt_port)}};
    for (const auto& [name, value] : nodes) {
      if (!xs_->write(c.dir + "/" + name, std::to_string(value)))
        fail("cannot write %s/%s: %s", c.dir.c_str(), name, errno_text(errno).c_str());
    }
    say("connector %u: req-ring-ref %u req-event-channel %d evt-ring-ref %u evt-event-channel %d", c.index,
        c.req_ref, c.req_port, c.evt_ref, c.evt_port);
  }

  // ---------------------------------------------------- event loop --

  // Waits for an event channel or a watch (or 100 ms), and takes them: events
  // are hints only (the first may be spurious, several coalesce), so callers
  // look at the rings and xenstore again afterwards.
  void pump(int ms) {
    pollfd fds[2] = {{ev_->fd(), POLLIN, 0}, {xs_->fileno(), POLLIN, 0}};
    const int r = ::poll(fds, 2, ms);
    if (r < 0) {
      if (errno == EINTR) return;
      fail("poll: %s", errno_text(errno).c_str());
    }
    for (const pollfd& p : fds)
      if (p.revents & (POLLERR | POLLHUP | POLLNVAL))
        fail("lost the %s connection (%s)", &p == &fds[0] ? "event channel" : "xenstore", x_->name().c_str());
    if (fds[0].revents & POLLIN) {
      const int port = ev_->pending();
      if (port >= 0 && ev_->unmask(static_cast<Port>(port)) != 0)
        fail("cannot unmask event channel %d: %s", port, errno_text(errno).c_str());
    }
    if (fds[1].revents & POLLIN) {
      std::string p, t;
      while (xs_->read_watch(p, t)) {
      }
    }
  }

  // Until `done`, the timeout, a signal, or (when connected) the backend
  // leaving Connected. Event pages are read on every turn, so page-flip
  // events that come before their response are kept.
  WaitResult wait_until(const std::function<bool()>& done, bool check_connected, int* left_state = nullptr,
                        double timeout = -1) {
    const auto end = Clock::now() + std::chrono::duration<double>(timeout < 0 ? opt_.timeout : timeout);
    for (;;) {
      if (connected_)
        for (Connector& c : conns_) collect_events(c);
      if (done()) return WaitResult::Done;
      if (check_connected) {
        const int s = backend_state();
        if (s != Connected) {
          if (left_state) *left_state = s;
          return WaitResult::BackendLeft;
        }
      }
      if (g_stop) return WaitResult::Stopped;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
      if (left <= 0) return WaitResult::Timeout;
      pump(static_cast<int>(std::min<long long>(left, 100)));
    }
  }

  // evtchnl_interrupt_evt: the backend produces, we consume. xen-drm-front
  // drops an event whose id is not the next of its count (from 0), so such
  // an event is a failure here.
  void collect_events(Connector& c) {
    auto* page = static_cast<xendispl_event_page*>(c.evt_page);
    const uint32_t prod = vread(page->in_prod);
    xen_rmb();
    if (prod == c.evt_cons) return;
    if (prod - c.evt_cons > XENDISPL_IN_RING_LEN)
      fail("connector %u: the backend's in_prod jumped to %u with %u consumed: more events than the page holds (%zu)",
           c.index, prod, c.evt_cons, size_t(XENDISPL_IN_RING_LEN));
    for (; c.evt_cons != prod; ++c.evt_cons) {
      xendispl_evt e;
      std::memcpy(&e, &XENDISPL_IN_RING_REF(page, c.evt_cons), sizeof e);
      if (e.id != c.evt_id)
        fail("connector %u: event %u has id %u where %u was due; xen-drm-front drops events whose id is not the "
             "next in sequence from 0, so it would never see this page flip",
             c.index, c.evt_cons, e.id, c.evt_id);
      ++c.evt_id;
      if (e.type != XENDISPL_EVT_PG_FLIP) {
        note("connector %u: event of unknown type %u ignored", c.index, e.type);
        continue;
      }
      if (!all_zero(e.reserved, sizeof e.reserved) ||
          !all_zero(e.op.reserved + sizeof e.op.pg_flip, sizeof e.op.reserved - sizeof e.op.pg_flip))
        fail("connector %u: page-flip event %u has non-zero reserved bytes (displif: reserved fields must be 0; "
             "zero the whole struct, `T x{}` leaves a union's tail unspecified)", c.index, e.id);
      c.flip_events.push_back(e.op.pg_flip.fb_cookie);
    }
    xen_wmb();
    vwrite(page->in_cons, c.evt_cons);
    xen_wmb();
  }

  // evtchnl_interrupt_ctrl: true when the response to `id` is in `out`.
  bool take_response(Connector& c, uint16_t id, xendispl_resp& out) {
    bool found = false;
    for (;;) {
      const RING_IDX rp = vread(c.ring.sring->rsp_prod);
      xen_rmb();
      if (RING_RESPONSE_PROD_OVERFLOW(&c.ring, rp))
        fail("connector %u: the backend broke the response ring (rsp_prod %u, consumed %u)", c.index, rp,
             c.ring.rsp_cons);
      for (RING_IDX i = c.ring.rsp_cons; i != rp; ++i) {
        xendispl_resp r;
        std::memcpy(&r, RING_GET_RESPONSE(&c.ring, i), sizeof r);
        c.ring.rsp_cons = i + 1;
        if (r.id != id) {
          note("connector %u: response with id %u ignored (waiting for %u)", c.index, r.id, id);
          continue;
        }
        out = r;
        found = true;
      }
      if (found) {
        if (c.ring.rsp_cons == c.ring.req_prod_pvt) c.ring.sring->rsp_event = c.ring.rsp_cons + 1;
        return true;
      }
      int more = 0;
      RING_FINAL_CHECK_FOR_RESPONSES(&c.ring, more);
      if (!more) return false;
    }
  }

  struct Reply {
    bool answered = false;  // false: the backend left Connected instead (only when hostile)
    int32_t status = 0;
    int backend_state = Connected;
  };

  // One request and its response (be_prepare_req + be_stream_do_io +
  // be_stream_wait_io). A hostile request may be answered by cutting the
  // device off; otherwise leaving Connected is a failure.
  Reply transact(Connector& c, xendispl_req req, bool hostile = false) {
    const std::string name = op_text(req.operation);
    req.id = c.next_id++;
    std::memcpy(RING_GET_REQUEST(&c.ring, c.ring.req_prod_pvt), &req, sizeof req);
    ++c.ring.req_prod_pvt;
    int notify = 0;
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&c.ring, notify);
    if (notify && ev_->notify(static_cast<Port>(c.req_port)) != 0)
      fail("cannot notify event channel %d: %s", c.req_port, errno_text(errno).c_str());
    xendispl_resp rsp;
    std::memset(&rsp, 0, sizeof rsp);
    Reply reply;
    const WaitResult w = wait_until([&] { return take_response(c, req.id, rsp); }, true, &reply.backend_state);
    if (w == WaitResult::Stopped) throw Interrupted{};
    if (w == WaitResult::Timeout)
      fail("no response to %s (id %u) on connector %u within %g s", name.c_str(), req.id, c.index, opt_.timeout);
    if (w == WaitResult::BackendLeft) {
      if (hostile) return reply;
      fail("the backend left Connected (state %s) while %s (id %u) was pending%s",
           state_text(reply.backend_state).c_str(), name.c_str(), req.id, backend_error().c_str());
    }
    reply.answered = true;
    reply.status = rsp.status;
    say("%s status %d%s", name.c_str(), rsp.status, c.suffix().c_str());
    if (rsp.operation != req.operation)
      fail("the response to %s (id %u) carries operation 0x%02x; xen-drm-front ignores a response whose operation "
           "is not its request's", name.c_str(), req.id, rsp.operation);
    const size_t used = req.operation == XENDISPL_OP_GET_EDID ? sizeof rsp.op.get_edid : 0;
    if (rsp.reserved != 0 || !all_zero(rsp.op.reserved1 + used, sizeof rsp.op.reserved1 - used))
      fail("the response to %s (id %u) has non-zero reserved bytes (displif: reserved fields must be 0; zero the "
           "whole struct, `T x{}` leaves a union's tail unspecified)", name.c_str(), req.id);
    return reply;
  }

  void expect_ok(const Reply& r, const char* what) {
    if (r.status != 0) fail("%s failed: status %d (%s)", what, r.status, status_text(r.status).c_str());
  }

  static xendispl_req make_req(uint8_t op) {
    xendispl_req r;
    std::memset(&r, 0, sizeof r);  // reserved fields must be 0
    r.operation = op;
    return r;
  }

  // ------------------------------------------------------- buffers --

  // `pages` pages and a directory listing them (xen_front_pgdir_shbuf), not
  // writable by the backend unless --writable-buffers (xen-drm-front grants
  // them writable).
  SharedBuffer share_buffer(uint32_t pages) {
    SharedBuffer m;
    m.pages = pages;
    m.refs.resize(pages);
    m.dir_pages = std::max<uint32_t>(1, (pages + kRefsPerDirPage - 1) / kRefsPerDirPage);
    m.dir_refs.resize(m.dir_pages);
    m.data = static_cast<uint8_t*>(gs_->share_pages(peer_, pages, m.refs.data(), opt_.writable_buffers));
    if (!m.data) share_failed(pages, errno);
    shared_.push_back({m.data, pages});
    m.dir = static_cast<uint8_t*>(gs_->share_pages(peer_, m.dir_pages, m.dir_refs.data(), opt_.writable_buffers));
    if (!m.dir) share_failed(m.dir_pages, errno);
    shared_.push_back({m.dir, m.dir_pages});
    for (uint32_t j = 0; j < m.dir_pages; ++j) {
      uint8_t* page = m.dir + size_t(j) * kPageSize;
      const grant_ref_t next = j + 1 < m.dir_pages ? m.dir_refs[j + 1] : 0;
      std::memcpy(page + offsetof(xendispl_page_directory, gref_dir_next_page), &next, sizeof next);
      const uint32_t first = j * kRefsPerDirPage;
      const uint32_t n = std::min(kRefsPerDirPage, pages - std::min(pages, first));
      std::memcpy(page + offsetof(xendispl_page_directory, gref), m.refs.data() + first, n * sizeof(grant_ref_t));
    }
    return m;
  }

  [[noreturn]] void share_failed(uint32_t pages, int e) {
    if (e == ENOSPC || e == ENOMEM) {
      const uint32_t limit = x_->grant_limit_pages();
      fail("out of grant pages sharing %u more (this domain may grant %s pages in all): use smaller resolutions, or "
           "raise the limit (xenemu-broker --grant-limit PAGES; on Xen: "
           "/sys/module/xen_gntalloc/parameters/limit)",
           pages, limit ? std::to_string(limit).c_str() : "an unknown number of");
    }
    fail("cannot share %u pages with dom%u: %s", pages, peer_, errno_text(e).c_str());
  }

  void fill(DisplayBuffer& b, uint8_t r, uint8_t g, uint8_t bl) {
    for (uint32_t y = 0; y < b.height; ++y) {
      uint8_t* p = b.mem.data + size_t(y) * b.width * 4;
      for (uint32_t x = 0; x < b.width; ++x, p += 4) {
        p[0] = bl;  // XRGB8888, little-endian: B, G, R, X
        p[1] = g;
        p[2] = r;
        p[3] = 0xff;
      }
    }
  }

  void draw(DisplayBuffer& b, const Rect& r) {
    const uint32_t x1 = std::min<uint64_t>(b.width, uint64_t(r.x) + r.w);
    const uint32_t y1 = std::min<uint64_t>(b.height, uint64_t(r.y) + r.h);
    for (uint32_t y = r.y; y < y1; ++y) {
      uint8_t* p = b.mem.data + (size_t(y) * b.width + r.x) * 4;
      for (uint32_t x = r.x; x < x1; ++x, p += 4) {
        p[0] = r.b;
        p[1] = r.g;
        p[2] = r.r;
        p[3] = 0xff;
      }
    }
  }

  Connector& ctl() { return conns_[0]; }  // buffer and framebuffer requests go on connector 0's ring

  // What a DRM client's first frame causes: a dumb buffer (dbuf_create), a
  // framebuffer on it (fb_attach), the mode (set_config), then page flips.
  void show_on(Connector& c) {
    auto b = std::make_unique<DisplayBuffer>();
    b->connector = c.index;
    b->dbuf_cookie = 0x1000 + c.index;
    b->fb_cookie = 0x2000 + c.index;
    b->width = c.width;
    b->height = c.height;
    const uint64_t size = uint64_t(c.width) * c.height * 4;
    if (size > 0xFFFFF000u) fail("connector %u: %ux%u is too big for one buffer", c.index, c.width, c.height);
    b->size = static_cast<uint32_t>(size);
    b->mem = share_buffer((b->size + kPageSize - 1) / kPageSize);
    say("connector %u: dbuf 0x%" PRIx64 " %ux%u, %u pages, %u directory page(s)", c.index, b->dbuf_cookie, b->width,
        b->height, b->mem.pages, b->mem.dir_pages);
    DisplayBuffer& buf = *b;
    bufs_.push_back(std::move(b));

    xendispl_req r = make_req(XENDISPL_OP_DBUF_CREATE);
    r.op.dbuf_create.dbuf_cookie = buf.dbuf_cookie;
    r.op.dbuf_create.width = buf.width;
    r.op.dbuf_create.height = buf.height;
    r.op.dbuf_create.bpp = 32;
    r.op.dbuf_create.buffer_sz = buf.size;
    r.op.dbuf_create.flags = 0;
    r.op.dbuf_create.gref_directory = buf.mem.dir_refs[0];
    r.op.dbuf_create.data_ofs = 0;
    expect_ok(transact(ctl(), r), "dbuf_create");
    buf.created = true;

    r = make_req(XENDISPL_OP_FB_ATTACH);
    r.op.fb_attach.dbuf_cookie = buf.dbuf_cookie;
    r.op.fb_attach.fb_cookie = buf.fb_cookie;
    r.op.fb_attach.width = buf.width;
    r.op.fb_attach.height = buf.height;
    r.op.fb_attach.pixel_format = kXRGB8888;
    expect_ok(transact(ctl(), r), "fb_attach");
    buf.attached = true;

    fill(buf, opt_.fill[0], opt_.fill[1], opt_.fill[2]);
    for (const Rect& rc : opt_.rects) draw(buf, rc);

    r = make_req(XENDISPL_OP_SET_CONFIG);
    r.op.set_config.fb_cookie = buf.fb_cookie;
    r.op.set_config.x = 0;
    r.op.set_config.y = 0;
    r.op.set_config.width = buf.width;
    r.op.set_config.height = buf.height;
    r.op.set_config.bpp = 32;
    expect_ok(transact(c, r), "set_config");

    for (uint32_t i = 0; i < opt_.flips; ++i) flip(c, buf);
  }

  // A page flip and its completion event (xen_drm_front_page_flip, then
  // xen_drm_front_on_frame_done from the event page).
  void flip(Connector& c, const DisplayBuffer& b) {
    collect_events(c);
    if (!c.flip_events.empty()) {
      note("connector %u: %zu page-flip event(s) came with no page flip pending (ignored)", c.index,
           c.flip_events.size());
      c.flip_events.clear();
    }
    xendispl_req r = make_req(XENDISPL_OP_PG_FLIP);
    r.op.pg_flip.fb_cookie = b.fb_cookie;
    expect_ok(transact(c, r), "pg_flip");
    const uint32_t n = ++c.flips_done;
    int left = 0;
    const WaitResult w = wait_until(
        [&] {
          auto it = std::find(c.flip_events.begin(), c.flip_events.end(), b.fb_cookie);
          if (it == c.flip_events.end()) return false;
          c.flip_events.erase(it);
          return true;
        },
        true, &left);
    if (w == WaitResult::Stopped) throw Interrupted{};
    if (w == WaitResult::Timeout)
      fail("flip %u%s: no page-flip event for fb 0x%" PRIx64 " within %g s", n, c.suffix().c_str(), b.fb_cookie,
           opt_.timeout);
    if (w == WaitResult::BackendLeft)
      fail("the backend left Connected (state %s) before the page-flip event of flip %u%s", state_text(left).c_str(),
           n, backend_error().c_str());
    say("flip %u done%s", n, c.suffix().c_str());
  }

  // ------------------------------------------------------- attacks --

  // A request that must be refused: true when it was (status != 0), false
  // when the backend cut the device off instead (also right).
  bool expect_refusal(xendispl_req r, const char* what) {
    const Reply rep = transact(ctl(), r, true);
    if (!rep.answered) {
      say("backend closed the device after the %s attack (state %s)", opt_.attack.c_str(),
          state_text(rep.backend_state).c_str());
      return false;
    }
    if (rep.status == 0) fail("the backend accepted %s (status 0)", what);
    say("attack %s: refused with status %d (%s)", opt_.attack.c_str(), rep.status, status_text(rep.status).c_str());
    return true;
  }

  // False when the backend cut the device off (then nothing more is sent).
  bool attack() {
    Connector& c = ctl();
    DisplayBuffer& main = *bufs_.at(0);
    const std::string& kind = opt_.attack;
    xendispl_req r;
    if (kind == "bad-op") {
      r = make_req(0x7f);
      if (!expect_refusal(r, "a request with operation 0x7f")) return false;
    } else if (kind == "huge-dbuf") {
      SharedBuffer m = share_buffer(1);  // one page where 4 GiB are claimed
      r = make_req(XENDISPL_OP_DBUF_CREATE);
      r.op.dbuf_create.dbuf_cookie = 0x1100;
      r.op.dbuf_create.width = 65535;
      r.op.dbuf_create.height = 65535;
      r.op.dbuf_create.bpp = 32;
      r.op.dbuf_create.buffer_sz = 0xFFFFF000u;
      r.op.dbuf_create.gref_directory = m.dir_refs[0];
      if (!expect_refusal(r, "a 65535x65535 dbuf of 0xFFFFF000 bytes backed by one page")) return false;
    } else if (kind == "bad-gref") {
      r = make_req(XENDISPL_OP_DBUF_CREATE);
      r.op.dbuf_create.dbuf_cookie = 0x1101;
      r.op.dbuf_create.width = 64;
      r.op.dbuf_create.height = 64;
      r.op.dbuf_create.bpp = 32;
      r.op.dbuf_create.buffer_sz = 64 * 64 * 4;
      r.op.dbuf_create.gref_directory = 0xFFFFFF;  // never granted
      if (!expect_refusal(r, "a dbuf whose page directory ref 0xFFFFFF was never granted")) return false;
    } else if (kind == "short-dbuf") {
      // A valid one-page dbuf, then a framebuffer far bigger than it.
      SharedBuffer m = share_buffer(1);
      r = make_req(XENDISPL_OP_DBUF_CREATE);
      r.op.dbuf_create.dbuf_cookie = 0x1102;
      r.op.dbuf_create.width = 32;
      r.op.dbuf_create.height = 32;
      r.op.dbuf_create.bpp = 32;
      r.op.dbuf_create.buffer_sz = 32 * 32 * 4;  // 4096: exactly one page
      r.op.dbuf_create.gref_directory = m.dir_refs[0];
      expect_ok(transact(c, r), "dbuf_create of a valid 32x32 one-page buffer");
      r = make_req(XENDISPL_OP_FB_ATTACH);
      r.op.fb_attach.dbuf_cookie = 0x1102;
      r.op.fb_attach.fb_cookie = 0x2102;
      r.op.fb_attach.width = 4096;
      r.op.fb_attach.height = 4096;
      r.op.fb_attach.pixel_format = kXRGB8888;
      if (!expect_refusal(r, "a 4096x4096 framebuffer on a one-page dbuf")) return false;
      valid_flip();
      r = make_req(XENDISPL_OP_DBUF_DESTROY);
      r.op.dbuf_destroy.dbuf_cookie = 0x1102;
      expect_ok(transact(c, r), "dbuf_destroy of the one-page buffer");
      say("attack %s: the backend refused it and still works", kind.c_str());
      return true;
    } else if (kind == "dup-cookie") {
      SharedBuffer m = share_buffer(1);  // a valid buffer: only the cookie is wrong
      r = make_req(XENDISPL_OP_DBUF_CREATE);
      r.op.dbuf_create.dbuf_cookie = main.dbuf_cookie;
      r.op.dbuf_create.width = 32;
      r.op.dbuf_create.height = 32;
      r.op.dbuf_create.bpp = 32;
      r.op.dbuf_create.buffer_sz = 32 * 32 * 4;
      r.op.dbuf_create.gref_directory = m.dir_refs[0];
      if (!expect_refusal(r, "a second dbuf with the cookie of a live one")) return false;
    } else if (kind == "ring-prod") {
      // A producer index 1000 requests ahead: the ring holds 32.
      vwrite(c.ring.sring->req_prod, c.ring.req_prod_pvt + 1000);
      xen_mb();
      if (ev_->notify(static_cast<Port>(c.req_port)) != 0)
        fail("cannot notify event channel %d: %s", c.req_port, errno_text(errno).c_str());
      int bs = Connected;
      const WaitResult w = wait_until([&] { return (bs = backend_state()) != Connected; }, false);
      if (w == WaitResult::Stopped) throw Interrupted{};
      if (w != WaitResult::Done)
        fail("the backend did not cut the device off within %g s after req_prod was set 1000 ahead (state %s)",
             opt_.timeout, state_text(bs).c_str());
      if (bs != Closing && bs != Closed)
        note("after the corrupt ring the backend state is %s, not Closing or Closed", state_text(bs).c_str());
      connected_ = false;  // the ring is garbage now: nothing more goes on it
      say("backend closed the device after a corrupt ring");
      return false;
    } else {
      fail("unknown attack '%s'", kind.c_str());  // checked when parsing; kept for safety
    }
    valid_flip();
    say("attack %s: the backend refused it and still works", kind.c_str());
    return true;
  }

  void valid_flip() { flip(ctl(), *bufs_.at(0)); }

  // ------------------------------------------------ hold and close --

  void hold() {
    if (opt_.hold == 0) return;
    say("holding");
    int left = 0;
    const double seconds = opt_.hold < 0 ? 1e9 : opt_.hold;
    const WaitResult w = wait_until([] { return false; }, true, &left, seconds);
    if (w == WaitResult::BackendLeft)
      fail("the backend left Connected while we held the display (state %s)%s", state_text(left).c_str(),
           backend_error().c_str());
    if (w == WaitResult::Stopped) {
      say("stopped by a signal");
      g_stop = 0;  // the orderly close below still waits for the backend
    }
  }

  // What the DRM client's exit causes: the mode reset (set_config of zeros),
  // then each framebuffer detached and each buffer destroyed.
  void destroy_all() {
    for (auto& b : bufs_) {
      Connector& c = conns_[b->connector];
      xendispl_req r = make_req(XENDISPL_OP_SET_CONFIG);  // all zeros: display off
      expect_ok(transact(c, r), "set_config (reset)");
    }
    for (auto& b : bufs_) {
      if (b->attached) {
        xendispl_req r = make_req(XENDISPL_OP_FB_DETACH);
        r.op.fb_detach.fb_cookie = b->fb_cookie;
        expect_ok(transact(ctl(), r), "fb_detach");
        b->attached = false;
      }
      if (b->created) {
        xendispl_req r = make_req(XENDISPL_OP_DBUF_DESTROY);
        r.op.dbuf_destroy.dbuf_cookie = b->dbuf_cookie;
        expect_ok(transact(ctl(), r), "dbuf_destroy");
        b->created = false;
      }
    }
  }

  // xen_drv_remove: Closing, give the backend a moment to let go, free the
  // rings and buffers, Closed. Skipped for state nodes the toolstack removed.
  void teardown(bool wait_for_backend) {
    if (!xs_) return;
    const bool present = state_ != Initialising && set_state(Closing);
    if (present) {
      if (wait_for_backend && connected_) {
        int bs = -1;
        wait_until([&] { return (bs = backend_state()) != Connected; }, false, nullptr, std::min(opt_.timeout, 2.0));
      }
    }
    connected_ = false;
    release_memory();
    if (present) set_state(Closed);
    if (wait_for_backend) say("closed (backend state %s)", state_text(backend_state()).c_str());
  }

  void release_memory() {
    if (gs_) {
      for (auto& [p, n] : shared_) gs_->unshare(p, n);
      for (Connector& c : conns_) {
        if (c.req_page) gs_->unshare(c.req_page, 1);
        if (c.evt_page) gs_->unshare(c.evt_page, 1);
        c.req_page = c.evt_page = nullptr;
      }
    }
    shared_.clear();
    if (ev_) {
      for (Connector& c : conns_) {
        if (c.req_port >= 0) ev_->unbind(static_cast<Port>(c.req_port));
        if (c.evt_port >= 0) ev_->unbind(static_cast<Port>(c.evt_port));
        c.req_port = c.evt_port = -1;
      }
    }
  }

  FrontOptions opt_;
  std::unique_ptr<XenPlatform> x_;
  std::unique_ptr<XenStore> xs_;
  std::unique_ptr<EventChannels> ev_;
  std::unique_ptr<GrantSharer> gs_;
  DomId self_ = kDom0, peer_ = kDom0;
  std::string fe_, be_;
  int state_ = Initialising;  // what we last wrote to our state node
  bool connected_ = false;
  std::vector<Connector> conns_;
  std::vector<std::unique_ptr<DisplayBuffer>> bufs_;
  std::vector<std::pair<void*, uint32_t>> shared_;  // every buffer and directory share, for unsharing
};

Rect parse_rect(const std::string& s, const char* what) {
  const auto v = parse_numbers(s, 7, what);
  for (size_t i = 4; i < 7; ++i)
    if (v[i] > 255) usage_error("%s: colour components are 0..255", what);
  return {v[0], v[1], v[2], v[3], uint8_t(v[4]), uint8_t(v[5]), uint8_t(v[6])};
}

const char* const kAttacks[] = {"bad-op", "huge-dbuf", "bad-gref", "short-dbuf", "dup-cookie", "ring-prod"};

int cmd_front(const std::vector<std::string>& args) {
  FrontOptions o;
  std::vector<std::string> pos;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) usage_error("%s needs a value", a.c_str());
      return args[++i];
    };
    if (a == "--timeout") {
      o.timeout = parse_seconds(value(), "--timeout");
      if (o.timeout <= 0) usage_error("--timeout must be positive");
    } else if (a == "--flips") {
      if (!parse_xs_u32(value(), o.flips) || o.flips > 100000) usage_error("--flips takes a count");
    } else if (a == "--fill") {
      const auto v = parse_numbers(value(), 3, "--fill");
      for (size_t k = 0; k < 3; ++k) {
        if (v[k] > 255) usage_error("--fill: colour components are 0..255");
        o.fill[k] = uint8_t(v[k]);
      }
    } else if (a == "--rect") {
      o.rects.push_back(parse_rect(value(), "--rect"));
    } else if (a == "--after-rect") {
      o.after_rects.push_back(parse_rect(value(), "--after-rect"));
    } else if (a == "--hold") {
      o.hold = parse_seconds(value(), "--hold");
    } else if (a == "--attack") {
      o.attack = value();
      if (std::find_if(std::begin(kAttacks), std::end(kAttacks), [&](const char* k) { return o.attack == k; }) ==
          std::end(kAttacks))
        usage_error("unknown --attack '%s'", o.attack.c_str());
    } else if (a == "--all-connectors") {
      o.all_connectors = true;
    } else if (a == "--destroy") {
      o.destroy = true;
    } else if (a == "--writable-buffers") {
      o.writable_buffers = true;
    } else if (a.rfind("--", 0) == 0) {
      usage_error("front: unknown option %s", a.c_str());
    } else {
      pos.push_back(a);
    }
  }
  if (pos.size() != 1) usage_error("front DEVID [options]");
  o.devid = parse_devid(pos[0]);
  install_signal_handlers();
  Front f(o);
  try {
    return f.run();
  } catch (const Interrupted&) {
    f.abandon();
    std::fprintf(stderr, "pv-display-guest: interrupted by a signal\n");
    return 1;
  } catch (const Failure&) {
    f.abandon();
    throw;
  }
}

void print_help() {
  std::printf(
      "usage: xen-pv-display-guest COMMAND ARGS...\n"
      "A test guest and toolstack for Xen's PV display protocol (displif, the protocol of\n"
      "Linux's xen-drm-front), to drive the Xen3D compositor's displif backend. It runs on\n"
      "real Xen, or on the xenemu EMULATION when XEN3D_XENEMU=/path/broker.sock is set\n"
      "(the process is then domain $XEN3D_XENEMU_DOMID, default 0).\n"
      "\n"
      "  toolstack-add DOMID DEVID WxH[,WxH...] [--be-alloc 0|1]     (as dom0)\n"
      "      write the xenstore nodes of vdispl device DEVID of domain DOMID, one connector\n"
      "      per resolution, as libxl's vdispl device add does; the state nodes last.\n"
      "  toolstack-remove DOMID DEVID [--graceful] [--timeout SEC]  (as dom0)\n"
      "      remove them, as libxl does when the device or the domain goes; --graceful\n"
      "      first sets online 0 and Closing and waits for the backend's Closed.\n"
      "  state DOMID DEVID [--tree]                                 (as dom0)\n"
      "      print the backend's and the frontend's state (--tree: every node).\n"
      "  front DEVID [options]                                      (as the guest)\n"
      "      be xen-drm-front (be-alloc=0) on device DEVID: connect, then for connector 0\n"
      "      dbuf_create, fb_attach, fill, set_config and page flips, each flip waiting for\n"
      "      its page-flip event. Options:\n"
      "        --timeout SEC           for each wait (default 20)\n"
      "        --flips N               page flips (default 1)\n"
      "        --fill R,G,B            the buffer's colour (default 0,0,128)\n"
      "        --rect X,Y,W,H,R,G,B    drawn after the fill, before set_config (repeatable)\n"
      "        --after-rect X,Y,W,H,R,G,B  drawn after the flips with no request at all, like\n"
      "                                Xorg drawing into a front buffer (repeatable)\n"
      "        --all-connectors        do all of it on every connector, not just 0\n"
      "        --attack KIND           then act hostile, expecting a refusal (status != 0) or\n"
      "                                the device cut off: bad-op, huge-dbuf, bad-gref,\n"
      "                                short-dbuf, dup-cookie, ring-prod\n"
      "        --hold SEC              stay connected this long (-1: until SIGTERM/SIGINT),\n"
      "                                after printing 'holding'\n"
      "        --destroy               at the end, reset the mode and fb_detach/dbuf_destroy\n"
      "        --writable-buffers      grant buffers and directories writable, as\n"
      "                                xen-drm-front does (default: read-only)\n"
      "      Then it closes (state Closing, Closed) and unshares everything.\n"
      "\n"
      "Progress goes to stdout as 'pv-display-guest: ...' lines, one per response\n"
      "('<op> status <n>', ops dbuf_create fb_attach set_config pg_flip fb_detach\n"
      "dbuf_destroy op_0xNN), 'flip N done', 'connected (N connectors)', 'holding',\n"
      "'drew after-rects', 'closed (backend state ...)'; lines about connector i > 0 end\n"
      "in ' (connector i)'. An attack ends in 'attack KIND: the backend refused it and\n"
      "still works' or 'backend closed the device after ...'.\n"
      "Exit status: 0 success (for --attack: the backend behaved), 1 failure (the reason\n"
      "on stderr, starting 'pv-display-guest:'), 2 usage.\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_help();
    return args.empty() ? 2 : 0;
  }
  const std::string cmd = args[0];
  args.erase(args.begin());
  if (std::find(args.begin(), args.end(), "--help") != args.end()) {
    print_help();
    return 0;
  }
  try {
    if (cmd == "toolstack-add") return cmd_toolstack_add(args);
    if (cmd == "toolstack-remove") return cmd_toolstack_remove(args);
    if (cmd == "state") return cmd_state(args);
    if (cmd == "front") return cmd_front(args);
    usage_error("unknown command '%s'", cmd.c_str());
  } catch (const UsageError& e) {
    std::fprintf(stderr, "pv-display-guest: %s (see --help)\n", e.what.c_str());
    return 2;
  } catch (const Failure& e) {
    std::fprintf(stderr, "pv-display-guest: %s\n", e.what.c_str());
    return 1;
  }
}
