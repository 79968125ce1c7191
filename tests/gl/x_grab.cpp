// x-grab: saves what an X server shows in a window (or the root) as PNG, so
// tests can check the frame really reached the guest's X window.
//   x-grab [--window ID|--name TITLE] OUT.png      (DISPLAY selects the server)
// Exit 0 saved, 1 no such window / no display, 2 usage or write error.
#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <png.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

Window find_by_name(Display* d, Window w, const std::string& name) {
  char* title = nullptr;
  if (XFetchName(d, w, &title) && title) {
    const bool match = name == title;
    XFree(title);
    if (match) return w;
  }
  Window root, parent, *children = nullptr;
  unsigned n = 0;
  if (!XQueryTree(d, w, &root, &parent, &children, &n)) return 0;
  Window found = 0;
  for (unsigned i = 0; i < n && !found; ++i) found = find_by_name(d, children[i], name);
  if (children) XFree(children);
  return found;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out, name;
  Window win = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--window" && i + 1 < argc) win = std::strtoul(argv[++i], nullptr, 0);
    else if (a == "--name" && i + 1 < argc) name = argv[++i];
    else if (!a.empty() && a[0] != '-') out = a;
    else {
      std::fprintf(stderr, "usage: x-grab [--window ID|--name TITLE] OUT.png\n");
      return 2;
    }
  }
  if (out.empty()) {
    std::fprintf(stderr, "usage: x-grab [--window ID|--name TITLE] OUT.png\n");
    return 2;
  }
  Display* d = XOpenDisplay(nullptr);
  if (!d) {
    std::fprintf(stderr, "x-grab: cannot open display '%s'\n", std::getenv("DISPLAY") ? std::getenv("DISPLAY") : "");
    return 1;
  }
  if (!name.empty()) win = find_by_name(d, DefaultRootWindow(d), name);
  if (!win && name.empty()) win = DefaultRootWindow(d);
  XWindowAttributes attr;
  if (!win || !XGetWindowAttributes(d, win, &attr)) {
    std::fprintf(stderr, "x-grab: no window %s\n", name.empty() ? "with that id" : ("named '" + name + "'").c_str());
    return 1;
  }
  XImage* img = XGetImage(d, win, 0, 0, attr.width, attr.height, AllPlanes, ZPixmap);
  if (!img) {
    std::fprintf(stderr, "x-grab: XGetImage failed\n");
    return 1;
  }
  std::vector<uint8_t> rgb(size_t(attr.width) * attr.height * 3);
  for (int y = 0; y < attr.height; ++y) {
    for (int x = 0; x < attr.width; ++x) {
      const unsigned long p = XGetPixel(img, x, y);
      uint8_t* o = &rgb[(size_t(y) * attr.width + x) * 3];
      o[0] = uint8_t((p & img->red_mask) >> __builtin_ctzl(img->red_mask));
      o[1] = uint8_t((p & img->green_mask) >> __builtin_ctzl(img->green_mask));
      o[2] = uint8_t((p & img->blue_mask) >> __builtin_ctzl(img->blue_mask));
    }
  }
  XDestroyImage(img);
  png_image p;
  std::memset(&p, 0, sizeof p);
  p.version = PNG_IMAGE_VERSION;
  p.width = attr.width;
  p.height = attr.height;
  p.format = PNG_FORMAT_RGB;
  if (!png_image_write_to_file(&p, out.c_str(), 0, rgb.data(), 0, nullptr)) {
    std::fprintf(stderr, "x-grab: %s: %s\n", out.c_str(), p.message);
    return 2;
  }
  XCloseDisplay(d);
  return 0;
}
