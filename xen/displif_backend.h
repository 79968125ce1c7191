// The compositor as the backend of Xen's PV display protocol (displif,
// xen/io/displif.h: the protocol of Linux's xen-drm-front). A domain created
// with `vdispl = ["backend=Domain-0,be-alloc=0,connectors=c0:1024x768"]` gets
// a DRM device whose scanout buffers are the guest's own grant pages; this
// backend maps them read-only in dom0 and hands them to the compositor as the
// VM's 2D desktop (docs/xen.md says why displif and not the old xenfb).
//
// Everything the guest writes is hostile input: its xenstore nodes, its ring
// indices and requests, its page directories. A request that does not check
// out gets an error status; a ring the guest broke cuts that device off
// (backend state Closing). Neither touches other devices or domains.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "xen/xen_api.h"

namespace xen3d::xen {

// Pixels of one guest display buffer, mapped read-only from its grant pages.
// Unmapped when the last holder lets go, so a buffer on screen stays mapped
// until the next scanout replaces it.
class GuestPixels {
 public:
  GuestPixels(std::shared_ptr<GrantMapper> mapper, void* start, uint32_t pages)
      : mapper_(std::move(mapper)), start_(start), pages_(pages) {}
  ~GuestPixels() { mapper_->unmap(start_, pages_); }
  GuestPixels(const GuestPixels&) = delete;
  GuestPixels& operator=(const GuestPixels&) = delete;
  const uint8_t* data() const { return static_cast<const uint8_t*>(start_); }
  size_t size() const { return size_t(pages_) * kPageSize; }

 private:
  std::shared_ptr<GrantMapper> mapper_;
  void* start_;
  uint32_t pages_;
};

// What a connector shows: a B8G8R8X8 picture inside a guest buffer (checked
// to lie inside it), or nothing (buffer null: the display is off).
struct Scanout {
  std::shared_ptr<const GuestPixels> buffer;
  size_t offset = 0;  // bytes from the buffer start to the top-left pixel
  uint32_t width = 0, height = 0, stride = 0;
};

// One connector's screen on the compositor's side.
class PvDisplay {
 public:
  virtual ~PvDisplay() = default;
  // The guest set a mode or flipped: show this from now on.
  virtual void scan_out(const Scanout& s) = 0;
  // Called at the refresh rate: the guest may draw into the buffer on screen
  // without telling anyone (Xorg's modesetting front buffer), as on a real
  // display that scans out continuously.
  virtual void refresh() = 0;
};

struct PvDisplayConfig {
  DomId domid = 0;
  std::string vm;  // the domain's name
  uint32_t device = 0, connector = 0;
  uint32_t width = 0, height = 0;  // the connector's resolution
};
using PvDisplayFactory = std::function<std::unique_ptr<PvDisplay>(const PvDisplayConfig&, std::string& error)>;

class DisplifBackend {
 public:
  // Serves every vdispl device whose backend is this domain, now and later,
  // on a thread of its own. nullptr with `error` when Xen is not reachable.
  static std::unique_ptr<DisplifBackend> start(PvDisplayFactory factory, int refresh_hz, std::string& error);
  virtual ~DisplifBackend() = default;  // stops; every device is closed and unmapped
};

}  // namespace xen3d::xen
