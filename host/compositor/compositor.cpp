#include "host/compositor/compositor.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <chrono>

#include "host/validate/caps_snapshot.h"
#include "proto/socket_io.h"
#include "host/gpu/host_gpu.h"
#include "host/executor/object_table.h"
#include "common/log.h"

namespace xen3d::host {

Compositor::Compositor(HostGpu& gpu, CompositorOptions options) : gpu_(gpu), options_(std::move(options)) {
  options_.policy.host_renderer = gpu_.renderer();
  // Every guest executes on the one host screen and shares one caps snapshot.
  options_.connection.screen = gpu_.screen();
  options_.connection.shares_frames = gpu_.shares_frames();
  options_.connection.caps = take_caps_snapshot(gpu_.screen(), options_.connection.shader_path);
  options_.connection.driver_lock = gpu_.context_lock();
  worker_config_.program = worker_program();
  worker_config_.options.driver = options_.driver;
  worker_config_.options.connection = options_.connection;
  worker_config_.options.shader_cache = options_.shader_cache;
  worker_config_.gpu_budget_ms = options_.gpu_budget_ms;
  worker_config_.threads = options_.worker_threads;
  worker_config_.totals = [this] { return totals(); };
  worker_config_.desktops = options_.connection.desktops;
}

proto::WorkerTotals Compositor::totals() const {
  proto::WorkerTotals t;
  t.guests = GlobalObjectStats::guests.load();
  t.objects = GlobalObjectStats::objects.load();
  t.bytes = GlobalObjectStats::bytes.load();
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& s : guests_) {
    if (!s.worker || s.done) continue;
    t.guests += 1;
    t.objects += s.worker->objects();
    t.bytes += s.worker->bytes();
  }
  return t;
}

Compositor::~Compositor() {
  request_stop();
  for (auto& t : acceptors_) {
    if (t.joinable()) t.join();
  }
  reap(true);
}

bool Compositor::start(std::string& error) {
  if (options_.render_workers && access(worker_config_.program.c_str(), X_OK) != 0) {
    error = "the render worker " + worker_config_.program + " cannot be run (" + proto::errno_text(errno) +
            "): install xen3d-render-worker beside xen3d-compositor, point XEN3D_RENDER_WORKER at it, "
            "or serve guests in the compositor with --render-workers off";
    return false;
  }
  for (const auto& spec : options_.listen) {
    proto::Endpoint ep;
    if (!proto::Endpoint::parse(spec, ep, error)) return false;
    auto l = proto::listen_on(ep, error);
    if (!l) return false;
    XLOG_INFO("listening on %s", l->describe().c_str());
    listeners_.push_back(std::move(l));
  }
  return true;
}

std::vector<std::string> Compositor::endpoints() const {
  std::vector<std::string> out;
  for (const auto& l : listeners_) out.push_back(l->describe());
  return out;
}

size_t Compositor::guest_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t n = 0;
  for (const auto& s : guests_) n += !s.done;
  return n;
}

size_t Compositor::worker_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t n = 0;
  for (const auto& s : guests_) n += !s.done && s.worker && s.worker->serving();
  return n;
}

void Compositor::run() {
  for (auto& l : listeners_) acceptors_.emplace_back([this, p = l.get()] { accept_loop(p); });
  while (!stop_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    reap(false);
  }
  XLOG_INFO("shutting down: disconnecting %zu guest(s)", guest_count());
  for (auto& t : acceptors_) t.join();
  acceptors_.clear();
  {
    std::lock_guard<std::mutex> g(spare_mutex_);
    spare_.reset();
  }
  abandon_stuck_guests();
  reap(true);
}

void Compositor::abandon_stuck_guests() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& s : guests_) s.stop();
  }
  // A guest thread notices stop() between records; one inside the host
  // driver (a shader that never ends: there is no GPU watchdog on llvmpipe)
  // never returns, and joining it would hang the shutdown forever.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (guest_count() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  bool stuck = false;
  for (auto& s : guests_) {
    if (s.done) continue;
    XLOG_WARN("%s is still inside the host driver after 3 s (an endless shader?); exiting without it",
              s.label().c_str());
    stuck = true;
  }
  if (stuck) {
    std::fflush(nullptr);
    std::_Exit(0);
  }
}

std::string Compositor::refusal(const proto::SessionInfo& info) const {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t all = 0, same_vm = 0;
  for (const auto& s : guests_) {
    if (s.done) continue;
    ++all;
    same_vm += s.peer_id == info.peer_id;
  }
  if (all >= static_cast<size_t>(options_.max_guests)) {
    return "the compositor already serves " + std::to_string(options_.max_guests) + " guests (--max-guests)";
  }
  if (!info.peer_is_host && same_vm >= static_cast<size_t>(options_.max_guests_per_vm)) {
    return info.peer_id + " already has " + std::to_string(options_.max_guests_per_vm) +
           " guest connections (--max-guests-per-vm)";
  }
  return {};
}

void Compositor::accept_loop(proto::Listener* listener) {
  while (!stop_) {
    proto::SessionInfo info;
    std::string error;
    // Handshakes run on threads of their own (proto/handshake_pool.h): this
    // is called from them, possibly after accept() returned.
    auto transport = listener->accept(options_.policy, [this] { return next_id_++; }, info, error, 200);
    if (!transport) {
      if (!error.empty()) XLOG_WARN("%s: %s", listener->describe().c_str(), error.c_str());
      continue;
    }
    auto session = std::make_unique<proto::HostSession>(std::move(transport), info);
    if (const std::string why = refusal(info); !why.empty()) {
      // The guest is told why: its first answer is this context_lost.
      XLOG_WARN("refusing guest %u (%s, %s): %s", info.connection_id,
                info.peer_name.empty() ? "unnamed" : info.peer_name.c_str(), info.peer_id.c_str(), why.c_str());
      // Records view their text: it must outlive the reply.
      const std::string message = "refused: " + why;
      proto::ContextLost lost;
      lost.message = message;
      session->reply(lost);
      continue;  // dropping the session closes the connection
    }
    serve(std::move(session));
  }
}

void Compositor::serve(std::unique_ptr<proto::HostSession> session) {
  const proto::SessionInfo info = session->info();
  std::unique_ptr<WorkerProcess> worker;
  // A window system's connection (it has a framebuffer region) runs no
  // Gallium work: it stays here, beside the desktops it drives.
  if (options_.render_workers && !session->transport().framebuffer()) {
    std::string error;
    bool transferable = false;
    proto::TransportHandoff probe;
    transferable = session->transport().handoff(probe, error);
    if (transferable) {
      const size_t guests = worker_count() + 1;  // this one included
      std::lock_guard<std::mutex> g(spare_mutex_);
      worker = std::move(spare_);
      if (!worker || !worker->alive()) worker = WorkerProcess::start(worker_config_, error);
      if (worker && !worker->attach(session, guests, transferable, error)) worker.reset();
      // The next guest's worker starts now, while this one is served.
      if (transferable && !stop_) {
        std::string why;
        spare_ = WorkerProcess::start(worker_config_, why);
        if (!spare_) XLOG_WARN("no spare render worker: %s", why.c_str());
      }
    }
    if (!worker && !transferable) {
      XLOG_DEBUG("guest %u: served in the compositor: %s", info.connection_id, error.c_str());
    } else if (!worker) {
      XLOG_WARN("refusing guest %u (%s): %s", info.connection_id, info.peer_name.c_str(), error.c_str());
      const std::string message = "refused: " + error;
      proto::ContextLost lost;
      lost.message = std::string_view(message).substr(0, 1024);
      session->reply(lost);
      return;
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  Slot& slot = guests_.emplace_back();
  slot.peer_id = info.peer_id;
  if (worker) {
    XLOG_INFO("%s: served by render worker %d (%u rasterizer threads)", worker->label().c_str(),
              static_cast<int>(worker->pid()), worker->rasterizer_threads());
    slot.worker = std::move(worker);
    slot.thread = std::thread([&slot] {
      slot.worker->run();
      slot.done = true;
    });
    return;
  }
  slot.conn = std::make_unique<GuestConnection>(std::move(session), options_.connection);
  slot.thread = std::thread([&slot] {
    slot.conn->run();
    slot.done = true;
  });
}

void Compositor::reap(bool all) {
  std::list<Slot> finished;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = guests_.begin(); it != guests_.end();) {
      if (all) it->stop();
      if (all || it->done) {
        auto next = std::next(it);
        finished.splice(finished.end(), guests_, it);
        it = next;
      } else {
        ++it;
      }
    }
  }
  for (auto& s : finished) {
    if (s.thread.joinable()) s.thread.join();
    XLOG_DEBUG("%s: connection closed", s.label().c_str());
  }
}

}  // namespace xen3d::host
