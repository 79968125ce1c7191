// A guest connection served by a render worker (docs/render-workers.md): the
// compositor's side of it. Spawns xen3d-render-worker (fork+exec), hands it
// the connection, answers its link, kills it when its work runs past the
// GPU-time budget, and, when it dies any way but cleanly, tells the guest its
// context is lost. Nothing a worker does reaches another guest.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "host/compositor/worker_options.h"
#include "proto/host_session.h"

namespace xen3d::host {

class Desktop;
class DesktopRegistry;
class GuestMemoryAccount;
class WorkerLink;
struct WatchdogPage;

class WorkerProcess {
 public:
  struct Config {
    std::string program;   // xen3d-render-worker's path (worker_program())
    WorkerOptions options;  // what every worker is started with (link_fd is set here)
    uint32_t gpu_budget_ms = 0;  // --gpu-budget-ms; 0: no watchdog
    int threads = -1;            // --worker-threads: llvmpipe's threads per worker (-1: by cores and guests)
    // The compositor-wide totals the host's operator asks for in host_stats.
    std::function<proto::WorkerTotals()> totals;
    // The desktops a worker's GL connection may join (null: none).
    DesktopRegistry* desktops = nullptr;
  };

  // A worker starts (and opens its screen, the slow part) before its guest
  // arrives: the compositor keeps one spare. nullptr with `error` when it
  // cannot be started.
  static std::unique_ptr<WorkerProcess> start(const Config& config, std::string& error);
  // Hands the started worker its connection. False with `error` when the
  // connection cannot be handed to another process (`transferable` false:
  // its transport cannot be yet) or the worker is gone; `session` is then
  // untouched.
  // `guests`: how many guests the host's cores serve, this one included
  // (what the worker's rasterizer threads are sized by).
  bool attach(std::unique_ptr<proto::HostSession>& session, size_t guests, bool& transferable, std::string& error);
  // Not exited yet (a spare that died waiting is started again).
  bool alive() const;
  ~WorkerProcess();

  // Supervises the worker until it exits; then reaps it and, if it died,
  // speaks the compositor's last words to the guest.
  void run();
  // Asks the worker to stop (it finishes its record, frees, exits); run()
  // kills it if it has not within 3 s.
  void stop() { stop_ = true; }

  const std::string& label() const { return label_; }
  pid_t pid() const { return pid_; }
  uint32_t rasterizer_threads() const { return threads_; }
  // Whether its guest has gone (the worker said so; it is tearing down): it
  // no longer shares the cores with new guests.
  bool serving() const { return !guest_left_; }
  uint32_t objects() const { return objects_; }
  uint64_t bytes() const { return bytes_; }

 private:
  WorkerProcess() = default;
  // Why to kill the worker now ("" while it may run on).
  std::string check_watchdog();
  void handle(const std::vector<uint8_t>& rec);
  void last_words(const std::string& why);
  // The worker's desktop records (its guest's desktop_join and presents).
  void join_desktop(uint64_t token);
  void share_surface(const proto::WorkerSurfaceRequest& r);
  void leave_desktop();

  Config config_;
  std::unique_ptr<proto::HostSession> session_;
  std::unique_ptr<WorkerLink> link_;
  WatchdogPage* watchdog_ = nullptr;
  int page_fd_ = -1;  // until attach() has passed it on
  bool rings_shared_ = true;  // the compositor can still write the guest's reply ring (not tcp)
  pid_t pid_ = -1;
  uint32_t threads_ = 0;  // llvmpipe rasterizer threads it was given
  std::string label_;
  std::string kill_reason_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> guest_left_{false};
  std::atomic<uint32_t> objects_{0};
  std::atomic<uint64_t> bytes_{0};
  // The guest's quota as the compositor sees it: the worker's table bytes
  // (worker_stats) and the window surfaces its desktop keeps.
  std::shared_ptr<GuestMemoryAccount> memory_;
  std::shared_ptr<Desktop> joined_;  // the desktop the worker's guest presents into
};

// xen3d-render-worker beside the running program (or $XEN3D_RENDER_WORKER).
std::string worker_program();

}  // namespace xen3d::host
