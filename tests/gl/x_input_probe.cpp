// x-input-probe: a window over the whole screen of the X display that prints
// every key, button and pointer motion it gets, one line each, for the input
// tests: what a program inside the VM sees of the host's keyboard and mouse.
//   key press|release keycode=K sym=NAME device=... t=NS
//   button press|release N x=X y=Y t=NS
//   motion x=X y=Y t=NS
// t is CLOCK_MONOTONIC in nanoseconds when the event was read (the host's
// senders print the same clock, for latency). "ready" once the window is
// mapped and has the focus. Runs until killed.
#include <X11/Xlib.h>
#include <X11/Xutil.h>

#include <cstdint>
#include <cstdio>
#include <ctime>

namespace {

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

}  // namespace

int main() {
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
  Window w = XCreateWindow(d, RootWindow(d, screen), 0, 0, DisplayWidth(d, screen), DisplayHeight(d, screen), 0,
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
  std::printf("ready %dx%d\n", DisplayWidth(d, screen), DisplayHeight(d, screen));
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
        std::printf("key %s keycode=%u sym=%s t=%llu\n", e.type == KeyPress ? "press" : "release", e.xkey.keycode,
                    name ? name : "?", static_cast<unsigned long long>(t));
        break;
      }
      case ButtonPress:
      case ButtonRelease:
        std::printf("button %s %u x=%d y=%d t=%llu\n", e.type == ButtonPress ? "press" : "release", e.xbutton.button,
                    e.xbutton.x_root, e.xbutton.y_root, static_cast<unsigned long long>(t));
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
