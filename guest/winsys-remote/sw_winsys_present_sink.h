// Frames that come back from the host land in a display target of one of
// Mesa's software winsyses (xlib for GLX, the DRI swrast loader's for EGL) and
// are shown through it, exactly as llvmpipe's own frames are. Each target adds
// what its window system knows about windows and desktops.
#pragma once

#include "guest/pipe-remote/remote_screen.h"
// After the pipe headers, which it needs.
#include "frontend/sw_winsys.h"

namespace xen3d::guest {

class SwWinsysPresentSink : public PresentSink {
 public:
  // Takes `ws` (may be null: then nothing is read back).
  explicit SwWinsysPresentSink(sw_winsys* ws) : ws_(ws) {}
  ~SwWinsysPresentSink() override {
    if (dt_) ws_->displaytarget_destroy(ws_, dt_);
    if (ws_) ws_->destroy(ws_);
  }

  bool wants_pixels() const override { return ws_ != nullptr; }

  // The frame lands in the display target (an XShm image when the X server
  // offers MIT-SHM): no staging copy.
  uint8_t* frame_buffer(void* drawable, pipe_format format, unsigned width, unsigned height,
                        unsigned& stride) override {
    if (!drawable || !ensure_target(format, width, height)) return nullptr;
    stride = dt_stride_;
    return static_cast<uint8_t*>(ws_->displaytarget_map(ws_, dt_, PIPE_MAP_WRITE));
  }

  void show_frame(void* drawable, const pipe_box* damage, bool complete) override {
    ws_->displaytarget_unmap(ws_, dt_);
    if (complete) ws_->displaytarget_display(ws_, dt_, drawable, const_cast<pipe_box*>(damage));
  }

 protected:
  sw_winsys* const ws_;

 private:
  bool ensure_target(pipe_format format, unsigned width, unsigned height) {
    if (!ws_) return false;
    if (dt_ && format == format_ && width == width_ && height == height_) return true;
    if (dt_) ws_->displaytarget_destroy(ws_, dt_);
    dt_ = ws_->displaytarget_create(ws_, PIPE_BIND_DISPLAY_TARGET, format, width, height, 64, nullptr, &dt_stride_);
    format_ = format;
    width_ = width;
    height_ = height;
    return dt_ != nullptr;
  }

  sw_displaytarget* dt_ = nullptr;
  unsigned dt_stride_ = 0;
  pipe_format format_ = PIPE_FORMAT_NONE;
  unsigned width_ = 0, height_ = 0;
};

}  // namespace xen3d::guest
