// signal-reentry: GL from a signal handler while the same thread waits for
// the host inside the driver, the way ioquake3 shuts its renderer down on
// SIGTERM. POSIX does not allow it; real programs do it, and the process
// must still finish.
//
//   signal-reentry --exit     on SIGTERM, a handler deletes GL objects,
//                             finishes and exit(0)s. The test sends SIGTERM.
//   signal-reentry --return   for 2 s, a handler deletes and flushes GL
//                             objects and returns, every millisecond; then
//                             the program says "signal-reentry: done" and
//                             exits 0.
//
// The main thread draws and reads every frame back (the read waits for the
// host with the driver's lock held), printing "drawing" once. The GL-calling
// handler runs only while the main thread sleeps in poll(2) in that wait: a
// watcher thread reads /proc/self/task/<tid>/syscall and signals it then.
// Anywhere else (inside malloc, or st/mesa compiling a shader under its
// texture lock) a handler's GL waits for itself on any driver; what this
// tests is ours.
#include <GL/gl.h>
#include <GL/glx.h>
#include <X11/Xlib.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "glx_window.h"

namespace {

constexpr int kSize = 256;
GLuint g_textures[64];
std::atomic<unsigned> g_handled{0};
// Set around the main thread's reads and swaps (after glFlush: st/mesa's own
// work is done by then).
std::atomic<bool> g_in_wait{false};
std::atomic<bool> g_term{false};

// What a renderer's shutdown does: free what it made, flush.
void release_gl() {
  const unsigned i = g_handled.fetch_add(1) % 64;
  glDeleteTextures(1, &g_textures[i]);
  glFlush();
}

void on_gl_signal(int) {
  release_gl();
  if (g_term) {
    glFinish();
    std::exit(0);
  }
}

void on_term(int) { g_term = true; }

// Whether the thread whose /proc/self/task/<tid>/syscall is open as `fd`
// sleeps in poll/ppoll (the first field). pread keeps the check to a few
// microseconds against waits of milliseconds.
bool in_poll(int fd) {
  char buf[32] = {};
  if (pread(fd, buf, sizeof buf - 1, 0) <= 0) return false;
  const long nr = std::strtol(buf, nullptr, 10);
  return nr == SYS_poll || nr == SYS_ppoll;
}

int usage() {
  std::fprintf(stderr, "usage: signal-reentry --exit | --return\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return usage();
  const std::string mode = argv[1];
  if (mode != "--exit" && mode != "--return") return usage();

  GlxWindow glx;
  if (!open_glx_window("signal-reentry", kSize, kSize, glx)) return 1;
  Display* d = glx.display;
  XVisualInfo* vi = glx.visual;
  Window win = glx.window;
  GLXContext ctx = glXCreateContext(d, vi, nullptr, True);
  if (!ctx || !glXMakeCurrent(d, win, ctx)) {
    std::fprintf(stderr, "signal-reentry: no GL context\n");
    return 1;
  }
  glGenTextures(64, g_textures);
  for (GLuint t : g_textures) {
    glBindTexture(GL_TEXTURE_2D, t);
    const unsigned char texel[4] = {9, 9, 9, 9};
    glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, 1, 1, 0, GL_RGBA, GL_UNSIGNED_BYTE, texel);
  }

  struct sigaction sa{};
  sa.sa_handler = on_gl_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, nullptr);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, nullptr);

  const pid_t main_tid = pid_t(syscall(SYS_gettid));
  const pthread_t main_thread = pthread_self();
  const bool returning = mode == "--return";
  std::atomic<bool> stop{false};
  const int syscall_fd = open(("/proc/self/task/" + std::to_string(main_tid) + "/syscall").c_str(), O_RDONLY);
  if (syscall_fd < 0) {
    std::fprintf(stderr, "signal-reentry: cannot read the main thread's system call\n");
    return 1;
  }
  std::thread watcher([&] {
    std::chrono::steady_clock::time_point term_at{};
    while (!stop) {
      const bool due = returning || g_term;
      if (due && g_in_wait && in_poll(syscall_fd)) pthread_kill(main_thread, SIGUSR1);
      // A SIGTERM that finds no wait (the device is lost: nothing waits) still ends the program.
      if (g_term && term_at == std::chrono::steady_clock::time_point{}) term_at = std::chrono::steady_clock::now();
      if (g_term && std::chrono::steady_clock::now() - term_at > std::chrono::milliseconds(300)) std::exit(0);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });

  std::vector<unsigned char> pixels(size_t(kSize) * kSize * 4);
  const auto start = std::chrono::steady_clock::now();
  for (unsigned frame = 0;; ++frame) {
    glClearColor(float(frame % 7) / 7.0f, 0.5f, 0.25f, 1.0f);
    glClear(GL_COLOR_BUFFER_BIT);
    glBegin(GL_TRIANGLES);
    glVertex2f(-1, -1);
    glVertex2f(1, -1);
    glVertex2f(0, 1);
    glEnd();
    glFlush();
    g_in_wait = true;
    glReadPixels(0, 0, kSize, kSize, GL_RGBA, GL_UNSIGNED_BYTE, pixels.data());
    glXSwapBuffers(d, win);
    g_in_wait = false;
    if (frame == 0) {
      std::printf("signal-reentry: drawing\n");
      std::fflush(stdout);
    }
    if (mode == "--return" && std::chrono::steady_clock::now() - start > std::chrono::seconds(2)) break;
  }
  stop = true;
  watcher.join();
  std::printf("signal-reentry: done, %u signals handled\n", g_handled.load());
  glXMakeCurrent(d, None, nullptr);
  glXDestroyContext(d, ctx);
  XCloseDisplay(d);
  return 0;
}
