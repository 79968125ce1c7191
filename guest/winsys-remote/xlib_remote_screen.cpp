// The guest libGL's window-system glue: Mesa's xlib GLX frontend asks the
// target for a pipe_screen per X display; ours is the remoting driver, and
// presented frames come back into the guest's X window through Mesa's own
// xlib software winsys (XShm when the X server offers it, XPutImage otherwise).
#include <X11/Xlib.h>
#include <cstdlib>
#include <cstring>

#include "guest/winsys-remote/desktop_extension.h"
#include "guest/winsys-remote/sw_winsys_present_sink.h"
#include "guest/winsys-remote/xshm_frames.h"
#include "util/format/u_format.h"
// After the pipe headers, which it needs.
#include "frontend/xlibsw_api.h"
extern "C" {
#include "sw/xlib/xlib_sw_winsys.h"  // a C header without C++ guards
}

namespace {

// XEN3D_PRESENT=host: the compositor shows frames itself; nothing comes back.
bool host_only_present() {
  const char* p = std::getenv("XEN3D_PRESENT");
  return p && !std::strcmp(p, "host");
}

// XEN3D_PRESENT=readback: read every frame back into the X window even on a
// composited desktop or where the X server could show the host's memory
// (the fallback path, for comparisons).
bool readback_forced() {
  const char* p = std::getenv("XEN3D_PRESENT");
  return p && !std::strcmp(p, "readback");
}

class XlibPresentSink final : public xen3d::guest::SwWinsysPresentSink {
 public:
  explicit XlibPresentSink(Display* display)
      : SwWinsysPresentSink(xlib_create_sw_winsys(display)), readback_(!host_only_present()), desktop_(display),
        frames_(display) {}

  uint32_t window_id(void* drawable) override {
    return drawable ? static_cast<uint32_t>(static_cast<xlib_drawable*>(drawable)->drawable) : 0;
  }
  bool wants_pixels() const override { return readback_ && SwWinsysPresentSink::wants_pixels(); }
  uint64_t desktop_token(bool ask_again) override {
    return readback_forced() ? 0 : desktop_.desktop_token(ask_again);
  }
  bool composited(void* drawable) override { return desktop_.track_window(window_id(drawable)); }

  bool shows_shared(void* drawable, pipe_format format) override {
    if (readback_forced() || !frames_.usable() || !drawable) return false;
    // The X server takes the image as ZPixmap of the window's depth: 4 bytes
    // a pixel at depth 24/32, 2 at 15/16, as Mesa's xlib visuals map them.
    const int depth = static_cast<xlib_drawable*>(drawable)->depth;
    const unsigned bpp = util_format_get_blocksize(format);
    return util_format_get_blockwidth(format) == 1 && util_format_get_blockheight(format) == 1 &&
           (((depth == 24 || depth == 32) && bpp == 4) || ((depth == 15 || depth == 16) && bpp == 2));
  }
  bool attach_shared(uint32_t resource, int fd, pipe_format format, unsigned stride, unsigned rows) override {
    return frames_.attach(resource, fd, stride, rows, util_format_get_blocksize(format));
  }
  void show_shared(void* drawable, uint32_t resource, unsigned width, unsigned height, const pipe_box* damage) override {
    const auto* d = static_cast<xlib_drawable*>(drawable);
    frames_.show(resource, d->drawable, d->depth, width, height, damage);
  }
  void forget_shared(uint32_t resource) override { frames_.forget(resource); }

 private:
  bool readback_;
  xen3d::guest::DesktopExtension desktop_;
  xen3d::guest::XShmFrames frames_;
};

}  // namespace

namespace {
pipe_screen* first_screen = nullptr;  // for GLX_MESA_query_renderer (glx_query_renderer.c)
}  // namespace

extern "C" pipe_screen* xlib_create_screen(Display* display);
extern "C" pipe_screen* xen3d_glx_first_screen();

extern "C" pipe_screen* xlib_create_screen(Display* display) {
  auto dev = xen3d::guest::RemoteDevice::open_for_this_program();
  if (!dev) return nullptr;
  pipe_screen* s = xen3d::guest::remote_screen_create(std::move(dev), std::make_unique<XlibPresentSink>(display));
  if (!first_screen) first_screen = s;
  return s;
}

extern "C" pipe_screen* xen3d_glx_first_screen() { return first_screen; }
