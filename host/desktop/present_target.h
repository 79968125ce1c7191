// Where a GL connection's composited presents go (GalliumExecutor::present):
// a desktop in this process, or, in a render worker, the compositor's
// desktop through a shared surface (host/worker/worker_desktop.h).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "host/desktop/desktop.h"
#include "host/desktop/desktop_registry.h"

struct pipe_context;
struct pipe_resource;

namespace xen3d::host {

class PresentTarget {
 public:
  virtual ~PresentTarget() = default;
  // Puts the frame's (level, layer) into `window` on the desktop, copying it
  // with `pipe` (the guest's context, driver lock held). False with `error`:
  // the guest broke a rule (its connection is poisoned).
  virtual bool present(pipe_context* pipe, pipe_resource* frame, unsigned level, unsigned layer, uint32_t window,
                       std::string& error) = 0;
};

// A render worker's way to the compositor's desktops (host/worker/worker_desktop.h).
class RemoteDesktops {
 public:
  virtual ~RemoteDesktops() = default;
  struct Joined {
    bool ok = false;
    bool rejected = false;  // the guest broke the rules: poison it with `reason`
    uint32_t desktop_id = 0;
    std::string reason;
    std::shared_ptr<PresentTarget> target;  // when ok
  };
  // The guest's desktop_join; window surfaces are charged to `memory`.
  virtual Joined join(uint64_t token, std::shared_ptr<GuestMemoryAccount> memory) = 0;
  // The guest presents into no desktop any more.
  virtual void leave() = 0;
};

// A desktop of this process's registry.
class LocalPresentTarget final : public PresentTarget {
 public:
  LocalPresentTarget(std::shared_ptr<Desktop> desktop, DesktopRegistry& registry, uint32_t connection)
      : desktop_(std::move(desktop)), registry_(registry), connection_(connection) {}
  bool present(pipe_context* pipe, pipe_resource* frame, unsigned level, unsigned layer, uint32_t window,
               std::string& error) override {
    bool ok;
    {
      std::lock_guard<std::mutex> g(registry_.composition_lock());  // the driver lock is held by dispatch
      ok = desktop_->present(pipe, frame, level, layer, window, connection_, error);
    }
    if (ok) registry_.damaged(*desktop_);
    return ok;
  }

 private:
  std::shared_ptr<Desktop> desktop_;
  DesktopRegistry& registry_;
  const uint32_t connection_;
};

}  // namespace xen3d::host
