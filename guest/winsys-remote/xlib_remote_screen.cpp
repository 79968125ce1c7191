// The guest libGL's window-system glue: Mesa's xlib GLX frontend asks the
// target for a pipe_screen per X display; ours is the remoting driver.
#include <X11/Xlib.h>
#include <cstdlib>
#include <string>
#include <unistd.h>

#include "guest/pipe-remote/remote_device.h"

struct pipe_screen;

namespace {
std::string program_name() {
  char buf[256];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "unknown";
  buf[n] = 0;
  std::string s = buf;
  return s.substr(s.rfind('/') + 1);
}
}  // namespace

extern "C" pipe_screen* xlib_create_screen(Display* display);

extern "C" pipe_screen* xlib_create_screen(Display* display) {
  (void)display;
  auto dev = xen3d::guest::RemoteDevice::open(program_name());
  if (!dev) return nullptr;
  // The remoting pipe_screen/pipe_context (guest/pipe-remote) is not built yet:
  // say so plainly instead of rendering nothing.
  xen3d::guest::guest_log(true, "connected to %s, but this build has no remote pipe driver yet",
                          dev->renderer().c_str());
  return nullptr;
}
