// exit-gl: the ways real programs leave with GL still in use, for the
// guest-robustness tests (issue 22). Each mode draws a checked frame first
// (so the process has a live connection), prints "exit-gl: drew", then:
//   exit-gl exit              exit(0) with the context current
//   exit-gl _exit             _exit(0) with the context current
//   exit-gl thread-rendering  a second thread renders without pause on its own
//                             context; the main thread exit(0)s after 0.3 s
//   exit-gl thread-waiting    the same, but exit(0)s once the renderer is
//                             waiting for the host in glFinish or the swap
//                             (the test stops the host first, so that wait
//                             does not end)
//   exit-gl exit-handler      an atexit handler (registered before GL starts)
//                             clears and calls glFinish; main reads a
//                             line on stdin (the test stops the host first)
//                             and exit(0)s: the handler's waits on the
//                             stopped host must not hold the exit
//   exit-gl dlclose           libGL is dlopen()ed, used, its context
//                             destroyed, dlclose()d; then the display is
//                             closed and the program sleeps 1 s and returns
//   exit-gl dlclose-current   the same without destroying the context first
// The test checks how fast each one is gone and what the compositor kept.
#include <GL/gl.h>
#include <GL/glx.h>
#include <X11/Xlib.h>
#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "glx_window.h"  // its GLX calls are inline: used only by programs that link libGL


namespace {

constexpr int kSize = 64;

// The GLX and GL entry points this program uses. It does not link libGL:
// it dlopen()s it (EXIT_GL_LIBGL, default libGL.so.1), so that dlclose()
// really unloads it.
struct Gl {
  decltype(&glXChooseVisual) ChooseVisual = nullptr;
  decltype(&glXCreateContext) CreateContext = nullptr;
  decltype(&glXMakeCurrent) MakeCurrent = nullptr;
  decltype(&glXDestroyContext) DestroyContext = nullptr;
  decltype(&glXSwapBuffers) SwapBuffers = nullptr;
  decltype(&glClearColor) ClearColor = nullptr;
  decltype(&glClear) Clear = nullptr;
  decltype(&glReadPixels) ReadPixels = nullptr;
  decltype(&glFinish) Finish = nullptr;
};

template <typename F>
bool resolve(void* lib, const char* name, F& out) {
  out = reinterpret_cast<F>(dlsym(lib, name));
  if (!out) std::fprintf(stderr, "exit-gl: %s not in the dlopen()ed libGL\n", name);
  return out != nullptr;
}

bool load(void* lib, Gl& gl) {
  return resolve(lib, "glXChooseVisual", gl.ChooseVisual) && resolve(lib, "glXCreateContext", gl.CreateContext) &&
         resolve(lib, "glXMakeCurrent", gl.MakeCurrent) && resolve(lib, "glXDestroyContext", gl.DestroyContext) &&
         resolve(lib, "glXSwapBuffers", gl.SwapBuffers) && resolve(lib, "glClearColor", gl.ClearColor) &&
         resolve(lib, "glClear", gl.Clear) && resolve(lib, "glReadPixels", gl.ReadPixels) &&
         resolve(lib, "glFinish", gl.Finish);
}

struct Surface {
  Display* display = nullptr;
  Window window = 0;
  GLXContext context = nullptr;
};

bool open_surface(const Gl& gl, Display* d, Surface& out) {
  int attrs[] = {GLX_RGBA, GLX_DOUBLEBUFFER, GLX_RED_SIZE, 8, GLX_GREEN_SIZE, 8, GLX_BLUE_SIZE, 8, None};
  XVisualInfo* vi = gl.ChooseVisual(d, DefaultScreen(d), attrs);
  if (!vi) return std::fprintf(stderr, "exit-gl: no GL visual\n"), false;
  out.display = d;
  out.window = create_window_for(d, vi, kSize, kSize);
  out.context = gl.CreateContext(d, vi, nullptr, True);
  XFree(vi);
  if (!out.context || !gl.MakeCurrent(d, out.window, out.context)) {
    return std::fprintf(stderr, "exit-gl: no GL context\n"), false;
  }
  return true;
}

// A clear read back: the connection works.
bool draw_checked(const Gl& gl, float g) {
  gl.ClearColor(0, g, 1, 1);
  gl.Clear(GL_COLOR_BUFFER_BIT);
  unsigned char px[4] = {};
  gl.ReadPixels(1, 1, 1, 1, GL_RGBA, GL_UNSIGNED_BYTE, px);
  const bool ok = px[0] == 0 && px[1] == static_cast<unsigned char>(g * 255 + 0.5f) && px[2] == 255;
  if (!ok) std::fprintf(stderr, "exit-gl: read %d,%d,%d after a clear: WRONG\n", px[0], px[1], px[2]);
  return ok;
}

void drew() {
  std::printf("exit-gl: drew\n");
  std::fflush(stdout);
}

// A thread that renders on its own context until the process ends.
std::atomic<long> g_frames{0};
std::atomic<bool> g_in_wait{false};  // in glFinish or glXSwapBuffers, which wait for the host

Gl g_gl;

void render_forever(Surface s) {
  const Gl& gl = g_gl;
  gl.MakeCurrent(s.display, s.window, s.context);
  for (;;) {
    gl.ClearColor(static_cast<float>(g_frames % 256) / 255.f, 0, 0, 1);
    gl.Clear(GL_COLOR_BUFFER_BIT);
    g_in_wait = true;
    gl.Finish();
    gl.SwapBuffers(s.display, s.window);
    g_in_wait = false;
    ++g_frames;
  }
}

int with_rendering_thread(bool wait_in_finish) {
  const Gl& gl = g_gl;
  Display* d = XOpenDisplay(nullptr);
  Surface mine, other;
  if (!d || !open_surface(gl, d, mine) || !draw_checked(gl, 0.5f)) return 1;
  if (!open_surface(gl, d, other)) return 1;
  gl.MakeCurrent(d, mine.window, mine.context);
  XSync(d, False);
  std::thread(render_forever, other).detach();
  while (g_frames < 3) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  drew();
  if (wait_in_finish) {
    // The test stops the compositor, then writes a line on stdin: from then
    // on the renderer's next glFinish waits for an answer that never comes.
    char line[16];
    if (!std::fgets(line, sizeof line, stdin)) return 1;
    // Waiting: inside glFinish or the swap for 200 ms in a row (a frame takes ~1 ms here).
    int inside_ms = 0;
    for (int i = 0; i < 1000 && inside_ms < 200; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      inside_ms = g_in_wait ? inside_ms + 10 : 0;
    }
    std::printf("exit-gl: the renderer waits for the host (%ld frames); exit(0)\n", g_frames.load());
  } else {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::printf("exit-gl: the renderer drew %ld frames; exit(0)\n", g_frames.load());
  }
  std::fflush(stdout);
  std::exit(0);
}

std::chrono::steady_clock::time_point g_exit_called;

void finish_at_exit() {
  const Gl& gl = g_gl;
  // Clear and Finish, no ReadPixels: by now Mesa's own exit handler (added
  // after this one, so run before it) has freed its format table, which
  // st/mesa's blit-based ReadPixels reads on hosts that prefer blits (zink):
  // a use after free in Mesa itself, whatever driver is below it.
  gl.Clear(GL_COLOR_BUFFER_BIT);
  gl.Finish();
  std::printf("exit-gl: the exit handler's GL returned %.2f s after exit()\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - g_exit_called).count());
  std::fflush(stdout);
}

int with_dlclose(void* lib, bool destroy_first) {
  const Gl& gl = g_gl;
  Display* d = XOpenDisplay(nullptr);
  Surface s;
  if (!d || !open_surface(gl, d, s) || !draw_checked(gl, 0.25f)) return 1;
  gl.SwapBuffers(d, s.window);
  drew();
  if (destroy_first) {
    gl.MakeCurrent(d, None, nullptr);
    gl.DestroyContext(d, s.context);
  }
  if (dlclose(lib)) return std::fprintf(stderr, "exit-gl: dlclose: %s\n", dlerror()), 1;
  std::printf("exit-gl: dlclose()d libGL\n");
  std::fflush(stdout);
  XCloseDisplay(d);  // runs the close hooks libGL registered on the display
  std::printf("exit-gl: closed the display\n");
  std::fflush(stdout);
  sleep(1);
  std::printf("exit-gl: returning from main\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  const bool known = mode == "exit" || mode == "_exit" || mode == "thread-rendering" || mode == "thread-waiting" ||
                     mode == "exit-handler" || mode == "dlclose" || mode == "dlclose-current";
  if (!known) {
    std::fprintf(stderr,
                 "usage: exit-gl exit | _exit | thread-rendering | thread-waiting | exit-handler | dlclose | "
                 "dlclose-current\n");
    return 2;
  }
  if (mode == "exit-handler") std::atexit(finish_at_exit);
  if (!XInitThreads()) return 1;
  const char* name = std::getenv("EXIT_GL_LIBGL");
  void* lib = dlopen(name && *name ? name : "libGL.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return std::fprintf(stderr, "exit-gl: dlopen: %s\n", dlerror()), 1;
  if (!load(lib, g_gl)) return 1;
  if (mode == "dlclose" || mode == "dlclose-current") return with_dlclose(lib, mode == "dlclose");
  if (mode == "thread-rendering" || mode == "thread-waiting") return with_rendering_thread(mode == "thread-waiting");
  const Gl& gl = g_gl;
  Display* d = XOpenDisplay(nullptr);
  Surface s;
  if (!d || !open_surface(gl, d, s) || !draw_checked(gl, 0.75f)) return 1;
  gl.SwapBuffers(d, s.window);
  drew();
  // Work in flight too: a clear nobody waits for.
  gl.Clear(GL_COLOR_BUFFER_BIT);
  if (mode == "_exit") _exit(0);
  if (mode == "exit-handler") {
    char line[16];
    if (!std::fgets(line, sizeof line, stdin)) return 1;
    g_exit_called = std::chrono::steady_clock::now();
  }
  std::exit(0);
}
