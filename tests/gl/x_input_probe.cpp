// x-input-probe: a window (the whole screen, or --geometry WxH+X+Y) on the X
// display that prints every key, button and pointer motion it gets, one line
// each, for the input tests: what a program inside the VM sees of the host's
// keyboard and mouse. Positions are root (screen) coordinates.
//   key press|release keycode=K sym=NAME device=... t=NS
//   button press|release N x=X y=Y t=NS
//   motion x=X y=Y t=NS
// t is CLOCK_MONOTONIC in nanoseconds when the event was read (the host's
// senders print the same clock, for latency); wall=S.MS is the wall clock,
// for a guest whose monotonic clock is its own (a Xen domain). "ready" once
// the window is mapped and has the focus. Runs until killed.
#include <X11/Xlib.h>
#include <X11/Xutil.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

namespace {

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

}  // namespace

std::string wall() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  char s[32];
  std::snprintf(s, sizeof s, "%lld.%03ld", static_cast<long long>(ts.tv_sec), ts.tv_nsec / 1000000);
  return s;
}

int main(int argc, char** argv) {
  unsigned gw = 0, gh = 0;
  int gx = 0, gy = 0;
  if (argc == 3 && !std::strcmp(argv[1], "--geometry")) {
    if (std::sscanf(argv[2], "%ux%u+%d+%d", &gw, &gh, &gx, &gy) != 4 || !gw || !gh) {
      std::fprintf(stderr, "x-input-probe: --geometry takes WxH+X+Y\n");
      return 2;
    }
  } else if (argc != 1) {
    std::fprintf(stderr, "usage: x-input-probe [--geometry WxH+X+Y]\n");
    return 2;
  }
  Display* d = XOpenDisplay(nullptr);
  if (!d) {
    std::fprintf(stderr, "x-input-probe: cannot open the X display\n");
    return 1;
  }
  const int screen = DefaultScreen(d);
  XSetWindowAttributes a{};
  a.override_redirect = True;  // exactly over the screen, whatever manages windows
  a.background_pixel = BlackPixel(d, screen);
  a.event_mask = KeyPressMask | KeyReleaseMask | ButtonPressMask | ButtonReleaseMask | PointerMotionMask |
                 StructureNotifyMask;
  if (!gw) gw = DisplayWidth(d, screen), gh = DisplayHeight(d, screen);
  Window w = XCreateWindow(d, RootWindow(d, screen), gx, gy, gw, gh, 0,
                           CopyFromParent, InputOutput, CopyFromParent,
                           CWOverrideRedirect | CWBackPixel | CWEventMask, &a);
  XMapRaised(d, w);
  for (;;) {
    XEvent e;
    XNextEvent(d, &e);
    if (e.type == MapNotify) break;
  }
  XSetInputFocus(d, w, RevertToParent, CurrentTime);
  XSync(d, False);
  std::printf("ready %ux%u+%d+%d\n", gw, gh, gx, gy);
  std::fflush(stdout);
  for (;;) {
    XEvent e;
    XNextEvent(d, &e);
    const uint64_t t = now_ns();
    switch (e.type) {
      case KeyPress:
      case KeyRelease: {
        const KeySym sym = XLookupKeysym(&e.xkey, 0);
        const char* name = XKeysymToString(sym);
        std::printf("key %s keycode=%u sym=%s t=%llu wall=%s\n", e.type == KeyPress ? "press" : "release",
                    e.xkey.keycode, name ? name : "?", static_cast<unsigned long long>(t), wall().c_str());
        break;
      }
      case ButtonPress:
      case ButtonRelease:
        std::printf("button %s %u x=%d y=%d t=%llu wall=%s\n", e.type == ButtonPress ? "press" : "release",
                    e.xbutton.button, e.xbutton.x_root, e.xbutton.y_root, static_cast<unsigned long long>(t),
                    wall().c_str());
        break;
      case MotionNotify:
        std::printf("motion x=%d y=%d t=%llu\n", e.xmotion.x_root, e.xmotion.y_root, static_cast<unsigned long long>(t));
        break;
      default:
        break;
    }
    std::fflush(stdout);
  }
}
