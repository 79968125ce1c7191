// Helpers shared by the compositor tests (tests/compositor/*_test.cpp): the real
// xen3d-compositor started per test, guests that speak the wire protocol
// directly, and builders of Gallium records with no GL driver in between.
#pragma once
// Each test file uses some of these.
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-variable"

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <future>
#include <thread>
#include <unistd.h>
#include <vector>

#include "proto/guest_session.h"

using namespace xen3d::proto;

namespace {

// Under `meson test --setup sanitized` reports are files named by pid: note
// which test case started this compositor (tests/fuzz/sanitizer_reports_test.sh).
void register_for_sanitizer_reports(pid_t pid) {
  const char* opts = std::getenv("ASAN_OPTIONS");
  const char* at = opts ? std::strstr(opts, "log_path=") : nullptr;
  if (!at) return;
  std::string path(at + 9);
  path = path.substr(0, path.find(':'));
  path = path.substr(0, path.rfind('/')) + "/index";
  std::string name = Catch::getResultCapture().getCurrentTestName();
  for (char& ch : name) if (ch == ' ') ch = '_';
  if (FILE* f = std::fopen(path.c_str(), "a")) {
    std::fprintf(f, "%d compositor_tests:%s\n", int(pid), name.c_str());
    std::fclose(f);
  }
}

struct Compositor {
  pid_t pid = -1;
  std::string socket, log;
  explicit Compositor(const std::string& extra = "") {
    const char* bin = std::getenv("XEN3D_COMPOSITOR");
    REQUIRE(bin);
    // Unique per instance: a test may run two compositors side by side.
    static unsigned instances = 0;
    const std::string base = "/tmp/xen3d-ctest-" + std::to_string(getpid()) + "-" + std::to_string(instances++);
    socket = base + ".sock";
    log = base + ".log";
    unlink(socket.c_str());
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // Goes with the test when a timeout kills it, instead of holding on.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      FILE* f = freopen(log.c_str(), "w", stderr);
      (void)f;
      std::string listen = "local:" + socket;
      std::vector<std::string> args = {bin, "--listen", listen, "--driver", "llvmpipe", "--control", "none"};
      std::istringstream more(extra);
      for (std::string a; more >> a;) args.push_back(a);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin, argv.data());
      _exit(127);
    }
    register_for_sanitizer_reports(pid);
    // The socket file appears at bind(), a moment before listen(): "ready" in
    // the log is the compositor's own word that guests can connect.
    for (int i = 0; i < 600; ++i) {
      if (log_text().find(" info: ready\n") != std::string::npos) return;
      if (!running()) {
        pid = -1;
        FAIL("compositor exited before it was ready; its log:\n" << log_text());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL("compositor not ready on " << socket << " after 30 s; its log:\n" << log_text());
  }
  ~Compositor() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      int st;
      waitpid(pid, &st, 0);
    }
    unlink(log.c_str());
  }
  bool running() { return waitpid(pid, nullptr, WNOHANG) == 0; }
  std::string log_text() {
    std::ifstream f(log);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  // answer_timeout_ms: how long the guest waits for an answer (the limits
  // generator's largest shaders compile for tens of seconds under load).
  std::unique_ptr<GuestSession> connect(const std::string& name, int answer_timeout_ms = 0) {
    ConnectRequest req;
    req.client_name = name;
    if (answer_timeout_ms) req.answer_timeout_ms = answer_timeout_ms;
    std::string error;
    auto s = GuestSession::connect("local:" + socket, req, error);
    const std::string state = s ? "" : std::string(running() ? "running" : "gone") + "; its log:\n" + log_text();
    INFO(error << "\ncompositor " << state);
    REQUIRE(s);
    return s;
  }
};

// A guest connection in a forked child: no Catch2 assertions there; exit 1
// when it cannot connect.
std::unique_ptr<GuestSession> connect_in_child(const Compositor& c, const std::string& name) {
  ConnectRequest req;
  req.client_name = name;
  std::string e;
  auto s = GuestSession::connect("local:" + c.socket, req, e);
  if (!s) _exit(1);
  return s;
}

bool ping(GuestSession& s, uint64_t seq) {
  Ping p;
  p.seq = seq;
  Pong pong;
  return s.call(p, pong) && pong.seq == seq;
}

}  // namespace

// --- The host executor: Gallium records from a guest with no GL driver in between ---

#include <array>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <span>

#include "pipe/p_format.h"
#include "pipe/p_defines.h"
#include "pipe/p_shader_tokens.h"
#include "pipe/p_state.h"
#include "proto/caps_table.h"  // after p_format.h
#include "tests/tgsi_limit_shaders.h"
#include "proto/gallium_ids.h"
#include "tgsi/tgsi_info.h"
#include "tgsi/tgsi_text.h"

namespace {

constexpr uint32_t kCtx = 1;
constexpr unsigned kSize = 64;
constexpr unsigned kBgra = PIPE_FORMAT_B8G8R8A8_UNORM;

template <class T>
std::span<const uint8_t> blob_of(const T& v) {
  return {reinterpret_cast<const uint8_t*>(&v), sizeof v};
}

Box box2d(int x, int y, int w, int h) { return Box{x, y, 0, w, h, 1}; }

void make_context(GuestSession& s, uint32_t id = kCtx) {
  ContextCreate c;
  c.id = id;
  REQUIRE(s.send(c));
  ContextUse u;
  u.id = id;
  REQUIRE(s.send(u));
}

// A 2D texture's resource_create (no assertions: forked guests send it too).
ResourceCreate texture_record(uint32_t id, unsigned w, unsigned h, unsigned format = kBgra,
                              unsigned bind = PIPE_BIND_SAMPLER_VIEW) {
  ResourceCreate r;
  r.id = id;
  r.width = w;
  r.height = uint16_t(h);
  r.depth = 1;
  r.array_size = 1;
  r.format = uint16_t(format);
  r.target = PIPE_TEXTURE_2D;
  r.bind = bind;
  return r;
}

void make_texture(GuestSession& s, uint32_t id, unsigned w = kSize, unsigned h = kSize, unsigned format = kBgra,
                  unsigned bind = PIPE_BIND_RENDER_TARGET | PIPE_BIND_SAMPLER_VIEW) {
  REQUIRE(s.send(texture_record(id, w, h, format, bind)));
}

// A 4-sample kSize x kSize BGRA texture #id (default 20) with a surface #id+1 on it.
void make_msaa_target(GuestSession& s, uint32_t id = 20) {
  ResourceCreate r;
  r.id = id;
  r.width = kSize;
  r.height = kSize;
  r.depth = r.array_size = 1;
  r.format = kBgra;
  r.target = PIPE_TEXTURE_2D;
  r.bind = PIPE_BIND_RENDER_TARGET | PIPE_BIND_SAMPLER_VIEW;
  r.nr_samples = r.nr_storage_samples = 4;
  REQUIRE(s.send(r));
  SurfaceCreate sc;
  sc.id = id + 1;
  sc.resource = id;
  sc.format = kBgra;
  REQUIRE(s.send(sc));
}

void make_buffer(GuestSession& s, uint32_t id, uint32_t bytes, unsigned bind) {
  ResourceCreate r;
  r.id = id;
  r.width = bytes;
  r.height = r.depth = r.array_size = 1;
  r.format = PIPE_FORMAT_R8_UNORM;
  r.target = PIPE_BUFFER;
  r.bind = bind;
  REQUIRE(s.send(r));
}

std::vector<uint8_t> read_box(GuestSession& s, uint32_t id, const Box& box, size_t bytes) {
  TransferRead r;
  r.resource = id;
  r.box = box;
  std::vector<uint8_t> out(bytes);
  INFO(s.error());
  REQUIRE(s.call_data(r, out.data(), out.size()));
  return out;
}

// Sends bytes as a transfer_write: through the bulk heap, or staged when it is held.
void write_box(GuestSession& s, uint32_t id, const Box& box, uint32_t stride, const std::vector<uint8_t>& bytes) {
  GuestSession::Payload payload;
  REQUIRE(s.put_payload(bytes.data(), bytes.size(), payload));
  TransferWrite w;
  w.resource = id;
  w.box = box;
  w.stride = stride;
  w.layer_stride = 0;
  w.data = payload.ref;
  REQUIRE(s.send(w));
  s.payload_done(payload);
}

Stats stats(GuestSession& s) {
  Stats st;
  INFO(s.error());
  REQUIRE(s.call(HostStats{}, st));
  return st;
}

// The compositor-wide totals once they stop changing: render workers report
// what their guests hold every 100 ms, so a total read at once may be stale.
Stats settled_stats(GuestSession& observer) {
  Stats last = stats(observer);
  for (int i = 0; i < 50; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    const Stats now = stats(observer);
    if (now.total_objects == last.total_objects && now.total_bytes == last.total_bytes && now.guests == last.guests) {
      return now;
    }
    last = now;
  }
  return last;
}

// Polls until the compositor's object total returns to `baseline` (guests are
// freed on their own threads, and render workers report their totals every 100 ms).
bool objects_back_to(GuestSession& observer, uint64_t baseline) {
  for (int i = 0; i < 250; ++i) {
    if (stats(observer).total_objects == baseline) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

uint32_t send_tgsi(GuestSession& s, uint32_t id, unsigned stage, const char* text, uint32_t req_local_mem = 0) {
  std::array<tgsi_token, 1024> tokens{};
  REQUIRE(tgsi_text_translate(text, tokens.data(), tokens.size()));
  struct tgsi_header header;
  std::memcpy(&header, tokens.data(), sizeof header);
  const uint32_t n = header.HeaderSize + header.BodySize;
  // As the driver sends them: in the heap, or staged when it is held.
  GuestSession::Payload payload;
  REQUIRE(s.put_payload(tokens.data(), n * 4, payload));
  ShaderCreate c;
  c.id = id;
  c.stage = uint8_t(stage);
  c.token_count = n;
  c.tokens = payload.ref;
  c.req_local_mem = req_local_mem;
  REQUIRE(s.send(c));
  s.payload_done(payload);
  return id;
}

const char* const kPassthroughVs =
    "VERT\n"
    "DCL IN[0]\n"
    "DCL IN[1]\n"
    "DCL OUT[0], POSITION\n"
    "DCL OUT[1], COLOR\n"
    "  0: MOV OUT[0], IN[0]\n"
    "  1: MOV OUT[1], IN[1]\n"
    "  2: END\n";
const char* const kPassthroughFs =
    "FRAG\n"
    "DCL IN[0], COLOR, COLOR\n"
    "DCL OUT[0], COLOR\n"
    "  0: MOV OUT[0], IN[0]\n"
    "  1: END\n";

// A geometry shader that emits one point to vertex stream `stream`.
std::string gs_emitting_to(unsigned stream) {
  return "GEOM\n"
         "PROPERTY GS_INPUT_PRIMITIVE POINTS\n"
         "PROPERTY GS_OUTPUT_PRIMITIVE POINTS\n"
         "PROPERTY GS_MAX_OUTPUT_VERTICES 1\n"
         "DCL IN[][0], POSITION\n"
         "DCL OUT[0], POSITION\n"
         "IMM[0] UINT32 {" + std::to_string(stream) + ", 0, 0, 0}\n"
         "  0: MOV OUT[0], IN[0][0]\n"
         "  1: EMIT IMM[0].xxxx\n"
         "  2: END\n";
}

void send_state(GuestSession& s, uint32_t id, ObjectKind kind, std::span<const uint8_t> blob) {
  StateCreate c;
  c.id = id;
  c.kind = uint8_t(kind);
  c.blob = blob;
  REQUIRE(s.send(c));
}

void bind(GuestSession& s, BindSlot slot, uint32_t id) {
  Bind b;
  b.slot = uint8_t(slot);
  b.id = id;
  REQUIRE(s.send(b));
}

// The bytes of setup_pipeline's triangle: three vertices (position, colour)
// coloured (r, g, b), 32 bytes apart.
std::vector<uint8_t> triangle_vertices(float r, float g, float b) {
  const float verts[3][2][4] = {
      {{-0.5f, -0.5f, 0.0f, 1.0f}, {r, g, b, 1.0f}},
      {{0.5f, -0.5f, 0.0f, 1.0f}, {r, g, b, 1.0f}},
      {{0.0f, 0.6f, 0.0f, 1.0f}, {r, g, b, 1.0f}},
  };
  std::vector<uint8_t> bytes(sizeof verts);
  std::memcpy(bytes.data(), verts, sizeof verts);
  return bytes;
}

// Render target #10 (with `extra_bind`, e.g. a window buffer's
// PIPE_BIND_DISPLAY_TARGET) with surface #11, shaders and state: everything a
// draw needs. Vertex buffer #20 holds a red triangle covering the centre of the target.
void setup_pipeline(GuestSession& s, unsigned extra_bind = 0) {
  make_texture(s, 10, kSize, kSize, kBgra, PIPE_BIND_RENDER_TARGET | PIPE_BIND_SAMPLER_VIEW | extra_bind);
  SurfaceCreate sc;
  sc.id = 11;
  sc.resource = 10;
  sc.format = kBgra;
  REQUIRE(s.send(sc));
  SetFramebuffer fb;
  fb.width = kSize;
  fb.height = kSize;
  fb.layers = 1;
  const uint32_t cbufs[1] = {11};
  fb.cbufs = std::span<const uint32_t>(cbufs);
  REQUIRE(s.send(fb));

  pipe_blend_state blend{};
  blend.rt[0].colormask = PIPE_MASK_RGBA;
  send_state(s, 30, ObjectKind::Blend, blob_of(blend));
  pipe_rasterizer_state rast{};
  rast.half_pixel_center = 1;
  rast.bottom_edge_rule = 1;
  rast.depth_clip_near = 1;
  rast.depth_clip_far = 1;
  rast.line_width = 1.0f;
  rast.point_size = 1.0f;
  send_state(s, 31, ObjectKind::Rasterizer, blob_of(rast));
  pipe_depth_stencil_alpha_state dsa{};
  send_state(s, 32, ObjectKind::DepthStencilAlpha, blob_of(dsa));
  pipe_vertex_element ve[2] = {};
  for (unsigned i = 0; i < 2; ++i) {
    ve[i].src_offset = uint16_t(i * 16);
    ve[i].src_format = PIPE_FORMAT_R32G32B32A32_FLOAT;
  }
  send_state(s, 33, ObjectKind::VertexElements, {reinterpret_cast<const uint8_t*>(ve), sizeof ve});
  bind(s, BindSlot::Blend, 30);
  bind(s, BindSlot::Rasterizer, 31);
  bind(s, BindSlot::DepthStencilAlpha, 32);
  bind(s, BindSlot::VertexElements, 33);
  send_tgsi(s, 40, PIPE_SHADER_VERTEX, kPassthroughVs);
  send_tgsi(s, 41, PIPE_SHADER_FRAGMENT, kPassthroughFs);
  bind(s, BindSlot(uint8_t(BindSlot::ShaderBase) + PIPE_SHADER_VERTEX), 40);
  bind(s, BindSlot(uint8_t(BindSlot::ShaderBase) + PIPE_SHADER_FRAGMENT), 41);

  pipe_viewport_state vp{};
  vp.scale[0] = vp.translate[0] = kSize / 2.0f;
  vp.scale[1] = vp.translate[1] = kSize / 2.0f;
  vp.scale[2] = vp.translate[2] = 0.5f;
  vp.swizzle_x = PIPE_VIEWPORT_SWIZZLE_POSITIVE_X;
  vp.swizzle_y = PIPE_VIEWPORT_SWIZZLE_POSITIVE_Y;
  vp.swizzle_z = PIPE_VIEWPORT_SWIZZLE_POSITIVE_Z;
  vp.swizzle_w = PIPE_VIEWPORT_SWIZZLE_POSITIVE_W;
  SetViewports v;
  v.blob = blob_of(vp);
  REQUIRE(s.send(v));

  const std::vector<uint8_t> bytes = triangle_vertices(1, 0, 0);
  make_buffer(s, 20, uint32_t(bytes.size()), PIPE_BIND_VERTEX_BUFFER);
  write_box(s, 20, Box{0, 0, 0, int(bytes.size()), 1, 1}, 0, bytes);
  SetVertexBuffers vbs;
  const VertexBuffer vb{20, 0, 32, 0};
  vbs.buffers = std::span<const VertexBuffer>(&vb, 1);
  REQUIRE(s.send(vbs));
}

void clear_to_blue(GuestSession& s) {
  Clear c;
  c.buffers = PIPE_CLEAR_COLOR0;
  const float blue[4] = {0.0f, 0.0f, 1.0f, 1.0f};
  std::memcpy(c.color.data(), blue, sizeof blue);
  REQUIRE(s.send(c));
}

// The three vertices of buffer #20 as a triangle, or as patches of
// `patch_vertices` (set_patch_vertices first) for tessellation shaders.
void draw_triangle(GuestSession& s, unsigned patch_vertices = 0) {
  if (patch_vertices) {
    SetPatchVertices pv;
    pv.count = uint8_t(patch_vertices);
    REQUIRE(s.send(pv));
  }
  Draw d;
  d.mode = patch_vertices ? PIPE_PRIM_PATCHES : PIPE_PRIM_TRIANGLES;
  d.instance_count = 1;
  const DrawRange range{0, 3, 0};
  d.draws = std::span<const DrawRange>(&range, 1);
  REQUIRE(s.send(d));
}

// BGRA bytes of pixel (x, y) of a packed 64x64 B8G8R8A8 image.
std::array<uint8_t, 4> pixel(const std::vector<uint8_t>& img, unsigned x, unsigned y) {
  std::array<uint8_t, 4> p;
  std::memcpy(p.data(), &img[(y * kSize + x) * 4], 4);
  return p;
}

bool poisoned_with(GuestSession& bad, const std::string& phrase) {
  if (ping(bad, 99)) return false;
  INFO("guest saw: " << bad.error());
  CHECK(bad.error().find(phrase) != std::string::npos);
  return bad.error().find(phrase) != std::string::npos;
}

}  // namespace

// --- Pipelines and shader mutation, for the fuzz cases and the executor tests that sample ---

namespace {

const char* const kFuzzVs =
    "VERT\n"
    "DCL IN[0]\n"
    "DCL IN[1]\n"
    "DCL OUT[0], POSITION\n"
    "DCL OUT[1], GENERIC[0]\n"
    "DCL CONST[0][0..7]\n"
    "DCL TEMP[0..2]\n"
    "DCL ADDR[0]\n"
    "IMM[0] INT32 {1, 2, 0, 0}\n"
    "IMM[1] FLT32 {0.5, 1.0, 2.0, 0.0}\n"
    "  0: MOV TEMP[0], IN[0]\n"
    "  1: UARL ADDR[0].x, IMM[0].xxxx\n"
    "  2: ADD TEMP[1], TEMP[0], CONST[0][ADDR[0].x+2]\n"
    "  3: BGNLOOP\n"
    "  4:   ADD TEMP[2].x, TEMP[2].xxxx, IMM[1].yyyy\n"
    "  5:   FSLT TEMP[2].y, IMM[1].zzzz, TEMP[2].xxxx\n"
    "  6:   UIF TEMP[2].yyyy\n"
    "  7:     BRK\n"
    "  8:   ENDIF\n"
    "  9: ENDLOOP\n"
    " 10: MAD TEMP[0], TEMP[1], IMM[1].wwww, IN[0]\n"
    " 11: MOV OUT[0], TEMP[0]\n"
    " 12: MOV OUT[1], IN[1]\n"
    " 13: END\n";
const char* const kFuzzFs =
    "FRAG\n"
    "DCL IN[0], GENERIC[0], PERSPECTIVE\n"
    "DCL OUT[0], COLOR\n"
    "DCL SAMP[0]\n"
    "DCL SVIEW[0], 2D, FLOAT\n"
    "DCL CONST[0][0..3]\n"
    "DCL TEMP[0..3]\n"
    "IMM[0] FLT32 {0.5, 1.0, 2.0, 0.0}\n"
    "  0: TEX TEMP[0], IN[0], SAMP[0], 2D\n"
    "  1: MUL TEMP[1], TEMP[0], CONST[0][1]\n"
    "  2: ADD TEMP[1], TEMP[1], IMM[0].xxxx\n"
    "  3: IF TEMP[1].xxxx\n"
    "  4:   MOV TEMP[2], IMM[0].yyyy\n"
    "  5: ELSE\n"
    "  6:   TXL TEMP[2], IN[0], SAMP[0], 2D\n"
    "  7: ENDIF\n"
    "  8: KILL_IF TEMP[2].wwww\n"
    "  9: MOV OUT[0], TEMP[2]\n"
    " 10: END\n";

std::vector<tgsi_token> assemble(const char* text) {
  std::vector<tgsi_token> tokens(1024);
  REQUIRE(tgsi_text_translate(text, tokens.data(), unsigned(tokens.size())));
  struct tgsi_header h;
  std::memcpy(&h, tokens.data(), sizeof h);
  tokens.resize(h.HeaderSize + h.BodySize);
  return tokens;
}

void send_tokens(GuestSession& s, uint32_t id, unsigned stage, const std::vector<tgsi_token>& tokens) {
  BulkSpan span = s.alloc_bulk(uint32_t(tokens.size() * 4));
  REQUIRE(span.data);
  std::memcpy(span.data, tokens.data(), tokens.size() * 4);
  ShaderCreate c;
  c.id = id;
  c.stage = uint8_t(stage);
  c.token_count = uint32_t(tokens.size());
  c.tokens.pos = span.pos;
  c.tokens.size = span.size;
  REQUIRE(s.send(c));
  s.bulk_done(span);
}

// A 16x16 BGRA texture and a sampler view of it.
void make_sampled_texture(GuestSession& s, uint32_t texture, uint32_t view) {
  make_texture(s, texture, 16, 16);
  SamplerViewCreate sv;
  sv.id = view;
  sv.resource = texture;
  sv.format = kBgra;
  sv.target = PIPE_TEXTURE_2D;
  sv.swizzle = {0, 1, 2, 3};
  REQUIRE(s.send(sv));
}

// Binds sampler view `view` and sampler `sampler` in the fragment stage's slot 0.
void bind_sampling(GuestSession& s, uint32_t view, uint32_t sampler,
                            unsigned stage = PIPE_SHADER_FRAGMENT) {
  SetSamplerViews v;
  v.stage = uint8_t(stage);
  const uint32_t views[1] = {view};
  v.ids = std::span<const uint32_t>(views);
  REQUIRE(s.send(v));
  BindSamplers b;
  b.stage = uint8_t(stage);
  const uint32_t samplers[1] = {sampler};
  b.ids = std::span<const uint32_t>(samplers);
  REQUIRE(s.send(b));
}

// A pipeline with a sampled texture and constants, for the fuzzed shaders to use.
void setup_fuzz_pipeline(GuestSession& s) {
  make_context(s);
  setup_pipeline(s, PIPE_BIND_DISPLAY_TARGET);  // a window buffer, as apps draw into: frame_share can take it
  make_sampled_texture(s, 12, 13);
  pipe_sampler_state samp{};
  samp.min_mip_filter = PIPE_TEX_MIPFILTER_NONE;
  send_state(s, 14, ObjectKind::Sampler, blob_of(samp));
  SetShaderBuffers sb;
  sb.stage = PIPE_SHADER_COMPUTE;
  const ShaderBuffer buf{20, 0, 96};
  sb.buffers = std::span<const ShaderBuffer>(&buf, 1);
  sb.writable_mask = 1;
  REQUIRE(s.send(sb));
  for (unsigned stage : {unsigned(PIPE_SHADER_VERTEX), unsigned(PIPE_SHADER_FRAGMENT), unsigned(PIPE_SHADER_GEOMETRY),
                         unsigned(PIPE_SHADER_COMPUTE)}) {
    SetSamplerViews v;
    v.stage = uint8_t(stage);
    const uint32_t views[1] = {13};
    v.ids = std::span<const uint32_t>(views);
    REQUIRE(s.send(v));
    BindSamplers b;
    b.stage = uint8_t(stage);
    const uint32_t samplers[1] = {14};
    b.ids = std::span<const uint32_t>(samplers);
    REQUIRE(s.send(b));
    SetConstantBuffer cb;
    cb.stage = uint8_t(stage);
    std::vector<uint8_t> consts(256, 0x3f);
    cb.size = uint32_t(consts.size());
    cb.user_data = std::span<const uint8_t>(consts);
    REQUIRE(s.send(cb));
  }
  REQUIRE(ping(s, 1));
}

void run_shader_fuzz(uint32_t seed, unsigned iterations, const std::string& compositor_args = "") {
  Compositor c(compositor_args);
  std::mt19937 rng(seed);
  const std::vector<tgsi_token> bases[2] = {assemble(kFuzzVs), assemble(kFuzzFs)};
  const unsigned stages[2] = {PIPE_SHADER_VERTEX, PIPE_SHADER_FRAGMENT};
  std::unique_ptr<GuestSession> g;
  unsigned accepted = 0, refused = 0;
  for (unsigned it = 0; it < iterations; ++it) {
    if (!g || !g->alive()) {
      g = c.connect("fuzzer");
      setup_fuzz_pipeline(*g);
      // The unmutated shaders are valid and draw.
      send_tokens(*g, 100, stages[0], bases[0]);
      send_tokens(*g, 101, stages[1], bases[1]);
      bind(*g, BindSlot(uint8_t(BindSlot::ShaderBase) + stages[0]), 100);
      bind(*g, BindSlot(uint8_t(BindSlot::ShaderBase) + stages[1]), 101);
      draw_triangle(*g);
      INFO(g->error() << "\ncompositor log:\n" << c.log_text());
      REQUIRE(ping(*g, 2));
    }
    const unsigned which = rng() % 2;
    std::vector<tgsi_token> t = bases[which];
    const unsigned edits = 1 + rng() % 3;
    for (unsigned e = 0; e < edits; ++e) {
      const size_t i = (rng() % 16 == 0) ? rng() % t.size() : 2 + rng() % (t.size() - 2);
      uint32_t v;
      std::memcpy(&v, &t[i], 4);
      switch (rng() % 4) {
        case 0: v ^= 1u << (rng() % 32); break;                 // one bit
        case 1: v ^= (rng() & 0xf) << (4 * (rng() % 8)); break;  // one nibble
        case 2: v = rng(); break;                                // anything
        default: v += (rng() % 2 ? 1 : -1); break;               // off by one
      }
      std::memcpy(&t[i], &v, 4);
    }
    const uint32_t id = 1000 + it;
    send_tokens(*g, id, stages[which], t);
    bind(*g, BindSlot(uint8_t(BindSlot::ShaderBase) + stages[which]), id);
    draw_triangle(*g);
    if (ping(*g, 3)) {
      ++accepted;
      bind(*g, BindSlot(uint8_t(BindSlot::ShaderBase) + stages[which]), 100 + which);
      ObjectDestroy od;
      od.id = id;
      od.kind = uint8_t(ObjectKind::Shader);
      REQUIRE(g->send(od));
    } else {
      ++refused;
      g.reset();
    }
    INFO("seed " << seed << " iteration " << it);
    REQUIRE(c.running());
  }
  INFO(accepted << " mutated shaders ran, " << refused << " were refused");
  CHECK(accepted + refused == iterations);
}

}  // namespace
