#include "guest/winsys-remote/desktop_extension.h"

#include <X11/Xlib-xcb.h>
#include <xcb/xcb.h>
#include <xcb/xcbext.h>

#include <cstdlib>
#include <sys/uio.h>

extern "C" {
#include "guest/xorg-ext/xen3d_ext_proto.h"
}

namespace xen3d::guest {

namespace {

xcb_extension_t xen3d_extension = {XEN3D_EXTENSION_NAME, 0};

// One request with a reply, through the Display's own xcb connection (so it
// is ordered with everything Xlib sent before). nullptr on any X error.
template <class Reply, class Request>
Reply* round_trip(Display* display, uint8_t minor, Request& body) {
  xcb_connection_t* c = XGetXCBConnection(display);
  const xcb_query_extension_reply_t* ext = xcb_get_extension_data(c, &xen3d_extension);
  if (!ext || !ext->present) return nullptr;
  XFlush(display);
  iovec parts[4];
  parts[2].iov_base = &body;
  parts[2].iov_len = sizeof body;
  parts[3].iov_base = nullptr;
  parts[3].iov_len = 0;
  xcb_protocol_request_t req = {1, &xen3d_extension, minor, 0};
  const unsigned seq = xcb_send_request(c, XCB_REQUEST_CHECKED, &parts[2], &req);
  xcb_generic_error_t* err = nullptr;
  void* reply = xcb_wait_for_reply(c, seq, &err);
  if (err) {
    std::free(err);
    std::free(reply);
    return nullptr;
  }
  return static_cast<Reply*>(reply);
}

}  // namespace

bool DesktopExtension::query() {
  queried_ = true;
  const uint64_t before = token_;
  token_ = 0;
  xXen3DQueryDesktopReq body{};
  auto* r = round_trip<xXen3DQueryDesktopReply>(display_, X_Xen3DQueryDesktop, body);
  if (r && r->composited && r->majorVersion == XEN3D_EXT_MAJOR) token_ = (uint64_t{r->tokenHi} << 32) | r->tokenLo;
  std::free(r);
  // A new desktop: windows are registered with it afresh.
  if (token_ != before) windows_.clear();
  return token_ != 0;
}

uint64_t DesktopExtension::desktop_token(bool ask_again) {
  if (!queried_ || ask_again) query();
  return token_;
}

bool DesktopExtension::track_window(uint32_t window) {
  if (!token_ || !window) return false;
  auto it = windows_.find(window);
  if (it != windows_.end()) return it->second;
  xXen3DRegisterWindowReq body{};
  body.window = window;
  auto* r = round_trip<xXen3DRegisterWindowReply>(display_, X_Xen3DRegisterWindow, body);
  const bool tracked = r && r->tracked;
  std::free(r);
  windows_[window] = tracked;
  return tracked;
}

}  // namespace xen3d::guest
