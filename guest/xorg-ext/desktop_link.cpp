// The Xorg module's link to the compositor: one GuestSession carrying the
// desktop records, the framebuffer region shared with it, and the background
// connect that keeps the X server responsive while the compositor is slow or
// gone. Used through the C ABI in desktop_link.h from the X server's main
// thread only; the connect thread touches nothing but its own Attempt.
#include "guest/xorg-ext/desktop_link.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "proto/guest_session.h"
#include "proto/xenfb_page.h"

namespace {

using namespace xen3d::proto;
using Clock = std::chrono::steady_clock;

constexpr auto kRetryInterval = std::chrono::seconds(5);
constexpr auto kProbeInterval = std::chrono::seconds(2);
// A record refused for want of ring space is tried again this soon.
constexpr int kBusyRetryMs = 20;
// How often a running attempt is looked at; it usually finishes in milliseconds.
constexpr int kAttemptPollMs = 25;
constexpr auto kAttemptSlow = std::chrono::seconds(10);
constexpr int kConnectTimeoutMs = 2000;
constexpr uint32_t kCmdRingKib = 1024;  // window states are at most 64 KiB each
constexpr uint32_t kBulkHeapKib = 64;   // desktops send no bulk data: the smallest heap
// The most a hello may ask for (proto/commands.toml, hello.framebuffer_kib).
constexpr uint64_t kMaxFramebufferBytes = uint64_t{65536} * 1024;
// Input events kept for a server side that has not taken them.
constexpr size_t kMaxQueuedInput = 4096;

// A window_state is 36 bytes before its clip rects (wire_size in commands.gen.h).
constexpr size_t window_state_bytes(size_t rects) { return align8(36 + rects * Rect::kWireSize); }
static_assert(XEN3D_MAX_CLIP_RECTS == WindowState::kMaxClip);
static_assert(window_state_bytes(XEN3D_MAX_CLIP_RECTS) <= kMaxRecordSize &&
                  window_state_bytes(XEN3D_MAX_CLIP_RECTS + 1) > kMaxRecordSize,
              "XEN3D_MAX_CLIP_RECTS is the most clip rects one record holds");

std::string printf_string(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string printf_string(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

void log_info(const std::string& line) { xen3d_log_info(line.c_str()); }
void log_error(const std::string& line) { xen3d_log_error(line.c_str()); }

// One background connect: GuestSession::connect has a timeout, but the
// desktop_open round trip after it waits as long as the compositor takes, so
// both run off the X server's thread. Shared with the (detached) thread: a
// compositor that never answers strands the thread, never the server.
struct Attempt {
  // Inputs, fixed before the thread starts.
  std::string endpoint;
  std::string name;
  uint32_t width = 0, height = 0, stride = 0;
  uint64_t region_pixel_bytes = 0;
  Clock::time_point started;
  bool slow_logged = false;  // main thread only

  // Outputs, valid once done.
  std::unique_ptr<GuestSession> session;
  bool attached = false;  // to the domain's PV display desktop (desktop_attach)
  std::string attach_refusal;  // why not, when the desktop is our own
  uint64_t token = 0;
  uint32_t desktop_id = 0;
  std::string error;

  std::mutex mutex;
  std::condition_variable finished;
  bool done = false;  // under mutex
};

void write_page_header(uint8_t* region, uint32_t region_size, uint32_t width, uint32_t height,
                       uint32_t stride) {
  auto* page = reinterpret_cast<XenfbPage*>(region);
  page->width = static_cast<int32_t>(width);
  page->height = static_cast<int32_t>(height);
  page->line_length = stride;
  page->mem_length = region_size - static_cast<uint32_t>(kXenfbPixelsOffset);
  page->depth = 32;
}

// On Xen, the X server may run on the domain's PV display, whose desktop the
// compositor already shows: the module then only places GL windows on it
// (desktop_attach). Its connection has the smallest framebuffer region, one
// page: a region is what makes the compositor serve a connection itself as
// a window system's rather than hand it to a render worker. nullptr with
// `error` when there is no desktop to attach to.
std::unique_ptr<GuestSession> attach_desktop(Attempt& a, std::string& error) {
  ConnectRequest req;
  req.client_name = "Xorg xen3d module (" + a.name + ")";
  req.cmd_ring_kib = kCmdRingKib;
  req.bulk_heap_kib = kBulkHeapKib;
  req.framebuffer_kib = 4;
  req.timeout_ms = kConnectTimeoutMs;
  std::unique_ptr<GuestSession> session = GuestSession::connect(a.endpoint, req, error);
  if (!session) return nullptr;
  DesktopAttach attach;
  DesktopOpened opened;
  if (!session->call(attach, opened)) {
    error = "desktop_attach failed: " + session->error();
    return nullptr;
  }
  if (!opened.ok) {
    error = std::string(opened.reason);
    return nullptr;
  }
  a.token = opened.token;
  a.desktop_id = opened.desktop_id;
  a.attached = true;
  return session;
}

bool is_xen_endpoint(const std::string& spec) {
  Endpoint ep;
  std::string error;
  return Endpoint::parse(spec.empty() ? default_endpoint_spec() : spec, ep, error) && ep.kind == Endpoint::Xen;
}

// Connects and opens the desktop; on failure returns nullptr with `error` set.
std::unique_ptr<GuestSession> open_desktop(Attempt& a, std::string& error) {
  if (is_xen_endpoint(a.endpoint)) {
    std::unique_ptr<GuestSession> attached = attach_desktop(a, error);
    if (attached) return attached;
    a.attach_refusal = error;
    error.clear();
  }
  ConnectRequest req;
  req.client_name = "Xorg xen3d module (" + a.name + ")";
  req.cmd_ring_kib = kCmdRingKib;
  req.bulk_heap_kib = kBulkHeapKib;
  req.framebuffer_kib = static_cast<uint32_t>((kXenfbPixelsOffset + a.region_pixel_bytes + 1023) / 1024);
  req.timeout_ms = kConnectTimeoutMs;
  // On failure connect's message names the endpoint and what to check.
  std::unique_ptr<GuestSession> session = GuestSession::connect(a.endpoint, req, error);
  if (!session) return nullptr;

  Transport& t = session->transport();
  const uint64_t needed = kXenfbPixelsOffset + uint64_t{a.stride} * a.height;
  if (t.framebuffer_size() < needed) {
    error = printf_string("the compositor gave a framebuffer region of %u bytes, %llu needed",
                          t.framebuffer_size(), static_cast<unsigned long long>(needed));
    return nullptr;
  }
  write_page_header(t.framebuffer(), t.framebuffer_size(), a.width, a.height, a.stride);
  DesktopOpen open;
  open.width = a.width;
  open.height = a.height;
  open.stride = a.stride;
  open.name = std::string_view(a.name).substr(0, DesktopOpen::kMaxName);
  DesktopOpened opened;
  if (!session->call(open, opened)) {
    error = "desktop_open failed: " + session->error();
    return nullptr;
  }
  if (!opened.ok) {
    error = "the compositor refused the desktop: " + std::string(opened.reason);
    return nullptr;
  }
  a.token = opened.token;
  a.desktop_id = opened.desktop_id;
  return session;
}

void run_attempt(const std::shared_ptr<Attempt>& a) {
  std::unique_ptr<GuestSession> session;
  std::string error;
  try {
    session = open_desktop(*a, error);
  } catch (const std::exception& e) {
    error = std::string("connecting failed: ") + e.what();
    session.reset();
  }
  std::lock_guard lock(a->mutex);
  a->session = std::move(session);
  a->error = std::move(error);
  a->done = true;
  a->finished.notify_all();
}

class DesktopLink {
 public:
  void configure(const char* endpoint, const char* name) {
    endpoint_ = endpoint ? endpoint : "";
    name_ = name ? name : "";
  }

  xen3d_link_state poll() {
    if (attempt_) collect();
    if (session_) return XEN3D_LINK_UP;
    return attempt_ ? XEN3D_LINK_CONNECTING : XEN3D_LINK_DOWN;
  }

  xen3d_link_state check() {
    if (session_) probe();
    return poll();
  }

  uint32_t generation() const { return generation_; }

  bool try_connect(const xen3d_desktop_geometry& g, bool now) {
    if (session_ || attempt_) return false;
    const auto t = Clock::now();
    if (!now && last_attempt_ && t - *last_attempt_ < kRetryInterval) return false;
    last_attempt_ = t;
    auto a = std::make_shared<Attempt>();
    a->endpoint = endpoint_;
    a->name = name_;
    a->width = g.width;
    a->height = g.height;
    a->stride = g.stride;
    const uint64_t screen_bytes = uint64_t{g.stride} * g.height;
    if (kXenfbPixelsOffset + screen_bytes > kMaxFramebufferBytes) {
      note_failure(printf_string("a %ux%u screen is bigger than a desktop framebuffer may be (%llu MiB)",
                                 g.width, g.height,
                                 static_cast<unsigned long long>(kMaxFramebufferBytes >> 20)));
      return false;
    }
    a->region_pixel_bytes =
        std::clamp<uint64_t>(g.region_pixel_bytes, screen_bytes, kMaxFramebufferBytes - kXenfbPixelsOffset);
    a->started = t;
    // The thread must not take the X server's signals (SIGIO, the smart
    // scheduler's SIGALRM): their handlers assume the main thread.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    try {
      std::thread([a] { run_attempt(a); }).detach();
    } catch (const std::exception& e) {
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
      note_failure(std::string("cannot start the connect thread: ") + e.what());
      return false;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    attempt_ = std::move(a);
    return true;
  }

  xen3d_link_state wait_attempt(int timeout_ms) {
    if (attempt_) {
      // An attempt past its connect timeout is stuck on a compositor that
      // does not answer: waiting for it would only stall every client.
      const auto deadline = std::min(Clock::now() + std::chrono::milliseconds(timeout_ms),
                                     attempt_->started + std::chrono::milliseconds(kConnectTimeoutMs + 500));
      std::unique_lock lock(attempt_->mutex);
      attempt_->finished.wait_until(lock, deadline, [&] { return attempt_->done; });
    }
    return poll();
  }

  int next_wakeup_ms() const {
    const auto t = Clock::now();
    auto until = [&](Clock::time_point when) {
      return static_cast<int>(
          std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(when - t).count() + 1));
    };
    if (attempt_) return kAttemptPollMs;
    if (!session_) return last_attempt_ ? until(*last_attempt_ + kRetryInterval) : -1;
    if (busy_ || full_screen_pending_ || !pending_gone_.empty()) return kBusyRetryMs;
    return until(last_probe_ + kProbeInterval);
  }

  uint64_t token() const { return session_ ? token_ : 0; }
  uint32_t desktop_id() const { return session_ ? desktop_id_ : 0; }

  // Attached to a PV display's desktop there is no framebuffer region: the
  // screen is exported by the scanout itself.
  bool attached() const { return session_ && attached_; }
  uint8_t* pixels() const {
    return session_ && !attached_ ? session_->transport().framebuffer() + kXenfbPixelsOffset : nullptr;
  }
  void desktop_size(uint32_t* w, uint32_t* h, uint32_t* stride) const {
    *w = session_ ? width_ : 0;
    *h = session_ ? height_ : 0;
    *stride = session_ ? stride_ : 0;
  }
  bool fits(uint32_t w, uint32_t h, uint32_t stride) const {
    return session_ && !attached_ && stride >= uint64_t{w} * 4 &&
           kXenfbPixelsOffset + uint64_t{stride} * h <= session_->transport().framebuffer_size();
  }

  xen3d_send_result resize(uint32_t w, uint32_t h, uint32_t stride) {
    if (!session_) return XEN3D_SEND_DOWN;
    if (!fits(w, h, stride)) {
      log_error(printf_string("a %ux%u screen does not fit the framebuffer region", w, h));
      return XEN3D_SEND_BUSY;
    }
    DesktopResize r;
    r.width = w;
    r.height = h;
    r.stride = stride;
    // The header must be right before the record can become visible.
    Transport& t = session_->transport();
    write_page_header(t.framebuffer(), t.framebuffer_size(), w, h, stride);
    const xen3d_send_result res = send(r);
    if (res != XEN3D_SEND_OK) {
      if (session_) {
        write_page_header(t.framebuffer(), t.framebuffer_size(), width_, height_, stride_);
      }
      return res;
    }
    width_ = w;
    height_ = h;
    stride_ = stride;
    // Updates queued for the old size may lie outside the new one.
    full_screen_pending_ = true;
    return XEN3D_SEND_OK;
  }

  void push_update(int32_t x, int32_t y, int32_t w, int32_t h) {
    if (!session_ || attached_ || w <= 0 || h <= 0) return;
    // Once an update was lost to a full ring, only a whole-screen one is worth sending.
    if (full_screen_pending_) return;
    if (xenfb_push_update(session_->transport().framebuffer(), x, y, w, h)) {
      updates_waiting_ = true;
    } else {
      full_screen_pending_ = true;
    }
  }

  xen3d_send_result ring_doorbell() {
    if (!session_) return XEN3D_SEND_DOWN;
    if (attached_) return XEN3D_SEND_OK;
    if (full_screen_pending_ &&
        xenfb_push_update(session_->transport().framebuffer(), 0, 0, static_cast<int32_t>(width_),
                          static_cast<int32_t>(height_))) {
      full_screen_pending_ = false;
      updates_waiting_ = true;
    }
    if (!updates_waiting_) return XEN3D_SEND_OK;
    const xen3d_send_result res = send(DesktopDamage{});
    if (res == XEN3D_SEND_OK) updates_waiting_ = false;
    return res;
  }

  xen3d_send_result send_window_state(const xen3d_window_state& s) {
    if (!session_) return XEN3D_SEND_DOWN;
    if (xen3d_send_result res = drain_pending_gone(); res != XEN3D_SEND_OK) return res;
    clip_.clear();
    const uint32_t n = std::min<uint32_t>(s.clip_count, XEN3D_MAX_CLIP_RECTS);  // the caller keeps to it
    for (uint32_t i = 0; i < n; ++i) {
      clip_.push_back(Rect{s.clip[i].x, s.clip[i].y, s.clip[i].width, s.clip[i].height});
    }
    WindowState w;
    w.window = s.window;
    w.x = s.x;
    w.y = s.y;
    w.width = s.width;
    w.height = s.height;
    w.mapped = s.mapped ? 1 : 0;
    w.clip = TailView<Rect>(std::span<const Rect>(clip_));
    return send(w);
  }

  xen3d_send_result send_window_gone(uint32_t window) {
    if (!session_) return XEN3D_SEND_DOWN;
    pending_gone_.push_back(window);
    const xen3d_send_result res = drain_pending_gone();
    // Kept for later: the caller has nothing to retry.
    return res == XEN3D_SEND_BUSY ? XEN3D_SEND_OK : res;
  }

  void flush() {
    if (!session_) return;
    drain_pending_gone();
    // Whatever was refused since the last flush is tried again soon.
    busy_ = refused_;
    refused_ = false;
    if (session_ && unflushed_) {
      session_->flush();
      unflushed_ = 0;
      if (!session_->alive()) lose(session_->error());
    }
    if (session_) read_host();
    if (session_ && Clock::now() - last_probe_ >= kProbeInterval) probe();
  }

  void close() {
    if (attempt_) {
      // The thread keeps its own reference; whatever it opens is closed when it ends.
      attempt_.reset();
    }
    if (session_) {
      session_->flush();
      drop_session();
      log_info("closed the desktop");
    }
    last_attempt_.reset();  // the next desktop may open at once
    last_failure_.clear();
  }

 private:
  // Sends r when the command ring has room for it right now; never waits.
  template <class R>
  xen3d_send_result send(const R& r) {
    if (!session_) return XEN3D_SEND_DOWN;
    if (!session_->alive()) {
      lose(session_->error());
      return XEN3D_SEND_DOWN;
    }
    const size_t bytes = wire_size(r);
    if (!ring_has_room(bytes)) {
      refused_ = true;
      return XEN3D_SEND_BUSY;
    }
    if (!session_->send(r)) {
      lose(session_->error());
      return XEN3D_SEND_DOWN;
    }
    unflushed_ += bytes;
    return XEN3D_SEND_OK;
  }

  // GuestSession::send waits while the ring is full; a compositor that stopped
  // reading would then hang the X server. So ask the ring first, pessimistically:
  // everything sent since our last flush may still be unpublished, and a record
  // that does not fit before the ring's end costs up to its own size in padding.
  bool ring_has_room(size_t bytes) const {
    Transport& t = session_->transport();
    const RingCounters* c = t.counters(RingId::Command);
    const uint64_t used = c->head.load(std::memory_order_acquire) - c->tail.load(std::memory_order_acquire);
    const uint64_t size = t.ring_size(RingId::Command);
    if (used > size) return false;  // counters we cannot make sense of: the flush will tell
    return size - used >= unflushed_ + 2 * bytes;
  }

  xen3d_send_result drain_pending_gone() {
    while (!pending_gone_.empty()) {
      WindowGone g;
      g.window = pending_gone_.front();
      if (xen3d_send_result res = send(g); res != XEN3D_SEND_OK) return res;
      pending_gone_.pop_front();
    }
    return XEN3D_SEND_OK;
  }

  // A compositor that exits while we are idle only shows when we wait on the
  // connection: a zero-timeout wait looks at its socket.
  void probe() {
    last_probe_ = Clock::now();
    WaitResult w = session_->transport().wait(
        RingId::Command, [] { return false; }, 0);
    if (w == WaitResult::PeerGone) {
      lose(session_->transport().error());
    } else {
      read_host();
    }
  }

  // After desktop_open nothing we send has an answer: what the compositor
  // sends is input for this desktop, or its rejection of a record of ours
  // (context_lost), after which it ignores the rest of this connection and
  // only a new one brings the desktop back. Input waits in input_ for the
  // server side (xen3d_link_take_input).
  void read_host() {
    const bool ok = session_->take_unasked([this](const uint8_t* rec, size_t size, std::string& why) {
      xen3d_input_event e{};
      DecodeError err;
      switch (static_cast<Opcode>(header_opcode(rec))) {
        case Opcode::InputKey: {
          InputKey r;
          if ((err = decode(rec, size, r)).ok()) e = {XEN3D_INPUT_KEY, r.code, r.down != 0, 0, 0};
          break;
        }
        case Opcode::InputPointer: {
          InputPointer r;
          if ((err = decode(rec, size, r)).ok()) e = {XEN3D_INPUT_POINTER, 0, 0, r.x, r.y};
          break;
        }
        case Opcode::InputWheel: {
          InputWheel r;
          if ((err = decode(rec, size, r)).ok()) e = {XEN3D_INPUT_WHEEL, 0, 0, r.horizontal, r.vertical};
          break;
        }
        default:
          why = printf_string("the compositor sent '%s', which nothing asked for", opcode_name(header_opcode(rec)));
          return false;
      }
      if (!err.ok()) {
        why = "the compositor sent a bad input record: " + err.describe();
        return false;
      }
      // A server that stopped taking input loses the oldest, not memory.
      if (input_.size() >= kMaxQueuedInput) input_.pop_front();
      input_.push_back(e);
      return true;
    });
    if (!ok) lose(session_->error());
  }

 public:
  int input_fd() const { return session_ ? session_->transport().readiness_fd() : -1; }

  int take_input(xen3d_input_event* out, int max) {
    if (session_) read_host();
    int n = 0;
    while (n < max && !input_.empty()) {
      out[n++] = input_.front();
      input_.pop_front();
    }
    return n;
  }

 private:

  void collect() {
    std::shared_ptr<Attempt> a = attempt_;
    {
      std::lock_guard lock(a->mutex);
      if (!a->done) {
        if (!a->slow_logged && Clock::now() - a->started >= kAttemptSlow) {
          a->slow_logged = true;
          log_error(
              "the compositor accepted the connection but has not answered desktop_open for 10 s; "
              "running uncomposited until it does");
        }
        return;
      }
    }
    attempt_.reset();
    if (!a->session) {
      note_failure(a->error);
      return;
    }
    session_ = std::move(a->session);
    // Input is read when the server's poll says so: ask the compositor to kick.
    session_->transport().want_kicks(RingId::Reply);
    xen3d_input_fd_changed(-1, session_->transport().readiness_fd());
    token_ = a->token;
    desktop_id_ = a->desktop_id;
    attached_ = a->attached;
    if (!a->attach_refusal.empty()) log_info("no PV display desktop to attach to (" + a->attach_refusal + "): opening our own");
    width_ = a->width;
    height_ = a->height;
    stride_ = a->stride;
    unflushed_ = 0;
    refused_ = busy_ = false;
    updates_waiting_ = false;
    full_screen_pending_ = false;
    pending_gone_.clear();
    last_probe_ = Clock::now();
    last_failure_.clear();
    ++generation_;
    log_info(printf_string(
        "desktop \"%s\" open on the compositor at %s: desktop %u, %ux%u, %s", name_.c_str(),
        session_->info().endpoint.c_str(), desktop_id_, width_, height_,
        attached_ ? "the domain's PV display (its GL windows are composited over the scanout)"
                  : printf_string("framebuffer region %u KiB", session_->transport().framebuffer_size() / 1024).c_str()));
  }

  // Logs a failed attempt once, not every 5 s while the compositor stays away.
  void note_failure(const std::string& why) {
    if (why == last_failure_) return;
    last_failure_ = why;
    std::string line = why;
    while (!line.empty() && (line.back() == '.' || line.back() == ' ')) line.pop_back();
    log_error(line + "; running uncomposited, retrying every 5 s");
  }

  // By value: `why` is often the session's own message, gone with the session.
  void lose(std::string why) {
    if (!session_) return;
    drop_session();
    const std::string line = "lost the compositor (" +
                             (why.empty() ? std::string("connection closed") : why) +
                             "); running uncomposited, retrying every 5 s";
    log_error(line);
    last_failure_.clear();
    // Reconnect no sooner than the retry interval: a compositor that just
    // crashed is unlikely to be back at once.
    last_attempt_ = Clock::now();
  }

  void drop_session() {
    xen3d_input_fd_changed(session_->transport().readiness_fd(), -1);
    // ~GuestSession queues a goodbye and would wait for ring space that a
    // stuck compositor never frees: leak the session rather than hang.
    if (session_->alive() && !ring_has_room(64)) {
      (void)session_.release();
    }
    session_.reset();
    unflushed_ = 0;
    pending_gone_.clear();
    input_.clear();
    refused_ = busy_ = updates_waiting_ = full_screen_pending_ = false;
  }

  std::string endpoint_, name_;
  std::shared_ptr<Attempt> attempt_;
  std::optional<Clock::time_point> last_attempt_;
  std::string last_failure_;

  std::unique_ptr<GuestSession> session_;
  uint64_t token_ = 0;
  uint32_t desktop_id_ = 0;
  uint32_t width_ = 0, height_ = 0, stride_ = 0;
  uint32_t generation_ = 0;
  bool attached_ = false;
  size_t unflushed_ = 0;
  bool refused_ = false;  // a record did not fit since the last flush
  bool busy_ = false;     // ... before the last flush
  bool updates_waiting_ = false;
  bool full_screen_pending_ = false;
  std::deque<uint32_t> pending_gone_;
  std::deque<xen3d_input_event> input_;
  Clock::time_point last_probe_;
  std::vector<Rect> clip_;
};

// Never destroyed: a static destructor at X server exit must not run a
// goodbye through a compositor that may not answer.
DesktopLink& link() {
  static DesktopLink* instance = new DesktopLink;
  return *instance;
}

template <class F, class T>
T guarded(F&& f, T on_error) noexcept {
  try {
    return f();
  } catch (const std::exception& e) {
    log_error(std::string("internal error in the compositor link: ") + e.what());
  } catch (...) {
    log_error("internal error in the compositor link");
  }
  return on_error;
}

}  // namespace

extern "C" {

void xen3d_link_configure(const char* endpoint, const char* desktop_name) {
  guarded(
      [&] {
        link().configure(endpoint, desktop_name);
        return 0;
      },
      0);
}

xen3d_link_state xen3d_link_poll(void) {
  return guarded([] { return link().poll(); }, XEN3D_LINK_DOWN);
}

xen3d_link_state xen3d_link_check(void) {
  return guarded([] { return link().check(); }, XEN3D_LINK_DOWN);
}

uint32_t xen3d_link_generation(void) { return link().generation(); }

int xen3d_link_try_connect(const xen3d_desktop_geometry* geometry, int now) {
  return guarded([&] { return link().try_connect(*geometry, now != 0) ? 1 : 0; }, 0);
}

xen3d_link_state xen3d_link_wait_attempt(int timeout_ms) {
  return guarded([&] { return link().wait_attempt(timeout_ms); }, XEN3D_LINK_DOWN);
}

int xen3d_link_next_wakeup_ms(void) {
  return guarded([] { return link().next_wakeup_ms(); }, 1000);
}

uint64_t xen3d_link_token(void) { return link().token(); }
uint32_t xen3d_link_desktop_id(void) { return link().desktop_id(); }
uint8_t* xen3d_link_pixels(void) { return link().pixels(); }

void xen3d_link_desktop_size(uint32_t* width, uint32_t* height, uint32_t* stride) {
  link().desktop_size(width, height, stride);
}

int xen3d_link_fits(uint32_t width, uint32_t height, uint32_t stride) {
  return link().fits(width, height, stride) ? 1 : 0;
}

xen3d_send_result xen3d_link_resize(uint32_t width, uint32_t height, uint32_t stride) {
  return guarded([&] { return link().resize(width, height, stride); }, XEN3D_SEND_BUSY);
}

void xen3d_link_push_update(int32_t x, int32_t y, int32_t width, int32_t height) {
  link().push_update(x, y, width, height);
}

xen3d_send_result xen3d_link_ring_doorbell(void) {
  return guarded([] { return link().ring_doorbell(); }, XEN3D_SEND_BUSY);
}

xen3d_send_result xen3d_link_send_window_state(const xen3d_window_state* state) {
  return guarded([&] { return link().send_window_state(*state); }, XEN3D_SEND_BUSY);
}

xen3d_send_result xen3d_link_send_window_gone(uint32_t window) {
  return guarded([&] { return link().send_window_gone(window); }, XEN3D_SEND_BUSY);
}

int xen3d_link_attached(void) {
  return guarded([] { return link().attached() ? 1 : 0; }, 0);
}

int xen3d_link_input_fd(void) {
  return guarded([] { return link().input_fd(); }, -1);
}

int xen3d_link_take_input(struct xen3d_input_event* events, int max) {
  return guarded([&] { return link().take_input(events, max); }, 0);
}

void xen3d_link_flush(void) {
  guarded(
      [] {
        link().flush();
        return 0;
      },
      0);
}

void xen3d_link_close(void) {
  guarded(
      [] {
        link().close();
        return 0;
      },
      0);
}

}  // extern "C"
