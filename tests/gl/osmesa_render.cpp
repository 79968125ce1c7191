// An off-screen OpenGL program, as OSMesa programs are written: it renders
// into its own memory and never opens a window. The OSMesa library is
// dlopen()ed from --lib, so the same program renders through the guest's
// libOSMesa (the remote driver) and through Debian's (llvmpipe) for the
// comparison in osmesa_test.sh.
//
//   osmesa-render --lib PATH --out FILE.png [--size WxH]
//
// Draws depth-tested, smooth-shaded triangles, a textured quad, a GLSL
// program, and a read-back of a second buffer; prints GL_RENDERER.
#include <GL/osmesa.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/png_writer.h"

namespace {

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "osmesa-render: %s\n", why.c_str());
  std::exit(1);
}

// Every GL entry point comes through OSMesaGetProcAddress: nothing links libGL.
struct Gl {
  template <typename F>
  void get(F& f, const char* name) {
    f = reinterpret_cast<F>(proc(name));
    if (!f) die(std::string("no ") + name);
  }
  OSMESAproc (*proc)(const char*) = nullptr;
  const GLubyte* (*GetString)(GLenum);
  void (*ClearColor)(GLfloat, GLfloat, GLfloat, GLfloat);
  void (*Clear)(GLbitfield);
  void (*Enable)(GLenum);
  void (*Disable)(GLenum);
  void (*Viewport)(GLint, GLint, GLsizei, GLsizei);
  void (*Begin)(GLenum);
  void (*End)();
  void (*Color3f)(GLfloat, GLfloat, GLfloat);
  void (*Vertex3f)(GLfloat, GLfloat, GLfloat);
  void (*TexCoord2f)(GLfloat, GLfloat);
  void (*GenTextures)(GLsizei, GLuint*);
  void (*BindTexture)(GLenum, GLuint);
  void (*TexParameteri)(GLenum, GLenum, GLint);
  void (*TexImage2D)(GLenum, GLint, GLint, GLsizei, GLsizei, GLint, GLenum, GLenum, const void*);
  void (*Finish)();
  GLenum (*GetError)();
  GLuint (*CreateShader)(GLenum);
  void (*ShaderSource)(GLuint, GLsizei, const char* const*, const GLint*);
  void (*CompileShader)(GLuint);
  GLuint (*CreateProgram)();
  void (*AttachShader)(GLuint, GLuint);
  void (*LinkProgram)(GLuint);
  void (*GetProgramiv)(GLuint, GLenum, GLint*);
  void (*UseProgram)(GLuint);
  void (*Uniform1f)(GLint, GLfloat);
  GLint (*GetUniformLocation)(GLuint, const char*);
};

void load(Gl& gl) {
  gl.get(gl.GetString, "glGetString");
  gl.get(gl.ClearColor, "glClearColor");
  gl.get(gl.Clear, "glClear");
  gl.get(gl.Enable, "glEnable");
  gl.get(gl.Disable, "glDisable");
  gl.get(gl.Viewport, "glViewport");
  gl.get(gl.Begin, "glBegin");
  gl.get(gl.End, "glEnd");
  gl.get(gl.Color3f, "glColor3f");
  gl.get(gl.Vertex3f, "glVertex3f");
  gl.get(gl.TexCoord2f, "glTexCoord2f");
  gl.get(gl.GenTextures, "glGenTextures");
  gl.get(gl.BindTexture, "glBindTexture");
  gl.get(gl.TexParameteri, "glTexParameteri");
  gl.get(gl.TexImage2D, "glTexImage2D");
  gl.get(gl.Finish, "glFinish");
  gl.get(gl.GetError, "glGetError");
  gl.get(gl.CreateShader, "glCreateShader");
  gl.get(gl.ShaderSource, "glShaderSource");
  gl.get(gl.CompileShader, "glCompileShader");
  gl.get(gl.CreateProgram, "glCreateProgram");
  gl.get(gl.AttachShader, "glAttachShader");
  gl.get(gl.LinkProgram, "glLinkProgram");
  gl.get(gl.GetProgramiv, "glGetProgramiv");
  gl.get(gl.UseProgram, "glUseProgram");
  gl.get(gl.Uniform1f, "glUniform1f");
  gl.get(gl.GetUniformLocation, "glGetUniformLocation");
}

GLuint rings_program(Gl& gl) {
  static const char* vs =
      "varying vec2 p;\n"
      "void main() { p = gl_Vertex.xy; gl_Position = gl_Vertex; }\n";
  static const char* fs =
      "varying vec2 p;\n"
      "uniform float k;\n"
      "void main() {\n"
      "  float r = length(p - vec2(0.5, -0.5));\n"
      "  gl_FragColor = vec4(0.5 + 0.5 * sin(r * k), r, 1.0 - r, 1.0);\n"
      "}\n";
  GLuint prog = gl.CreateProgram();
  for (auto [type, src] : {std::pair{GLenum(GL_VERTEX_SHADER), vs}, std::pair{GLenum(GL_FRAGMENT_SHADER), fs}}) {
    GLuint s = gl.CreateShader(type);
    gl.ShaderSource(s, 1, &src, nullptr);
    gl.CompileShader(s);
    gl.AttachShader(prog, s);
  }
  gl.LinkProgram(prog);
  GLint ok = 0;
  gl.GetProgramiv(prog, GL_LINK_STATUS, &ok);
  if (!ok) die("the GLSL program did not link");
  return prog;
}

void draw(Gl& gl, int w, int h) {
  gl.Viewport(0, 0, w, h);
  gl.ClearColor(0.1f, 0.2f, 0.3f, 1.0f);
  gl.Clear(GL_COLOR_BUFFER_BIT | GL_DEPTH_BUFFER_BIT);
  gl.Enable(GL_DEPTH_TEST);
  // Two interpenetrating smooth-shaded triangles: depth testing decides each pixel.
  gl.Begin(GL_TRIANGLES);
  gl.Color3f(1, 0, 0), gl.Vertex3f(-0.9f, -0.9f, -0.5f);
  gl.Color3f(0, 1, 0), gl.Vertex3f(0.1f, -0.9f, 0.5f);
  gl.Color3f(0, 0, 1), gl.Vertex3f(-0.4f, 0.1f, 0.0f);
  gl.Color3f(1, 1, 0), gl.Vertex3f(-0.9f, -0.5f, 0.5f);
  gl.Color3f(0, 1, 1), gl.Vertex3f(0.1f, -0.5f, -0.5f);
  gl.Color3f(1, 0, 1), gl.Vertex3f(-0.4f, -0.1f, 0.0f);
  gl.End();
  gl.Disable(GL_DEPTH_TEST);
  // A checkerboard texture, nearest-sampled.
  std::vector<uint8_t> tex(16 * 16 * 4);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x) {
      uint8_t* t = &tex[(y * 16 + x) * 4];
      const bool on = ((x / 4) ^ (y / 4)) & 1;
      t[0] = on ? 255 : 20, t[1] = on ? 200 : 40, t[2] = static_cast<uint8_t>(x * 16), t[3] = 255;
    }
  GLuint id;
  gl.GenTextures(1, &id);
  gl.BindTexture(GL_TEXTURE_2D, id);
  gl.TexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
  gl.TexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
  gl.TexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, 16, 16, 0, GL_RGBA, GL_UNSIGNED_BYTE, tex.data());
  gl.Enable(GL_TEXTURE_2D);
  gl.Color3f(1, 1, 1);
  gl.Begin(GL_QUADS);
  gl.TexCoord2f(0, 0), gl.Vertex3f(0.1f, 0.1f, 0);
  gl.TexCoord2f(1, 0), gl.Vertex3f(0.9f, 0.1f, 0);
  gl.TexCoord2f(1, 1), gl.Vertex3f(0.9f, 0.9f, 0);
  gl.TexCoord2f(0, 1), gl.Vertex3f(0.1f, 0.9f, 0);
  gl.End();
  gl.Disable(GL_TEXTURE_2D);
  // A fragment shader on the lower right quarter.
  GLuint prog = rings_program(gl);
  gl.UseProgram(prog);
  gl.Uniform1f(gl.GetUniformLocation(prog, "k"), 40.0f);
  gl.Begin(GL_QUADS);
  gl.Vertex3f(0.1f, -0.9f, 0), gl.Vertex3f(0.9f, -0.9f, 0), gl.Vertex3f(0.9f, -0.1f, 0), gl.Vertex3f(0.1f, -0.1f, 0);
  gl.End();
  gl.UseProgram(0);
  gl.Finish();
  if (GLenum e = gl.GetError()) die("GL error " + std::to_string(e));
}

}  // namespace

int main(int argc, char** argv) {
  std::string lib, out;
  int w = 256, h = 256;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--lib") {
      lib = value();
    } else if (a == "--out") {
      out = value();
    } else if (a == "--size") {
      if (std::sscanf(value().c_str(), "%dx%d", &w, &h) != 2 || w < 1 || h < 1 || w > 4096 || h > 4096)
        die("--size wants WxH, at most 4096x4096");
    } else if (a == "-h" || a == "--help") {
      std::printf("usage: osmesa-render --lib LIBOSMESA --out FILE.png [--size WxH]\n");
      return 0;
    } else {
      die("unknown option '" + a + "' (see --help)");
    }
  }
  if (lib.empty() || out.empty()) die("--lib and --out are required (see --help)");
  void* so = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!so) die(std::string("cannot load ") + lib + ": " + dlerror());
  auto create = reinterpret_cast<OSMesaContext (*)(GLenum, GLint, GLint, GLint, OSMesaContext)>(
      dlsym(so, "OSMesaCreateContextExt"));
  auto make_current = reinterpret_cast<GLboolean (*)(OSMesaContext, void*, GLenum, GLsizei, GLsizei)>(
      dlsym(so, "OSMesaMakeCurrent"));
  auto destroy = reinterpret_cast<void (*)(OSMesaContext)>(dlsym(so, "OSMesaDestroyContext"));
  auto pixel_store = reinterpret_cast<void (*)(GLint, GLint)>(dlsym(so, "OSMesaPixelStore"));
  Gl gl;
  gl.proc = reinterpret_cast<OSMESAproc (*)(const char*)>(dlsym(so, "OSMesaGetProcAddress"));
  if (!create || !make_current || !destroy || !pixel_store || !gl.proc) die(lib + " is not an OSMesa library");

  OSMesaContext ctx = create(OSMESA_RGBA, 24, 0, 0, nullptr);
  if (!ctx) die("OSMesaCreateContextExt failed");
  std::vector<uint8_t> pixels(size_t(w) * h * 4);
  if (!make_current(ctx, pixels.data(), GL_UNSIGNED_BYTE, w, h)) die("OSMesaMakeCurrent failed");
  pixel_store(OSMESA_Y_UP, 0);  // rows top first, as PNG wants them
  load(gl);
  std::printf("renderer: %s\n", reinterpret_cast<const char*>(gl.GetString(GL_RENDERER)));
  draw(gl, w, h);

  // A second buffer of another size on the same context: OSMesa rebinds its
  // framebuffer, and the first frame must be unaffected.
  std::vector<uint8_t> small(64 * 32 * 4);
  if (!make_current(ctx, small.data(), GL_UNSIGNED_BYTE, 64, 32)) die("OSMesaMakeCurrent (second buffer) failed");
  draw(gl, 64, 32);
  if (small[0] == 0 && small[1] == 0 && small[2] == 0) die("the second buffer stayed black");

  std::string error;
  if (!xen3d::write_png(out, pixels.data(), w, h, w * 4, error)) die(error);
  destroy(ctx);
  std::printf("wrote %s (%dx%d)\n", out.c_str(), w, h);
  return 0;
}
