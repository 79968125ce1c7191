// The host's TGSI -> NIR translator (host/shader) against golden images: each
// guest shader below, drawn by the compositor, must give the pixels llvmpipe's
// own TGSI backend drew for it (tests/compositor/shader-golden, made while the
// compositor could still hand TGSI to the driver: an oracle independent of
// the translator). Each fragment shader exercises one part of the translator
// with results that vary across the triangle, so a wrong opcode, swizzle,
// write mask or operand order shows up as a different image.
//
// The images hold the bytes as read back (B8G8R8A8) as a PNG's RGBA, so the
// blue clear shows red. XEN3D_SHADER_GOLDEN_WRITE=1 rewrites them from what
// the compositor draws now: for a new case or an intended change, checked by eye.
#include <png.h>

#include <cstdlib>
#include <string>

#include "compositor/helpers.h"

namespace {

const char* const kFloatMath =
    "FRAG\n"
    "DCL IN[0], POSITION, LINEAR\n"
    "DCL OUT[0], COLOR\n"
    "DCL TEMP[0..4]\n"
    "IMM[0] FLT32 { 0.015625, 0.5, 2.0, 0.25 }\n"
    "IMM[1] FLT32 { 3.0, 0.1, -1.5, 1.0 }\n"
    "  0: MUL TEMP[0], IN[0].xyxy, IMM[0].xxxx\n"
    "  1: MAD TEMP[1].x, TEMP[0].xxxx, TEMP[0].yyyy, IMM[0].wwww\n"
    "  2: DP3 TEMP[1].y, TEMP[0].xyxx, IMM[0].yyww\n"
    "  3: RSQ TEMP[2].x, IMM[1].xxxx\n"
    "  4: POW TEMP[2].y, TEMP[0].xxxx, IMM[0].zzzz\n"
    "  5: LRP TEMP[1].z, TEMP[0].yyyy, IMM[0].yyyy, TEMP[2].xxxx\n"
    "  6: SIN TEMP[2].z, TEMP[0].xxxx\n"
    "  7: EX2 TEMP[2].w, -TEMP[0].yyyy\n"
    "  8: CMP TEMP[3], IMM[1].zwzw, TEMP[2], TEMP[1]\n"
    "  9: FRC TEMP[4].x, |TEMP[3].xxxx|\n"
    " 10: DIV TEMP[4].y, TEMP[0].xxxx, IMM[1].xxxx\n"
    " 11: MAX TEMP[4].z, TEMP[0].xxxx, TEMP[0].yyyy\n"
    " 12: SLT TEMP[4].w, TEMP[0].xxxx, TEMP[0].yyyy\n"
    " 13: ADD TEMP[3].xy, TEMP[3].xyyy, TEMP[4].xyyy\n"
    " 14: LG2 TEMP[4].x, IMM[1].xxxx\n"
    " 15: FLR TEMP[4].y, TEMP[1].yyyy\n"
    " 16: MUL TEMP[3].z, TEMP[3].zzzz, TEMP[4].xxxx\n"
    " 17: MIN TEMP[3].w, TEMP[4].zzzz, TEMP[4].wwww\n"
    " 18: MUL_SAT OUT[0], TEMP[3], IMM[0].zyzy\n"
    " 19: END\n";

const char* const kIntegerMath =
    "FRAG\n"
    "DCL IN[0], POSITION, LINEAR\n"
    "DCL OUT[0], COLOR\n"
    "DCL TEMP[0..3]\n"
    "IMM[0] UINT32 { 255, 3, 252645135, 8 }\n"
    "IMM[1] FLT32 { 0.00392157, 0.0, 0.0, 0.0 }\n"
    "IMM[2] INT32 { -77, 5, 7, 2 }\n"
    "  0: F2U TEMP[0], IN[0].xyxy\n"
    "  1: UMUL TEMP[1].x, TEMP[0].xxxx, TEMP[0].yyyy\n"
    "  2: SHL TEMP[1].y, TEMP[0].xxxx, IMM[0].yyyy\n"
    "  3: XOR TEMP[1].z, TEMP[1].xxxx, IMM[0].zzzz\n"
    "  4: USHR TEMP[1].w, TEMP[1].zzzz, IMM[0].wwww\n"
    "  5: UDIV TEMP[2].x, TEMP[1].xxxx, IMM[2].zzzz\n"
    "  6: UMOD TEMP[2].y, TEMP[1].xxxx, IMM[2].yyyy\n"
    "  7: ISHR TEMP[2].z, IMM[2].xxxx, IMM[2].wwww\n"
    "  8: IMAX TEMP[2].w, TEMP[2].zzzz, IMM[2].yyyy\n"
    "  9: UADD TEMP[1].xy, TEMP[1].xyyy, TEMP[2].xyyy\n"
    " 10: IBFE TEMP[3].x, TEMP[1].xxxx, IMM[2].wwww, IMM[2].yyyy\n"
    " 11: POPC TEMP[3].y, TEMP[1].zzzz\n"
    " 12: USLT TEMP[3].z, TEMP[0].xxxx, TEMP[0].yyyy\n"
    " 13: UCMP TEMP[3].w, TEMP[3].zzzz, IMM[0].xxxx, TEMP[2].wwww\n"
    " 14: UMSB TEMP[3].z, TEMP[1].yyyy\n"
    " 15: UADD TEMP[1].zw, TEMP[1].zzzw, TEMP[3].xxyy\n"
    " 16: UADD TEMP[1], TEMP[1], TEMP[3].wzwz\n"
    " 17: AND TEMP[1], TEMP[1], IMM[0].xxxx\n"
    " 18: U2F TEMP[2], TEMP[1]\n"
    " 19: MUL OUT[0], TEMP[2], IMM[1].xxxx\n"
    " 20: END\n";

const char* const kControlFlow =
    "FRAG\n"
    "DCL IN[0], POSITION, LINEAR\n"
    "DCL OUT[0], COLOR\n"
    "DCL TEMP[0..2]\n"
    "IMM[0] FLT32 { 0.0, 1.0, 0.0625, 32.0 }\n"
    "IMM[1] INT32 { 0, 1, 5, 0 }\n"
    "IMM[2] FLT32 { 0.1, 36.0, 0.0, 0.0 }\n"
    "  0: MOV TEMP[0], IMM[0].xxxx\n"
    "  1: F2I TEMP[1].x, IN[0].xxxx\n"
    "  2: AND TEMP[1].x, TEMP[1].xxxx, IMM[1].zzzz\n"
    "  3: BGNLOOP\n"
    "  4:   ISGE TEMP[1].y, TEMP[1].xxxx, IMM[1].zzzz\n"
    "  5:   UIF TEMP[1].yyyy\n"
    "  6:     BRK\n"
    "  7:   ENDIF\n"
    "  8:   ADD TEMP[0].x, TEMP[0].xxxx, IMM[0].zzzz\n"
    "  9:   UADD TEMP[1].x, TEMP[1].xxxx, IMM[1].yyyy\n"
    " 10: ENDLOOP\n"
    " 11: SLT TEMP[2].x, IN[0].xxxx, IMM[0].wwww\n"
    " 12: IF TEMP[2].xxxx\n"
    " 13:   MOV TEMP[0].y, IMM[0].yyyy\n"
    " 14: ELSE\n"
    " 15:   MOV TEMP[0].z, IMM[0].yyyy\n"
    " 16: ENDIF\n"
    " 17: ADD TEMP[2].y, IN[0].yyyy, -IMM[2].yyyy\n"
    " 18: KILL_IF TEMP[2].yyyy\n"
    " 19: MOV TEMP[0].w, IMM[0].yyyy\n"
    " 20: MOV OUT[0], TEMP[0]\n"
    " 21: END\n";

// Constants read directly and through an address register, and a temporary
// array written and read indirectly.
const char* const kIndirect =
    "FRAG\n"
    "DCL IN[0], POSITION, LINEAR\n"
    "DCL OUT[0], COLOR\n"
    "DCL CONST[0][0..3]\n"
    "DCL TEMP[0..1]\n"
    "DCL TEMP[2..5], ARRAY(1)\n"
    "DCL ADDR[0]\n"
    "IMM[0] FLT32 { 0.0625, 4.0, 0.25, 1.0 }\n"
    "IMM[1] INT32 { 3, 0, 0, 0 }\n"
    "  0: MUL TEMP[0], IN[0].xyxy, IMM[0].xxxx\n"
    "  1: F2I TEMP[1].x, TEMP[0].xxxx\n"
    "  2: AND TEMP[1].x, TEMP[1].xxxx, IMM[1].xxxx\n"
    "  3: UARL ADDR[0].x, TEMP[1].xxxx\n"
    "  4: MOV TEMP[2], CONST[0][0]\n"
    "  5: MOV TEMP[3], CONST[0][1]\n"
    "  6: MOV TEMP[4], CONST[0][2]\n"
    "  7: MOV TEMP[5], CONST[0][3]\n"
    "  8: MUL TEMP[ADDR[0].x+2].y, TEMP[0].yyyy, IMM[0].zzzz\n"
    "  9: ADD TEMP[0], TEMP[ADDR[0].x+2], CONST[0][ADDR[0].x].wzyx\n"
    " 10: MUL OUT[0], TEMP[0], IMM[0].zzzz\n"
    " 11: END\n";

const char* const kTexture =
    "FRAG\n"
    "DCL IN[0], POSITION, LINEAR\n"
    "DCL OUT[0], COLOR\n"
    "DCL SAMP[0]\n"
    "DCL SVIEW[0], 2D, FLOAT\n"
    "DCL TEMP[0..3]\n"
    "IMM[0] FLT32 { 0.015625, 1.5, 0.5, 2.0 }\n"
    "IMM[1] INT32 { 15, 0, 0, 0 }\n"
    "  0: MUL TEMP[0], IN[0].xyxy, IMM[0].xxxx\n"
    "  1: MOV TEMP[0].w, IMM[0].yyyy\n"
    "  2: TEX TEMP[1], TEMP[0], SAMP[0], 2D\n"
    "  3: TXL TEMP[2], TEMP[0].yxzw, SAMP[0], 2D\n"
    "  4: TXP TEMP[3], TEMP[0], SAMP[0], 2D\n"
    "  5: ADD TEMP[1], TEMP[1], TEMP[2].zyxw\n"
    "  6: F2I TEMP[2], IN[0].yxyx\n"
    "  7: AND TEMP[2], TEMP[2], IMM[1].xxxx\n"
    "  8: MOV TEMP[2].zw, IMM[1].yyyy\n"
    "  9: TXF TEMP[2], TEMP[2], SAMP[0], 2D\n"
    " 10: MAD TEMP[1], TEMP[3], IMM[0].zzzz, TEMP[1]\n"
    " 11: MOV TEMP[3].x, IMM[1].yyyy\n"
    " 12: TXQ TEMP[3], TEMP[3].xxxx, SAMP[0], 2D\n"
    " 13: I2F TEMP[3], TEMP[3]\n"
    " 14: MUL TEMP[3], TEMP[3], IMM[0].xxxx\n"
    " 15: ADD TEMP[1], TEMP[1], TEMP[2]\n"
    " 16: MUL TEMP[1], TEMP[1], TEMP[3].xyxy\n"
    " 17: MUL_SAT OUT[0], TEMP[1], IMM[0].wwww\n"
    " 18: END\n";

// A vertex shader with math of its own (the others pass through).
const char* const kVertexMath =
    "VERT\n"
    "DCL IN[0]\n"
    "DCL IN[1]\n"
    "DCL OUT[0], POSITION\n"
    "DCL OUT[1], COLOR\n"
    "DCL TEMP[0]\n"
    "IMM[0] FLT32 { 0.5, 0.25, 1.0, 0.0 }\n"
    "  0: MUL TEMP[0], IN[0].yxzw, IMM[0].xxzz\n"
    "  1: ADD OUT[0], TEMP[0], IMM[0].wyww\n"
    "  2: MAD OUT[1], IN[0].xyxy, IMM[0].xxxx, IMM[0].xxxx\n"
    "  3: MOV OUT[1].w, IMM[0].zzzz\n"
    "  4: END\n";

// memoryBarrier() in the vertex and fragment stages (MEMBAR): an ordering
// only. Lowered to a workgroup barrier, it crashed llvmpipe's compiler.
const char* const kBarrierVs =
    "VERT\n"
    "DCL IN[0]\n"
    "DCL IN[1]\n"
    "DCL OUT[0], POSITION\n"
    "DCL OUT[1], COLOR\n"
    "IMM[0] UINT32 { 15, 0, 0, 0 }\n"
    "  0: MOV OUT[0], IN[0]\n"
    "  1: MEMBAR IMM[0].xxxx\n"
    "  2: MOV OUT[1], IN[1]\n"
    "  3: END\n";
const char* const kBarrierFs =
    "FRAG\n"
    "DCL IN[0], COLOR, COLOR\n"
    "DCL OUT[0], COLOR\n"
    "IMM[0] UINT32 { 15, 0, 0, 0 }\n"
    "  0: MEMBAR IMM[0].xxxx\n"
    "  1: MOV OUT[0], IN[0]\n"
    "  2: END\n";

// A 16x16 texture whose texels all differ, bound with nearest filtering.
void bind_pattern_texture(GuestSession& g) {
  make_sampled_texture(g, 12, 13);
  std::vector<uint8_t> texels(16 * 16 * 4);
  for (unsigned i = 0; i < texels.size(); ++i) texels[i] = uint8_t(i * 37 + (i >> 6) * 11);
  write_box(g, 12, box2d(0, 0, 16, 16), 16 * 4, texels);
  pipe_sampler_state samp{};
  samp.min_mip_filter = PIPE_TEX_MIPFILTER_NONE;
  samp.wrap_s = samp.wrap_t = samp.wrap_r = PIPE_TEX_WRAP_REPEAT;
  send_state(g, 14, ObjectKind::Sampler, blob_of(samp));
  bind_sampling(g, 13, 14);
}

// The 64x64 image `fs` (with `vs`, when given) draws over a blue clear.
std::vector<uint8_t> draw_with(Compositor& c, const char* fs, const char* vs = nullptr) {
  auto g = c.connect("shader-path");
  make_context(*g);
  setup_pipeline(*g);
  bind_pattern_texture(*g);
  SetConstantBuffer cb;
  cb.stage = PIPE_SHADER_FRAGMENT;
  const float consts[16] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f,
                            0.9f, 1.0f, 1.1f, 1.2f, 1.3f, 1.4f, 1.5f, 1.6f};
  std::vector<uint8_t> bytes(sizeof consts);
  std::memcpy(bytes.data(), consts, sizeof consts);
  cb.size = uint32_t(bytes.size());
  cb.user_data = std::span<const uint8_t>(bytes);
  REQUIRE(g->send(cb));
  send_tgsi(*g, 42, PIPE_SHADER_FRAGMENT, fs);
  bind(*g, BindSlot(uint8_t(BindSlot::ShaderBase) + PIPE_SHADER_FRAGMENT), 42);
  if (vs) {
    send_tgsi(*g, 43, PIPE_SHADER_VERTEX, vs);
    bind(*g, BindSlot(uint8_t(BindSlot::ShaderBase) + PIPE_SHADER_VERTEX), 43);
  }
  clear_to_blue(*g);
  draw_triangle(*g);
  INFO("guest saw: " << g->error() << "\ncompositor log:\n" << c.log_text());
  REQUIRE(ping(*g, 7));
  return read_box(*g, 10, box2d(0, 0, kSize, kSize), kSize * kSize * 4);
}

// Pixels that differ by more than `tolerance` in any channel (the two
// compilers may round a last bit differently), and pixels not the clear colour.
struct Diff {
  unsigned differing = 0, drawn = 0;
};
Diff compare(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, int tolerance) {
  Diff d;
  for (unsigned p = 0; p < kSize * kSize; ++p) {
    bool differs = false;
    for (unsigned c = 0; c < 4; ++c) differs |= std::abs(int(a[p * 4 + c]) - int(b[p * 4 + c])) > tolerance;
    d.differing += differs;
    d.drawn += !(a[p * 4] == 255 && a[p * 4 + 1] == 0 && a[p * 4 + 2] == 0 && a[p * 4 + 3] == 255);
  }
  return d;
}

}  // namespace

std::string golden_path(const char* slug) { return std::string(XEN3D_SHADER_GOLDEN_DIR) + "/" + slug + ".png"; }

std::vector<uint8_t> read_golden(const char* slug) {
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  std::vector<uint8_t> rgba;
  if (!png_image_begin_read_from_file(&img, golden_path(slug).c_str())) return rgba;
  img.format = PNG_FORMAT_RGBA;
  rgba.resize(PNG_IMAGE_SIZE(img));
  if (img.width != kSize || img.height != kSize || !png_image_finish_read(&img, nullptr, rgba.data(), 0, nullptr)) {
    png_image_free(&img);
    rgba.clear();
  }
  return rgba;
}

bool write_golden(const char* slug, const std::vector<uint8_t>& rgba) {
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  img.width = kSize;
  img.height = kSize;
  img.format = PNG_FORMAT_RGBA;
  return png_image_write_to_file(&img, golden_path(slug).c_str(), 0, rgba.data(), 0, nullptr);
}

TEST_CASE("shaders lowered to NIR on the host draw what llvmpipe's TGSI backend drew", "[compositor][shader-path]") {
  Compositor nir;
  const bool rewrite = std::getenv("XEN3D_SHADER_GOLDEN_WRITE") != nullptr;
  const struct {
    const char* slug;
    const char* fs;
    const char* vs;
  } cases[] = {
      {"float-arithmetic", kFloatMath, nullptr},
      {"integer-arithmetic", kIntegerMath, nullptr},
      {"loops-branches-kill-if", kControlFlow, nullptr},
      {"constants-indirect-addressing", kIndirect, nullptr},
      {"texture-lookups-queries", kTexture, nullptr},
      {"vertex-shader", kPassthroughFs, kVertexMath},
      {"memory-barriers-outside-compute", kBarrierFs, kBarrierVs},
  };
  for (const auto& k : cases) {
    INFO(k.slug << " (" << golden_path(k.slug) << ")");
    const auto got = draw_with(nir, k.fs, k.vs);
    if (rewrite) REQUIRE(write_golden(k.slug, got));
    const auto want = read_golden(k.slug);
    REQUIRE(want.size() == got.size());
    const Diff d = compare(want, got, 1);
    CHECK(d.drawn > 100);  // the triangle covers ~560 of the 4096 pixels (fewer with KILL_IF)
    CHECK(d.differing == 0);
  }
}

TEST_CASE("a shader the NIR path does not translate is refused with the reason", "[compositor][shader-path]") {
  Compositor nir;
  auto g = nir.connect("untranslatable");
  make_context(*g);
  send_tgsi(*g, 42, PIPE_SHADER_FRAGMENT,
            "FRAG\n"
            "DCL OUT[0], COLOR\n"
            "DCL TEMP[0]\n"
            "IMM[0] FLT32 { 1.0, 0.0, 0.0, 1.0 }\n"
            "  0: MOV TEMP[0], IMM[0]\n"
            "  1: SWITCH TEMP[0].xxxx\n"
            "  2: DEFAULT\n"
            "  3: MOV OUT[0], TEMP[0]\n"
            "  4: ENDSWITCH\n"
            "  5: END\n");
  CHECK(poisoned_with(*g, "not translated to NIR: SWITCH is not translated"));
  // The compositor serves the next guest as before.
  auto h = nir.connect("after");
  make_context(*h);
  setup_pipeline(*h);
  clear_to_blue(*h);
  draw_triangle(*h);
  const auto img = read_box(*h, 10, box2d(0, 0, kSize, kSize), kSize * kSize * 4);
  CHECK(pixel(img, kSize / 2, kSize / 2) == std::array<uint8_t, 4>{0, 0, 255, 255});
}

namespace {

// The 4-sample texture #60 (make_msaa_target) as sampler view #62 in the
// fragment stage's slot 0, with sampler #14.
void bind_msaa_view(GuestSession& g) {
  SamplerViewCreate sv;
  sv.id = 62;
  sv.resource = 60;
  sv.format = kBgra;
  sv.target = PIPE_TEXTURE_2D;
  sv.swizzle = {0, 1, 2, 3};
  REQUIRE(g.send(sv));
  pipe_sampler_state samp{};
  samp.min_mip_filter = PIPE_TEX_MIPFILTER_NONE;
  send_state(g, 14, ObjectKind::Sampler, blob_of(samp));
  bind_sampling(g, 62, 14);
}

const char* const kSampleCount =
    "FRAG\n"
    "DCL OUT[0], COLOR\n"
    "DCL SAMP[0]\n"
    "DCL SVIEW[0], 2D_MSAA, FLOAT\n"
    "DCL TEMP[0]\n"
    "IMM[0] FLT32 { 0.25, 0.0, 0.0, 0.0 }\n"
    "  0: TXQS TEMP[0], SAMP[0], 2D_MSAA\n"
    "  1: I2F TEMP[0], TEMP[0].xxxx\n"
    "  2: MUL OUT[0], TEMP[0], IMM[0].xxxx\n"
    "  3: END\n";

}  // namespace

TEST_CASE("the NIR path offers what a TGSI driver cannot run: textureSamples",
          "[compositor][shader-path]") {
  Compositor tgsi("--driver softpipe --gpu-budget-ms 120000");  // takes TGSI itself
  Compositor nir;
  auto caps_of = [](Compositor& c) {
    auto g = c.connect("caps");
    auto caps = std::make_unique<CapsTable>();
    REQUIRE(g->call_data(GetCaps{}, caps.get(), sizeof *caps));
    return caps;
  };
  const auto t = caps_of(tgsi), n = caps_of(nir);
  CHECK(t->param[PIPE_CAP_TEXTURE_QUERY_SAMPLES] == 0);
  CHECK(n->param[PIPE_CAP_TEXTURE_QUERY_SAMPLES] == 1);
  CHECK(n->param[PIPE_CAP_ANISOTROPIC_FILTER] == 1);
  CHECK(n->paramf[PIPE_CAPF_MAX_TEXTURE_ANISOTROPY] > 1.0f);

  // TXQS: 4 samples, drawn as 4 * 0.25 = 1.0 in every channel.
  auto g = nir.connect("txqs");
  make_context(*g);
  setup_pipeline(*g);
  make_msaa_target(*g, 60);
  bind_msaa_view(*g);
  send_tgsi(*g, 42, PIPE_SHADER_FRAGMENT, kSampleCount);
  bind(*g, BindSlot(uint8_t(BindSlot::ShaderBase) + PIPE_SHADER_FRAGMENT), 42);
  clear_to_blue(*g);
  draw_triangle(*g);
  const bool alive = ping(*g, 7);
  INFO("guest saw: " << g->error() << "\ncompositor log:\n" << nir.log_text());
  REQUIRE(alive);
  const auto img = read_box(*g, 10, box2d(0, 0, kSize, kSize), kSize * kSize * 4);
  CHECK(pixel(img, kSize / 2, kSize / 2) == std::array<uint8_t, 4>{255, 255, 255, 255});
  CHECK(pixel(img, 1, 1) == std::array<uint8_t, 4>{255, 0, 0, 255});

  // The TGSI path has no TXQS: refused by the validator, not the driver.
  auto h = tgsi.connect("txqs-on-tgsi");
  make_context(*h);
  send_tgsi(*h, 42, PIPE_SHADER_FRAGMENT, kSampleCount);
  CHECK(poisoned_with(*h, "TXQS) is not supported by the host"));
}

namespace {

// A patch of the three triangle vertices: the control shader copies each
// invocation's vertex through an indirect vertex index and sets every level
// to 4; the evaluation shader places each generated vertex by its
// barycentric tessellation coordinate and colours it with that coordinate.
const char* const kTessCtrl =
    "TESS_CTRL\n"
    "PROPERTY TCS_VERTICES_OUT 3\n"
    "DCL IN[][0], POSITION\n"
    "DCL SV[0], INVOCATIONID\n"
    "DCL OUT[][0], POSITION\n"
    "DCL OUT[1], TESSOUTER\n"
    "DCL OUT[2].xy, TESSINNER\n"
    "DCL TEMP[0]\n"
    "DCL ADDR[0]\n"
    "IMM[0] FLT32 { 4.0, 4.0, 4.0, 4.0 }\n"
    "  0: UARL ADDR[0].x, SV[0].xxxx\n"
    "  1: MOV TEMP[0], IN[ADDR[0].x][0]\n"
    "  2: MOV OUT[ADDR[0].x][0], TEMP[0]\n"
    "  3: MOV OUT[1], IMM[0]\n"
    "  4: MOV OUT[2].xy, IMM[0]\n"
    "  5: END\n";
const char* const kTessEval =
    "TESS_EVAL\n"
    "PROPERTY TES_PRIM_MODE 4\n"  // PIPE_PRIM_TRIANGLES
    "PROPERTY TES_SPACING 2\n"    // PIPE_TESS_SPACING_EQUAL
    "DCL IN[][0], POSITION\n"
    "DCL SV[0], TESSCOORD\n"
    "DCL OUT[0], POSITION\n"
    "DCL OUT[1], COLOR\n"
    "DCL TEMP[0]\n"
    "IMM[0] FLT32 { 1.0, 0.0, 0.0, 0.0 }\n"
    "  0: MUL TEMP[0], IN[0][0], SV[0].xxxx\n"
    "  1: MAD TEMP[0], IN[1][0], SV[0].yyyy, TEMP[0]\n"
    "  2: MAD OUT[0], IN[2][0], SV[0].zzzz, TEMP[0]\n"
    "  3: MOV OUT[1].xyz, SV[0].xyzx\n"
    "  4: MOV OUT[1].w, IMM[0].xxxx\n"
    "  5: END\n";

}  // namespace

TEST_CASE("tessellation runs on the NIR path, and only there", "[compositor][shader-path]") {
  Compositor tgsi("--driver softpipe --gpu-budget-ms 120000");  // takes TGSI itself
  Compositor nir;
  {
    auto caps = std::make_unique<CapsTable>();
    auto g = tgsi.connect("caps");
    REQUIRE(g->call_data(GetCaps{}, caps.get(), sizeof *caps));
    CHECK(caps->shader[PIPE_SHADER_TESS_CTRL][PIPE_SHADER_CAP_MAX_INSTRUCTIONS] == 0);
    CHECK(caps->shader[PIPE_SHADER_TESS_EVAL][PIPE_SHADER_CAP_MAX_INSTRUCTIONS] == 0);
    auto h = nir.connect("caps");
    REQUIRE(h->call_data(GetCaps{}, caps.get(), sizeof *caps));
    CHECK(caps->shader[PIPE_SHADER_TESS_CTRL][PIPE_SHADER_CAP_MAX_INSTRUCTIONS] > 0);
    CHECK(caps->shader[PIPE_SHADER_TESS_EVAL][PIPE_SHADER_CAP_MAX_INSTRUCTIONS] > 0);
  }

  // The plain triangle, for its coverage.
  auto plain = nir.connect("plain");
  make_context(*plain);
  setup_pipeline(*plain);
  clear_to_blue(*plain);
  draw_triangle(*plain);
  const auto flat = read_box(*plain, 10, box2d(0, 0, kSize, kSize), kSize * kSize * 4);

  auto g = nir.connect("tessellated");
  make_context(*g);
  setup_pipeline(*g);
  send_tgsi(*g, 44, PIPE_SHADER_TESS_CTRL, kTessCtrl);
  send_tgsi(*g, 45, PIPE_SHADER_TESS_EVAL, kTessEval);
  bind(*g, BindSlot(uint8_t(BindSlot::ShaderBase) + PIPE_SHADER_TESS_CTRL), 44);
  bind(*g, BindSlot(uint8_t(BindSlot::ShaderBase) + PIPE_SHADER_TESS_EVAL), 45);
  clear_to_blue(*g);
  draw_triangle(*g, 3);
  const bool alive = ping(*g, 7);
  INFO("guest saw: " << g->error() << "\ncompositor log:\n" << nir.log_text());
  REQUIRE(alive);
  const auto img = read_box(*g, 10, box2d(0, 0, kSize, kSize), kSize * kSize * 4);
  // The tessellated patch covers the triangle (up to its edges' pixels)...
  const Diff cover = compare(flat, img, 255);
  const unsigned drawn = compare(img, img, 0).drawn;
  CHECK(cover.drawn > 100);
  CHECK(std::abs(int(drawn) - int(cover.drawn)) <= int(cover.drawn) / 20);
  // ...coloured by the barycentric coordinates: a third each at its
  // centroid (0, -0.13), red at vertex 0 (-0.5, -0.5), green at vertex 1.
  auto near = [](std::array<uint8_t, 4> p, int r, int gr, int b) {
    return std::abs(p[2] - r) <= 24 && std::abs(p[1] - gr) <= 24 && std::abs(p[0] - b) <= 24;
  };
  auto at = [&](float x, float y) { return pixel(img, unsigned((x + 1) * kSize / 2), unsigned((y + 1) * kSize / 2)); };
  CHECK(near(at(0.0f, -0.13f), 85, 85, 85));
  CHECK(near(at(-0.45f, -0.47f), 255, 0, 0));
  CHECK(near(at(0.45f, -0.47f), 0, 255, 0));

  // The TGSI path takes no tessellation shaders; no host takes patches of
  // more than 32 vertices (draw_tess.c's arrays).
  auto t = tgsi.connect("tess-on-tgsi");
  make_context(*t);
  send_tgsi(*t, 44, PIPE_SHADER_TESS_CTRL, kTessCtrl);
  CHECK(poisoned_with(*t, "shaders are not supported by the host"));
  auto big = nir.connect("big-patch");
  make_context(*big);
  SetPatchVertices pv;
  pv.count = 33;
  REQUIRE(big->send(pv));
  CHECK(poisoned_with(*big, "set_patch_vertices"));
}

TEST_CASE("interpolateAt* runs on the NIR path, with the sample index clamped", "[compositor][shader-path]") {
  // Colour: the interpolated colour at an offset of (0.25, 0), plus the
  // difference between centroid and centre interpolation (zero on a
  // single-sample target), plus sample 1000's (clamped to the last sample).
  const char* const kInterp =
      "FRAG\n"
      "DCL IN[0], COLOR, PERSPECTIVE\n"
      "DCL OUT[0], COLOR\n"
      "DCL TEMP[0..2]\n"
      "IMM[0] FLT32 { 0.25, 0.0, 0.0, 0.0 }\n"
      "IMM[1] INT32 { 1000, 0, 0, 0 }\n"
      "  0: INTERP_OFFSET TEMP[0], IN[0], IMM[0].xyxx\n"
      "  1: INTERP_CENTROID TEMP[1], IN[0]\n"
      "  2: ADD TEMP[1], TEMP[1], -IN[0]\n"
      "  3: ADD TEMP[0], TEMP[0], |TEMP[1]|\n"
      "  4: INTERP_SAMPLE TEMP[2], IN[0], IMM[1].xxxx\n"
      "  5: MUL TEMP[2], TEMP[2], IMM[0].yyyy\n"
      "  6: ADD OUT[0], TEMP[0], TEMP[2]\n"
      "  7: END\n";
  Compositor nir;
  const auto img = draw_with(nir, kInterp);
  // The triangle's colour is constant red: every way of interpolating gives red.
  CHECK(pixel(img, kSize / 2, kSize / 2) == std::array<uint8_t, 4>{0, 0, 255, 255});
  CHECK(compare(img, img, 0).drawn > 100);

  Compositor tgsi("--driver softpipe --gpu-budget-ms 120000");  // takes TGSI itself
  auto t = tgsi.connect("interp-on-tgsi");
  make_context(*t);
  send_tgsi(*t, 42, PIPE_SHADER_FRAGMENT, kInterp);
  CHECK(poisoned_with(*t, "(INTERP_OFFSET) is not supported by the host"));
}

TEST_CASE("compute shared memory runs on the NIR path, every access clamped into it", "[compositor][shader-path]") {
  // Four invocations each store id+1 to shared dword `id`, wait, and copy
  // their neighbour's dword into the buffer; invocation 0 also stores far
  // past the 16 bytes asked for (clamped: the last dword, with the value
  // invocation 3 stores there too).
  const char* const kShared =
      "COMP\n"
      "PROPERTY CS_FIXED_BLOCK_WIDTH 4\n"
      "PROPERTY CS_FIXED_BLOCK_HEIGHT 1\n"
      "PROPERTY CS_FIXED_BLOCK_DEPTH 1\n"
      "DCL SV[0], THREAD_ID\n"
      "DCL MEMORY[1], SHARED\n"
      "DCL BUFFER[0]\n"
      "DCL TEMP[0..3]\n"
      "IMM[0] UINT32 { 4, 1, 3, 1048576 }\n"
      "IMM[1] UINT32 { 0, 4, 0, 0 }\n"
      "  0: UMUL TEMP[0].x, SV[0].xxxx, IMM[0].xxxx\n"
      "  1: UADD TEMP[1].x, SV[0].xxxx, IMM[0].yyyy\n"
      "  2: USEQ TEMP[3].x, SV[0].xxxx, IMM[1].xxxx\n"
      "  3: UIF TEMP[3].xxxx\n"
      "  4:   STORE MEMORY[0].x, IMM[0].wwww, IMM[1].yyyy\n"
      "  5: ENDIF\n"
      "  6: STORE MEMORY[0].x, TEMP[0].xxxx, TEMP[1].xxxx\n"
      "  7: BARRIER\n"
      "  8: AND TEMP[2].x, TEMP[1].xxxx, IMM[0].zzzz\n"
      "  9: UMUL TEMP[2].x, TEMP[2].xxxx, IMM[0].xxxx\n"
      " 10: LOAD TEMP[3].x, MEMORY[0], TEMP[2].xxxx\n"
      " 11: STORE BUFFER[0].x, TEMP[0].xxxx, TEMP[3].xxxx\n"
      " 12: END\n";
  Compositor nir;
  auto g = nir.connect("shared-memory");
  make_context(*g);
  make_buffer(*g, 20, 16, PIPE_BIND_SHADER_BUFFER);
  SetShaderBuffers sb;
  sb.stage = PIPE_SHADER_COMPUTE;
  const ShaderBuffer buf{20, 0, 16};
  sb.buffers = std::span<const ShaderBuffer>(&buf, 1);
  sb.writable_mask = 1;
  REQUIRE(g->send(sb));
  send_tgsi(*g, 70, PIPE_SHADER_COMPUTE, kShared, 16);
  bind(*g, BindSlot(uint8_t(BindSlot::ShaderBase) + PIPE_SHADER_COMPUTE), 70);
  LaunchGrid lg;
  lg.block = {4, 1, 1};
  lg.grid = {1, 1, 1};
  lg.work_dim = 1;
  REQUIRE(g->send(lg));
  const bool alive = ping(*g, 7);
  INFO("guest saw: " << g->error() << "\ncompositor log:\n" << nir.log_text());
  REQUIRE(alive);
  const auto bytes = read_box(*g, 20, Box{0, 0, 0, 16, 1, 1}, 16);
  uint32_t got[4];
  std::memcpy(got, bytes.data(), sizeof got);
  CHECK(got[0] == 2);
  CHECK(got[1] == 3);
  CHECK(got[2] == 4);
  CHECK(got[3] == 1);

  // No shared memory asked for: the access is refused, not left unchecked.
  auto h = nir.connect("no-shared-memory");
  make_context(*h);
  send_tgsi(*h, 70, PIPE_SHADER_COMPUTE, kShared, 0);
  CHECK(poisoned_with(*h, "shared memory access past the 0 bytes"));
  // The TGSI path takes none (gallivm does not bounds-check it).
  Compositor tgsi("--driver softpipe --gpu-budget-ms 120000");  // takes TGSI itself
  auto t = tgsi.connect("shared-on-tgsi");
  make_context(*t);
  send_tgsi(*t, 70, PIPE_SHADER_COMPUTE, kShared, 16);
  CHECK(poisoned_with(*t, "compute shared memory on the NIR path"));
}
