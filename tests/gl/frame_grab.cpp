// libframe-grab.so: a GLX shim that counts a program's frames and saves chosen
// ones as PNG, the same way on any libGL (ours through the remote driver, or
// Mesa's with llvmpipe in-process), so a test can compare frame N of a real
// program on both and check every frame it drew was presented.
//
// Programs that dlopen their libGL (SDL: SDL_VIDEO_GL_DRIVER, ioquake3:
// SDL_OPENGL_LIBRARY) load this file instead: it needs libGL.so.1, so every other GLX
// and GL symbol resolves there; only glXSwapBuffers is ours.
//
//   XEN3D_GRAB_FRAMES=500,1500   frames to save (1 = the first swap)
//   XEN3D_GRAB_DIR=DIR           where: DIR/frame500.png (default .)
// At exit it prints "frame-grab: N frames swapped" to stderr.
#include <GL/gl.h>
#include <GL/glext.h>
#include <GL/glx.h>
#include <X11/Xlib.h>
#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "common/png_writer.h"

namespace {

using SwapFn = void (*)(Display*, GLXDrawable);

std::atomic<unsigned long> g_swaps{0};

struct Config {
  std::set<unsigned long> frames;
  std::string dir = ".";
  Config() {
    if (const char* f = std::getenv("XEN3D_GRAB_FRAMES")) {
      for (const char* p = f; *p;) {
        char* end = nullptr;
        const unsigned long n = std::strtoul(p, &end, 10);
        if (end == p) break;
        frames.insert(n);
        p = *end ? end + 1 : end;
      }
    }
    if (const char* d = std::getenv("XEN3D_GRAB_DIR")) dir = d;
  }
};

const Config& config() {
  static Config c;
  return c;
}

void* real_gl() {
  // Already loaded as our dependency: this only finds it.
  static void* h = dlopen("libGL.so.1", RTLD_NOW | RTLD_NOLOAD);
  return h;
}

// Referenced directly so the linker keeps libGL.so.1 as our dependency: that
// is what makes every other GLX/GL symbol resolve there.
__attribute__((used)) void* const g_keep_libgl = reinterpret_cast<void*>(&glXQueryVersion);

using GetProcFn = __GLXextFuncPtr (*)(const GLubyte*);
GetProcFn real_get_proc() {
  static auto f = reinterpret_cast<GetProcFn>(dlsym(real_gl(), "glXGetProcAddressARB"));
  return f;
}

template <class F>
F gl(const char* name) {
  return real_get_proc() ? reinterpret_cast<F>(real_get_proc()(reinterpret_cast<const GLubyte*>(name))) : nullptr;
}

// Reads the back buffer (the frame about to be shown) without disturbing the
// program's own read state.
void save(Display* dpy, GLXDrawable d, unsigned long frame) {
  Window root;
  int x, y;
  unsigned w, h, border, depth;
  if (!XGetGeometry(dpy, d, &root, &x, &y, &w, &h, &border, &depth) || !w || !h) return;
  auto get_int = gl<void (*)(GLenum, GLint*)>("glGetIntegerv");
  auto pixel_store = gl<void (*)(GLenum, GLint)>("glPixelStorei");
  auto read_buffer = gl<void (*)(GLenum)>("glReadBuffer");
  auto bind_fb = gl<void (*)(GLenum, GLuint)>("glBindFramebuffer");
  auto bind_buffer = gl<void (*)(GLenum, GLuint)>("glBindBuffer");
  auto read_pixels = gl<void (*)(GLint, GLint, GLsizei, GLsizei, GLenum, GLenum, void*)>("glReadPixels");
  if (!get_int || !pixel_store || !read_buffer || !read_pixels) return;
  const GLenum packs[] = {GL_PACK_ALIGNMENT, GL_PACK_ROW_LENGTH, GL_PACK_SKIP_ROWS, GL_PACK_SKIP_PIXELS};
  GLint saved_pack[4], saved_read = 0, saved_fb = 0, saved_pbo = 0;
  for (int i = 0; i < 4; ++i) get_int(packs[i], &saved_pack[i]);
  get_int(GL_READ_BUFFER, &saved_read);
  if (bind_fb) get_int(GL_READ_FRAMEBUFFER_BINDING, &saved_fb);
  if (bind_buffer) get_int(GL_PIXEL_PACK_BUFFER_BINDING, &saved_pbo);
  if (bind_fb) bind_fb(GL_READ_FRAMEBUFFER, 0);
  if (bind_buffer) bind_buffer(GL_PIXEL_PACK_BUFFER, 0);
  pixel_store(GL_PACK_ALIGNMENT, 4);
  pixel_store(GL_PACK_ROW_LENGTH, 0);
  pixel_store(GL_PACK_SKIP_ROWS, 0);
  pixel_store(GL_PACK_SKIP_PIXELS, 0);
  read_buffer(GL_BACK);
  std::vector<uint8_t> rgba(size_t(w) * h * 4);
  read_pixels(0, 0, GLsizei(w), GLsizei(h), GL_RGBA, GL_UNSIGNED_BYTE, rgba.data());
  read_buffer(GLenum(saved_read));
  for (int i = 0; i < 4; ++i) pixel_store(packs[i], saved_pack[i]);
  if (bind_buffer) bind_buffer(GL_PIXEL_PACK_BUFFER, GLuint(saved_pbo));
  if (bind_fb) bind_fb(GL_READ_FRAMEBUFFER, GLuint(saved_fb));
  // GL rows run bottom-up; the window's alpha means nothing on screen.
  std::vector<uint8_t> top_down(rgba.size());
  for (unsigned row = 0; row < h; ++row) {
    std::memcpy(&top_down[size_t(row) * w * 4], &rgba[size_t(h - 1 - row) * w * 4], size_t(w) * 4);
  }
  for (size_t i = 3; i < top_down.size(); i += 4) top_down[i] = 255;
  const std::string path = config().dir + "/frame" + std::to_string(frame) + ".png";
  std::string error;
  if (!xen3d::write_png(path, top_down.data(), w, h, w * 4, error)) {
    std::fprintf(stderr, "frame-grab: %s: %s\n", path.c_str(), error.c_str());
  }
}

struct Report {
  ~Report() { std::fprintf(stderr, "frame-grab: %lu frames swapped\n", g_swaps.load()); }
} g_report;

}  // namespace

extern "C" __attribute__((visibility("default"))) void glXSwapBuffers(Display* dpy, GLXDrawable d) {
  static auto real = reinterpret_cast<SwapFn>(dlsym(real_gl(), "glXSwapBuffers"));
  const unsigned long frame = ++g_swaps;
  if (config().frames.count(frame)) save(dpy, d, frame);
  if (real) real(dpy, d);
}

// SDL finds glXSwapBuffers through glXGetProcAddress: hand out ours there too.
extern "C" __attribute__((visibility("default"))) __GLXextFuncPtr glXGetProcAddressARB(const GLubyte* name) {
  if (name && !std::strcmp(reinterpret_cast<const char*>(name), "glXSwapBuffers")) {
    return reinterpret_cast<__GLXextFuncPtr>(&glXSwapBuffers);
  }
  return real_get_proc() ? real_get_proc()(name) : nullptr;
}
extern "C" __attribute__((visibility("default"))) __GLXextFuncPtr glXGetProcAddress(const GLubyte* name) {
  return glXGetProcAddressARB(name);
}
