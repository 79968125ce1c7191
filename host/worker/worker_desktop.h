// A render worker's GL connection presenting into the compositor's desktop
// (docs/render-workers.md): desktop_join goes over the link, and each
// window's frames are copied into a surface whose memory the compositor
// shares (host/desktop/shared_surface.h), then announced with worker_present.
// The copy is the one an in-process present makes; nothing more crosses.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "host/desktop/present_target.h"
#include "host/desktop/shared_surface.h"
#include "host/validate/guest_memory_account.h"
#include "host/worker/worker_link_client.h"

struct pipe_screen;

namespace xen3d::host {

class WorkerDesktop final : public RemoteDesktops {
 public:
  WorkerDesktop(WorkerLinkClient& link, pipe_screen* screen) : link_(link), screen_(screen) {}

  Joined join(uint64_t token, std::shared_ptr<GuestMemoryAccount> memory) override;
  void leave() override;

 private:
  WorkerLinkClient& link_;
  pipe_screen* screen_;
  bool joined_ = false;
};

}  // namespace xen3d::host
