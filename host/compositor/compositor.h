// The compositor service: listens on one or more endpoints and serves each
// guest connection on its own thread, so one slow or hostile guest never
// stalls another.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "host/compositor/guest_connection.h"
#include "host/compositor/worker_process.h"
#include "proto/transport.h"

namespace xen3d::host {

class HostGpu;

struct CompositorOptions {
  std::vector<std::string> listen;  // endpoint specs
  ConnectionOptions connection;
  proto::HostPolicy policy;
  int max_guests = 64;
  // Per VM (SessionInfo::peer_id), so one VM cannot take every slot; the
  // host's own processes (peer_is_host) are not limited.
  int max_guests_per_vm = 16;
  // --render-workers: each GL connection is served by a xen3d-render-worker
  // process of its own (docs/render-workers.md); window-system connections,
  // and transports that cannot be handed off yet, stay in the compositor.
  bool render_workers = false;
  std::string driver = "llvmpipe";  // the workers open the same driver
  uint32_t gpu_budget_ms = 10000;  // --gpu-budget-ms: the watchdog's limit per record (as Chromium's GPU watchdog)
  int worker_threads = -1;         // --worker-threads: llvmpipe threads per worker (-1: by cores and guests)
  std::string shader_cache;        // --shader-cache: the workers' per-VM caches' root ("": none)
};

class Compositor {
 public:
  Compositor(HostGpu& gpu, CompositorOptions options);
  ~Compositor();

  // Opens every listening endpoint. False with `error` if one cannot be opened.
  bool start(std::string& error);
  // Serves until request_stop(); returns when every guest thread has finished.
  void run();
  void request_stop() { stop_ = true; }

  // Endpoints actually listened on (tcp port 0 resolved).
  std::vector<std::string> endpoints() const;
  size_t guest_count() const;
  size_t worker_count() const;  // guests render workers serve now (not ones tearing down)

 private:
  struct Slot {
    std::string peer_id;
    std::unique_ptr<GuestConnection> conn;   // served here, or
    std::unique_ptr<WorkerProcess> worker;   // by a render worker
    std::string label() const { return conn ? conn->label() : worker->label(); }
    void stop() {
      if (conn) conn->stop();
      if (worker) worker->stop();
    }
    std::thread thread;
    std::atomic<bool> done{false};
  };
  void accept_loop(proto::Listener* listener);
  // Why a guest that finished its handshake may not be served ("" if it may).
  std::string refusal(const proto::SessionInfo& info) const;
  void reap(bool all);
  // Serves a guest that finished its handshake: in a render worker where
  // possible, else here.
  void serve(std::unique_ptr<proto::HostSession> session);
  // Objects and bytes of every guest, in the compositor and in its workers.
  proto::WorkerTotals totals() const;
  // Stops every guest; exits the process if one stays stuck in the host driver.
  void abandon_stuck_guests();

  HostGpu& gpu_;
  CompositorOptions options_;
  std::vector<std::unique_ptr<proto::Listener>> listeners_;
  std::vector<std::thread> acceptors_;
  mutable std::mutex mutex_;
  std::list<Slot> guests_;
  WorkerProcess::Config worker_config_;
  // A render worker started ahead of the next guest (its screen open), so a
  // guest does not wait for a driver to load; replaced as it is used.
  std::unique_ptr<WorkerProcess> spare_;
  std::mutex spare_mutex_;
  std::atomic<uint32_t> next_id_{1};
  std::atomic<bool> stop_{false};
};

}  // namespace xen3d::host
