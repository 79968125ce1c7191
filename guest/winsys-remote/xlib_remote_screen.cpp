// The guest libGL's window-system glue: Mesa's xlib GLX frontend asks the
// target for a pipe_screen per X display; ours is the remoting driver, and
// presented frames come back into the guest's X window through Mesa's own
// xlib software winsys (XShm when the X server offers it, XPutImage otherwise).
#include <X11/Xlib.h>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

#include "frontend/sw_winsys.h"
#include "guest/winsys-remote/desktop_extension.h"
#include "frontend/xlibsw_api.h"
#include "guest/pipe-remote/remote_screen.h"
extern "C" {
#include "sw/xlib/xlib_sw_winsys.h"  // a C header without C++ guards
}

namespace {

std::string program_name() {
  char buf[256];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "unknown";
  buf[n] = 0;
  std::string s = buf;
  return s.substr(s.rfind('/') + 1);
}

// XEN3D_PRESENT=host: the compositor shows frames itself; nothing comes back.
bool host_only_present() {
  const char* p = std::getenv("XEN3D_PRESENT");
  return p && !std::strcmp(p, "host");
}

// XEN3D_PRESENT=readback: read every frame back into the X window even on a
// composited desktop (the fallback path, for comparisons).
bool readback_forced() {
  const char* p = std::getenv("XEN3D_PRESENT");
  return p && !std::strcmp(p, "readback");
}

class XlibPresentSink final : public xen3d::guest::PresentSink {
 public:
  explicit XlibPresentSink(Display* display)
      : ws_(xlib_create_sw_winsys(display)), readback_(!host_only_present()), desktop_(display) {}
  ~XlibPresentSink() override {
    if (dt_) ws_->displaytarget_destroy(ws_, dt_);
    if (ws_) ws_->destroy(ws_);
  }

  uint32_t window_id(void* drawable) override {
    return drawable ? static_cast<uint32_t>(static_cast<xlib_drawable*>(drawable)->drawable) : 0;
  }
  bool wants_pixels() const override { return readback_ && ws_; }
  uint64_t desktop_token(bool ask_again) override {
    return readback_forced() ? 0 : desktop_.desktop_token(ask_again);
  }
  bool composited(void* drawable) override { return desktop_.track_window(window_id(drawable)); }

  // The frame lands in the display target (an XShm image when the server
  // offers MIT-SHM), as llvmpipe's own frames do.
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

 private:
  bool ensure_target(pipe_format format, unsigned width, unsigned height) {
    if (dt_ && format == format_ && width == width_ && height == height_) return true;
    if (dt_) ws_->displaytarget_destroy(ws_, dt_);
    dt_ = ws_->displaytarget_create(ws_, PIPE_BIND_DISPLAY_TARGET, format, width, height, 64, nullptr, &dt_stride_);
    format_ = format;
    width_ = width;
    height_ = height;
    return dt_ != nullptr;
  }

  sw_winsys* ws_;
  bool readback_;
  xen3d::guest::DesktopExtension desktop_;
  sw_displaytarget* dt_ = nullptr;
  unsigned dt_stride_ = 0;
  pipe_format format_ = PIPE_FORMAT_NONE;
  unsigned width_ = 0, height_ = 0;
};

}  // namespace

extern "C" pipe_screen* xlib_create_screen(Display* display);

extern "C" pipe_screen* xlib_create_screen(Display* display) {
  auto dev = xen3d::guest::RemoteDevice::open(program_name());
  if (!dev) return nullptr;
  return xen3d::guest::remote_screen_create(std::move(dev), std::make_unique<XlibPresentSink>(display));
}
