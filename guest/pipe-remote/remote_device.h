// The guest's link to the host compositor, shared by the screen and its
// contexts: one connection per process (per X display), opened on first use.
//
// Every pipe_context of the process encodes into the same command ring, so
// the device owns the lock that orders them and remembers which context the
// host currently runs (context_use is sent only when that changes).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "proto/guest_session.h"

namespace xen3d::guest {

// What XEN3D_STATS asks for: nothing, a summary at exit, or a line per frame.
enum class StatsMode { Off, Summary, PerFrame };
// How a presented frame reached the screen: composited by the host (or kept
// there: nothing came back), shown by the guest's X server from the memory
// the host rendered it in (frame_share), or read back into the guest.
enum class FramePath { Host, Shared, ReadBack };

// The device lock. It also notices re-entry: GL called on a thread that is
// already inside the driver (a signal handler that shuts the renderer down,
// as ioquake3's SIGTERM handler does, while the main thread waits for a
// present) would otherwise wait for itself forever. A re-entered lock does
// not block; the device is then lost, so the inner call does nothing and the
// ring stays as the interrupted call left it.
class DeviceMutex {
 public:
  // The session a re-entry abandons (before the inner call can touch it).
  void guard(proto::GuestSession* session) { session_ = session; }
  void lock();
  void unlock();
  // fork(): held across it by the forking thread (RemoteDevice's atfork handlers).
  void lock_for_fork();
  void unlock_after_fork();

 private:
  std::mutex mutex_;
  bool forker_held_ = false;  // the forking thread held it already
  proto::GuestSession* session_ = nullptr;
  const DeviceMutex* outer_ = nullptr;  // what the holder held before (devices nest per thread)
};

class RemoteDevice {
 public:
  // Connects to XEN3D_TRANSPORT (default: the local compositor socket).
  // nullptr on failure; the reason is printed to stderr prefixed "xen3d:".
  static std::unique_ptr<RemoteDevice> open(const std::string& client_name);
  // The same, named after this program's executable (what every target uses).
  static std::unique_ptr<RemoteDevice> open_for_this_program();
  ~RemoteDevice();

  proto::GuestSession& session() { return *session_; }
  // "xen3d (<host renderer>)": what glGetString(GL_RENDERER) reports.
  std::string renderer() const;

  // Serialises encoders; hold it while touching session(), and check lost()
  // first: a re-entered lock (DeviceMutex) is held by an interrupted call.
  DeviceMutex& lock() { return mutex_; }
  // A fresh object id (never 0, never reused within the connection).
  uint32_t new_id() { return next_id_.fetch_add(1, std::memory_order_relaxed); }

  // Makes `context` the host's current context (caller holds lock()).
  void use_context(uint32_t context);
  uint32_t current_context() const { return current_context_; }
  // The host forgot `context`; the next context record must name its own.
  void context_destroyed(uint32_t context) {
    if (current_context_ == context) current_context_ = 0;
  }

  // True once the connection stopped working; the first call after the loss
  // prints why (once per process).
  bool lost();

  // Frame accounting for XEN3D_STATS (caller holds lock()).
  void frame_presented(FramePath path);
  StatsMode stats_mode() const { return stats_; }
  uint64_t frames() const { return frames_; }
  // "xen3d: stats: N frames, M synchronous round trips (R per frame), …" (once).
  void print_summary();
  // The buffer arena's whole-buffer discards (caller holds lock()): moved to
  // fresh bytes (resource_rebase), and moved-off spans reused without a wait.
  struct ArenaStats {
    uint64_t moves = 0, reused = 0;
    // Big writes that found the host done (arena_mark), of them after a spin,
    // and spins that ran out (the write then moved or waited).
    uint64_t unwaited = 0, spun = 0, spins_out = 0;
  };
  ArenaStats& arena_stats() { return arena_stats_; }

 private:
  RemoteDevice() = default;
  static void watch_forks(RemoteDevice* device, bool add);
  static void before_fork();
  static void after_fork(bool child);

  std::unique_ptr<proto::GuestSession> session_;
  DeviceMutex mutex_;
  std::atomic<uint32_t> next_id_{1};
  uint32_t current_context_ = 0;
  bool loss_reported_ = false;
  StatsMode stats_ = StatsMode::Off;
  uint64_t frames_ = 0;
  uint64_t frames_by_path_[3] = {};
  uint64_t trips_at_last_frame_ = 0;
  uint64_t records_at_last_frame_ = 0;
  bool summary_printed_ = false;
  ArenaStats arena_stats_;
};

// Prints a guest-side diagnostic ("xen3d: ..."); XEN3D_DEBUG=1 also shows info lines.
void guest_log(bool is_error, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace xen3d::guest
