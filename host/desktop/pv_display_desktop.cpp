#include "host/desktop/pv_display_desktop.h"

#include <cstring>
#include <mutex>
#include <vector>

#include "host/desktop/desktop_registry.h"
#include "host/desktop/framebuffer_source.h"
#include "common/log.h"

namespace xen3d::host {
namespace {

// The scanout as a FramebufferSource. A new scanout is only queued here
// (pending_) and taken in take_updates(), which runs under the desktop's
// lock: compose() never sees the geometry change under it.
class ScanoutFramebuffer final : public FramebufferSource {
 public:
  ScanoutFramebuffer(uint32_t width, uint32_t height)
      : off_width_(width), off_height_(height), black_(size_t(width) * height * 4, 0) {
    show_black();
  }

  void queue(const xen::Scanout& s) {
    std::lock_guard<std::mutex> g(pending_mutex_);
    pending_ = s;
    has_pending_ = true;
  }

  const uint8_t* pixels() const override {
    return current_.buffer ? current_.buffer->data() + current_.offset : black_.data();
  }

  bool take_updates(std::vector<DesktopRect>& out, std::string&) override {
    bool full = false;
    {
      std::lock_guard<std::mutex> g(pending_mutex_);
      if (has_pending_) {
        current_ = std::move(pending_);  // the previous buffer may be unmapped here
        pending_ = {};
        has_pending_ = false;
        full = true;
      }
    }
    if (full) {
      if (current_.buffer) {
        width_ = current_.width;
        height_ = current_.height;
        stride_ = current_.stride;
      } else {
        show_black();
      }
      shadow_.assign(size_t(width_) * height_ * 4, 0);
    }
    if (!current_.buffer) {
      if (full) out.push_back({0, 0, width_, height_});
      return true;
    }
    diff_rows(full, out);
    return true;
  }

  bool resize(uint32_t, uint32_t, uint32_t, std::string& error) override {
    error = "a PV display's size comes from the mode the guest sets";
    return false;
  }

 private:
  void show_black() {
    width_ = off_width_;
    height_ = off_height_;
    stride_ = off_width_ * 4;
  }

  // Rows that differ from the shadow become damage, grouped into bands of
  // consecutive rows spanning their changed columns; the shadow takes them.
  void diff_rows(bool all, std::vector<DesktopRect>& out) {
    const uint8_t* src = pixels();
    const size_t row_bytes = size_t(width_) * 4;
    bool in_band = false;
    uint32_t band_y = 0, band_x0 = 0, band_x1 = 0;
    auto close_band = [&](uint32_t y_end) {
      if (in_band) out.push_back({int32_t(band_x0), int32_t(band_y), band_x1 - band_x0, y_end - band_y});
      in_band = false;
    };
    for (uint32_t y = 0; y < height_; ++y) {
      const uint8_t* row = src + size_t(y) * stride_;
      uint8_t* copy = shadow_.data() + size_t(y) * row_bytes;
      uint32_t x0 = 0, x1 = width_;
      if (!all) {
        if (std::memcmp(row, copy, row_bytes) == 0) {
          close_band(y);
          continue;
        }
        while (x0 < width_ && std::memcmp(row + size_t(x0) * 4, copy + size_t(x0) * 4, 4) == 0) ++x0;
        while (x1 > x0 && std::memcmp(row + size_t(x1 - 1) * 4, copy + size_t(x1 - 1) * 4, 4) == 0) --x1;
        if (x0 == x1) {  // the guest changed it back meanwhile
          close_band(y);
          continue;
        }
      }
      std::memcpy(copy, row, row_bytes);
      if (!in_band) {
        in_band = true;
        band_y = y;
        band_x0 = x0;
        band_x1 = x1;
      } else {
        band_x0 = std::min(band_x0, x0);
        band_x1 = std::max(band_x1, x1);
      }
    }
    close_band(height_);
  }

  const uint32_t off_width_, off_height_;  // shown black while the display is off
  const std::vector<uint8_t> black_;
  xen::Scanout current_;
  std::vector<uint8_t> shadow_;  // what was last taken, width_*4 bytes a row

  std::mutex pending_mutex_;
  xen::Scanout pending_;
  bool has_pending_ = false;
};

class PvDisplayDesktop final : public xen::PvDisplay {
 public:
  PvDisplayDesktop(DesktopRegistry& desktops, std::shared_ptr<Desktop> desktop, ScanoutFramebuffer* fb)
      : desktops_(desktops), desktop_(std::move(desktop)), fb_(fb) {}

  ~PvDisplayDesktop() override {
    // Let go of the guest's buffer here, on the backend's thread, rather
    // than whenever the last holder of the desktop does.
    fb_->queue({});
    std::string error;
    desktop_->framebuffer_updated(error);
    desktops_.close(desktop_);
  }

  void scan_out(const xen::Scanout& s) override {
    fb_->queue(s);
    refresh();
  }

  void refresh() override {
    std::string error;
    desktop_->framebuffer_updated(error);  // cannot fail: the page is ours
    if (desktop_->dirty()) desktops_.damaged(*desktop_);
  }

 private:
  DesktopRegistry& desktops_;
  std::shared_ptr<Desktop> desktop_;
  ScanoutFramebuffer* fb_;  // owned by desktop_
};

}  // namespace

std::unique_ptr<xen::PvDisplay> open_pv_display_desktop(DesktopRegistry& desktops, const xen::PvDisplayConfig& c,
                                                        std::string& error) {
  std::string name = c.vm;
  if (c.device || c.connector) name += "/" + std::to_string(c.device) + "." + std::to_string(c.connector);
  auto fb = std::make_unique<ScanoutFramebuffer>(c.width, c.height);
  ScanoutFramebuffer* raw = fb.get();
  // Named after the domain in xenstore: the domain owns the name.
  auto desktop = desktops.open(name, {"dom" + std::to_string(c.domid), true}, std::move(fb), error);
  if (!desktop) return nullptr;
  XLOG_INFO("VM desktop '%s' (%ux%u) from dom%u's PV display", name.c_str(), c.width, c.height, c.domid);
  return std::make_unique<PvDisplayDesktop>(desktops, std::move(desktop), raw);
}

}  // namespace xen3d::host
