// threads-gl: GL on several threads at once, for the guest-robustness tests
// (issue 22). Every frame is read back and checked, so a torn record, a
// record that reached the wrong context or a lost update shows as a wrong
// pixel (and a torn record as a lost context in the compositor's log).
//   threads-gl contexts [N]     N threads (default 4), each with its own window
//                               and context on one shared Display, drawing
//                               150 checked frames at once
//   threads-gl own-displays [N] the same with an X connection per thread (so a
//                               driver connection per thread)
//   threads-gl shared           two threads, two contexts sharing a list: one
//                               writes a texture, the other draws with it, in
//                               turn, 50 rounds; a display list compiled by one
//                               is called by the other
//   threads-gl migrate          one context made current on two threads in
//                               turn (60 rounds): what one drew, the other sees
//   threads-gl finish           glFinish and checked readbacks on one thread
//                               while another renders heavy frames, 3 s
// Prints what it checked; exit 0 when everything held, 1 otherwise.
#include <GL/gl.h>
#include <GL/glx.h>
#include <X11/Xlib.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "glx_window.h"

namespace {

constexpr int kSize = 64;
std::atomic<int> g_failures{0};
std::mutex g_print;

struct Rgb {
  unsigned char r, g, b;
};

void report(const std::string& line) {
  std::lock_guard lock(g_print);
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

// The pixel at (x, y) of the current context's back buffer is `want`; one
// line per failure (at most 20 printed), nothing when it holds.
bool pixel_is(const char* who, int x, int y, Rgb want) {
  unsigned char px[4] = {};
  glReadPixels(x, y, 1, 1, GL_RGBA, GL_UNSIGNED_BYTE, px);
  if (px[0] == want.r && px[1] == want.g && px[2] == want.b) return true;
  if (g_failures.fetch_add(1) < 20) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "%s: pixel (%d,%d) is %d,%d,%d, expected %d,%d,%d: WRONG", who, x, y, px[0], px[1],
                  px[2], want.r, want.g, want.b);
    report(buf);
  }
  return false;
}

void clear_to(Rgb c) {
  glClearColor(c.r / 255.f, c.g / 255.f, c.b / 255.f, 1);
  glClear(GL_COLOR_BUFFER_BIT);
}

void quad(float x0, float y0, float x1, float y1, bool textured) {
  glBegin(GL_QUADS);
  if (textured) glTexCoord2f(0, 0);
  glVertex2f(x0, y0);
  if (textured) glTexCoord2f(1, 0);
  glVertex2f(x1, y0);
  if (textured) glTexCoord2f(1, 1);
  glVertex2f(x1, y1);
  if (textured) glTexCoord2f(0, 1);
  glVertex2f(x0, y1);
  glEnd();
}

void setup_2d() {
  glViewport(0, 0, kSize, kSize);
  glMatrixMode(GL_PROJECTION);
  glLoadIdentity();
  glOrtho(0, 1, 0, 1, -1, 1);
  glMatrixMode(GL_MODELVIEW);
  glLoadIdentity();
  glTexEnvi(GL_TEXTURE_ENV, GL_TEXTURE_ENV_MODE, GL_REPLACE);
}

GLuint make_texture() {
  GLuint tex = 0;
  glGenTextures(1, &tex);
  glBindTexture(GL_TEXTURE_2D, tex);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
  std::vector<unsigned char> zero(8 * 8 * 3, 0);
  glTexImage2D(GL_TEXTURE_2D, 0, GL_RGB8, 8, 8, 0, GL_RGB, GL_UNSIGNED_BYTE, zero.data());
  return tex;
}

void fill_texture(GLuint tex, Rgb c) {
  std::vector<unsigned char> texels(8 * 8 * 3);
  for (size_t i = 0; i < texels.size(); i += 3) {
    texels[i] = c.r;
    texels[i + 1] = c.g;
    texels[i + 2] = c.b;
  }
  glBindTexture(GL_TEXTURE_2D, tex);
  glPixelStorei(GL_UNPACK_ALIGNMENT, 1);
  glTexSubImage2D(GL_TEXTURE_2D, 0, 0, 0, 8, 8, GL_RGB, GL_UNSIGNED_BYTE, texels.data());
}

// A window and a context (sharing `share`'s objects when given) on `d`.
struct Surface {
  Display* display = nullptr;
  Window window = 0;
  GLXContext context = nullptr;
};

bool make_surface(Display* d, XVisualInfo* vi, GLXContext share, Surface& out) {
  out.display = d;
  out.window = create_window_for(d, vi, kSize, kSize);
  out.context = glXCreateContext(d, vi, share, True);
  if (!out.context) report("threads-gl: glXCreateContext failed");
  return out.context != nullptr;
}

XVisualInfo* choose_visual(Display* d) {
  int attrs[] = {GLX_RGBA, GLX_DOUBLEBUFFER, GLX_RED_SIZE, 8, GLX_GREEN_SIZE, 8, GLX_BLUE_SIZE, 8, None};
  return glXChooseVisual(d, DefaultScreen(d), attrs);
}

// One thread's 150 frames: a clear, a textured quad from a texture uploaded
// this frame, a coloured quad, all different per thread and frame.
void draw_frames(int t, Surface s) {
  if (!glXMakeCurrent(s.display, s.window, s.context)) {
    report("threads-gl: glXMakeCurrent failed on thread " + std::to_string(t));
    ++g_failures;
    return;
  }
  setup_2d();
  const GLuint tex = make_texture();
  const std::string who = "thread " + std::to_string(t);
  int wrong = 0;
  for (int i = 0; i < 150; ++i) {
    const Rgb back{static_cast<unsigned char>(t * 60 + 10), static_cast<unsigned char>(i), 200};
    const Rgb texc{static_cast<unsigned char>(i * 3 % 256), static_cast<unsigned char>(t * 40 + 5), 77};
    const Rgb flat{33, static_cast<unsigned char>(255 - i), static_cast<unsigned char>(t * 50 + 1)};
    clear_to(back);
    fill_texture(tex, texc);
    glEnable(GL_TEXTURE_2D);
    quad(0, 0, 0.5f, 1, true);
    glDisable(GL_TEXTURE_2D);
    glColor3ub(flat.r, flat.g, flat.b);
    quad(0.5f, 0.5f, 1, 1, false);
    if (i % 10 == 9) glFinish();
    wrong += !pixel_is(who.c_str(), 16, 32, texc);
    wrong += !pixel_is(who.c_str(), 48, 48, flat);
    wrong += !pixel_is(who.c_str(), 48, 16, back);
    glXSwapBuffers(s.display, s.window);
  }
  glDeleteTextures(1, &tex);
  glXMakeCurrent(s.display, None, nullptr);
  report("threads-gl: " + who + ": 150 frames, " + std::to_string(wrong) + " wrong pixels");
}

int run_contexts(int n, bool own_displays) {
  Display* shared = own_displays ? nullptr : XOpenDisplay(nullptr);
  std::vector<Surface> surfaces(n);
  std::vector<Display*> displays;
  for (int t = 0; t < n; ++t) {
    Display* d = shared ? shared : XOpenDisplay(nullptr);
    if (!d) return std::fprintf(stderr, "threads-gl: cannot open the X display\n"), 1;
    if (!shared) displays.push_back(d);
    XVisualInfo* vi = choose_visual(d);
    if (!vi || !make_surface(d, vi, nullptr, surfaces[t])) return 1;
  }
  if (shared) XSync(shared, False);
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) threads.emplace_back(draw_frames, t, surfaces[t]);
  for (auto& th : threads) th.join();
  report("threads-gl: " + std::to_string(n) + " threads on " +
         (own_displays ? "their own X connections" : "one X connection") + ": " +
         (g_failures ? "FAILED" : "ok"));
  return g_failures ? 1 : 0;
}

// Two contexts sharing objects, on two threads, taking turns: the writer
// fills the shared texture and finishes; the reader draws with it (and with
// the shared display list) and checks.
int run_shared() {
  Display* d = XOpenDisplay(nullptr);
  XVisualInfo* vi = d ? choose_visual(d) : nullptr;
  Surface a, b;
  if (!vi || !make_surface(d, vi, nullptr, a) || !make_surface(d, vi, a.context, b)) return 1;
  constexpr Rgb kListColour{37, 99, 201};
  GLuint tex = 0, list = 0;
  glXMakeCurrent(d, a.window, a.context);
  setup_2d();
  tex = make_texture();
  list = glGenLists(1);
  glNewList(list, GL_COMPILE);
  glColor3ub(kListColour.r, kListColour.g, kListColour.b);
  quad(0.5f, 0, 1, 1, false);
  glEndList();
  glFinish();
  glXMakeCurrent(d, None, nullptr);

  std::barrier turn(2);
  constexpr int kRounds = 50;
  auto side = [&](int me, Surface s) {
    glXMakeCurrent(d, s.window, s.context);
    setup_2d();
    const std::string who = std::string("shared, context ") + (me ? "b" : "a");
    for (int r = 0; r < kRounds; ++r) {
      const bool writer = (r % 2) == me;
      const Rgb written{static_cast<unsigned char>(r * 5), static_cast<unsigned char>(250 - r * 3),
                        static_cast<unsigned char>((r % 2) * 100 + r)};
      if (writer) {
        fill_texture(tex, written);
        glFinish();  // the other context sees the update after this returns
      }
      turn.arrive_and_wait();
      if (!writer) {
        clear_to({0, 0, 0});
        glBindTexture(GL_TEXTURE_2D, tex);
        glEnable(GL_TEXTURE_2D);
        quad(0, 0, 0.5f, 1, true);
        glDisable(GL_TEXTURE_2D);
        glCallList(list);
        pixel_is(who.c_str(), 16, 32, written);
        pixel_is(who.c_str(), 48, 32, kListColour);
        glXSwapBuffers(d, s.window);
      }
      turn.arrive_and_wait();
    }
    glXMakeCurrent(d, None, nullptr);
  };
  std::thread ta(side, 0, a), tb(side, 1, b);
  ta.join();
  tb.join();
  report(std::string("threads-gl: shared texture and display list across two threads, ") + std::to_string(kRounds) +
         " rounds: " + (g_failures ? "FAILED" : "ok"));
  return g_failures ? 1 : 0;
}

// One context, current on two threads in turn: each reads what the other
// drew, then draws its own colour.
int run_migrate() {
  GlxWindow w;
  if (!open_glx_window("threads-gl", kSize, kSize, w)) return 1;
  GLXContext c = glXCreateContext(w.display, w.visual, nullptr, True);
  if (!c) return 1;
  std::barrier turn(2);
  constexpr int kRounds = 60;
  auto colour = [](int r) {
    return Rgb{static_cast<unsigned char>(r * 4), static_cast<unsigned char>(r % 2 ? 200 : 50), static_cast<unsigned char>(255 - r)};
  };
  auto side = [&](int me) {
    const std::string who = std::string("migrate, thread ") + (me ? "b" : "a");
    for (int r = 0; r < kRounds; ++r) {
      if (r % 2 == me) {
        if (!glXMakeCurrent(w.display, w.window, c)) {
          report(who + ": glXMakeCurrent failed");
          ++g_failures;
        } else {
          setup_2d();
          if (r > 0) pixel_is(who.c_str(), 10, 10, colour(r - 1));
          clear_to(colour(r));
          glColor3ub(1, 2, 3);
          quad(0.75f, 0.75f, 1, 1, false);
          pixel_is(who.c_str(), 60, 60, {1, 2, 3});
          glXMakeCurrent(w.display, None, nullptr);
        }
      }
      turn.arrive_and_wait();
    }
  };
  std::thread ta(side, 0), tb(side, 1);
  ta.join();
  tb.join();
  report(std::string("threads-gl: one context current on two threads in turn, ") + std::to_string(kRounds) +
         " rounds: " + (g_failures ? "FAILED" : "ok"));
  return g_failures ? 1 : 0;
}

// glFinish and readbacks on one thread while another draws heavy frames.
int run_finish() {
  Display* d = XOpenDisplay(nullptr);
  XVisualInfo* vi = d ? choose_visual(d) : nullptr;
  Surface busy, checker;
  if (!vi || !make_surface(d, vi, nullptr, busy) || !make_surface(d, vi, nullptr, checker)) return 1;
  std::atomic<bool> stop{false};
  std::atomic<long> frames{0}, finishes{0};
  std::thread renderer([&] {
    glXMakeCurrent(d, busy.window, busy.context);
    setup_2d();
    for (long f = 0; !stop; ++f) {
      clear_to({0, 0, 0});
      for (int q = 0; q < 400; ++q) {
        glColor3ub(static_cast<unsigned char>(q), static_cast<unsigned char>(f), 9);
        const float x = (q % 20) / 20.f, y = (q / 20) / 20.f;
        quad(x, y, x + 0.05f, y + 0.05f, false);
      }
      // The last quad drawn covers the top-right cell.
      pixel_is("finish, renderer", 63, 63, {static_cast<unsigned char>(399 % 256), static_cast<unsigned char>(f), 9});
      glXSwapBuffers(d, busy.window);
      ++frames;
    }
    glXMakeCurrent(d, None, nullptr);
  });
  std::thread finisher([&] {
    glXMakeCurrent(d, checker.window, checker.context);
    setup_2d();
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    for (long k = 0; std::chrono::steady_clock::now() < end; ++k) {
      const Rgb c{static_cast<unsigned char>(k), static_cast<unsigned char>(k * 7), 123};
      clear_to(c);
      glFinish();
      pixel_is("finish, checker", 5, 5, c);
      ++finishes;
    }
    glXMakeCurrent(d, None, nullptr);
    stop = true;
  });
  finisher.join();
  renderer.join();
  const bool progress = frames > 5 && finishes > 20;
  if (!progress) ++g_failures;
  report("threads-gl: glFinish while another thread renders: " + std::to_string(finishes.load()) +
         " checked glFinish calls, " + std::to_string(frames.load()) + " heavy frames: " +
         (g_failures ? "FAILED" : "ok"));
  return g_failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (!XInitThreads()) return std::fprintf(stderr, "threads-gl: XInitThreads failed\n"), 1;
  const std::string mode = argc > 1 ? argv[1] : "";
  const int n = argc > 2 ? std::atoi(argv[2]) : 4;
  if (mode == "contexts") return run_contexts(n, false);
  if (mode == "own-displays") return run_contexts(n, true);
  if (mode == "shared") return run_shared();
  if (mode == "migrate") return run_migrate();
  if (mode == "finish") return run_finish();
  std::fprintf(stderr, "usage: threads-gl contexts [N] | own-displays [N] | shared | migrate | finish\n");
  return 2;
}
