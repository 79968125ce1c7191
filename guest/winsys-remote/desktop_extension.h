// The guest libGL's side of the XEN3D X extension (guest/xorg-ext): asks the
// guest X server whether the compositor composites this desktop, and
// registers GL windows so that the server reports their placement. Without
// the extension (plain Xvfb, no module) everything answers "not composited"
// and frames are read back into the X window as before.
#pragma once

#include <X11/Xlib.h>

#include <cstdint>
#include <map>

namespace xen3d::guest {

class DesktopExtension {
 public:
  explicit DesktopExtension(Display* display) : display_(display) {}
  // The desktop's join token; 0 when the server has no XEN3D extension or
  // its desktop is not composited. Asked once, or again with `ask_again`.
  uint64_t desktop_token(bool ask_again = false);
  // Registers `window` once; true when the server tracks it for the compositor.
  bool track_window(uint32_t window);

 private:
  bool query();

  Display* display_;
  bool queried_ = false;
  uint64_t token_ = 0;
  std::map<uint32_t, bool> windows_;
};

}  // namespace xen3d::guest
