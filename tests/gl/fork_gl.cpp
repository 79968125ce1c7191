// fork-gl: fork() after GL is initialised, as launchers, crash reporters and
// system() do, for the guest-robustness tests (issue 22).
//   fork-gl child-uses-gl    the child calls GL on the parent's context (must
//                            return at once, drawing nothing), then opens its
//                            own X connection and context and draws (must work);
//                            the parent draws on after it, and must still be right
//   fork-gl system           system("true") between frames, 20 times
//   fork-gl parent-exits     the child sleeps 5 s holding nothing; the parent
//                            draws one frame and exits at once (the host must
//                            see it leave while the child lives)
// Prints what it checked; exit 0 when everything held, 1 otherwise.
#include <GL/gl.h>
#include <GL/glx.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "glx_window.h"

namespace {

constexpr int kSize = 64;

bool draw_and_check(const char* who, float r, float g, float b) {
  glClearColor(r, g, b, 1);
  glClear(GL_COLOR_BUFFER_BIT);
  unsigned char px[4] = {};
  glReadPixels(kSize / 2, kSize / 2, 1, 1, GL_RGBA, GL_UNSIGNED_BYTE, px);
  const int want[3] = {int(r * 255 + 0.5f), int(g * 255 + 0.5f), int(b * 255 + 0.5f)};
  const bool ok = px[0] == want[0] && px[1] == want[1] && px[2] == want[2];
  std::printf("%s: cleared to %d,%d,%d, read %d,%d,%d: %s\n", who, want[0], want[1], want[2], px[0], px[1], px[2],
              ok ? "ok" : "WRONG");
  std::fflush(stdout);
  return ok;
}

bool make_current(const char* program, GlxWindow& w, GLXContext& ctx) {
  if (!open_glx_window(program, kSize, kSize, w)) return false;
  ctx = glXCreateContext(w.display, w.visual, nullptr, True);
  if (!ctx || !glXMakeCurrent(w.display, w.window, ctx)) {
    std::fprintf(stderr, "%s: no GL context\n", program);
    return false;
  }
  return true;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

int child_uses_gl(GlxWindow& parent_window) {
  // The parent's context: nothing may reach the parent's rings, and nothing may hang.
  const auto t = std::chrono::steady_clock::now();
  glClearColor(1, 0, 1, 1);
  glClear(GL_COLOR_BUFFER_BIT);
  glFinish();
  unsigned char px[4] = {};
  glReadPixels(0, 0, 1, 1, GL_RGBA, GL_UNSIGNED_BYTE, px);
  const double took = seconds_since(t);
  std::printf("child: GL on the parent's context returned after %.3f s\n", took);
  if (took > 2) return 1;
  // Its own X connection and context: GL works in the child.
  (void)parent_window;
  GlxWindow mine;
  GLXContext ctx = nullptr;
  if (!make_current("fork-gl child", mine, ctx)) return 1;
  return draw_and_check("child, own context", 0, 0, 1) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  if (std::strcmp(mode, "child-uses-gl") && std::strcmp(mode, "system") && std::strcmp(mode, "parent-exits")) {
    std::fprintf(stderr, "usage: fork-gl child-uses-gl|system|parent-exits [SECONDS]\n");
    return 2;
  }
  const unsigned child_sleep = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : 5;
  GlxWindow w;
  GLXContext ctx = nullptr;
  if (!make_current("fork-gl", w, ctx)) return 1;
  if (!draw_and_check("parent, before fork", 1, 0, 0)) return 1;

  if (!std::strcmp(mode, "system")) {
    bool ok = true;
    for (int i = 0; i < 20 && ok; ++i) {
      ok = std::system("true") == 0 && draw_and_check("parent, between system() calls", 0, (i % 2) ? 1 : 0.5f, 0);
    }
    return ok ? 0 : 1;
  }
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("fork-gl: fork");
    return 1;
  }
  if (pid == 0) {
    if (!std::strcmp(mode, "parent-exits")) {
      sleep(child_sleep);
      _exit(0);
    }
    // The X connection is the parent's too: the child must not use it for its own window.
    _exit(child_uses_gl(w));
  }
  if (!std::strcmp(mode, "parent-exits")) {
    std::printf("parent: child %d sleeps; exiting now (parent pid %d)\n", int(pid), int(getpid()));
    return 0;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  const bool child_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  std::printf("parent: child exited %s\n", child_ok ? "ok" : "FAILED");
  const bool ok = draw_and_check("parent, after the child", 0, 1, 0);
  glXSwapBuffers(w.display, w.window);
  return child_ok && ok ? 0 : 1;
}
