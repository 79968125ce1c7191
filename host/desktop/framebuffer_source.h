// Where a VM desktop's 2D contents come from. One interface for every guest
// kind: a local guest's framebuffer region in its window-system connection
// (LocalFramebuffer, below) and, for Xen guests, the PV framebuffer backend.
// Both use the Xen PV framebuffer page (proto/xenfb_page.h): pixels plus an
// out ring of update events, all of it guest-writable and validated here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "host/desktop/desktop_control.h"

namespace xen3d::host {

class FramebufferSource {
 public:
  virtual ~FramebufferSource() = default;
  uint32_t width() const { return width_; }
  uint32_t height() const { return height_; }
  uint32_t stride() const { return stride_; }
  // B8G8R8X8 rows `stride` bytes apart; guest memory: it may change while read.
  virtual const uint8_t* pixels() const = 0;
  // Consumes the update events the guest queued, clipped to the framebuffer.
  // False (with `error`) when the guest broke the page's ring.
  virtual bool take_updates(std::vector<DesktopRect>& out, std::string& error) = 0;
  // The guest says the framebuffer now has this geometry; false with `error`
  // when it does not fit the shared memory.
  virtual bool resize(uint32_t width, uint32_t height, uint32_t stride, std::string& error) = 0;

 protected:
  uint32_t width_ = 0, height_ = 0, stride_ = 0;
};

// Consumes the out ring of a Xen PV framebuffer page: shared by the local
// framebuffer and the Xen backend.
bool take_xenfb_updates(void* page, uint32_t fb_width, uint32_t fb_height, std::vector<DesktopRect>& out,
                        std::string& error);

// A local guest's framebuffer: the page and the pixels right behind it in the
// connection's framebuffer region (host-allocated and sealed, so the guest
// cannot shrink it under us).
class LocalFramebuffer final : public FramebufferSource {
 public:
  LocalFramebuffer(uint8_t* region, uint32_t region_size) : region_(region), region_size_(region_size) {}
  const uint8_t* pixels() const override;
  bool take_updates(std::vector<DesktopRect>& out, std::string& error) override;
  bool resize(uint32_t width, uint32_t height, uint32_t stride, std::string& error) override;

 private:
  uint8_t* region_;
  uint32_t region_size_;
};

}  // namespace xen3d::host
