// The window the GL test programs draw into: an RGB double-buffered GLX
// visual and a mapped w x h window on $DISPLAY. On failure it prints why,
// prefixed with the program's name, and returns false.
#pragma once

#include <GL/glx.h>
#include <X11/Xlib.h>

#include <cstdio>

struct GlxWindow {
  Display* display = nullptr;
  XVisualInfo* visual = nullptr;
  Window window = 0;
};

// A mapped w x h window of visual `vi` on `d`, at the origin.
inline Window create_window_for(Display* d, const XVisualInfo* vi, int w, int h) {
  XSetWindowAttributes swa{};
  swa.colormap = XCreateColormap(d, RootWindow(d, vi->screen), vi->visual, AllocNone);
  const Window win = XCreateWindow(d, RootWindow(d, vi->screen), 0, 0, w, h, 0, vi->depth, InputOutput, vi->visual,
                                   CWColormap | CWBorderPixel, &swa);
  XMapWindow(d, win);
  return win;
}

inline bool open_glx_window(const char* program, int w, int h, GlxWindow& out) {
  Display* d = XOpenDisplay(nullptr);
  if (!d) {
    std::fprintf(stderr, "%s: cannot open the X display\n", program);
    return false;
  }
  int attrs[] = {GLX_RGBA, GLX_DOUBLEBUFFER, GLX_RED_SIZE, 8, GLX_GREEN_SIZE, 8, GLX_BLUE_SIZE, 8, None};
  XVisualInfo* vi = glXChooseVisual(d, DefaultScreen(d), attrs);
  if (!vi) {
    std::fprintf(stderr, "%s: no RGB double-buffered GL visual\n", program);
    return false;
  }
  out.window = create_window_for(d, vi, w, h);
  XStoreName(d, out.window, program);
  out.display = d;
  out.visual = vi;
  return true;
}
