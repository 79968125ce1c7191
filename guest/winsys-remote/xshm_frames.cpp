#include "guest/winsys-remote/xshm_frames.h"

#include <X11/Xlib-xcb.h>
#include <unistd.h>
#include <xcb/shm.h>

#include <algorithm>
#include <cstdlib>

#include "pipe/p_state.h"

namespace xen3d::guest {

XShmFrames::XShmFrames(Display* display) {
  if (!display) return;
  conn_ = XGetXCBConnection(display);
  if (!conn_) return;
  const xcb_query_extension_reply_t* ext = xcb_get_extension_data(conn_, &xcb_shm_id);
  if (!ext || !ext->present) return;
  xcb_shm_query_version_reply_t* v = xcb_shm_query_version_reply(conn_, xcb_shm_query_version(conn_), nullptr);
  usable_ = v && (v->major_version > 1 || (v->major_version == 1 && v->minor_version >= 2));
  std::free(v);
}

XShmFrames::~XShmFrames() {
  while (!frames_.empty()) forget(frames_.begin()->first);
}

bool XShmFrames::attach(uint32_t id, int fd, unsigned stride, unsigned rows, unsigned bytes_per_pixel) {
  forget(id);
  if (!usable_ || !bytes_per_pixel || stride % bytes_per_pixel || stride / bytes_per_pixel > 0xffff || rows > 0xffff) {
    ::close(fd);
    return false;
  }
  Frame f;
  f.segment = xcb_generate_id(conn_);
  f.total_width = uint16_t(stride / bytes_per_pixel);
  f.total_height = uint16_t(rows);
  // xcb closes fd once it is sent. Read-only: the host sealed it against writers.
  xcb_generic_error_t* error = xcb_request_check(conn_, xcb_shm_attach_fd_checked(conn_, f.segment, fd, 1));
  if (error) {
    // Not for this X server (a remote one, or one that cannot map memfds):
    // every later buffer would be refused the same way.
    std::free(error);
    usable_ = false;
    return false;
  }
  frames_[id] = f;
  return true;
}

void XShmFrames::show(uint32_t id, Drawable window, int depth, unsigned width, unsigned height, const pipe_box* damage) {
  auto it = frames_.find(id);
  if (it == frames_.end() || !window) return;
  Frame& f = it->second;
  if (f.gc_drawable != window) {
    if (f.gc) xcb_free_gc(conn_, f.gc);
    f.gc = xcb_generate_id(conn_);
    xcb_create_gc(conn_, f.gc, uint32_t(window), 0, nullptr);
    f.gc_drawable = window;
  }
  // The damage as given, kept inside the frame: the X server refuses a
  // source outside the image, and its error would end the application.
  int x0 = 0, y0 = 0, x1 = int(width), y1 = int(height);
  if (damage) {
    x0 = std::max(x0, int(damage->x));
    y0 = std::max(y0, int(damage->y));
    x1 = std::min(x1, int(damage->x) + int(damage->width));
    y1 = std::min(y1, int(damage->y) + int(damage->height));
  }
  x1 = std::min(x1, int(f.total_width));
  y1 = std::min(y1, int(f.total_height));
  if (x1 <= x0 || y1 <= y0) return;
  const int x = x0, y = y0;
  const unsigned w = unsigned(x1 - x0), h = unsigned(y1 - y0);
  xcb_shm_put_image(conn_, uint32_t(window), f.gc, f.total_width, f.total_height, int16_t(x), int16_t(y), uint16_t(w),
                    uint16_t(h), int16_t(x), int16_t(y), uint8_t(depth), XCB_IMAGE_FORMAT_Z_PIXMAP, 0, f.segment, 0);
  xcb_flush(conn_);
}

void XShmFrames::forget(uint32_t id) {
  auto it = frames_.find(id);
  if (it == frames_.end()) return;
  if (it->second.gc) xcb_free_gc(conn_, it->second.gc);
  xcb_shm_detach(conn_, it->second.segment);
  xcb_flush(conn_);
  frames_.erase(it);
}

}  // namespace xen3d::guest
