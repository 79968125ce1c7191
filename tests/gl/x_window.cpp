// x-window: a window of one colour for the desktop tests, either drawn by GL
// every frame (--gl: glClear + glXSwapBuffers, ~60 frames a second, so moves
// and resizes are followed by new frames) or a plain 2D X window (its
// background pixel), e.g. one that covers part of a GL window.
//   x-window [--gl] --name TITLE --geometry WxH+X+Y --color R,G,B
//            [--marker] [--resize WxH@FRAME]
// --marker (GL): the window's top-left quarter in the inverse colour, so a
// frame shown skewed, flipped or shifted is told from a right one.
// --resize (GL): the program resizes its own window after FRAME frames.
// Runs until killed. Exit 2 on usage errors, 1 when the display or GL fails.
#include <GL/gl.h>
#include <GL/glx.h>
#include <X11/Xlib.h>
#include <X11/Xutil.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

namespace {

volatile std::sig_atomic_t g_stop = 0;

int usage() {
  std::fprintf(stderr, "usage: x-window [--gl] --name TITLE --geometry WxH+X+Y --color R,G,B [--marker] [--resize WxH@FRAME]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  bool gl = false, marker = false;
  int resize_w = 0, resize_h = 0;
  long resize_at = -1;
  std::string name = "x-window";
  int w = 200, h = 150, x = 0, y = 0;
  unsigned r = 255, g = 255, b = 255;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--gl") gl = true;
    else if (a == "--name" && i + 1 < argc) name = argv[++i];
    else if (a == "--geometry" && i + 1 < argc) {
      if (std::sscanf(argv[++i], "%dx%d+%d+%d", &w, &h, &x, &y) != 4 || w <= 0 || h <= 0) return usage();
    } else if (a == "--color" && i + 1 < argc) {
      if (std::sscanf(argv[++i], "%u,%u,%u", &r, &g, &b) != 3 || r > 255 || g > 255 || b > 255) return usage();
    } else if (a == "--marker") {
      marker = true;
    } else if (a == "--resize" && i + 1 < argc) {
      if (std::sscanf(argv[++i], "%dx%d@%ld", &resize_w, &resize_h, &resize_at) != 3 || resize_w <= 0 || resize_h <= 0 ||
          resize_at < 0) {
        return usage();
      }
    } else {
      return usage();
    }
  }
  std::signal(SIGTERM, [](int) { g_stop = 1; });
  std::signal(SIGINT, [](int) { g_stop = 1; });
  Display* d = XOpenDisplay(nullptr);
  if (!d) {
    std::fprintf(stderr, "x-window: cannot open display\n");
    return 1;
  }
  const int screen = DefaultScreen(d);
  XVisualInfo* vi = nullptr;
  XVisualInfo vtemplate{};
  if (gl) {
    int attrs[] = {GLX_RGBA, GLX_DOUBLEBUFFER, GLX_RED_SIZE, 8, GLX_GREEN_SIZE, 8, GLX_BLUE_SIZE, 8, None};
    vi = glXChooseVisual(d, screen, attrs);
    if (!vi) {
      std::fprintf(stderr, "x-window: no double-buffered RGB GLX visual\n");
      return 1;
    }
  } else {
    vtemplate.visual = DefaultVisual(d, screen);
    vtemplate.depth = DefaultDepth(d, screen);
    vi = &vtemplate;
  }
  XSetWindowAttributes swa{};
  swa.colormap = XCreateColormap(d, RootWindow(d, screen), vi->visual, AllocNone);
  // A 2D window shows its colour through X; a GL window's X background stays
  // black, so only GL frames (read back, or composited on the host) show green.
  swa.background_pixel = gl ? 0 : (r << 16) | (g << 8) | b;  // TrueColor 24-bit
  swa.border_pixel = 0;
  swa.override_redirect = True;  // placed exactly where asked, with or without a window manager
  Window win = XCreateWindow(d, RootWindow(d, screen), x, y, w, h, 0, vi->depth, InputOutput, vi->visual,
                             CWColormap | CWBackPixel | CWBorderPixel | CWOverrideRedirect, &swa);
  XStoreName(d, win, name.c_str());
  XMapWindow(d, win);
  XSync(d, False);
  if (!gl) {
    while (!g_stop) {
      XClearWindow(d, win);
      XSync(d, False);
      usleep(100000);
    }
    return 0;
  }
  GLXContext ctx = glXCreateContext(d, vi, nullptr, True);
  if (!ctx || !glXMakeCurrent(d, win, ctx)) {
    std::fprintf(stderr, "x-window: cannot make a GL context current\n");
    return 1;
  }
  std::printf("x-window: %s on %s\n", name.c_str(), reinterpret_cast<const char*>(glGetString(GL_RENDERER)));
  std::fflush(stdout);
  for (long frame = 0; !g_stop; ++frame) {
    if (frame == resize_at) XResizeWindow(d, win, resize_w, resize_h);
    XWindowAttributes wa;
    XGetWindowAttributes(d, win, &wa);
    glViewport(0, 0, wa.width, wa.height);
    glClearColor(r / 255.0f, g / 255.0f, b / 255.0f, 1.0f);
    glClear(GL_COLOR_BUFFER_BIT);
    if (marker) {
      // GL counts rows from the bottom: the window's top-left quarter.
      glEnable(GL_SCISSOR_TEST);
      glScissor(0, wa.height - wa.height / 2, wa.width / 2, wa.height / 2);
      glClearColor((255 - r) / 255.0f, (255 - g) / 255.0f, (255 - b) / 255.0f, 1.0f);
      glClear(GL_COLOR_BUFFER_BIT);
      glDisable(GL_SCISSOR_TEST);
    }
    glXSwapBuffers(d, win);
    usleep(16000);
  }
  glXMakeCurrent(d, None, nullptr);
  glXDestroyContext(d, ctx);
  XCloseDisplay(d);
  return 0;
}
