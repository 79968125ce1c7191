// One guest connection on the host: decodes its command ring, validates each
// record and executes it. A bad record poisons this connection only (the guest
// is told its context is lost); nothing it sends can reach another guest.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "host/shader/tgsi_to_nir.h"

#include "host/compositor/watchdog_page.h"
#include "host/executor/gallium_executor.h"
#include "host/validate/rejection.h"
#include "proto/commands.gen.h"
#include "proto/command_recording.h"
#include "proto/host_session.h"

struct pipe_screen;

namespace xen3d::host {

class ContextPool;
class ConnectionInput;
class Desktop;
class DesktopRegistry;
class RemoteDesktops;

struct ConnectionOptions {
  bool trace = false;  // print every decoded record
  // The host GPU every guest's Gallium records run on, and its caps snapshot
  // (shared, immutable). Without a screen, Gallium records are refused.
  pipe_screen* screen = nullptr;
  std::shared_ptr<const proto::CapsTable> caps;
  bool shares_frames = false;  // HostGpu::shares_frames(): window buffers can go to the guest's X server
  uint64_t max_guest_resource_bytes = uint64_t(4) << 30;
  uint32_t max_guest_objects = 65536;
  uint32_t max_shader_tokens = 262144;  // per shader; its bytes also count against max_guest_resource_bytes
  ShaderPath shader_path = ShaderPath::Nir;  // shader_path_for(the driver)
  // --max-arena-mib: the most shared memory a local guest may place buffers
  // in (arena_open; persistent maps, ARB_buffer_storage). 0: none.
  uint32_t max_arena_mib = 256;
  std::string record_dir;  // --record: each guest's command stream goes to a file here
  std::string snapshot_dir;             // --snapshot: presented frames as PNG files
  std::set<uint64_t> snapshot_frames;   // --snapshot-frames: also keep these frames (1-based, per window)
  std::mutex* driver_lock = nullptr;    // HostGpu::context_lock(): held around every use of the host driver
  DesktopRegistry* desktops = nullptr;  // VM desktops; null: this compositor composites nothing
  RemoteDesktops* worker_desktop = nullptr;  // in a render worker: the compositor's desktops, over the link
  ContextPool* context_pool = nullptr;  // the fuzz harness only: GalliumExecutor::Config::context_pool
  // In a render worker (docs/render-workers.md): the watchdog page, where the
  // connection says when the record now executing started (0 while it waits
  // for its guest) and which it is; the compositor kills a worker whose
  // clock runs past --gpu-budget-ms.
  WatchdogPage* watchdog = nullptr;
  // In a render worker: the compositor-wide totals the host's operator sees
  // in host_stats (a worker knows only its own guest). False: not available.
  std::function<bool(proto::WorkerTotals&)> compositor_totals;
};

class GuestConnection {
 public:
  GuestConnection(std::unique_ptr<proto::HostSession> session, ConnectionOptions options);
  ~GuestConnection();

  // Serves the guest until it says goodbye, disappears, corrupts its ring, or
  // stop() is called. Everything the guest owns is freed before returning.
  void run();
  void stop() { stop_ = true; }
  // After run() has returned: the connection as it was when constructed, on
  // the same session, which starts over on rings whose counters the guest
  // has zeroed. Every guest object is already freed (run() tore them down);
  // the executor and its quota account are new, so ids, quotas, default
  // samplers and empty vertex buffers are those of a new connection. The
  // fuzz harness runs every input this way instead of connecting anew.
  void restart();

  // "guest 5 (glxgears, pid 123 in vm-a (dom3), xen)": how logs name a guest.
  static std::string label_for(const proto::SessionInfo& info, const std::string& transport);

  uint32_t id() const { return session_->info().connection_id; }
  const std::string& label() const { return label_; }
  bool poisoned() const { return poisoned_; }
  uint64_t records_executed() const { return executed_; }

  // One handler per record type; the dispatcher picks by opcode.
  proto::DecodeError operator()(const proto::Nop&);
  proto::DecodeError operator()(const proto::Ping&);
  proto::DecodeError operator()(const proto::ChecksumBulk&);
  proto::DecodeError operator()(const proto::BulkSink&);
  proto::DecodeError operator()(const proto::PayloadChunk&);
  proto::DecodeError operator()(const proto::Goodbye&);
  // Only this connection's own numbers, unless the peer is the host's operator (compositor-wide totals).
  proto::DecodeError operator()(const proto::HostStats&);
  // Desktops (connection_desktop.cpp): the window system's records and a GL connection's join.
  proto::DecodeError operator()(const proto::DesktopOpen&);
  proto::DecodeError operator()(const proto::DesktopAttach&);
  proto::DecodeError operator()(const proto::DesktopResize&);
  proto::DecodeError operator()(const proto::DesktopDamage&);
  proto::DecodeError operator()(const proto::WindowState&);
  proto::DecodeError operator()(const proto::WindowGone&);
  proto::DecodeError operator()(const proto::DesktopJoin&);
  // Gallium records go to the executor; handshake and
  // host-side records are only valid elsewhere.
  template <class R>
  proto::DecodeError operator()(const R& r) {
    if constexpr (requires(GalliumExecutor& e) { e.handle(r); }) {
      if (!executor_) return proto::DecodeError::rejected("this compositor has no host GPU for Gallium records");
      return executor_->handle(r);
    } else {
      return proto::DecodeError::rejected("record not valid on the command ring");
    }
  }

 private:
  // A new executor and quota account (constructor and restart).
  void make_executor();
  void poison(const proto::DecodeError& e, const uint8_t* rec, size_t size);
  proto::DecodeError owned_desktop(const char* record);
  // Leaves the desktop this connection opened or joined (end of the connection).
  void leave_desktops();
  void start_input(Desktop& desktop);
  // desktop_open / desktop_attach answered: refused, or the desktop is ours.
  proto::DecodeError refuse_desktop(const std::string& what, const std::string& why, bool expected = false);
  proto::DecodeError take_desktop(std::shared_ptr<Desktop> desktop, bool attached);
  std::unique_lock<std::mutex> lock_driver() {
    return options_.driver_lock ? std::unique_lock<std::mutex>(*options_.driver_lock) : std::unique_lock<std::mutex>();
  }

  std::unique_ptr<proto::HostSession> session_;
  ConnectionOptions options_;
  std::unique_ptr<GalliumExecutor> executor_;
  // --max-guest-mem-mib: the executor's objects and the window surfaces desktops keep for this guest.
  std::shared_ptr<GuestMemoryAccount> memory_;
  std::unique_ptr<proto::RecordingWriter> recording_;
  Rejection reject_;  // keeps the text of desktop records' rejections
  std::shared_ptr<Desktop> owned_desktop_;   // this connection is its window system
  bool attached_ = false;                    // ... attached to a PV display's desktop, not opened by it
  std::shared_ptr<ConnectionInput> input_;   // the outputs' input for that desktop
  std::shared_ptr<Desktop> joined_desktop_;  // this GL connection presents into it
  std::string label_;
  std::unique_lock<std::mutex>* dispatch_lock_ = nullptr;  // the driver lock while a record executes
  std::atomic<bool> stop_{false};
  bool poisoned_ = false;
  bool goodbye_ = false;
  uint64_t executed_ = 0;
  uint64_t index_ = 0;
};

}  // namespace xen3d::host
