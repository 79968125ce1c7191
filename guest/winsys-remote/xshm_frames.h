// Window buffers shown straight from the host memory they are rendered in:
// each buffer's memfd (frame_share) is attached to the X server with MIT-SHM
// 1.2 (xcb_shm_attach_fd, read-only) and frames are put from it with
// ShmPutImage, as Mesa's xlib winsys does from its own SysV segments for
// in-process llvmpipe. Nothing is copied in the guest.
#pragma once

#include <X11/Xlib.h>
#include <xcb/xcb.h>

#include <cstdint>
#include <map>

struct pipe_box;

namespace xen3d::guest {

class XShmFrames {
 public:
  explicit XShmFrames(Display* display);
  ~XShmFrames();
  XShmFrames(const XShmFrames&) = delete;
  XShmFrames& operator=(const XShmFrames&) = delete;

  // Whether the X server takes shared memory as file descriptors (MIT-SHM 1.2).
  bool usable() const { return usable_; }
  // Attaches buffer `id`'s memory (owns `fd`): rows `stride` bytes apart,
  // `rows` of them, `bytes_per_pixel` each. False when the X server refuses it.
  bool attach(uint32_t id, int fd, unsigned stride, unsigned rows, unsigned bytes_per_pixel);
  // Puts the `damage` part (all of width x height when null) of buffer `id`
  // into `window` (of `depth`), at the same place.
  void show(uint32_t id, Drawable window, int depth, unsigned width, unsigned height, const pipe_box* damage);
  void forget(uint32_t id);

 private:
  struct Frame {
    uint32_t segment = 0;
    uint16_t total_width = 0, total_height = 0;
    uint32_t gc = 0;           // for gc_drawable
    Drawable gc_drawable = 0;
  };

  xcb_connection_t* conn_ = nullptr;
  bool usable_ = false;
  std::map<uint32_t, Frame> frames_;
};

}  // namespace xen3d::guest
