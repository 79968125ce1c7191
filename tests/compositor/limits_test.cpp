// Host limits (host/validate/host_limits.h): each case crashed or leaked before.
#include "tests/compositor/helpers.h"

using namespace xen3d::proto;

// --- host limits (host/validate/host_limits.h): each case crashed or leaked before ---

// A fragment shader's inputs go to the rasterizer through the draw module's
// fixed translate key (38 elements): 40 inputs wrote past it (SIGSEGV).
namespace {

// Binds `tgsi` as shader `id` of `stage` in g's pipeline and draws: the draw
// must poison g with `why`, and the compositor and the bystander go on.
void draw_with_shader_is_refused(Compositor& c, GuestSession& g, GuestSession& bystander, unsigned stage, uint32_t id,
                                 const char* tgsi, const char* why) {
  send_tgsi(g, id, stage, tgsi);
  bind(g, BindSlot(uint8_t(BindSlot::ShaderBase) + stage), id);
  draw_triangle(g);
  CHECK(poisoned_with(g, why));
  REQUIRE(c.running());
  CHECK(ping(bystander, 2));
}

}  // namespace

TEST_CASE("a pipeline needing more vertex attributes than the draw module emits is refused", "[compositor][limits]") {
  // softpipe takes TGSI: forty generic inputs. llvmpipe takes NIR, which has
  // 32 generic varyings, so there the other semantics make up the count.
  const std::string driver = GENERATE("softpipe", "llvmpipe");
  const std::string path = driver == "softpipe" ? "tgsi" : "nir";
  Compositor c("--driver " + driver + " --gpu-budget-ms 120000");
  auto bystander = c.connect("bystander");
  auto g = c.connect("forty-inputs");
  make_context(*g);
  setup_pipeline(*g);
  draw_with_shader_is_refused(c, *g, *bystander, PIPE_SHADER_FRAGMENT, 42,
                              path == "tgsi" ? "FRAG\n"
                                               "DCL IN[0..39], GENERIC[0], PERSPECTIVE\n"
                                               "DCL OUT[0], COLOR\n"
                                               "  0: ADD OUT[0], IN[0], IN[39]\n"
                                               "  1: END\n"
                                             : "FRAG\n"
                                               "DCL IN[0..31], GENERIC[0], PERSPECTIVE\n"
                                               "DCL IN[32], COLOR[0], COLOR\n"
                                               "DCL IN[33], COLOR[1], COLOR\n"
                                               "DCL IN[34], FOG, PERSPECTIVE\n"
                                               "DCL IN[35], PCOORD, PERSPECTIVE\n"
                                               "DCL IN[36], CLIPVERTEX, PERSPECTIVE\n"
                                               "DCL IN[37], EDGEFLAG, PERSPECTIVE\n"
                                               "DCL IN[38], LAYER, CONSTANT\n"
                                               "DCL IN[39], VIEWPORT_INDEX, CONSTANT\n"
                                               "DCL OUT[0], COLOR\n"
                                               "  0: ADD OUT[0], IN[0], IN[39]\n"
                                               "  1: END\n",
                              "vertex attributes from the host's draw module, which emits at most 38");
}

// The draw module fetches only the bound vertex elements and runs the vertex
// shader on the rest of its vertex buffer unwritten: host heap, possibly
// another guest's. Found by fuzzing on instrumented Mesa (draw_pt_fetch.c's
// assert; release Mesa reads on).
TEST_CASE("a vertex shader reading more inputs than the vertex elements supply is refused", "[compositor][limits]") {
  const char* driver = GENERATE("softpipe", "llvmpipe");
  // Compiling shaders at the limits takes seconds on a loaded machine: the
  // GPU-time watchdog (its own test is gl-render-workers) must not end them.
  Compositor c(std::string("--driver ") + driver + " --gpu-budget-ms 120000");
  auto bystander = c.connect("bystander");
  auto g = c.connect("more-inputs");
  make_context(*g);
  setup_pipeline(*g);  // two vertex elements
  draw_triangle(*g);
  REQUIRE(ping(*g, 1));
  draw_with_shader_is_refused(c, *g, *bystander, PIPE_SHADER_VERTEX, 43,
                              "VERT\n"
                              "DCL IN[0..3]\n"
                              "DCL OUT[0], POSITION\n"
                              "DCL OUT[1], COLOR\n"
                              "  0: MOV OUT[0], IN[0]\n"
                              "  1: ADD OUT[1], IN[1], IN[3]\n"
                              "  2: END\n",
                              "vertex shader #43 reads 4 inputs but the bound vertex elements #33 supply 2");
}

// The draw module runs TGSI geometry shaders through draw_llvm, which counts
// emitted vertices for one stream: piglit's
// arb_enhanced_layouts-gs-stream-location-aliasing emitted to stream 1 and
// the sanitized compositor died in draw_gs.c (a 3.5 GB memmove). On the TGSI
// path (softpipe) guests are offered one stream, so EMIT to stream 1 is
// refused whatever the stream output names.
TEST_CASE("draw-module hosts offer one vertex stream on the TGSI path", "[compositor][limits]") {
  // Compiling shaders at the limits takes seconds on a loaded machine: the
  // GPU-time watchdog (its own test is gl-render-workers) must not end them.
  Compositor c("--driver softpipe --gpu-budget-ms 120000");
  auto g = c.connect("streams");
  make_context(*g);
  auto caps = std::make_unique<CapsTable>();
  REQUIRE(g->call_data(GetCaps{}, caps.get(), sizeof *caps));
  CHECK(caps->param[PIPE_CAP_MAX_VERTEX_STREAMS] == 1);
  send_tgsi(*g, 41, PIPE_SHADER_GEOMETRY, gs_emitting_to(1).c_str());
  CHECK(poisoned_with(*g, "EMIT stream 1 exceeds 0"));
  REQUIRE(c.running());
}

// The host translator marks every stream a NIR geometry shader emits to in
// info.gs.active_stream_mask, which draw_gs.c sizes its per-stream arrays
// by: on the NIR path llvmpipe's four streams are offered (piglit's
// arb_gpu_shader5-xfb-streams in the CI subset draws with them).
TEST_CASE("llvmpipe offers its four vertex streams on the NIR path", "[compositor][limits]") {
  Compositor c("--driver llvmpipe");
  auto g = c.connect("streams-nir");
  make_context(*g);
  auto caps = std::make_unique<CapsTable>();
  REQUIRE(g->call_data(GetCaps{}, caps.get(), sizeof *caps));
  CHECK(caps->param[PIPE_CAP_MAX_VERTEX_STREAMS] == 4);
  send_tgsi(*g, 41, PIPE_SHADER_GEOMETRY, gs_emitting_to(1).c_str());
  const bool alive = ping(*g, 1);
  INFO(g->error() << "\ncompositor log:\n" << c.log_text());
  CHECK(alive);
}

// softpipe's draw module fetched with translate_sse, which clamps only a
// linear run's first vertex and then steps by the stride: a draw past the
// end of a vertex buffer read the host memory after it (SEGV once it left
// the mapping; found by fuzzing on instrumented Mesa). softpipe hosts now
// fetch through draw_llvm, which checks every vertex against the buffer.
TEST_CASE("draws past the end of a vertex buffer read nothing beyond it", "[compositor][limits]") {
  const char* driver = GENERATE("softpipe", "llvmpipe");
  // Compiling shaders at the limits takes seconds on a loaded machine: the
  // GPU-time watchdog (its own test is gl-render-workers) must not end them.
  Compositor c(std::string("--driver ") + driver + " --gpu-budget-ms 120000");
  auto g = c.connect("past-the-end");
  make_context(*g);
  setup_pipeline(*g);
  constexpr uint32_t kBytes = 48u << 20;  // above glibc's largest mmap threshold: its own mapping
  make_buffer(*g, 60, kBytes, PIPE_BIND_VERTEX_BUFFER);
  SetVertexBuffers vbs;
  const VertexBuffer vb{60, 0, 32, 0};
  vbs.buffers = std::span<const VertexBuffer>(&vb, 1);
  REQUIRE(g->send(vbs));
  clear_to_blue(*g);
  Draw d;
  d.mode = PIPE_PRIM_TRIANGLES;
  d.instance_count = 1;
  const DrawRange range{0, (kBytes / 32) * 3 / 2 / 3 * 3, 0};  // half the buffer again past its end
  d.draws = std::span<const DrawRange>(&range, 1);
  REQUIRE(g->send(d));
  const bool answered = ping(*g, 1);
  INFO(g->error() << "\ncompositor log:\n" << c.log_text());
  REQUIRE(answered);
  REQUIRE(c.running());
  // The buffer is zeros (new resources are) and so is every vertex past its
  // end: nothing is drawn. Vertices made of host memory would draw.
  const auto img = read_box(*g, 10, Box{0, 0, 0, int32_t(kSize), int32_t(kSize), 1}, kSize * kSize * 4);
  unsigned drawn = 0;
  for (unsigned y = 0; y < kSize; ++y) {
    for (unsigned x = 0; x < kSize; ++x) drawn += pixel(img, x, y) != std::array<uint8_t, 4>{255, 0, 0, 255};
  }
  CHECK(drawn == 0);
}

// llvmpipe hands fragment shaders a copy of the bound range (at most 64 KiB),
// not the buffer: a range of 0 or 16 bytes with CONST[0][4000] read 64 KiB
// past that copy and returned it as pixels.
TEST_CASE("constant reads stay inside what the driver copies", "[compositor][limits]") {
  Compositor c;
  auto g = c.connect("constant-range");
  make_context(*g);
  setup_pipeline(*g);
  constexpr uint32_t kBufferBytes = 256 * 1024;
  make_buffer(*g, 50, kBufferBytes, PIPE_BIND_CONSTANT_BUFFER);
  std::vector<uint8_t> bytes(kBufferBytes, 0);
  std::fill(bytes.begin() + 64000, bytes.begin() + 64016, 0x3f);  // CONST[0][4000]: about 0.75
  write_box(*g, 50, Box{0, 0, 0, int(kBufferBytes), 1, 1}, 0, bytes);
  // 0x3f3f3f3f is 0.747: 190 in every channel of the unorm target.
  auto is_constant = [](std::array<uint8_t, 4> p) {
    INFO(int(p[0]) << " " << int(p[1]) << " " << int(p[2]) << " " << int(p[3]));
    for (uint8_t v : p) if (v < 189 || v > 191) return false;
    return true;
  };
  auto read_constant = [&](uint32_t size, unsigned reg) {
    const std::string text = "FRAG\nDCL OUT[0], COLOR\nDCL CONST[0][0.." + std::to_string(reg) +
                             "]\n  0: MOV OUT[0], CONST[0][" + std::to_string(reg) + "]\n  1: END\n";
    send_tgsi(*g, 42, PIPE_SHADER_FRAGMENT, text.c_str());
    bind(*g, BindSlot(uint8_t(BindSlot::ShaderBase) + PIPE_SHADER_FRAGMENT), 42);
    SetConstantBuffer cb;
    cb.stage = PIPE_SHADER_FRAGMENT;
    cb.resource = 50;
    cb.size = size;
    REQUIRE(g->send(cb));
    clear_to_blue(*g);
    draw_triangle(*g);
  };
  SECTION("a 16-byte range: the binding is widened over the guest's own buffer") {
    read_constant(16, 4000);
    const auto img = read_box(*g, 10, box2d(0, 0, kSize, kSize), kSize * kSize * 4);
    CHECK(is_constant(pixel(img, kSize / 2, kSize / 2)));
  }
  SECTION("an empty range likewise") {
    read_constant(0, 4000);
    const auto img = read_box(*g, 10, box2d(0, 0, kSize, kSize), kSize * kSize * 4);
    CHECK(is_constant(pixel(img, kSize / 2, kSize / 2)));
  }
  SECTION("past the 64 KiB llvmpipe copies: refused") {
    read_constant(kBufferBytes, 5000);
    CHECK(poisoned_with(*g, "reads 80016 bytes of constant buffer 0; the host driver makes at most 65536 readable"));
    REQUIRE(c.running());
  }
}

// llvmpipe offsets every viewed level of a 2D view of a 3D texture by
// first_layer slices of that level: a slice that exists only at level 0 read
// megabytes past the texture.
TEST_CASE("a 2D view of a 3D texture names slices of every level it views", "[compositor][limits]") {
  Compositor c;
  auto g = c.connect("3d-view");
  make_context(*g);
  ResourceCreate r;
  r.id = 60;
  r.width = 16;
  r.height = 16;
  r.depth = 16;
  r.array_size = 1;
  r.last_level = 4;
  r.format = kBgra;
  r.target = PIPE_TEXTURE_3D;
  r.bind = PIPE_BIND_SAMPLER_VIEW;
  REQUIRE(g->send(r));
  SamplerViewCreate sv;
  sv.id = 61;
  sv.resource = 60;
  sv.format = kBgra;
  sv.target = PIPE_TEXTURE_2D;
  sv.swizzle = {0, 1, 2, 3};
  sv.first = sv.last = 10;
  sv.first_level = sv.last_level = 0;
  REQUIRE(g->send(sv));
  REQUIRE(ping(*g, 1));  // slice 10 of level 0 exists
  sv.id = 62;
  sv.last_level = 2;     // level 2 has 4 slices
  REQUIRE(g->send(sv));
  CHECK(poisoned_with(*g, "layers 10..10 outside the 4 layers of resource #60 at the last level viewed"));
  REQUIRE(c.running());
}

// gallivm's TGSI translator builds no anisotropic filter table: a sampler
// asking for anisotropy crashed llvmpipe's TGSI path while compiling
// (neverball), and a softpipe worker in a vertex shader (which the draw
// module compiles from TGSI). llvmpipe (NIR) samples anisotropically, up to
// the host's maximum; softpipe hosts offer none and clamp such samplers.
TEST_CASE("anisotropic samplers are clamped to what the host can sample", "[compositor][limits]") {
  const std::string driver = GENERATE("softpipe", "llvmpipe");
  Compositor c("--driver " + driver + " --gpu-budget-ms 120000");
  auto g = c.connect("anisotropic");
  auto caps = std::make_unique<CapsTable>();
  REQUIRE(g->call_data(GetCaps{}, caps.get(), sizeof *caps));
  if (driver == "llvmpipe") {
    CHECK(caps->param[PIPE_CAP_ANISOTROPIC_FILTER] == 1);
    CHECK(caps->paramf[PIPE_CAPF_MAX_TEXTURE_ANISOTROPY] >= 16.0f);
  } else {
    CHECK(caps->param[PIPE_CAP_ANISOTROPIC_FILTER] == 0);
    CHECK(caps->paramf[PIPE_CAPF_MAX_TEXTURE_ANISOTROPY] <= 1.0f);
  }
  make_context(*g);
  setup_pipeline(*g);
  make_sampled_texture(*g, 12, 13);
  pipe_sampler_state samp{};
  samp.min_mip_filter = PIPE_TEX_MIPFILTER_LINEAR;
  samp.min_img_filter = samp.mag_img_filter = PIPE_TEX_FILTER_LINEAR;
  samp.max_anisotropy = 16;
  samp.max_lod = 8.0f;
  send_state(*g, 14, ObjectKind::Sampler, blob_of(samp));
  bind_sampling(*g, 13, 14);
  send_tgsi(*g, 42, PIPE_SHADER_FRAGMENT,
            "FRAG\n"
            "DCL IN[0], COLOR, COLOR\n"
            "DCL OUT[0], COLOR\n"
            "DCL SAMP[0]\n"
            "DCL SVIEW[0], 2D, FLOAT\n"
            "  0: TEX OUT[0], IN[0], SAMP[0], 2D\n"
            "  1: END\n");
  bind(*g, BindSlot(uint8_t(BindSlot::ShaderBase) + PIPE_SHADER_FRAGMENT), 42);
  draw_triangle(*g);
  INFO(c.log_text());
  REQUIRE(ping(*g, 1));
  // The same sampler in a vertex shader: softpipe runs those through the
  // draw module's LLVM code, not its own sampler.
  bind_sampling(*g, 13, 14, PIPE_SHADER_VERTEX);
  send_tgsi(*g, 43, PIPE_SHADER_VERTEX,
            "VERT\n"
            "DCL IN[0]\n"
            "DCL IN[1]\n"
            "DCL OUT[0], POSITION\n"
            "DCL OUT[1], COLOR\n"
            "DCL SAMP[0]\n"
            "DCL SVIEW[0], 2D, FLOAT\n"
            "DCL TEMP[0]\n"
            "  0: TXL TEMP[0], IN[1], SAMP[0], 2D\n"
            "  1: MOV OUT[0], IN[0]\n"
            "  2: MOV OUT[1], TEMP[0]\n"
            "  3: END\n");
  bind(*g, BindSlot(uint8_t(BindSlot::ShaderBase) + PIPE_SHADER_VERTEX), 43);
  draw_triangle(*g);
  const bool alive = ping(*g, 2);
  INFO(g->error() << "\ncompositor log:\n" << c.log_text());
  REQUIRE(alive);
  REQUIRE(c.running());
}

// A grid read from a guest buffer got no check: any size ran, holding the driver.
TEST_CASE("an indirect compute grid is checked like a direct one", "[compositor][limits]") {
  Compositor c;
  auto g = c.connect("indirect-grid");
  make_context(*g);
  send_tgsi(*g, 70, PIPE_SHADER_COMPUTE,
            "COMP\n"
            "PROPERTY CS_FIXED_BLOCK_WIDTH 1\n"
            "PROPERTY CS_FIXED_BLOCK_HEIGHT 1\n"
            "PROPERTY CS_FIXED_BLOCK_DEPTH 1\n"
            "  0: END\n");
  bind(*g, BindSlot(uint8_t(BindSlot::ShaderBase) + PIPE_SHADER_COMPUTE), 70);
  make_buffer(*g, 71, 64, PIPE_BIND_COMMAND_ARGS_BUFFER);
  auto launch = [&](std::array<uint32_t, 3> grid) {
    std::vector<uint8_t> bytes(64, 0);
    std::memcpy(bytes.data(), grid.data(), sizeof grid);
    write_box(*g, 71, Box{0, 0, 0, 64, 1, 1}, 0, bytes);
    LaunchGrid lg;
    lg.block = {1, 1, 1};
    lg.work_dim = 3;
    lg.indirect = 71;
    REQUIRE(g->send(lg));
  };
  launch({2, 2, 2});
  REQUIRE(ping(*g, 1));
  launch({0x7fffffff, 0x7fffffff, 0x7fffffff});
  CHECK(poisoned_with(*g, "the indirect grid[0] 2147483647 exceeds"));
  REQUIRE(c.running());
}
