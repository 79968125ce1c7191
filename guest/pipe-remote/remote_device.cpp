#include "guest/pipe-remote/remote_device.h"

#include <pthread.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>

#include "guest/pipe-remote/remote_arena.h"

namespace xen3d::guest {

void guest_log(bool is_error, const char* fmt, ...) {
  const char* dbg = std::getenv("XEN3D_DEBUG");
  if (!is_error && !(dbg && *dbg && *dbg != '0')) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "xen3d: %s\n", msg);
}

namespace {
// The device whose summary XEN3D_STATS prints at exit (one per process in practice).
RemoteDevice* g_stats_device = nullptr;

StatsMode stats_from_env() {
  const char* s = std::getenv("XEN3D_STATS");
  if (!s || !*s || !std::strcmp(s, "0")) return StatsMode::Off;
  if (!std::strcmp(s, "frame")) return StatsMode::PerFrame;
  return StatsMode::Summary;
}
}  // namespace

// fork(): every device of the process, so that the child lets go of each
// connection (they stay the parent's). The prepare handler takes each
// device's lock, so no thread is half-way through a record when the address
// space is copied; the child then forsakes the sessions and both sides
// release the locks.
namespace {
std::mutex g_devices_mutex;
std::set<RemoteDevice*>& live_devices() {
  static auto* devices = new std::set<RemoteDevice*>;  // never destroyed: atexit order
  return *devices;
}
}  // namespace

void RemoteDevice::before_fork() {
  g_devices_mutex.lock();
  for (RemoteDevice* d : live_devices()) d->mutex_.lock_for_fork();
}

void RemoteDevice::after_fork(bool child) {
  for (RemoteDevice* d : live_devices()) {
    if (child) d->session_->forsake_after_fork();
    d->mutex_.unlock_after_fork();
  }
  g_devices_mutex.unlock();
}

void RemoteDevice::watch_forks(RemoteDevice* device, bool add) {
  static std::once_flag registered;
  std::call_once(registered, [] {
    pthread_atfork([] { before_fork(); }, [] { after_fork(false); }, [] { after_fork(true); });
  });
  std::lock_guard lock(g_devices_mutex);
  if (add) {
    live_devices().insert(device);
  } else {
    live_devices().erase(device);
  }
}

std::unique_ptr<RemoteDevice> RemoteDevice::open_for_this_program() {
  char buf[256];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return open("unknown");
  const std::string path(buf, static_cast<size_t>(n));
  return open(path.substr(path.rfind('/') + 1));
}

std::unique_ptr<RemoteDevice> RemoteDevice::open(const std::string& client_name) {
  proto::ConnectRequest req;
  req.client_name = client_name;
  std::string error;
  if (!proto::request_from_env(req, error)) guest_log(true, "%s: using the default", error.c_str());
  BufferArena::ask_at_connect(req);
  auto session = proto::GuestSession::connect("", req, error);
  if (!session) {
    guest_log(true, "%s", error.c_str());
    return nullptr;
  }
  guest_log(false, "connected to %s (guest %u), host renderer: %s", session->info().endpoint.c_str(),
            session->info().connection_id, session->info().host_renderer.c_str());
  std::unique_ptr<RemoteDevice> dev(new RemoteDevice);
  dev->session_ = std::move(session);
  dev->mutex_.guard(dev->session_.get());
  watch_forks(dev.get(), true);
  dev->stats_ = stats_from_env();
  if (dev->stats_ != StatsMode::Off) {
    // GLX frontends rarely destroy their screen at exit: report from atexit.
    g_stats_device = dev.get();
    std::atexit([] {
      if (g_stats_device) g_stats_device->print_summary();
    });
  }
  return dev;
}

RemoteDevice::~RemoteDevice() {
  watch_forks(this, false);
  print_summary();
  if (g_stats_device == this) g_stats_device = nullptr;
}

std::string RemoteDevice::renderer() const {
  return "xen3d (" + session_->info().host_renderer + ")";
}

void RemoteDevice::use_context(uint32_t context) {
  if (context == current_context_) return;
  proto::ContextUse r;
  r.id = context;
  session_->send(r);
  current_context_ = context;
}

namespace {
// The device lock this thread holds or waits for, and how many times it has
// entered it again since (signal handlers run on the interrupted thread).
thread_local const DeviceMutex* t_entered = nullptr;
thread_local unsigned t_reentries = 0;
}  // namespace

void DeviceMutex::lock() {
  if (t_entered == this) {
    ++t_reentries;
    // No ring is touched: the interrupted call may be in the middle of a record.
    if (session_ && session_->alive()) {
      session_->abandon(
          "GL was called on a thread that was already inside the driver (from a signal handler or a callback); "
          "rendering stops so that the interrupted call and the process can finish");
    }
    return;
  }
  // Marked before blocking: a handler that interrupts the wait must not queue behind itself.
  const DeviceMutex* outer = t_entered;
  t_entered = this;
  mutex_.lock();
  outer_ = outer;
}

// The forking thread may hold the lock already (fork from inside a call
// that re-entered GL is not expected, but must not self-deadlock).
void DeviceMutex::lock_for_fork() {
  forker_held_ = t_entered == this;
  if (!forker_held_) mutex_.lock();
}

void DeviceMutex::unlock_after_fork() {
  if (!forker_held_) mutex_.unlock();
}

void DeviceMutex::unlock() {
  if (t_entered == this && t_reentries) {
    --t_reentries;
    return;
  }
  t_entered = outer_;
  mutex_.unlock();
}

bool RemoteDevice::lost() {
  if (session_->alive()) return false;
  if (!loss_reported_) {
    loss_reported_ = true;
    guest_log(true, "rendering stopped: %s", session_->error().c_str());
  }
  return true;
}

void RemoteDevice::frame_presented(FramePath path) {
  ++frames_;
  ++frames_by_path_[static_cast<int>(path)];
  if (stats_ == StatsMode::PerFrame) {
    std::fprintf(stderr, "xen3d: frame %" PRIu64 ": %" PRIu64 " round trips, %" PRIu64 " records\n", frames_,
                 session_->round_trips() - trips_at_last_frame_, session_->records_sent() - records_at_last_frame_);
  }
  trips_at_last_frame_ = session_->round_trips();
  records_at_last_frame_ = session_->records_sent();
}

void RemoteDevice::print_summary() {
  if (stats_ == StatsMode::Off || summary_printed_) return;
  summary_printed_ = true;
  const uint64_t trips = session_->round_trips();
  std::fprintf(stderr,
               "xen3d: stats: %" PRIu64 " frames, %" PRIu64 " synchronous round trips (%.2f per frame), %" PRIu64
               " records (%.1f per frame)\n",
               frames_, trips, frames_ ? double(trips) / double(frames_) : 0.0, session_->records_sent(),
               frames_ ? double(session_->records_sent()) / double(frames_) : 0.0);
  std::fprintf(stderr,
               "xen3d: frames: %" PRIu64 " shown from the host's memory, %" PRIu64 " read back, %" PRIu64
               " kept on the host\n",
               frames_by_path_[int(FramePath::Shared)], frames_by_path_[int(FramePath::ReadBack)],
               frames_by_path_[int(FramePath::Host)]);
  // What sizing the heap needs: how much of it the host held at most, how
  // often the guest waited for it, and what took another path.
  const auto& b = session_->bulk_stats();
  std::fprintf(stderr,
               "xen3d: bulk heap: %u KiB, peak %" PRIu64 " KiB in use, largest payload %" PRIu64 " KiB, %" PRIu64
               " spans (%" PRIu64 " KiB), %" PRIu64 " waits for the host, %" PRIu64 " refused (open map), %" PRIu64
               " payloads staged (%" PRIu64 " KiB), %" PRIu64 " KiB inline\n",
               session_->bulk_heap_size() / 1024, b.peak_in_use / 1024, b.largest / 1024, b.spans, b.span_bytes / 1024,
               b.waits, b.held_refusals, b.staged, b.staged_bytes / 1024, b.inline_bytes / 1024);
  std::fprintf(stderr,
               "xen3d: buffer arena: %" PRIu64 " whole-buffer writes moved to fresh bytes, %" PRIu64
               " spans reused once the host was done, %" PRIu64 " writes in place with the host done (%" PRIu64
               " after a spin, %" PRIu64 " spins ran out)\n",
               arena_stats_.moves, arena_stats_.reused, arena_stats_.unwaited, arena_stats_.spun, arena_stats_.spins_out);
}

}  // namespace xen3d::guest
