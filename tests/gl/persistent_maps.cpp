// persistent-maps: ARB_buffer_storage's persistent maps, both ways, as
// engines use them (a ring of vertices the app writes while the GPU draws
// the part before; results the GPU writes that the app reads through the
// map after a fence):
//   - draw: a coherent ring: each round writes a quad of a new colour at the
//     next offset and draws it with no flush; the pixel must have the colour
//     (and the same through an explicitly flushed, non-coherent map)
//   - copy: glCopyBufferSubData into a persistent read map; after a fence
//     the map holds the copied bytes
//   - compute: compute shaders write every other word of a persistently
//     mapped storage buffer while the app writes the words between; after
//     glMemoryBarrier and a fence each word holds its writer's value
// On a host whose driver cannot use the shared arena as buffers the host
// copies each way (host/resources/arena_copies.cpp): this is its test.
//   persistent-maps [--rounds N]
// Prints "persistent-maps: ok" and exits 0; 1 on a wrong byte or pixel; 2
// when the GL has no ARB_buffer_storage.
#include <GL/gl.h>
#include <GL/glext.h>
#include <GL/glx.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "glx_window.h"

namespace {

#define GL_FUNCS(X)                                                \
  X(PFNGLCREATESHADERPROC, glCreateShader)                         \
  X(PFNGLSHADERSOURCEPROC, glShaderSource)                         \
  X(PFNGLCOMPILESHADERPROC, glCompileShader)                       \
  X(PFNGLGETSHADERIVPROC, glGetShaderiv)                           \
  X(PFNGLGETSHADERINFOLOGPROC, glGetShaderInfoLog)                 \
  X(PFNGLCREATEPROGRAMPROC, glCreateProgram)                       \
  X(PFNGLATTACHSHADERPROC, glAttachShader)                         \
  X(PFNGLLINKPROGRAMPROC, glLinkProgram)                           \
  X(PFNGLGETPROGRAMIVPROC, glGetProgramiv)                         \
  X(PFNGLGETPROGRAMINFOLOGPROC, glGetProgramInfoLog)               \
  X(PFNGLUSEPROGRAMPROC, glUseProgram)                             \
  X(PFNGLBINDATTRIBLOCATIONPROC, glBindAttribLocation)             \
  X(PFNGLENABLEVERTEXATTRIBARRAYPROC, glEnableVertexAttribArray)   \
  X(PFNGLVERTEXATTRIBPOINTERPROC, glVertexAttribPointer)           \
  X(PFNGLGENBUFFERSPROC, glGenBuffers)                             \
  X(PFNGLBINDBUFFERPROC, glBindBuffer)                             \
  X(PFNGLBINDBUFFERBASEPROC, glBindBufferBase)                     \
  X(PFNGLBUFFERDATAPROC, glBufferData)                             \
  X(PFNGLBUFFERSTORAGEPROC, glBufferStorage)                       \
  X(PFNGLMAPBUFFERRANGEPROC, glMapBufferRange)                     \
  X(PFNGLFLUSHMAPPEDBUFFERRANGEPROC, glFlushMappedBufferRange)     \
  X(PFNGLCOPYBUFFERSUBDATAPROC, glCopyBufferSubData)               \
  X(PFNGLDISPATCHCOMPUTEPROC, glDispatchCompute)                   \
  X(PFNGLMEMORYBARRIERPROC, glMemoryBarrier)                       \
  X(PFNGLFENCESYNCPROC, glFenceSync)                               \
  X(PFNGLCLIENTWAITSYNCPROC, glClientWaitSync)                     \
  X(PFNGLDELETESYNCPROC, glDeleteSync)                             \
  X(PFNGLUNIFORM1UIPROC, glUniform1ui)                             \
  X(PFNGLGETBUFFERSUBDATAPROC, glGetBufferSubData)                 \
  X(PFNGLGETUNIFORMLOCATIONPROC, glGetUniformLocation)

#define DECLARE(type, name) type name##_ = nullptr;
GL_FUNCS(DECLARE)

int g_failures = 0;
void fail(const std::string& what) {
  if (++g_failures <= 10) std::fprintf(stderr, "persistent-maps: FAIL: %s\n", what.c_str());
}

constexpr int kSize = 32;  // the window

// Fails with the object's info log when its status (compile or link) is false.
template <typename GetIv, typename GetLog>
void check_status(GLuint obj, GLenum status, GetIv get_iv, GetLog get_log, const char* what) {
  GLint ok = 0;
  get_iv(obj, status, &ok);
  if (ok) return;
  char log[1024] = {};
  get_log(obj, sizeof log, nullptr, log);
  fail(std::string(what) + ": " + log);
}

GLuint link(std::initializer_list<std::pair<GLenum, const char*>> stages) {
  GLuint p = glCreateProgram_();
  for (auto [type, src] : stages) {
    GLuint s = glCreateShader_(type);
    glShaderSource_(s, 1, &src, nullptr);
    glCompileShader_(s);
    check_status(s, GL_COMPILE_STATUS, glGetShaderiv_, glGetShaderInfoLog_, "shader compile");
    glAttachShader_(p, s);
  }
  glBindAttribLocation_(p, 0, "pos");
  glBindAttribLocation_(p, 1, "col");
  glLinkProgram_(p);
  check_status(p, GL_LINK_STATUS, glGetProgramiv_, glGetProgramInfoLog_, "link");
  return p;
}

void wait_fence() {
  GLsync s = glFenceSync_(GL_SYNC_GPU_COMMANDS_COMPLETE, 0);
  if (glClientWaitSync_(s, GL_SYNC_FLUSH_COMMANDS_BIT, 10'000'000'000ull) == GL_TIMEOUT_EXPIRED) fail("fence timed out");
  glDeleteSync_(s);
}

// A quad over the window: 4 vertices of {x, y, r, g, b}.
struct Vertex {
  float x, y, r, g, b;
};

// Each round writes a quad of a new colour at the ring's next slot and draws it.
void draw_ring(bool coherent, int rounds) {
  const char* what = coherent ? "draw (coherent)" : "draw (flushed)";
  const GLuint prog = link({{GL_VERTEX_SHADER,
                             "#version 130\nin vec2 pos;\nin vec3 col;\nout vec3 c;\n"
                             "void main() { c = col; gl_Position = vec4(pos, 0.0, 1.0); }\n"},
                            {GL_FRAGMENT_SHADER,
                             "#version 130\nin vec3 c;\nout vec4 colour;\nvoid main() { colour = vec4(c, 1.0); }\n"}});
  glUseProgram_(prog);
  constexpr int kSlots = 64;
  constexpr GLsizeiptr kSlot = 4 * sizeof(Vertex);
  GLuint buf = 0;
  glGenBuffers_(1, &buf);
  glBindBuffer_(GL_ARRAY_BUFFER, buf);
  const GLbitfield sticky = GL_MAP_WRITE_BIT | GL_MAP_PERSISTENT_BIT | (coherent ? GL_MAP_COHERENT_BIT : 0);
  glBufferStorage_(GL_ARRAY_BUFFER, kSlots * kSlot, nullptr, sticky);
  auto* ring = static_cast<Vertex*>(
      glMapBufferRange_(GL_ARRAY_BUFFER, 0, kSlots * kSlot, sticky | (coherent ? 0 : GL_MAP_FLUSH_EXPLICIT_BIT)));
  if (!ring) return fail(std::string(what) + ": no persistent map");
  glEnableVertexAttribArray_(0);
  glEnableVertexAttribArray_(1);
  for (int round = 0; round < rounds && g_failures < 10; ++round) {
    const int slot = round % kSlots;
    // Not the colour of the round before: a draw that saw stale bytes shows.
    const float r = float(round % 5) / 4, g = float((round / 5) % 5) / 4, b = round % 2 ? 1.0f : 0.25f;
    const Vertex quad[4] = {{-1, -1, r, g, b}, {1, -1, r, g, b}, {1, 1, r, g, b}, {-1, 1, r, g, b}};
    std::memcpy(ring + slot * 4, quad, sizeof quad);
    if (!coherent) {
      glFlushMappedBufferRange_(GL_ARRAY_BUFFER, slot * kSlot, kSlot);
      glMemoryBarrier_(GL_CLIENT_MAPPED_BUFFER_BARRIER_BIT);
    }
    const auto off = static_cast<uintptr_t>(slot * kSlot);
    glVertexAttribPointer_(0, 2, GL_FLOAT, GL_FALSE, sizeof(Vertex), reinterpret_cast<void*>(off));
    glVertexAttribPointer_(1, 3, GL_FLOAT, GL_FALSE, sizeof(Vertex), reinterpret_cast<void*>(off + 2 * sizeof(float)));
    glDrawArrays(GL_TRIANGLE_FAN, 0, 4);
    unsigned char px[4] = {};
    glReadPixels(kSize / 2, kSize / 2, 1, 1, GL_RGBA, GL_UNSIGNED_BYTE, px);
    const int want[3] = {int(r * 255 + 0.5f), int(g * 255 + 0.5f), int(b * 255 + 0.5f)};
    for (int i = 0; i < 3; ++i) {
      if (std::abs(px[i] - want[i]) > 2) {
        char m[160];
        std::snprintf(m, sizeof m, "%s: round %d drew %d,%d,%d, want %d,%d,%d", what, round, px[0], px[1], px[2],
                      want[0], want[1], want[2]);
        fail(m);
        break;
      }
    }
    if (round % 16 == 15) wait_fence();  // the ring comes round: the GPU is done with the slots
  }
  glUseProgram_(0);
}

// The GPU copies into a persistently mapped buffer; after a fence the map holds the bytes.
void copy_into_map(int rounds) {
  constexpr GLsizeiptr kBytes = 64 << 10;
  GLuint src = 0, dst = 0;
  glGenBuffers_(1, &src);
  glGenBuffers_(1, &dst);
  std::vector<uint32_t> words(kBytes / 4);
  glBindBuffer_(GL_COPY_WRITE_BUFFER, dst);
  const GLbitfield sticky = GL_MAP_READ_BIT | GL_MAP_WRITE_BIT | GL_MAP_PERSISTENT_BIT | GL_MAP_COHERENT_BIT;
  glBufferStorage_(GL_COPY_WRITE_BUFFER, kBytes, nullptr, sticky);
  auto* map = static_cast<uint32_t*>(glMapBufferRange_(GL_COPY_WRITE_BUFFER, 0, kBytes, sticky));
  if (!map) return fail("copy: no persistent map");
  for (int round = 0; round < rounds && g_failures < 10; ++round) {
    for (size_t i = 0; i < words.size(); ++i) words[i] = uint32_t(i * 2654435761u) ^ uint32_t(round);
    glBindBuffer_(GL_COPY_READ_BUFFER, src);
    glBufferData_(GL_COPY_READ_BUFFER, kBytes, words.data(), GL_STREAM_DRAW);
    // The app's own bytes in the first kilobyte, which the copy leaves alone.
    for (int i = 0; i < 256; ++i) map[i] = 0xA5A50000u + uint32_t(round * 256 + i);
    glCopyBufferSubData_(GL_COPY_READ_BUFFER, GL_COPY_WRITE_BUFFER, 1024, 1024, kBytes - 1024);
    wait_fence();
    for (size_t i = 0; i < words.size(); ++i) {
      const uint32_t want = i < 256 ? 0xA5A50000u + uint32_t(round * 256 + int(i)) : words[i];
      if (map[i] != want) {
        char m[160];
        std::snprintf(m, sizeof m, "copy: round %d word %zu is 0x%08x, want 0x%08x", round, i, map[i], want);
        fail(m);
        break;
      }
    }
  }
}

// A compute shader writes the even words of a mapped storage buffer's first
// half while the app writes the odd ones (the same 64-byte blocks); a second
// dispatch then writes the even words of the second half, before any wait.
// After a barrier and a fence, every word is its writer's: neither side's
// copy may carry the other's stale bytes over what it wrote.
void compute_into_map(int rounds) {
  const GLuint prog = link({{GL_COMPUTE_SHADER,
                             "#version 430\nlayout(local_size_x = 64) in;\n"
                             "layout(std430, binding = 0) buffer Out { uint w[]; };\nuniform uint round_;\nuniform uint base_;\n"
                             "void main() {\n  uint i = gl_GlobalInvocationID.x;\n"
                             "  w[base_ + 2u * i] = i * 3u + round_ * 100000u + base_;\n}\n"}});
  if (g_failures) return;
  constexpr GLuint kWords = 4096;  // each dispatch writes kWords / 2
  GLuint buf = 0;
  glGenBuffers_(1, &buf);
  glBindBuffer_(GL_SHADER_STORAGE_BUFFER, buf);
  const GLbitfield sticky = GL_MAP_READ_BIT | GL_MAP_WRITE_BIT | GL_MAP_PERSISTENT_BIT | GL_MAP_COHERENT_BIT;
  glBufferStorage_(GL_SHADER_STORAGE_BUFFER, 2 * kWords * 4, nullptr, sticky);
  auto* map = static_cast<uint32_t*>(glMapBufferRange_(GL_SHADER_STORAGE_BUFFER, 0, 2 * kWords * 4, sticky));
  if (!map) return fail("compute: no persistent map");
  std::memset(map, 0, 2 * kWords * 4);
  GLuint other = 0;
  glGenBuffers_(1, &other);
  glBindBuffer_(GL_COPY_READ_BUFFER, other);
  glBufferData_(GL_COPY_READ_BUFFER, 64, nullptr, GL_STATIC_READ);
  auto host_has_taken_it = [other] {
    uint32_t word = 0;
    glBindBuffer_(GL_COPY_READ_BUFFER, other);
    glGetBufferSubData_(GL_COPY_READ_BUFFER, 0, 4, &word);
  };
  glBindBufferBase_(GL_SHADER_STORAGE_BUFFER, 0, buf);
  glUseProgram_(prog);
  const GLint round_at = glGetUniformLocation_(prog, "round_"), base_at = glGetUniformLocation_(prog, "base_");
  for (GLuint round = 0; round < GLuint(rounds) && g_failures < 10; ++round) {
    glUniform1ui_(round_at, round);
    glUniform1ui_(base_at, 0);
    glDispatchCompute_(kWords / 2 / 64, 1, 1);
    // A read of another buffer: the host has taken the dispatch (and copied
    // the map in before it) by the time it answers, so the app's words
    // written now reach it only with the second dispatch, after the first's
    // results are in the same blocks.
    host_has_taken_it();
    for (GLuint i = 1; i < kWords; i += 2) map[i] = 0x5A000000u + round * 8192 + i;
    glUniform1ui_(base_at, kWords);
    glDispatchCompute_(kWords / 2 / 64, 1, 1);
    // Written again after the host last took them: the host's copy back must
    // leave them alone.
    host_has_taken_it();
    for (GLuint i = 1; i < kWords; i += 2) map[i] += 1;
    glMemoryBarrier_(GL_CLIENT_MAPPED_BUFFER_BARRIER_BIT);
    wait_fence();
    for (GLuint i = 0; i < 2 * kWords; ++i) {
      const GLuint base = i < kWords ? 0 : kWords, k = (i - base) / 2;
      uint32_t want = k * 3 + round * 100000u + base;  // the shader's
      if (i % 2) want = i < kWords ? 0x5A000000u + round * 8192 + i + 1 : 0;  // the app's; nobody's
      if (map[i] != want) {
        char m[160];
        std::snprintf(m, sizeof m, "compute: round %u word %u is 0x%08x, want 0x%08x", round, i, map[i], want);
        fail(m);
        break;
      }
    }
  }
  glUseProgram_(0);
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 40;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: persistent-maps [--rounds N]\n");
      return 2;
    }
  }
  GlxWindow glx;
  if (!open_glx_window("persistent-maps", kSize, kSize, glx)) return 1;
  GLXContext ctx = glXCreateContext(glx.display, glx.visual, nullptr, True);
  if (!ctx || !glXMakeCurrent(glx.display, glx.window, ctx)) {
    std::fprintf(stderr, "persistent-maps: no GL context\n");
    return 1;
  }
  const char* ext = reinterpret_cast<const char*>(glGetString(GL_EXTENSIONS));
  if (!ext || !std::strstr(ext, "GL_ARB_buffer_storage")) {
    std::fprintf(stderr, "persistent-maps: no GL_ARB_buffer_storage (%s)\n", glGetString(GL_VERSION));
    return 2;
  }
#define LOAD(type, name)                                                                         \
  name##_ = reinterpret_cast<type>(glXGetProcAddress(reinterpret_cast<const GLubyte*>(#name))); \
  if (!name##_) {                                                                                \
    std::fprintf(stderr, "persistent-maps: no %s\n", #name);                                     \
    return 1;                                                                                    \
  }
  GL_FUNCS(LOAD)
  std::printf("persistent-maps: %s, OpenGL %s\n", glGetString(GL_RENDERER), glGetString(GL_VERSION));
  glViewport(0, 0, kSize, kSize);
  draw_ring(true, rounds);
  draw_ring(false, rounds);
  copy_into_map(rounds / 4 + 1);
  compute_into_map(rounds / 4 + 1);
  if (g_failures) {
    std::fprintf(stderr, "persistent-maps: %d failures\n", g_failures);
    return 1;
  }
  std::printf("persistent-maps: ok\n");
  return 0;
}
