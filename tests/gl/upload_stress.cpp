// upload-stress: uploads far more than the bulk heap holds, with and without
// an open write map holding part of it, and checks every byte arrived:
//   - shaders: many small programs, and one whose TGSI is larger than the heap
//   - textures and buffers larger than the heap (read back and compared)
//   - user (client-memory) indices, a few and more than the heap holds
//   - client vertex arrays (through Mesa's upload manager)
//   - a large dynamic vertex buffer written whole before every draw, in the
//     three ways GL discards a buffer (the remote driver moves it to fresh
//     bytes of its arena each time: the draw must see the new vertices)
//   - the same buffer rewritten whole between draws with nothing in between
//     (written in place once the host has carried out the last draw: no
//     draw may see the next write's bytes)
// Each phase runs twice: first while a glMapBufferRange write map stays open
// (the heap cannot wrap past it), then with the map closed. Run it with a
// small heap (XEN3D_BULK_HEAP_KIB=128) to make every payload take the long way.
//   upload-stress [--rounds N] [--rewrites N]
// Prints "upload-stress: ok" and exits 0, or says what differed and exits 1.
#include <GL/gl.h>
#include <GL/glext.h>
#include <GL/glx.h>
#include <X11/Xlib.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "glx_window.h"

namespace {

#define GL_FUNCS(X)                                                                        \
  X(PFNGLCREATESHADERPROC, glCreateShader)                                                 \
  X(PFNGLSHADERSOURCEPROC, glShaderSource)                                                 \
  X(PFNGLCOMPILESHADERPROC, glCompileShader)                                               \
  X(PFNGLGETSHADERIVPROC, glGetShaderiv)                                                   \
  X(PFNGLGETSHADERINFOLOGPROC, glGetShaderInfoLog)                                         \
  X(PFNGLCREATEPROGRAMPROC, glCreateProgram)                                               \
  X(PFNGLATTACHSHADERPROC, glAttachShader)                                                 \
  X(PFNGLLINKPROGRAMPROC, glLinkProgram)                                                   \
  X(PFNGLGETPROGRAMIVPROC, glGetProgramiv)                                                 \
  X(PFNGLGETPROGRAMINFOLOGPROC, glGetProgramInfoLog)                                       \
  X(PFNGLUSEPROGRAMPROC, glUseProgram)                                                     \
  X(PFNGLDELETEPROGRAMPROC, glDeleteProgram)                                               \
  X(PFNGLDELETESHADERPROC, glDeleteShader)                                                 \
  X(PFNGLGETUNIFORMLOCATIONPROC, glGetUniformLocation)                                     \
  X(PFNGLUNIFORM4FVPROC, glUniform4fv)                                                     \
  X(PFNGLBINDATTRIBLOCATIONPROC, glBindAttribLocation)                                     \
  X(PFNGLENABLEVERTEXATTRIBARRAYPROC, glEnableVertexAttribArray)                           \
  X(PFNGLVERTEXATTRIBPOINTERPROC, glVertexAttribPointer)                                   \
  X(PFNGLGENBUFFERSPROC, glGenBuffers)                                                     \
  X(PFNGLBINDBUFFERPROC, glBindBuffer)                                                     \
  X(PFNGLBUFFERDATAPROC, glBufferData)                                                     \
  X(PFNGLBUFFERSUBDATAPROC, glBufferSubData)                                               \
  X(PFNGLGETBUFFERSUBDATAPROC, glGetBufferSubData)                                         \
  X(PFNGLMAPBUFFERRANGEPROC, glMapBufferRange)                                             \
  X(PFNGLUNMAPBUFFERPROC, glUnmapBuffer)                                                   \
  X(PFNGLDELETEBUFFERSPROC, glDeleteBuffers)

#define DECLARE(type, name) type name##_ = nullptr;
GL_FUNCS(DECLARE)

int g_failures = 0;
void fail(const std::string& what) {
  std::fprintf(stderr, "upload-stress: FAIL: %s\n", what.c_str());
  ++g_failures;
}

constexpr int kSize = 64;  // the window

const char* kVertex =
    "#version 130\n"
    "in vec2 pos;\n"
    "void main() { gl_Position = vec4(pos, 0.0, 1.0); }\n";

GLuint compile(GLenum type, const std::string& src) {
  GLuint s = glCreateShader_(type);
  const char* p = src.c_str();
  glShaderSource_(s, 1, &p, nullptr);
  glCompileShader_(s);
  GLint ok = 0;
  glGetShaderiv_(s, GL_COMPILE_STATUS, &ok);
  if (!ok) {
    char log[1024] = {};
    glGetShaderInfoLog_(s, sizeof log, nullptr, log);
    fail(std::string("shader compile: ") + log);
  }
  return s;
}

GLuint program(const std::string& fs) {
  GLuint p = glCreateProgram_();
  GLuint v = compile(GL_VERTEX_SHADER, kVertex), f = compile(GL_FRAGMENT_SHADER, fs);
  glAttachShader_(p, v);
  glAttachShader_(p, f);
  glBindAttribLocation_(p, 0, "pos");
  glLinkProgram_(p);
  glDeleteShader_(v);
  glDeleteShader_(f);
  GLint ok = 0;
  glGetProgramiv_(p, GL_LINK_STATUS, &ok);
  if (!ok) {
    char log[1024] = {};
    glGetProgramInfoLog_(p, sizeof log, nullptr, log);
    fail(std::string("link: ") + log);
  }
  return p;
}

// A fragment shader writing `rgb`, `extra` steps long: each step is a
// multiply-add by uniforms (1 and 0 at draw time) the compiler cannot fold,
// so its TGSI grows with `extra` (about 28 bytes a step).
std::string colour_shader(float r, float g, float b, int extra) {
  std::string s = "#version 130\nuniform vec4 mul[64];\nuniform vec4 add[61];\nout vec4 colour;\nvoid main() {\n";
  char line[160];
  std::snprintf(line, sizeof line, "  vec4 c = vec4(%.6f, %.6f, %.6f, 1.0);\n", r, g, b);
  s += line;
  for (int i = 0; i < extra; ++i) {
    std::snprintf(line, sizeof line, "  c = c * mul[%d] + add[%d];\n", i % 64, (i * 7) % 61);
    s += line;
  }
  return s + "  colour = c;\n}\n";
}

void set_identity_uniforms(GLuint p) {
  std::vector<float> ones(64 * 4, 1.0f), zeros(61 * 4, 0.0f);
  glUniform4fv_(glGetUniformLocation_(p, "mul"), 64, ones.data());
  glUniform4fv_(glGetUniformLocation_(p, "add"), 61, zeros.data());
}

// The quad covering the window, as client-memory vertices.
const float kQuad[] = {-1, -1, 1, -1, 1, 1, -1, 1};

void use_client_quad() {
  glBindBuffer_(GL_ARRAY_BUFFER, 0);
  glEnableVertexAttribArray_(0);
  glVertexAttribPointer_(0, 2, GL_FLOAT, GL_FALSE, 0, kQuad);
}

bool centre_is(const char* what, unsigned r, unsigned g, unsigned b) {
  unsigned char px[4] = {};
  glReadPixels(kSize / 2, kSize / 2, 1, 1, GL_RGBA, GL_UNSIGNED_BYTE, px);
  auto near = [](unsigned a, unsigned b) { return a + 2 >= b && b + 2 >= a; };
  if (near(px[0], r) && near(px[1], g) && near(px[2], b)) return true;
  char msg[256];
  std::snprintf(msg, sizeof msg, "%s: centre pixel %u,%u,%u, expected %u,%u,%u", what, px[0], px[1], px[2], r, g, b);
  fail(msg);
  return false;
}

// Many small programs, each drawn once with 6 user indices.
void small_shaders(const char* phase, int count) {
  use_client_quad();
  const GLuint idx[] = {0, 1, 2, 0, 2, 3};
  for (int i = 0; i < count; ++i) {
    const unsigned r = (i * 37) % 256, g = (i * 91) % 256, b = (255 - i) % 256;
    GLuint p = program(colour_shader(r / 255.0f, g / 255.0f, b / 255.0f, 1 + i % 5));
    glUseProgram_(p);
    set_identity_uniforms(p);
    glDrawElements(GL_TRIANGLES, 6, GL_UNSIGNED_INT, idx);
    if (i % 16 == 15 || i == count - 1) {
      if (!centre_is((std::string(phase) + ": small shader " + std::to_string(i)).c_str(), r, g, b)) return;
    }
    glUseProgram_(0);
    glDeleteProgram_(p);
  }
}

// One program whose tokens are larger than the heap.
void big_shader(const char* phase, int steps) {
  use_client_quad();
  GLuint p = program(colour_shader(0.2f, 0.4f, 0.6f, steps));
  glUseProgram_(p);
  set_identity_uniforms(p);
  glDrawArrays(GL_TRIANGLE_FAN, 0, 4);
  centre_is((std::string(phase) + ": big shader").c_str(), 51, 102, 153);
  glUseProgram_(0);
  glDeleteProgram_(p);
}

// User indices: `count` of them, all degenerate but the last six (the quad),
// so a draw that lost any part of them leaves the window uncovered.
void many_user_indices(const char* phase, size_t count) {
  count -= count % 3;  // whole triangles, so the last six indices are the quad's two
  use_client_quad();
  GLuint p = program(colour_shader(0.8f, 0.2f, 0.4f, 1));
  glUseProgram_(p);
  set_identity_uniforms(p);
  std::vector<GLuint> idx(count, 0);
  const GLuint quad[] = {0, 1, 2, 0, 2, 3};
  std::memcpy(&idx[count - 6], quad, sizeof quad);
  glClear(GL_COLOR_BUFFER_BIT);
  glDrawElements(GL_TRIANGLES, GLsizei(count), GL_UNSIGNED_INT, idx.data());
  centre_is((std::string(phase) + ": " + std::to_string(count) + " user indices").c_str(), 204, 51, 102);
  glUseProgram_(0);
  glDeleteProgram_(p);
}

std::vector<uint8_t> pattern(size_t n, unsigned seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x = x * 1664525u + 1013904223u;
    b = uint8_t(x >> 24);
  }
  return v;
}

void big_texture(const char* phase, int side, unsigned seed) {
  const auto texels = pattern(size_t(side) * side * 4, seed);
  GLuint tex = 0;
  glGenTextures(1, &tex);
  glBindTexture(GL_TEXTURE_2D, tex);
  glPixelStorei(GL_UNPACK_ALIGNMENT, 4);
  glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA8, side, side, 0, GL_RGBA, GL_UNSIGNED_BYTE, texels.data());
  // And a sub-image from rows of another length (a strided upload).
  const auto sub = pattern(size_t(side / 2) * (side / 2) * 4, seed + 1);
  glTexSubImage2D(GL_TEXTURE_2D, 0, side / 4, side / 4, side / 2, side / 2, GL_RGBA, GL_UNSIGNED_BYTE, sub.data());
  std::vector<uint8_t> expect = texels;
  for (int y = 0; y < side / 2; ++y) {
    std::memcpy(&expect[(size_t(y + side / 4) * side + side / 4) * 4], &sub[size_t(y) * (side / 2) * 4], size_t(side / 2) * 4);
  }
  std::vector<uint8_t> got(expect.size());
  glGetTexImage(GL_TEXTURE_2D, 0, GL_RGBA, GL_UNSIGNED_BYTE, got.data());
  if (got != expect) {
    size_t first = 0;
    while (got[first] == expect[first]) ++first;
    fail(std::string(phase) + ": " + std::to_string(side) + "x" + std::to_string(side) +
         " texture differs from byte " + std::to_string(first));
  }
  glDeleteTextures(1, &tex);
}

void big_buffer(const char* phase, size_t bytes, unsigned seed) {
  const auto data = pattern(bytes, seed);
  GLuint buf = 0;
  glGenBuffers_(1, &buf);
  glBindBuffer_(GL_COPY_WRITE_BUFFER, buf);
  glBufferData_(GL_COPY_WRITE_BUFFER, GLsizeiptr(bytes), nullptr, GL_STATIC_DRAW);
  glBufferSubData_(GL_COPY_WRITE_BUFFER, 0, GLsizeiptr(bytes), data.data());
  std::vector<uint8_t> got(bytes);
  glGetBufferSubData_(GL_COPY_WRITE_BUFFER, 0, GLsizeiptr(bytes), got.data());
  if (got != data) fail(std::string(phase) + ": " + std::to_string(bytes) + "-byte buffer differs");
  glDeleteBuffers_(1, &buf);
}

// A 1 MiB GL_DYNAMIC_DRAW vertex buffer of zeroes, bound for a fan of 2D
// vertices, drawn in one colour; `move_quad` puts a quad at a new vertex
// and zeroes the last one, in `verts` (the app's copy).
struct QuadBuffer {
  static constexpr size_t kVertices = (1u << 20) / (2 * sizeof(float));
  GLuint prog = 0, buffer = 0;
  std::vector<float> verts = std::vector<float>(kVertices * 2, 0.0f);
  GLsizeiptr bytes = GLsizeiptr(kVertices * 2 * sizeof(float));
  GLint last = -1;

  QuadBuffer(float r, float g, float b) {
    prog = program(colour_shader(r, g, b, 1));
    glUseProgram_(prog);
    set_identity_uniforms(prog);
    glGenBuffers_(1, &buffer);
    glBindBuffer_(GL_ARRAY_BUFFER, buffer);
    glBufferData_(GL_ARRAY_BUFFER, bytes, verts.data(), GL_DYNAMIC_DRAW);
    glEnableVertexAttribArray_(0);
    glVertexAttribPointer_(0, 2, GL_FLOAT, GL_FALSE, 0, nullptr);
  }
  ~QuadBuffer() {
    glBindBuffer_(GL_ARRAY_BUFFER, 0);
    glDeleteBuffers_(1, &buffer);
    glUseProgram_(0);
    glDeleteProgram_(prog);
  }
  void move_quad(GLint first, const float (&quad)[8]) {
    if (last >= 0) std::fill(verts.begin() + last * 2, verts.begin() + last * 2 + 8, 0.0f);
    std::memcpy(&verts[size_t(first) * 2], quad, sizeof quad);
    last = first;
  }
};

// A 1 MiB GL_DYNAMIC_DRAW vertex buffer, all zeroes but the window's quad at
// vertex `first`, which moves every time; the buffer is written whole before
// each draw (glBufferSubData, glBufferData of the same size, an invalidating
// map). A draw that read the previous contents would find zeroes there.
void respecified_vertex_buffer(const char* phase) {
  QuadBuffer q(0.4f, 0.8f, 0.2f);
  const GLsizeiptr bytes = q.bytes;
  for (int i = 0; i < 24 && !g_failures; ++i) {
    const GLint first = GLint((i * 40503u) % (QuadBuffer::kVertices - 4));
    q.move_quad(first, kQuad);
    std::vector<float>& verts = q.verts;
    const char* how = "glBufferSubData";
    switch (i % 3) {
      case 0: glBufferSubData_(GL_ARRAY_BUFFER, 0, bytes, verts.data()); break;
      case 1:
        glBufferData_(GL_ARRAY_BUFFER, bytes, verts.data(), GL_DYNAMIC_DRAW);
        how = "glBufferData";
        break;
      default: {
        how = "glMapBufferRange(INVALIDATE_BUFFER)";
        void* m = glMapBufferRange_(GL_ARRAY_BUFFER, 0, bytes, GL_MAP_WRITE_BIT | GL_MAP_INVALIDATE_BUFFER_BIT);
        if (!m) {
          fail(std::string(phase) + ": " + how);
          break;
        }
        std::memcpy(m, verts.data(), size_t(bytes));
        if (!glUnmapBuffer_(GL_ARRAY_BUFFER)) fail(std::string(phase) + ": glUnmapBuffer");
      }
    }
    glClear(GL_COLOR_BUFFER_BIT);
    glDrawArrays(GL_TRIANGLE_FAN, first, 4);
    centre_is((std::string(phase) + ": vertex buffer written by " + how + ", draw " + std::to_string(i)).c_str(), 102, 204,
              51);
  }
}

// The same buffer rewritten whole between draws with nothing else in
// between (the guest then writes in place once the host says it is done:
// arena_mark). Draw i puts a quad in cell i of a 4x4 grid and the data of
// write i+1 has zeroes there: a draw that read the next write's bytes
// leaves its cell empty. One readback at the end.
void rewritten_between_draws(const char* phase, int grids) {
  constexpr int kGrid = 4;
  QuadBuffer q(0.8f, 0.2f, 0.6f);
  std::vector<unsigned char> px(size_t(kSize) * kSize * 4);
  for (int grid = 0; grid < grids && !g_failures; ++grid) {
    glClear(GL_COLOR_BUFFER_BIT);
    for (int cell = 0; cell < kGrid * kGrid; ++cell) {
      const GLint first = GLint(((grid * kGrid * kGrid + cell) * 40503u + 17) % (QuadBuffer::kVertices - 4));
      const float x0 = -1 + 2.0f * float(cell % kGrid) / kGrid, y0 = -1 + 2.0f * float(cell / kGrid) / kGrid;
      const float x1 = x0 + 2.0f / kGrid, y1 = y0 + 2.0f / kGrid;
      q.move_quad(first, {x0, y0, x1, y0, x1, y1, x0, y1});
      glBufferSubData_(GL_ARRAY_BUFFER, 0, q.bytes, q.verts.data());
      glDrawArrays(GL_TRIANGLE_FAN, first, 4);
    }
    glReadPixels(0, 0, kSize, kSize, GL_RGBA, GL_UNSIGNED_BYTE, px.data());
    for (int cell = 0; cell < kGrid * kGrid; ++cell) {
      const int x = (cell % kGrid) * kSize / kGrid + kSize / (2 * kGrid);
      const int y = (cell / kGrid) * kSize / kGrid + kSize / (2 * kGrid);
      const unsigned char* c = &px[(size_t(y) * kSize + x) * 4];
      if (c[0] < 200 || c[1] > 55 || c[2] < 150) {
        char msg[256];
        std::snprintf(msg, sizeof msg,
                      "%s: buffer rewritten between draws: grid %d, cell %d is %u,%u,%u (its draw read later bytes?)",
                      phase, grid, cell, c[0], c[1], c[2]);
        fail(msg);
      }
    }
  }
}

// N whole-texture uploads of 4 MiB, each drawn, with nothing read back: the
// guest never waits for an answer, so only the heap and the transport pace
// it (the bounded-wait check in gl-compositor-loss stops the host under it).
void stream_uploads(int n) {
  constexpr int kSide = 1024;
  std::vector<unsigned char> texels(size_t(kSide) * kSide * 4, 7);
  GLuint tex = 0;
  glGenTextures(1, &tex);
  glBindTexture(GL_TEXTURE_2D, tex);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
  glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA8, kSide, kSide, 0, GL_RGBA, GL_UNSIGNED_BYTE, texels.data());
  glEnable(GL_TEXTURE_2D);
  for (int i = 0; i < n; ++i) {
    texels[size_t(i) % texels.size()] = static_cast<unsigned char>(i);
    glTexSubImage2D(GL_TEXTURE_2D, 0, 0, 0, kSide, kSide, GL_RGBA, GL_UNSIGNED_BYTE, texels.data());
    glBegin(GL_TRIANGLES);
    glTexCoord2f(0, 0);
    glVertex2f(-1, -1);
    glTexCoord2f(1, 0);
    glVertex2f(1, -1);
    glTexCoord2f(0, 1);
    glVertex2f(0, 1);
    glEnd();
    glFlush();
    if (i % 100 == 0) std::printf("upload-stress: streamed %d uploads\n", i), std::fflush(stdout);
  }
  glDeleteTextures(1, &tex);
  std::printf("upload-stress: streamed %d uploads, done\n", n);
}

void run_phase(const char* phase, int heap_kib) {
  const size_t heap = size_t(heap_kib) * 1024;
  small_shaders(phase, 64);
  big_shader(phase, 9000);  // ~250 KiB of TGSI (Mesa's nir_to_tgsi breaks past 32768 instructions)
  many_user_indices(phase, 6);
  many_user_indices(phase, heap / 2);  // twice the heap, in 4-byte indices
  big_texture(phase, 512, 1);          // 1 MiB
  big_buffer(phase, heap * 3 + 123, 2);
  respecified_vertex_buffer(phase);
  rewritten_between_draws(phase, 1);
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 1, rewrites = 0, stream = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--rewrites") && i + 1 < argc) rewrites = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--stream") && i + 1 < argc) stream = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: upload-stress [--rounds N] [--rewrites N] [--stream N]\n"
                           "  --rewrites N: only the buffer rewritten between draws, N grids of 16 draws\n"
                           "  --stream N: only N drawn 4 MiB texture uploads, nothing read back or checked\n");
      return 2;
    }
  }
  const char* heap_env = std::getenv("XEN3D_BULK_HEAP_KIB");
  const int heap_kib = heap_env ? std::atoi(heap_env) : 1024;
  GlxWindow glx;
  if (!open_glx_window("upload-stress", kSize, kSize, glx)) return 1;
  Display* d = glx.display;
  XVisualInfo* vi = glx.visual;
  Window w = glx.window;
  GLXContext ctx = glXCreateContext(d, vi, nullptr, True);
  if (!ctx || !glXMakeCurrent(d, w, ctx)) {
    std::fprintf(stderr, "upload-stress: no GL context\n");
    return 1;
  }
#define LOAD(type, name)                                                                         \
  name##_ = reinterpret_cast<type>(glXGetProcAddress(reinterpret_cast<const GLubyte*>(#name))); \
  if (!name##_) {                                                                                \
    std::fprintf(stderr, "upload-stress: no %s\n", #name);                                       \
    return 1;                                                                                    \
  }
  GL_FUNCS(LOAD)
  std::printf("upload-stress: %s, bulk heap %d KiB\n", glGetString(GL_RENDERER), heap_kib);
  glViewport(0, 0, kSize, kSize);

  if (stream) {
    stream_uploads(stream);
    return 0;
  }
  if (rewrites) rewritten_between_draws("rewrites", rewrites);
  for (int round = 0; round < rounds && !g_failures && !rewrites; ++round) {
    // A write map left open, as a streaming app keeps one: its span of the
    // heap stays taken, so the heap cannot wrap past it.
    const size_t held_bytes = size_t(heap_kib) * 1024 / 4;
    GLuint held = 0;
    glGenBuffers_(1, &held);
    glBindBuffer_(GL_ARRAY_BUFFER, held);
    glBufferData_(GL_ARRAY_BUFFER, GLsizeiptr(held_bytes), nullptr, GL_STREAM_DRAW);
    auto* map = static_cast<uint8_t*>(
        glMapBufferRange_(GL_ARRAY_BUFFER, 0, GLsizeiptr(held_bytes), GL_MAP_WRITE_BIT | GL_MAP_INVALIDATE_BUFFER_BIT));
    if (!map) {
      fail("glMapBufferRange");
      break;
    }
    const auto held_data = pattern(held_bytes, 99);
    std::memcpy(map, held_data.data(), held_bytes);
    glBindBuffer_(GL_ARRAY_BUFFER, 0);

    run_phase("map open", heap_kib);

    glBindBuffer_(GL_ARRAY_BUFFER, held);
    if (!glUnmapBuffer_(GL_ARRAY_BUFFER)) fail("glUnmapBuffer");
    std::vector<uint8_t> got(held_bytes);
    glGetBufferSubData_(GL_ARRAY_BUFFER, 0, GLsizeiptr(held_bytes), got.data());
    if (got != held_data) fail("the long-open map's bytes differ after unmap");
    glBindBuffer_(GL_ARRAY_BUFFER, 0);
    glDeleteBuffers_(1, &held);

    run_phase("map closed", heap_kib);
    glXSwapBuffers(d, w);
  }
  if (GLenum e = glGetError(); e != GL_NO_ERROR) fail("GL error " + std::to_string(e));
  glXMakeCurrent(d, None, nullptr);
  glXDestroyContext(d, ctx);
  XCloseDisplay(d);
  if (g_failures) return 1;
  std::printf("upload-stress: ok\n");
  return 0;
}
