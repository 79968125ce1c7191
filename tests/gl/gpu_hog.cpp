// gpu-hog: one draw that keeps the GPU busy for long, the way a hostile or
// broken program's shader does (a loop bounded only by a uniform), for the
// render-worker watchdog test. It draws once, waits for it (glFinish), and
// says how long that took and what GL says about a reset:
//   gpu-hog [--iterations N] [--size WxH]
// prints "draw: <ms> ms, reset status: <none|guilty|innocent|unknown|n/a>".
// Exit 0 when the draw finished or the context was reset, 1 when GL fails,
// 2 on usage errors.
#include <GL/gl.h>
#include <GL/glext.h>
#include <GL/glx.h>
#include <GL/glxext.h>
#include <X11/Xlib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "glx_window.h"

namespace {

int usage() {
  std::fprintf(stderr, "usage: gpu-hog [--iterations N] [--size WxH]\n");
  return 2;
}

const char* reset_name(GLenum s) {
  switch (s) {
    case GL_NO_ERROR: return "none";
    case GL_GUILTY_CONTEXT_RESET_ARB: return "guilty";
    case GL_INNOCENT_CONTEXT_RESET_ARB: return "innocent";
    case GL_UNKNOWN_CONTEXT_RESET_ARB: return "unknown";
    default: return "?";
  }
}

template <class F>
F proc(const char* name) {
  return reinterpret_cast<F>(glXGetProcAddressARB(reinterpret_cast<const GLubyte*>(name)));
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = 2000000;
  int w = 128, h = 128;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--iterations" && i + 1 < argc) {
      iterations = std::strtol(argv[++i], nullptr, 10);
      if (iterations <= 0) return usage();
    } else if (a == "--size" && i + 1 < argc) {
      if (std::sscanf(argv[++i], "%dx%d", &w, &h) != 2 || w <= 0 || h <= 0) return usage();
    } else {
      return usage();
    }
  }
  GlxWindow glx;
  if (!open_glx_window("gpu-hog", w, h, glx)) return 1;
  Display* d = glx.display;
  XVisualInfo* vi = glx.visual;
  Window win = glx.window;
  // A robust context (reset notification) where GLX offers one, else a plain one.
  GLXContext ctx = nullptr;
  auto create_attribs = proc<PFNGLXCREATECONTEXTATTRIBSARBPROC>("glXCreateContextAttribsARB");
  if (create_attribs) {
    int n = 0;
    GLXFBConfig* configs = glXChooseFBConfig(d, vi->screen, nullptr, &n);
    const int robust[] = {GLX_CONTEXT_FLAGS_ARB, GLX_CONTEXT_ROBUST_ACCESS_BIT_ARB,
                          GLX_CONTEXT_RESET_NOTIFICATION_STRATEGY_ARB, GLX_LOSE_CONTEXT_ON_RESET_ARB, None};
    // An X server whose GLX refuses the attributes answers with an X error.
    auto old_handler = XSetErrorHandler([](Display*, XErrorEvent*) { return 0; });
    for (int i = 0; configs && i < n && !ctx; ++i) {
      XVisualInfo* cv = glXGetVisualFromFBConfig(d, configs[i]);
      if (cv && cv->visualid == vi->visualid) ctx = create_attribs(d, configs[i], nullptr, True, robust);
      if (cv) XFree(cv);
      XSync(d, False);
    }
    XSetErrorHandler(old_handler);
    if (configs) XFree(configs);
  }
  if (!ctx) ctx = glXCreateContext(d, vi, nullptr, True);
  if (!ctx || !glXMakeCurrent(d, win, ctx)) {
    std::fprintf(stderr, "gpu-hog: cannot make a GL context current\n");
    return 1;
  }
  auto create_shader = proc<PFNGLCREATESHADERPROC>("glCreateShader");
  auto shader_source = proc<PFNGLSHADERSOURCEPROC>("glShaderSource");
  auto compile = proc<PFNGLCOMPILESHADERPROC>("glCompileShader");
  auto create_program = proc<PFNGLCREATEPROGRAMPROC>("glCreateProgram");
  auto attach = proc<PFNGLATTACHSHADERPROC>("glAttachShader");
  auto link = proc<PFNGLLINKPROGRAMPROC>("glLinkProgram");
  auto use = proc<PFNGLUSEPROGRAMPROC>("glUseProgram");
  auto get_program = proc<PFNGLGETPROGRAMIVPROC>("glGetProgramiv");
  auto uniform_location = proc<PFNGLGETUNIFORMLOCATIONPROC>("glGetUniformLocation");
  auto uniform1i = proc<PFNGLUNIFORM1IPROC>("glUniform1i");
  auto reset_status = proc<PFNGLGETGRAPHICSRESETSTATUSARBPROC>("glGetGraphicsResetStatusARB");
  if (!create_shader || !link || !uniform1i) {
    std::fprintf(stderr, "gpu-hog: no GLSL\n");
    return 1;
  }
  // Every pixel runs the loop; only the uniform bounds it, so the compiler
  // cannot shorten it. (llvmpipe ends any loop after 65,535 iterations: the
  // pixel count sets how long the draw can take.)
  const char* fs =
      "#version 120\n"
      "uniform int n;\n"
      "void main() {\n"
      "  float x = gl_FragCoord.x * 0.001;\n"
      "  for (int i = 0; i < n; i++) x = fract(x * 1.0001 + 0.1);\n"
      "  gl_FragColor = vec4(x, 0.5, 0.0, 1.0);\n"
      "}\n";
  GLuint s = create_shader(GL_FRAGMENT_SHADER);
  shader_source(s, 1, &fs, nullptr);
  compile(s);
  GLuint prog = create_program();
  attach(prog, s);
  link(prog);
  GLint linked = 0;
  get_program(prog, GL_LINK_STATUS, &linked);
  if (!linked) {
    std::fprintf(stderr, "gpu-hog: the shader does not link\n");
    return 1;
  }
  use(prog);
  uniform1i(uniform_location(prog, "n"), static_cast<int>(iterations));
  glViewport(0, 0, w, h);
  glFinish();
  std::printf("gpu-hog: drawing %dx%d pixels, %ld iterations each\n", w, h, iterations);
  std::fflush(stdout);
  const auto t0 = std::chrono::steady_clock::now();
  glBegin(GL_QUADS);
  glVertex2f(-1, -1);
  glVertex2f(1, -1);
  glVertex2f(1, 1);
  glVertex2f(-1, 1);
  glEnd();
  glFinish();
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  // One more command, so a driver that learnt of a reset during the wait has said so.
  glClear(GL_COLOR_BUFFER_BIT);
  glFinish();
  const GLenum status = reset_status ? reset_status() : GL_NO_ERROR;
  std::printf("draw: %.0f ms, reset status: %s\n", ms, reset_status ? reset_name(status) : "n/a");
  std::fflush(stdout);
  return 0;
}
