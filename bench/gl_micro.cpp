// bench/gl-micro: what a GL application pays for each kind of work, through
// whichever libGL the dynamic linker finds (system llvmpipe, our remoting
// libGL.so.1, virpipe...), in a 512x512 GLX window on $DISPLAY.
//   draws_per_s              draws with a uniform/blend/texture change between each
//   texture_upload_mtexel_s  glTexSubImage2D of 1024x1024 RGBA8, consumed by a draw
//   buffer_upload_gb_s       glBufferSubData of 4 MiB, consumed by a draw
//   readpixels_latency_us    1x1 glReadPixels right after a draw (median)
//   roundtrip_latency_us     glFinish on an idle pipeline (median)
//   frame_ms, swap_fps       glClear + 100 draws + glXSwapBuffers per frame
// Machine-readable results are `metric NAME VALUE UNIT`; everything else
// starts with '#'. Every metric is followed by a glGetError check and a
// readback of a known draw, so a driver that drops work cannot look fast.
// Exit 0 ok, 1 GL error or wrong pixels, 2 usage / no display / no context.
#define GL_GLEXT_PROTOTYPES
#include <GL/gl.h>
#include <GL/glext.h>
#include <GL/glx.h>
#include <X11/Xlib.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using Clock = std::chrono::steady_clock;

namespace {

constexpr int kWinSize = 512;
constexpr int kTexSize = 1024;
constexpr size_t kBufferBytes = 4u << 20;

struct Vertex { float x, y, u, v; };
struct Rgba { int r, g, b, a; };

// Static geometry, in the order it sits in the static VBO. The quad covers a
// 64x64 pixel block whose centre is what the checks read back.
constexpr GLint kTinyTriFirst = 0, kQuadFirst = 3;
constexpr int kQuadX0 = 200, kQuadSize = 64;
constexpr int kQuadCx = kQuadX0 + kQuadSize / 2;

// Buffer-upload data: two variants whose triangles land on different pixels,
// so a readback tells which upload the GPU actually saw.
constexpr int kBufCentre[2] = {96, 400};

float ndc(float pixel) { return pixel / (kWinSize / 2.0f) - 1.0f; }

void push_rect(std::vector<Vertex>& v, float x0, float y0, float size) {
  const float x1 = x0 + size, y1 = y0 + size;
  for (auto [x, y, s, t] : {std::array<float, 4>{x0, y0, 0, 0}, {x1, y0, 1, 0}, {x1, y1, 1, 1},
                            {x0, y0, 0, 0}, {x1, y1, 1, 1}, {x0, y1, 0, 1}})
    v.push_back({ndc(x), ndc(y), s, t});
}

// A triangle around pixel (c, c), 2*half pixels wide; with half >= 8 its
// centre pixel is covered whatever the rasteriser's rules.
void push_triangle(std::vector<Vertex>& v, float c, float half) {
  v.push_back({ndc(c - half), ndc(c - half), 0.5f, 0.5f});
  v.push_back({ndc(c + half), ndc(c - half), 0.5f, 0.5f});
  v.push_back({ndc(c), ndc(c + half), 0.5f, 0.5f});
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
double micros_since(Clock::time_point t0) { return seconds_since(t0) * 1e6; }

// Samples are floats: a fast idle glFinish yields millions per second.
double percentile(std::vector<float> v, double p) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, size_t(p * (v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

[[noreturn]] void fail(int code, const char* fmt, const char* what) {
  std::fprintf(stderr, "gl-micro: ");
  std::fprintf(stderr, fmt, what);
  std::fprintf(stderr, "\n");
  std::exit(code);
}

void check_gl_error(const char* where) {
  if (GLenum e = glGetError(); e != GL_NO_ERROR) {
    std::fprintf(stderr, "gl-micro: GL error 0x%04x after %s\n", e, where);
    std::exit(1);
  }
}

GLuint compile(GLenum type, const char* src) {
  GLuint s = glCreateShader(type);
  glShaderSource(s, 1, &src, nullptr);
  glCompileShader(s);
  GLint ok = 0;
  glGetShaderiv(s, GL_COMPILE_STATUS, &ok);
  if (!ok) {
    char log[2048] = {};
    glGetShaderInfoLog(s, sizeof log, nullptr, log);
    fail(1, "shader compile failed: %s", log);
  }
  return s;
}

// The GL objects every metric shares.
struct Scene {
  GLuint program = 0, static_vbo = 0, big_vbo = 0;
  GLuint white_tex = 0, checker_tex = 0, upload_tex = 0;
  GLint u_color = -1;

  void setup() {
    // GLSL 1.20: accepted by every compatibility context the drivers offer.
    const char* vs = "#version 120\n"
                     "attribute vec2 pos; attribute vec2 uv; varying vec2 v_uv;\n"
                     "void main() { v_uv = uv; gl_Position = vec4(pos, 0.0, 1.0); }\n";
    const char* fs = "#version 120\n"
                     "uniform vec4 color; uniform sampler2D tex; varying vec2 v_uv;\n"
                     "void main() { gl_FragColor = color * texture2D(tex, v_uv); }\n";
    program = glCreateProgram();
    glAttachShader(program, compile(GL_VERTEX_SHADER, vs));
    glAttachShader(program, compile(GL_FRAGMENT_SHADER, fs));
    glBindAttribLocation(program, 0, "pos");
    glBindAttribLocation(program, 1, "uv");
    glLinkProgram(program);
    GLint ok = 0;
    glGetProgramiv(program, GL_LINK_STATUS, &ok);
    if (!ok) fail(1, "%s", "program link failed");
    glUseProgram(program);
    u_color = glGetUniformLocation(program, "color");
    glUniform1i(glGetUniformLocation(program, "tex"), 0);

    std::vector<Vertex> v;
    push_triangle(v, 6, 4);  // tiny, in a corner no check reads: cheap to raster
    push_rect(v, kQuadX0, kQuadX0, kQuadSize);
    glGenBuffers(1, &static_vbo);
    glBindBuffer(GL_ARRAY_BUFFER, static_vbo);
    glBufferData(GL_ARRAY_BUFFER, v.size() * sizeof(Vertex), v.data(), GL_STATIC_DRAW);
    glGenBuffers(1, &big_vbo);
    glBindBuffer(GL_ARRAY_BUFFER, big_vbo);
    glBufferData(GL_ARRAY_BUFFER, kBufferBytes, nullptr, GL_DYNAMIC_DRAW);

    // White makes the drawn colour exactly the uniform, which the checks rely on.
    std::vector<uint32_t> white(16, 0xffffffffu), checker(16, 0xffffffffu);
    for (int i = 0; i < 16; i += 3) checker[i] = 0xff808080u;
    white_tex = make_texture(4, white.data());
    checker_tex = make_texture(4, checker.data());
    upload_tex = make_texture(kTexSize, nullptr);
    use_vertices(static_vbo);
    glClearColor(0, 0, 0, 1);
    glBlendFunc(GL_SRC_ALPHA, GL_ONE_MINUS_SRC_ALPHA);
  }

  static GLuint make_texture(int size, const void* texels) {
    GLuint t = 0;
    glGenTextures(1, &t);
    glBindTexture(GL_TEXTURE_2D, t);
    // NEAREST and no mipmaps: the sampled colour is exactly a texel.
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
    glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA8, size, size, 0, GL_RGBA, GL_UNSIGNED_BYTE, texels);
    return t;
  }

  static void use_vertices(GLuint vbo) {
    glBindBuffer(GL_ARRAY_BUFFER, vbo);
    glVertexAttribPointer(0, 2, GL_FLOAT, GL_FALSE, sizeof(Vertex), nullptr);
    glVertexAttribPointer(1, 2, GL_FLOAT, GL_FALSE, sizeof(Vertex),
                          reinterpret_cast<const void*>(offsetof(Vertex, u)));
    glEnableVertexAttribArray(0);
    glEnableVertexAttribArray(1);
  }

  // Back to the state every metric starts from and the checks assume.
  void reset() {
    glDisable(GL_BLEND);
    glBindTexture(GL_TEXTURE_2D, white_tex);
    glUniform4f(u_color, 1, 1, 1, 1);
    use_vertices(static_vbo);
  }
};

Rgba read_pixel(int x, int y) {
  unsigned char p[4] = {};
  glReadPixels(x, y, 1, 1, GL_RGBA, GL_UNSIGNED_BYTE, p);
  return {p[0], p[1], p[2], p[3]};
}

bool close_to(Rgba a, Rgba b) {
  return std::abs(a.r - b.r) <= 1 && std::abs(a.g - b.g) <= 1 && std::abs(a.b - b.b) <= 1 &&
         std::abs(a.a - b.a) <= 1;
}

void expect_pixel(int x, int y, Rgba want, const char* metric) {
  const Rgba got = read_pixel(x, y);
  if (!close_to(got, want)) {
    std::fprintf(stderr, "gl-micro: %s: pixel (%d,%d) is %d,%d,%d,%d, expected %d,%d,%d,%d\n",
                 metric, x, y, got.r, got.g, got.b, got.a, want.r, want.g, want.b, want.a);
    std::exit(1);
  }
}

// After a metric: no GL error, and a fresh draw of a known colour reads back,
// proving the pipeline still renders after the load just put on it.
void verify_after(Scene& s, const char* metric) {
  check_gl_error(metric);
  s.reset();
  glClear(GL_COLOR_BUFFER_BIT | GL_DEPTH_BUFFER_BIT);
  glUniform4f(s.u_color, 0.2f, 0.4f, 0.6f, 1.0f);
  glDrawArrays(GL_TRIANGLES, kQuadFirst, 6);
  expect_pixel(kQuadCx, kQuadCx, {51, 102, 153, 255}, metric);
  expect_pixel(kWinSize - 8, kWinSize - 8, {0, 0, 0, 255}, metric);
  glUniform4f(s.u_color, 1, 1, 1, 1);
  check_gl_error(metric);
}

// Runs `step(i)` for i = 0, 1, ... until `seconds` have passed (checked every
// `batch` steps, so the clock is not read between cheap calls), then glFinish.
// The first kWarmup steps are untimed, so shader variants and first-use
// allocations happen outside the clock; `samples` forgets what they recorded.
// Returns the number of timed steps and the seconds they took.
constexpr long kWarmup = 3;
template <class Step>
std::pair<long, double> run_for(double seconds, int batch, Step step,
                                std::vector<float>* samples = nullptr) {
  long i = 0;
  while (i < kWarmup) step(i++);
  glFinish();
  if (samples) samples->clear();
  const auto t0 = Clock::now();
  do {
    for (int k = 0; k < batch; ++k) step(i++);
  } while (seconds_since(t0) < seconds);
  glFinish();
  return {i - kWarmup, seconds_since(t0)};
}

void metric(const char* name, double value, const char* unit) {
  std::printf("metric %s %.6g %s\n", name, value, unit);
  std::fflush(stdout);
}

constexpr const char* kMetricNames[] = {"draws_per_s", "texture_upload_mtexel_s",
                                        "buffer_upload_gb_s", "readpixels_latency_us",
                                        "roundtrip_latency_us", "frame_ms", "swap_fps"};

struct Options {
  double seconds = 1.0;
  std::vector<std::string> only;  // empty: all
  bool wants(const std::string& name, const std::string& alias = "") const {
    return only.empty() || std::count(only.begin(), only.end(), name) ||
           (!alias.empty() && std::count(only.begin(), only.end(), alias));
  }
};

void usage(FILE* f) {
  std::fprintf(f,
      "usage: gl-micro [--seconds S] [--only NAME[,NAME...]] [--help]\n"
      "  --seconds S  wall-clock time per metric (default 1.0)\n"
      "  --only       any of draws_per_s texture_upload_mtexel_s buffer_upload_gb_s\n"
      "               readpixels_latency_us roundtrip_latency_us frame_ms swap_fps\n"
      "               (frame_ms and swap_fps come from the same run)\n"
      "Prints `metric NAME VALUE UNIT` lines; other lines start with '#'.\n"
      "Exit 0 ok, 1 GL error or wrong pixels, 2 usage/display/context problem.\n");
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") { usage(stdout); std::exit(0); }
    if (a == "--seconds" && i + 1 < argc) {
      char* end = nullptr;
      o.seconds = std::strtod(argv[++i], &end);
      if (*end || !(o.seconds > 0)) fail(2, "bad --seconds value '%s'", argv[i]);
    } else if (a == "--only" && i + 1 < argc) {
      std::string list = argv[++i];
      for (size_t at = 0; at <= list.size();) {
        const size_t comma = std::min(list.find(',', at), list.size());
        const std::string name = list.substr(at, comma - at);
        if (std::none_of(std::begin(kMetricNames), std::end(kMetricNames), [&](auto k) { return name == k; }))
          fail(2, "unknown metric '%s' (see --help)", name.c_str());
        o.only.push_back(name);
        at = comma + 1;
      }
    } else {
      usage(stderr);
      std::exit(2);
    }
  }
  return o;
}

// X errors would otherwise end the process with Xlib's exit(1), which reads
// as a benchmark failure; while setting up they mean "no usable window or
// context" (exit 2), afterwards the driver broke something (exit 1).
bool g_setting_up = true;
int on_x_error(Display* dpy, XErrorEvent* e) {
  char text[256] = {};
  XGetErrorText(dpy, e->error_code, text, sizeof text);
  std::fprintf(stderr, "gl-micro: X error %s (request %d.%d)%s\n", text, e->request_code,
               e->minor_code, g_setting_up ? " while creating the window or context" : "");
  std::exit(g_setting_up ? 2 : 1);
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse(argc, argv);

  Display* dpy = XOpenDisplay(nullptr);
  if (!dpy) fail(2, "cannot open display '%s'", std::getenv("DISPLAY") ? std::getenv("DISPLAY") : "");
  XSetErrorHandler(on_x_error);
  // 8 bits per channel so readbacks compare exactly against unorm8 colours.
  int attrs[] = {GLX_RGBA, GLX_RED_SIZE, 8, GLX_GREEN_SIZE, 8, GLX_BLUE_SIZE, 8,
                 GLX_DOUBLEBUFFER, GLX_DEPTH_SIZE, 24, None};
  XVisualInfo* vi = glXChooseVisual(dpy, DefaultScreen(dpy), attrs);
  if (!vi) fail(2, "%s", "no RGBA8 double-buffered visual with a 24-bit depth buffer");
  const Window root = RootWindow(dpy, vi->screen);
  XSetWindowAttributes swa = {};
  swa.colormap = XCreateColormap(dpy, root, vi->visual, AllocNone);
  swa.event_mask = StructureNotifyMask;
  // The visual may differ from the root's (depth 32 from some libGLs): then X
  // demands an explicit border pixel, else BadMatch.
  swa.border_pixel = 0;
  const Window win = XCreateWindow(dpy, root, 0, 0, kWinSize, kWinSize, 0, vi->depth, InputOutput,
                                   vi->visual, CWColormap | CWEventMask | CWBorderPixel, &swa);
  XStoreName(dpy, win, "gl-micro");
  XMapWindow(dpy, win);
  for (XEvent ev; XNextEvent(dpy, &ev), ev.type != MapNotify;) {}
  GLXContext ctx = glXCreateContext(dpy, vi, nullptr, True);
  if (!ctx || !glXMakeCurrent(dpy, win, ctx)) fail(2, "%s", "cannot create or bind a GLX context");

  const char* version = reinterpret_cast<const char*>(glGetString(GL_VERSION));
  int major = 0, minor = 0;
  if (!version || std::sscanf(version, "%d.%d", &major, &minor) != 2 || major * 10 + minor < 21)
    fail(2, "need OpenGL 2.1, context offers '%s'", version ? version : "(none)");
  std::printf("# gl-micro: %dx%d window, %.2f s per metric\n", kWinSize, kWinSize, opt.seconds);
  std::printf("# GL_RENDERER %s\n# GL_VERSION %s\n",
              reinterpret_cast<const char*>(glGetString(GL_RENDERER)), version);

  Scene s;
  s.setup();
  glViewport(0, 0, kWinSize, kWinSize);
  verify_after(s, "setup");
  XSync(dpy, False);
  g_setting_up = false;

  if (opt.wants("draws_per_s")) {
    // Every draw sees a new uniform, blend state and texture, so the driver
    // cannot batch them into one state vector.
    const GLuint tex[2] = {s.white_tex, s.checker_tex};
    auto [n, secs] = run_for(opt.seconds, 100, [&](long i) {
      glUniform4f(s.u_color, (i & 255) / 255.0f, 0.5f, 0.25f, 1.0f);
      if (i & 1) glEnable(GL_BLEND); else glDisable(GL_BLEND);
      glBindTexture(GL_TEXTURE_2D, tex[(i >> 1) & 1]);
      glDrawArrays(GL_TRIANGLES, kTinyTriFirst, 3);
      if (i % 1000 == 999) glFlush();
    });
    std::printf("# draws: %ld draws in %.3f s, uniform+blend+texture change between draws\n", n, secs);
    metric("draws_per_s", n / secs, "draws/s");
    verify_after(s, "draws_per_s");
  }

  if (opt.wants("texture_upload_mtexel_s")) {
    // Two solid images, alternated: consecutive uploads always differ, and the
    // final readback shows which one the GPU last sampled.
    const Rgba colour[2] = {{200, 40, 10, 255}, {10, 120, 220, 255}};
    std::vector<uint8_t> image[2];
    for (int k = 0; k < 2; ++k)
      for (int t = 0; t < kTexSize * kTexSize; ++t)
        for (int ch : {colour[k].r, colour[k].g, colour[k].b, colour[k].a}) image[k].push_back(ch);
    glBindTexture(GL_TEXTURE_2D, s.upload_tex);
    long last = 0;
    auto [n, secs] = run_for(opt.seconds, 1, [&](long i) {
      glTexSubImage2D(GL_TEXTURE_2D, 0, 0, 0, kTexSize, kTexSize, GL_RGBA, GL_UNSIGNED_BYTE,
                      image[i & 1].data());
      glDrawArrays(GL_TRIANGLES, kQuadFirst, 6);
      last = i;
    });
    const double mtexel = double(n) * kTexSize * kTexSize / secs / 1e6;
    std::printf("# texture: %ld uploads of %dx%d RGBA8 in %.3f s\n", n, kTexSize, kTexSize, secs);
    metric("texture_upload_mtexel_s", mtexel, "Mtexel/s");
    expect_pixel(kQuadCx, kQuadCx, colour[last & 1], "texture_upload_mtexel_s");
    verify_after(s, "texture_upload_mtexel_s");
  }

  if (opt.wants("buffer_upload_gb_s")) {
    // Two vertex images, alternated, whose triangles sit at different places.
    std::vector<Vertex> data[2];
    for (int k = 0; k < 2; ++k)
      while (data[k].size() * sizeof(Vertex) < kBufferBytes) push_triangle(data[k], kBufCentre[k], 24);
    const long triangles = kBufferBytes / sizeof(Vertex) / 3;
    Scene::use_vertices(s.big_vbo);
    long last = 0;
    auto [n, secs] = run_for(opt.seconds, 1, [&](long i) {
      glBufferSubData(GL_ARRAY_BUFFER, 0, kBufferBytes, data[i & 1].data());
      glDrawArrays(GL_TRIANGLES, GLint(i % triangles) * 3, 3);
      last = i;
    });
    std::printf("# buffer: %ld uploads of %zu MiB in %.3f s\n", n, kBufferBytes >> 20, secs);
    metric("buffer_upload_gb_s", double(n) * kBufferBytes / secs / 1e9, "GB/s");
    glClear(GL_COLOR_BUFFER_BIT);
    glUniform4f(s.u_color, 0.8f, 0.6f, 0.4f, 1.0f);
    glDrawArrays(GL_TRIANGLES, 0, 3);
    const int hit = kBufCentre[last & 1], miss = kBufCentre[~last & 1];
    expect_pixel(hit, hit, {204, 153, 102, 255}, "buffer_upload_gb_s");
    expect_pixel(miss, miss, {0, 0, 0, 255}, "buffer_upload_gb_s");
    verify_after(s, "buffer_upload_gb_s");
  }

  if (opt.wants("readpixels_latency_us")) {
    // A new colour each time, checked each time: the read must wait for the draw.
    std::vector<float> us;
    run_for(opt.seconds, 1, [&](long i) {
      const int red = int(i % 251);
      glUniform4f(s.u_color, red / 255.0f, 0.5f, 1.0f, 1.0f);
      glDrawArrays(GL_TRIANGLES, kQuadFirst, 6);
      const auto t0 = Clock::now();
      const Rgba got = read_pixel(kQuadCx, kQuadCx);
      us.push_back(micros_since(t0));
      if (!close_to(got, {red, 128, 255, 255})) {
        std::fprintf(stderr, "gl-micro: readpixels_latency_us: read %d,%d,%d,%d, drew %d,128,255,255\n",
                     got.r, got.g, got.b, got.a, red);
        std::exit(1);
      }
    }, &us);
    std::printf("# readpixels: %zu reads, median %.1f us, p90 %.1f us\n", us.size(),
                percentile(us, 0.5), percentile(us, 0.9));
    metric("readpixels_latency_us", percentile(us, 0.5), "us");
    verify_after(s, "readpixels_latency_us");
  }

  if (opt.wants("roundtrip_latency_us")) {
    std::vector<float> us;
    run_for(opt.seconds, 1, [&](long) {
      const auto t0 = Clock::now();
      glFinish();
      us.push_back(micros_since(t0));
    }, &us);
    std::printf("# roundtrip: %zu glFinish on an idle pipeline, median %.1f us, p90 %.1f us\n",
                us.size(), percentile(us, 0.5), percentile(us, 0.9));
    metric("roundtrip_latency_us", percentile(us, 0.5), "us");
    verify_after(s, "roundtrip_latency_us");
  }

  if (opt.wants("frame_ms", "swap_fps")) {
    // frame_ms is the median time to submit a frame (swap included); swap_fps
    // counts frames over the whole period, final glFinish included.
    std::vector<float> ms;
    auto [n, secs] = run_for(opt.seconds, 1, [&](long i) {
      const auto t0 = Clock::now();
      glClear(GL_COLOR_BUFFER_BIT | GL_DEPTH_BUFFER_BIT);
      for (int d = 0; d < 100; ++d) {
        glUniform4f(s.u_color, d / 100.0f, (i & 255) / 255.0f, 0.5f, 1.0f);
        glDrawArrays(GL_TRIANGLES, kTinyTriFirst, 3);
      }
      glXSwapBuffers(dpy, win);
      ms.push_back(micros_since(t0) / 1e3);
    }, &ms);
    std::printf("# frame: %ld frames in %.3f s, median %.3f ms, p90 %.3f ms\n", n, secs,
                percentile(ms, 0.5), percentile(ms, 0.9));
    metric("frame_ms", percentile(ms, 0.5), "ms");
    metric("swap_fps", n / secs, "frames/s");
    verify_after(s, "frame_ms");
  }

  glXMakeCurrent(dpy, None, nullptr);
  glXDestroyContext(dpy, ctx);
  XDestroyWindow(dpy, win);
  XFree(vi);
  XCloseDisplay(dpy);
  return 0;
}
