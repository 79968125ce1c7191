// Mutated, generated and random shaders and records, and TGSI at every host
// limit, run or poison only their guest: never the compositor.
#include "tests/compositor/helpers.h"

using namespace xen3d::proto;

TEST_CASE("mutated TGSI shaders never crash the compositor", "[compositor][executor][fuzz]") {
  run_shader_fuzz(12345, 40);
}

TEST_CASE("mutated TGSI shaders never crash the compositor (a second seed)", "[compositor][executor][fuzz]") {
  run_shader_fuzz(4242, 40);
}

// XEN3D_FUZZ_ARGS: more compositor options, e.g. --driver softpipe (which
// interprets the TGSI itself: slow, so not in CI).
TEST_CASE("mutated TGSI shaders never crash the compositor (long)", "[.][fuzz-long]") {
  const char* seed = std::getenv("XEN3D_FUZZ_SEED");
  const char* iters = std::getenv("XEN3D_FUZZ_ITERATIONS");
  const char* args = std::getenv("XEN3D_FUZZ_ARGS");
  run_shader_fuzz(seed ? uint32_t(std::strtoul(seed, nullptr, 10)) : 1, iters ? unsigned(std::atoi(iters)) : 500,
                  args ? args : "");
}

// Random TGSI programs: the assembler builds well-formed tokens, so these reach
// deeper than bit flips (operand files, modifiers, texture targets, opcodes).
namespace {

std::string random_tgsi(std::mt19937& rng, unsigned stage, unsigned sview_target) {
  auto pick = [&](unsigned n) { return unsigned(rng() % n); };
  static const char* const kSwz = "xyzw";
  auto swizzle = [&]() {
    std::string s = ".";
    for (int i = 0; i < 4; ++i) s += kSwz[pick(4)];
    return s;
  };
  auto mask = [&]() {
    std::string s;
    const unsigned m = 1 + pick(15);
    for (int i = 0; i < 4; ++i) if (m & (1u << i)) s += kSwz[i];
    return "." + s;
  };
  const bool vs = stage == PIPE_SHADER_VERTEX, gs = stage == PIPE_SHADER_GEOMETRY, cs = stage == PIPE_SHADER_COMPUTE;
  const bool tcs = stage == PIPE_SHADER_TESS_CTRL, tes = stage == PIPE_SHADER_TESS_EVAL;
  auto vertex = [&]() { return pick(4) ? std::to_string(pick(3)) : std::string("ADDR[0].x"); };
  auto input = [&]() -> std::string {
    if (cs) return "SV[" + std::to_string(pick(2)) + "]";
    if (gs) return "IN[" + std::to_string(pick(3)) + "][" + std::to_string(pick(2)) + "]";
    if (tcs || tes) {
      switch (pick(4)) {
        case 0: return "SV[" + std::to_string(pick(2)) + "]";
        case 1: return tcs ? "OUT[" + vertex() + "][" + std::to_string(pick(2)) + "]" : "IN[2]";
        default: return "IN[" + vertex() + "][" + std::to_string(pick(2)) + "]";
      }
    }
    return "IN[" + std::to_string(pick(vs ? 2 : 1)) + "]";
  };
  auto src = [&]() {
    std::string r;
    switch (pick(9)) {
      case 0: case 1: case 2: r = "TEMP[" + std::to_string(pick(8)) + "]"; break;
      case 3: r = input(); break;
      case 4: r = "CONST[0][" + std::to_string(pick(8)) + "]"; break;
      case 5: r = "IMM[" + std::to_string(pick(3)) + "]"; break;
      case 6: r = "CONST[0][ADDR[0].x+" + std::to_string(pick(8)) + "]"; break;
      case 7: r = "TEMP[ADDR[0].x+" + std::to_string(pick(4)) + "]"; break;
      default: r = "TEMP[" + std::to_string(pick(8)) + "]"; break;
    }
    r += swizzle();
    if (pick(8) == 0) r = "-" + r;
    if (pick(10) == 0) r = "|" + r + "|";
    return r;
  };
  auto dst = [&]() {
    switch (pick(10)) {
      case 0:
        if (tcs) return pick(2) ? "OUT[" + vertex() + "][" + std::to_string(pick(2)) + "]" + mask()
                                : "OUT[" + std::to_string(2 + pick(3)) + "]" + mask();
        return cs ? "TEMP[0]" + mask() : std::string("OUT[") + std::to_string(pick(2)) + "]" + mask();
      case 1: return std::string("ADDR[0].x");
      default: return "TEMP[" + std::to_string(pick(8)) + "]" + mask();
    }
  };
  static const char* const kTargets[] = {"BUFFER", "1D", "2D", "3D", "CUBE", "RECT", "SHADOW1D", "SHADOW2D",
                                         "SHADOWRECT", "1D_ARRAY", "2D_ARRAY", "SHADOW1D_ARRAY", "SHADOW2D_ARRAY",
                                         "SHADOWCUBE", "2D_MSAA", "2D_ARRAY_MSAA", "CUBE_ARRAY", "SHADOWCUBE_ARRAY"};
  std::string t = vs ? "VERT\nDCL IN[0]\nDCL IN[1]\nDCL OUT[0], POSITION\nDCL OUT[1], GENERIC[0]\n"
                 : gs ? "GEOM\nPROPERTY GS_INPUT_PRIMITIVE TRIANGLES\nPROPERTY GS_OUTPUT_PRIMITIVE TRIANGLE_STRIP\n"
                        "PROPERTY GS_MAX_OUTPUT_VERTICES 3\nPROPERTY GS_INVOCATIONS 1\n"
                        "DCL IN[][0], POSITION\nDCL IN[][1], GENERIC[0]\nDCL OUT[0], POSITION\nDCL OUT[1], GENERIC[0]\n"
                 : tcs ? "TESS_CTRL\nPROPERTY TCS_VERTICES_OUT 3\nDCL IN[][0], POSITION\nDCL IN[][1], GENERIC[0]\n"
                         "DCL SV[0], INVOCATIONID\nDCL SV[1], PRIM_ID\nDCL OUT[][0], POSITION\nDCL OUT[][1], GENERIC[0]\n"
                         "DCL OUT[2], TESSOUTER\nDCL OUT[3], TESSINNER\nDCL OUT[4], PATCH[0]\n"
                 : tes ? "TESS_EVAL\nPROPERTY TES_PRIM_MODE " + std::to_string(pick(2) ? PIPE_PRIM_TRIANGLES : PIPE_PRIM_QUADS) +
                         "\nPROPERTY TES_SPACING " + std::to_string(pick(3)) + "\nPROPERTY TES_POINT_MODE " +
                         std::to_string(pick(4) == 0) + "\nDCL IN[][0], POSITION\nDCL IN[][1], GENERIC[0]\n"
                         "DCL IN[2], PATCH[0]\nDCL SV[0], TESSCOORD\nDCL SV[1], TESSOUTER\n"
                         "DCL OUT[0], POSITION\nDCL OUT[1], GENERIC[0]\n"
                 : cs ? "COMP\nDCL SV[0], THREAD_ID\nDCL SV[1], BLOCK_ID\nDCL BUFFER[0]\n"
                      : "FRAG\nDCL IN[0], GENERIC[0], PERSPECTIVE\nDCL OUT[0], COLOR\nDCL OUT[1], COLOR[1]\n";
  t += "DCL CONST[0][0..7]\nDCL TEMP[0..7]\nDCL ADDR[0]\nDCL SAMP[0]\n";
  t += std::string("DCL SVIEW[0], ") + kTargets[sview_target] + ", FLOAT\n";
  t += "IMM[0] FLT32 {0.5, -1.0, 2.0, 0.0}\nIMM[1] INT32 {1, -2, 3, 0}\nIMM[2] UINT32 {4, 0, 7, 1}\n";
  const unsigned n = 1 + pick(14);
  for (unsigned i = 0; i < n; ++i) {
    unsigned op;
    do op = pick(TGSI_OPCODE_LAST);
    while (!std::strncmp(tgsi_get_opcode_name(tgsi_opcode(op)), "UNK", 3) || op == TGSI_OPCODE_END);
    const tgsi_opcode_info* info = tgsi_get_opcode_info(tgsi_opcode(op));
    std::string line = tgsi_get_opcode_name(tgsi_opcode(op));
    if (info->num_dst && pick(10) == 0) line += "_SAT";
    const bool sample = op >= TGSI_OPCODE_SAMPLE && op <= TGSI_OPCODE_GATHER4;
    const bool memory = (op >= TGSI_OPCODE_LOAD && op <= TGSI_OPCODE_ATOMIMAX) || op == TGSI_OPCODE_RESQ;
    std::vector<std::string> ops;
    for (unsigned d = 0; d < info->num_dst; ++d) ops.push_back(memory && op == TGSI_OPCODE_STORE ? "BUFFER[0]" + mask() : dst());
    for (unsigned s = 0; s < info->num_src; ++s) {
      if (memory && s == 0 && op != TGSI_OPCODE_STORE) ops.push_back("BUFFER[0]");
      else if (info->is_tex && s + 1 == info->num_src) ops.push_back("SAMP[0]");
      else if (sample && s == 1) ops.push_back("SVIEW[0]");
      else if (sample && s == 2) ops.push_back("SAMP[0]");
      else ops.push_back(src());
    }
    if (info->is_tex) ops.push_back(kTargets[pick(18)]);
    for (size_t k = 0; k < ops.size(); ++k) line += (k ? ", " : " ") + ops[k];
    t += line + "\n";
  }
  if (vs) {
    t += "MOV OUT[0], IN[0]\nMOV OUT[1], TEMP[0]\nEND\n";
  } else if (gs) {
    for (int v = 0; v < 3; ++v) {
      t += "MOV OUT[0], IN[" + std::to_string(v) + "][0]\nMOV OUT[1], TEMP[" + std::to_string(v) + "]\nEMIT IMM[2].yyyy\n";
    }
    t += "END\n";
  } else if (tcs) {
    t += "UARL ADDR[0].x, SV[0].xxxx\nMOV OUT[ADDR[0].x][0], IN[ADDR[0].x][0]\nMOV OUT[ADDR[0].x][1], TEMP[0]\n"
         "MOV OUT[2], IMM[0].zzzz\nMOV OUT[3], IMM[0].zzzz\nMOV OUT[4], TEMP[1]\nEND\n";
  } else if (tes) {
    t += "MUL TEMP[7], IN[0][0], SV[0].xxxx\nMAD TEMP[7], IN[1][0], SV[0].yyyy, TEMP[7]\n"
         "MAD OUT[0], IN[2][0], SV[0].zzzz, TEMP[7]\nMOV OUT[1], TEMP[0]\nEND\n";
  } else if (cs) {
    t += "STORE BUFFER[0].x, IMM[2].yyyy, TEMP[0].xxxx\nEND\n";
  } else {
    t += "MOV OUT[0], TEMP[0]\nMOV OUT[1], TEMP[1]\nEND\n";
  }
  return t;
}

void run_generated_fuzz(uint32_t seed, unsigned iterations, const std::string& compositor_args = "") {
  Compositor c(compositor_args);
  std::mt19937 rng(seed);
  std::unique_ptr<GuestSession> g;
  unsigned accepted = 0, refused = 0, unassembled = 0;
  std::array<unsigned, PIPE_SHADER_TYPES> accepted_by_stage{};
  uint32_t id = 1000;
  for (unsigned it = 0; it < iterations; ++it) {
    if (!g || !g->alive()) {
      g = c.connect("generator");
      setup_fuzz_pipeline(*g);
    }
    static const unsigned kStages[] = {PIPE_SHADER_VERTEX,    PIPE_SHADER_FRAGMENT,  PIPE_SHADER_GEOMETRY,
                                       PIPE_SHADER_COMPUTE,   PIPE_SHADER_TESS_CTRL, PIPE_SHADER_TESS_EVAL};
    const unsigned stage = kStages[rng() % 6];
    const std::string text = random_tgsi(rng, stage, rng() % 18);
    std::vector<tgsi_token> tokens(4096);
    if (!tgsi_text_translate(text.c_str(), tokens.data(), unsigned(tokens.size()))) {
      ++unassembled;
      continue;
    }
    struct tgsi_header h;
    std::memcpy(&h, tokens.data(), sizeof h);
    tokens.resize(h.HeaderSize + h.BodySize);
    send_tokens(*g, ++id, stage, tokens);
    bind(*g, BindSlot(uint8_t(BindSlot::ShaderBase) + stage), id);
    const bool tess = stage == PIPE_SHADER_TESS_CTRL || stage == PIPE_SHADER_TESS_EVAL;
    if (stage == PIPE_SHADER_COMPUTE) {
      LaunchGrid lg;
      lg.block = {1 + rng() % 4, 1, 1};
      lg.grid = {1 + rng() % 2, 1, 1};
      lg.work_dim = 1;
      REQUIRE(g->send(lg));
    } else if (tess) {
      // A control shader needs an evaluation shader (a plain one); an
      // evaluation shader runs with or without a control shader.
      if (stage == PIPE_SHADER_TESS_CTRL || rng() % 2) {
        const unsigned other = stage == PIPE_SHADER_TESS_CTRL ? PIPE_SHADER_TESS_EVAL : PIPE_SHADER_TESS_CTRL;
        static const char* const kPlainTcs =
            "TESS_CTRL\nPROPERTY TCS_VERTICES_OUT 3\nDCL IN[][0], POSITION\nDCL SV[0], INVOCATIONID\n"
            "DCL OUT[][0], POSITION\nDCL OUT[1], TESSOUTER\nDCL OUT[2], TESSINNER\nDCL ADDR[0]\n"
            "IMM[0] FLT32 {3.0, 3.0, 3.0, 3.0}\nUARL ADDR[0].x, SV[0].xxxx\n"
            "MOV OUT[ADDR[0].x][0], IN[ADDR[0].x][0]\nMOV OUT[1], IMM[0]\nMOV OUT[2], IMM[0]\nEND\n";
        static const char* const kPlainTes =
            "TESS_EVAL\nPROPERTY TES_PRIM_MODE 4\nDCL IN[][0], POSITION\nDCL SV[0], TESSCOORD\nDCL OUT[0], POSITION\n"
            "DCL TEMP[0]\nMUL TEMP[0], IN[0][0], SV[0].xxxx\nMAD TEMP[0], IN[1][0], SV[0].yyyy, TEMP[0]\n"
            "MAD OUT[0], IN[2][0], SV[0].zzzz, TEMP[0]\nEND\n";
        std::vector<tgsi_token> plain(4096);
        REQUIRE(tgsi_text_translate(other == PIPE_SHADER_TESS_CTRL ? kPlainTcs : kPlainTes, plain.data(),
                                    unsigned(plain.size())));
        std::memcpy(&h, plain.data(), sizeof h);
        plain.resize(h.HeaderSize + h.BodySize);
        send_tokens(*g, ++id, other, plain);
        bind(*g, BindSlot(uint8_t(BindSlot::ShaderBase) + other), id);
      }
      draw_triangle(*g, 1 + rng() % 4);
      for (unsigned s : {unsigned(PIPE_SHADER_TESS_CTRL), unsigned(PIPE_SHADER_TESS_EVAL)}) {
        bind(*g, BindSlot(uint8_t(BindSlot::ShaderBase) + s), 0);
      }
    } else {
      draw_triangle(*g);
    }
    if (ping(*g, 3)) {
      ++accepted;
      ++accepted_by_stage[stage];
    } else {
      ++refused;
      g.reset();
    }
    INFO("seed " << seed << " iteration " << it << "\n" << text);
    REQUIRE(c.running());
  }
  std::string by_stage;
  for (unsigned st = 0; st < PIPE_SHADER_TYPES; ++st) by_stage += " " + std::to_string(accepted_by_stage[st]);
  INFO(accepted << " generated shaders ran (by stage:" << by_stage << "), " << refused << " were refused, "
                << unassembled << " did not assemble");
  CHECK(accepted + refused + unassembled == iterations);
}

}  // namespace

TEST_CASE("generated TGSI programs never crash the compositor", "[compositor][executor][fuzz]") {
  run_generated_fuzz(777, 40);
}

TEST_CASE("generated TGSI programs never crash the compositor (a second seed)", "[compositor][executor][fuzz]") {
  run_generated_fuzz(778, 60);
}

TEST_CASE("generated TGSI programs never crash the compositor (long)", "[.][fuzz-gen]") {
  const char* seed = std::getenv("XEN3D_FUZZ_SEED");
  const char* iters = std::getenv("XEN3D_FUZZ_ITERATIONS");
  const char* args = std::getenv("XEN3D_FUZZ_ARGS");
  run_generated_fuzz(seed ? uint32_t(std::strtoul(seed, nullptr, 10)) : 1, iters ? unsigned(std::atoi(iters)) : 500,
                     args ? args : "");
}

// TGSI programs at and just past every limit of the host limits table
// (tests/tgsi_limit_shaders.cpp): each runs, or is refused with a reason that
// costs only the guest that sent it.
namespace {

void setup_limit_pipeline(GuestSession& s) {
  setup_fuzz_pipeline(s);
  make_buffer(s, 21, xen3d::test::kLimitConstBufferBytes, PIPE_BIND_CONSTANT_BUFFER);
  for (unsigned stage : {unsigned(PIPE_SHADER_VERTEX), unsigned(PIPE_SHADER_FRAGMENT), unsigned(PIPE_SHADER_GEOMETRY),
                         unsigned(PIPE_SHADER_COMPUTE)}) {
    SetConstantBuffer cb;
    cb.stage = uint8_t(stage);
    cb.index = 1;
    cb.resource = 21;
    cb.size = xen3d::test::kLimitConstBufferBytes;
    REQUIRE(s.send(cb));
  }
  REQUIRE(ping(s, 2));
}

void run_limit_cases(const char* driver, bool exhaustive) {
  // Compiling shaders at the limits takes seconds on a loaded machine: the
  // GPU-time watchdog (its own test is gl-render-workers) must not end them.
  Compositor c(std::string("--driver ") + driver + " --gpu-budget-ms 120000");
  // Another guest that must not notice anything (but waiting: one guest's
  // compile still holds up the others until issue 19's render workers).
  auto observer = c.connect("observer", 180'000);
  make_context(*observer);
  auto caps = std::make_unique<CapsTable>();
  REQUIRE(observer->call_data(GetCaps{}, caps.get(), sizeof *caps));
  const auto cases = xen3d::test::tgsi_limit_cases(*caps, exhaustive);
  std::unique_ptr<GuestSession> g;
  unsigned ran = 0, refused = 0, unassembled = 0;
  uint32_t id = 1000;
  uint64_t seq = 10;
  std::vector<tgsi_token> tokens(1u << 18);
  for (const auto& lc : cases) {
    INFO(driver << ": " << lc.name);
    if (!g || !g->alive()) {
      g = c.connect("limits", 180'000);
      setup_limit_pipeline(*g);
    }
    bool compute = false, assembled = true;
    std::vector<uint32_t> ids;
    for (const auto& sh : lc.shaders) {
      // Mesa's assembler refuses a few pairs (a SHADOWCUBE_ARRAY view with a
      // 1D TEX): those never reach a host.
      if (!tgsi_text_translate(sh.text.c_str(), tokens.data(), unsigned(tokens.size()))) {
        assembled = false;
        break;
      }
      struct tgsi_header h;
      std::memcpy(&h, tokens.data(), sizeof h);
      send_tokens(*g, ++id, sh.stage, std::vector<tgsi_token>(tokens.begin(), tokens.begin() + h.HeaderSize + h.BodySize));
      bind(*g, BindSlot(uint8_t(BindSlot::ShaderBase) + sh.stage), id);
      ids.push_back(id);
      compute |= sh.stage == PIPE_SHADER_COMPUTE;
    }
    if (!assembled) {
      ++unassembled;
      g.reset();  // shaders of the case may be bound: start the next one clean
      continue;
    }
    if (compute) {
      LaunchGrid lg;
      lg.block = {4, 1, 1};
      lg.grid = {1, 1, 1};
      lg.work_dim = 1;
      REQUIRE(g->send(lg));
    } else {
      draw_triangle(*g);
    }
    if (ping(*g, ++seq)) {
      ++ran;
      // Back to a pipeline without this case's shaders.
      bind(*g, BindSlot(uint8_t(BindSlot::ShaderBase) + PIPE_SHADER_GEOMETRY), 0);
      for (uint32_t sid : ids) {
        ObjectDestroy od;
        od.id = sid;
        od.kind = uint8_t(ObjectKind::Shader);
        REQUIRE(g->send(od));
      }
    } else {
      ++refused;
      // A clear reason: which record, and why.
      const std::string why = g->error();
      INFO("refused: " << why);
      CHECK(why.rfind("the compositor rejected '", 0) == 0);
      CHECK(why.size() > why.find("): ") + 12);
      g.reset();
    }
    if (!c.running() || !ping(*observer, ++seq)) FAIL("the compositor failed another guest; its log:\n" << c.log_text());
  }
  INFO(driver << ": " << ran << " limit programs ran, " << refused << " were refused, " << unassembled
                << " did not assemble");
  CHECK(ran + refused + unassembled == cases.size());
  CHECK(ran > 0);
  CHECK(refused > 0);
}

}  // namespace

// Quick: llvmpipe, whose gallivm imposes the MesaInternal limits (the long
// run adds softpipe, every texture pair and the instruction limits). It
// found that llvmpipe's TGSI path dies on 512+ temporaries (now a limit).
TEST_CASE("TGSI at and past every host limit runs or poisons only its guest", "[compositor][executor][fuzz]") {
  run_limit_cases("llvmpipe", false);
}

TEST_CASE("a vertex shader with a hole below its highest output is refused", "[compositor][limits]") {
  // The limits generator found llvmpipe's draw module compiling a NULL
  // value for every undeclared output below the highest (SEGV in LLVM).
  Compositor c;
  auto g = c.connect("output-hole");
  make_context(*g);
  setup_pipeline(*g);
  send_tgsi(*g, 50, PIPE_SHADER_VERTEX,
            "VERT\nDCL IN[0]\nDCL OUT[0], POSITION\nDCL OUT[5], COLOR\n"
            "  0: MOV OUT[0], IN[0]\n  1: MOV OUT[5], IN[0]\n  2: END\n");
  bind(*g, BindSlot(uint8_t(BindSlot::ShaderBase) + PIPE_SHADER_VERTEX), 50);
  draw_triangle(*g);
  CHECK(poisoned_with(*g, "OUT[1] below it is not"));
  auto other = c.connect("bystander");
  CHECK(ping(*other, 1));
  REQUIRE(c.running());
}

TEST_CASE("TGSI at and past every host limit runs or poisons only its guest (long)", "[.][fuzz-limits]") {
  run_limit_cases(GENERATE("llvmpipe", "softpipe"), true);
}

// Random Gallium records with "interesting" values against a live set of
// objects: every one is either refused (poisoning the guest) or executed, and
// the compositor survives all of them.
namespace {

class RecordFuzzer {
 public:
  RecordFuzzer(Compositor& c, uint32_t seed) : c_(c), rng_(seed) {}

  // Runs `steps` random records; returns how many were executed and refused.
  void run(unsigned steps, unsigned& executed, unsigned& refused) {
    for (unsigned i = 0; i < steps; ++i) {
      if (!g_ || !g_->alive()) reset();
      const bool answered = step();
      const bool ok = answered && ping(*g_, 5);
      (ok ? executed : refused) += 1;
      if (!ok) g_.reset();
      INFO("step " << i << ": " << last_);
      REQUIRE(c_.running());
    }
  }

 private:
  struct Res {
    unsigned target, format, w, h, d, layers, levels, samples, blocksize;
  };

  unsigned pick(unsigned n) { return n ? unsigned(rng_() % n) : 0; }
  bool chance(unsigned n) { return pick(n) == 0; }
  // Values around the edges that bugs live on.
  uint32_t value() {
    static const uint32_t kValues[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 15, 16, 31, 32, 33, 63, 64, 65, 127, 128, 255, 256,
                                       1000, 4095, 4096, 16383, 16384, 65535, 65536, 0x7fffffff, 0x80000000, 0xfffffffe,
                                       0xffffffff};
    return chance(4) ? uint32_t(rng_()) % 70 : kValues[pick(sizeof kValues / sizeof kValues[0])];
  }
  int32_t svalue() { return chance(5) ? -int32_t(pick(70)) : int32_t(value() & 0x7fffffff) % (chance(3) ? 0x7fffffff : 80); }
  uint32_t any_id() {
    if (chance(12)) return pick(3) ? 999 : 0;
    return ids_.empty() ? 1 : ids_[pick(unsigned(ids_.size()))];
  }
  uint32_t res_id() { return res_.empty() || chance(10) ? any_id() : std::next(res_.begin(), pick(unsigned(res_.size())))->first; }
  uint32_t fresh() { return next_id_++; }
  unsigned format() {
    static const unsigned kFormats[] = {
        PIPE_FORMAT_B8G8R8A8_UNORM, PIPE_FORMAT_R8G8B8A8_UNORM, PIPE_FORMAT_R8_UNORM,   PIPE_FORMAT_R32G32B32A32_FLOAT,
        PIPE_FORMAT_Z24_UNORM_S8_UINT, PIPE_FORMAT_Z32_FLOAT,   PIPE_FORMAT_S8_UINT,    PIPE_FORMAT_R16G16_SINT,
        PIPE_FORMAT_DXT1_RGBA,     PIPE_FORMAT_R32_UINT,        PIPE_FORMAT_R11G11B10_FLOAT, PIPE_FORMAT_B5G6R5_UNORM,
        PIPE_FORMAT_R8G8B8A8_SRGB, PIPE_FORMAT_X24S8_UINT,      PIPE_FORMAT_R64_UINT,   PIPE_FORMAT_R8G8B8_UNORM};
    return chance(20) ? pick(PIPE_FORMAT_COUNT + 4) : kFormats[pick(sizeof kFormats / sizeof kFormats[0])];
  }
  Box box() { return Box{svalue(), svalue(), svalue(), svalue(), svalue(), svalue()}; }
  Box small_box(const Res& r) {
    const int w = int(r.w), h = int(r.h);
    Box b{int(pick(w)), int(pick(h)), 0, 0, 0, 1};
    b.width = 1 + int(pick(unsigned(w - b.x)));
    b.height = 1 + int(pick(unsigned(h - b.y)));
    if (chance(6)) b = box();
    return b;
  }

  void reset() {
    g_ = c_.connect("record-fuzzer");
    ids_.clear();
    res_.clear();
    next_id_ = 100;
    make_context(*g_);
    setup_pipeline(*g_);  // ids 10, 11, 20, 30-33, 40, 41
    for (uint32_t id : {1u, 10u, 11u, 20u, 30u, 31u, 32u, 33u, 40u, 41u}) ids_.push_back(id);
    res_[10] = Res{PIPE_TEXTURE_2D, kBgra, kSize, kSize, 1, 1, 1, 0, 4};
    res_[20] = Res{PIPE_BUFFER, PIPE_FORMAT_R8_UNORM, 96, 1, 1, 1, 1, 0, 1};
    // Indirect draws read their counts from buffer #21; arbitrary bytes there
    // would be billion-vertex draws (refused nowhere: drawing is the guest's right).
    make_buffer(*g_, 21, 64, PIPE_BIND_COMMAND_ARGS_BUFFER);
    const uint32_t params[16] = {3, 1, 0, 0, 3, 1, 0, 0, 3, 1, 0, 0, 3, 1, 0, 0};
    std::vector<uint8_t> bytes(sizeof params);
    std::memcpy(bytes.data(), params, sizeof params);
    write_box(*g_, 21, Box{0, 0, 0, int(sizeof params), 1, 1}, 0, bytes);
    ids_.push_back(21);
    REQUIRE(ping(*g_, 4));
  }

  // A present of any kind, of the render target or any resource, anywhere.
  template <class R>
  R random_present() {
    R p;
    p.resource = chance(3) ? res_id() : 10;
    p.level = pick(2);
    p.layer = pick(2);
    p.window = value();
    p.damage = chance(2) ? Box{} : box();
    return p;
  }

  // Sends one random record. False when its answer did not arrive (the guest was poisoned).
  bool step() {
    GuestSession& s = *g_;
    switch (pick(32)) {
      case 0: case 1: {  // resource_create
        ResourceCreate r;
        r.id = chance(10) ? any_id() : fresh();
        r.target = uint8_t(pick(9));
        r.format = uint16_t(format());
        r.width = chance(3) ? value() : 1 + pick(64);
        r.height = uint16_t(chance(3) ? value() : 1 + pick(64));
        r.depth = uint16_t(chance(4) ? value() : 1);
        r.array_size = uint16_t(chance(4) ? value() : (r.target == PIPE_TEXTURE_CUBE ? 6 : 1));
        r.last_level = uint8_t(chance(3) ? pick(8) : 0);
        r.nr_samples = uint8_t(chance(5) ? pick(17) : 0);
        r.nr_storage_samples = uint8_t(chance(8) ? pick(17) : 0);
        r.usage = uint8_t(pick(6));
        r.bind = chance(4) ? value() : (1u << pick(20)) | (1u << pick(20));
        r.flags = chance(8) ? value() : 0;
        last_ = "resource_create";
        s.send(r);
        if (!ping(s, 6)) return false;
        res_[r.id] = Res{r.target, r.format, r.width, r.height, r.depth, r.array_size, r.last_level + 1u, r.nr_samples, 4};
        ids_.push_back(r.id);
        return true;
      }
      case 2: {
        SurfaceCreate r;
        r.id = fresh();
        r.resource = res_id();
        r.format = uint16_t(chance(3) ? format() : res_.count(r.resource) ? res_[r.resource].format : kBgra);
        r.level = uint16_t(pick(3));
        r.first_layer = uint16_t(pick(3));
        r.last_layer = uint16_t(r.first_layer + pick(3));
        ids_.push_back(r.id);
        last_ = "surface_create";
        return s.send(r);
      }
      case 3: {
        SamplerViewCreate r;
        r.id = fresh();
        r.resource = res_id();
        r.format = uint16_t(chance(3) ? format() : res_.count(r.resource) ? res_[r.resource].format : kBgra);
        r.target = uint8_t(chance(2) && res_.count(r.resource) ? res_[r.resource].target : pick(9));
        for (auto& sw : r.swizzle) sw = uint8_t(pick(8));
        r.first_level = uint8_t(pick(3));
        r.last_level = uint8_t(r.first_level + pick(3));
        r.first = chance(3) ? value() : pick(3);
        r.last = chance(3) ? value() : r.first + pick(6);
        ids_.push_back(r.id);
        last_ = "sampler_view_create";
        return s.send(r);
      }
      case 4: {
        SoTargetCreate r;
        r.id = fresh();
        r.resource = res_id();
        r.offset = chance(2) ? value() : 4 * pick(8);
        r.size = value();
        ids_.push_back(r.id);
        last_ = "so_target_create";
        return s.send(r);
      }
      case 5: {  // state objects from mostly valid structs with a few random bytes
        union {
          pipe_blend_state blend;
          pipe_depth_stencil_alpha_state dsa;
          pipe_rasterizer_state rast;
          pipe_sampler_state samp;
          pipe_vertex_element ve[4];
          uint8_t bytes[512];
        } u;
        std::memset(&u, 0, sizeof u);
        const unsigned kind = 6 + pick(5);
        size_t size = kind == 6 ? sizeof u.blend : kind == 7 ? sizeof u.dsa : kind == 8 ? sizeof u.rast
                      : kind == 9 ? sizeof u.samp : sizeof(pipe_vertex_element) * (1 + pick(4));
        if (kind == 8) u.rast.line_width = u.rast.point_size = 1.0f;
        if (kind == 10) for (auto& e : u.ve) e.src_format = PIPE_FORMAT_R32G32B32A32_FLOAT;
        for (unsigned k = pick(4); k; --k) u.bytes[pick(unsigned(size))] = uint8_t(rng_());
        if (chance(10)) size = pick(600);
        StateCreate r;
        r.id = fresh();
        r.kind = uint8_t(chance(10) ? pick(16) : kind);
        r.blob = std::span<const uint8_t>(u.bytes, std::min<size_t>(size, sizeof u.bytes));
        ids_.push_back(r.id);
        last_ = "state_create kind " + std::to_string(r.kind);
        return s.send(r);
      }
      case 6: {
        Bind r;
        r.slot = uint8_t(pick(11));
        r.id = any_id();
        last_ = "bind";
        return s.send(r);
      }
      case 7: {
        BindSamplers r;
        r.stage = uint8_t(pick(6));
        r.start = uint8_t(pick(34));
        std::vector<uint32_t> ids(pick(5));
        for (auto& id : ids) id = any_id();
        r.ids = std::span<const uint32_t>(ids);
        last_ = "bind_samplers";
        return s.send(r);
      }
      case 8: {
        SetFramebuffer r;
        r.width = uint16_t(chance(3) ? value() : kSize);
        r.height = uint16_t(chance(3) ? value() : kSize);
        r.layers = uint16_t(pick(3));
        r.samples = uint8_t(pick(5));
        r.zsbuf = chance(2) ? 0 : any_id();
        std::vector<uint32_t> cbufs(pick(4));
        for (auto& id : cbufs) id = chance(3) ? 11 : any_id();
        r.cbufs = std::span<const uint32_t>(cbufs);
        last_ = "set_framebuffer";
        return s.send(r);
      }
      case 9: {
        std::vector<uint8_t> blob(pick(3) * sizeof(pipe_viewport_state) + (chance(8) ? 1 : 0));
        for (auto& b : blob) b = chance(3) ? uint8_t(rng_()) : 0;
        if (chance(2)) {
          SetViewports r;
          r.start = uint8_t(pick(18));
          r.blob = std::span<const uint8_t>(blob);
          last_ = "set_viewports";
          return s.send(r);
        }
        SetScissors r;
        r.start = uint8_t(pick(18));
        blob.resize(blob.size() / 28 * 8);
        r.blob = std::span<const uint8_t>(blob);
        last_ = "set_scissors";
        return s.send(r);
      }
      case 10: {
        SetConstantBuffer r;
        r.stage = uint8_t(pick(6));
        r.index = uint8_t(pick(20));
        r.resource = chance(2) ? 0 : res_id();
        r.offset = chance(2) ? 0 : value();
        std::vector<uint8_t> data(r.resource ? 0 : pick(300));
        r.size = chance(3) ? value() : uint32_t(data.size());
        r.user_data = std::span<const uint8_t>(data);
        last_ = "set_constant_buffer";
        return s.send(r);
      }
      case 11: {
        SetVertexBuffers r;
        r.start = uint8_t(pick(32));
        r.unbind_trailing = uint8_t(pick(4));
        std::vector<VertexBuffer> vbs(pick(3));
        for (auto& v : vbs) v = VertexBuffer{chance(3) ? any_id() : 20u, value(), uint16_t(pick(3) ? 32 : value()), 0};
        r.buffers = std::span<const VertexBuffer>(vbs);
        last_ = "set_vertex_buffers";
        return s.send(r);
      }
      case 12: {
        SetSamplerViews r;
        r.stage = uint8_t(pick(6));
        r.start = uint8_t(pick(130));
        r.unbind_trailing = uint8_t(pick(4));
        std::vector<uint32_t> ids(pick(4));
        for (auto& id : ids) id = any_id();
        r.ids = std::span<const uint32_t>(ids);
        last_ = "set_sampler_views";
        return s.send(r);
      }
      case 13: {
        SetShaderImages r;
        r.stage = uint8_t(pick(6));
        r.start = uint8_t(pick(66));
        r.unbind_trailing = uint8_t(pick(3));
        std::vector<ImageView> v(pick(3));
        for (auto& iv : v) iv = ImageView{res_id(), uint16_t(format()), uint16_t(pick(4)), uint16_t(pick(4)), uint16_t(pick(3)),
                                          chance(2) ? 0 : value(), chance(2) ? 0 : value()};
        r.images = std::span<const ImageView>(v);
        last_ = "set_shader_images";
        return s.send(r);
      }
      case 14: {
        SetShaderBuffers r;
        r.stage = uint8_t(pick(6));
        r.start = uint8_t(pick(34));
        r.writable_mask = pick(8);
        std::vector<ShaderBuffer> v(pick(3));
        for (auto& b : v) b = ShaderBuffer{res_id(), chance(2) ? 0 : value(), value()};
        r.buffers = std::span<const ShaderBuffer>(v);
        last_ = "set_shader_buffers";
        return s.send(r);
      }
      case 15: {
        SetStreamOutputTargets r;
        std::vector<SoBinding> v(pick(5));
        for (auto& b : v) b = SoBinding{any_id(), chance(2) ? ~0u : value()};
        r.targets = std::span<const SoBinding>(v);
        last_ = "set_stream_output_targets";
        return s.send(r);
      }
      case 16: case 17: {
        Draw d;
        d.mode = uint8_t(pick(15));
        d.index_size = uint8_t(chance(2) ? 0 : pick(5));
        d.flags = uint8_t(pick(16) & ~kDrawUserIndices);
        d.instance_count = chance(4) ? value() % 5 : 1;
        d.start_instance = chance(4) ? value() : 0;
        d.index_buffer = d.index_size ? res_id() : 0;
        d.restart_index = value();
        d.view_mask = uint8_t(chance(5) ? pick(4) : 0);
        if (chance(5)) {
          d.indirect_buffer = chance(4) ? any_id() : 21;
          d.indirect_offset = chance(2) ? 4 * pick(8) : value();
          d.indirect_stride = chance(2) ? 0 : 4 * pick(8);
          d.indirect_draw_count = chance(2) ? 1 : value();
          d.indirect_count_buffer = chance(3) ? 21 : 0;
          d.indirect_count_offset = value();
        } else if (chance(8)) {
          d.count_from_stream_output = any_id();
        }
        std::vector<DrawRange> ranges(pick(4));
        for (auto& r : ranges) r = DrawRange{chance(3) ? value() : 0, chance(3) ? value() % 100000 : 3, svalue()};
        d.draws = std::span<const DrawRange>(ranges);
        last_ = "draw mode " + std::to_string(d.mode);
        return s.send(d);
      }
      case 18: {
        Clear r;
        r.buffers = chance(2) ? PIPE_CLEAR_COLOR0 : value();
        r.scissor_enable = uint8_t(pick(2));
        for (auto& v : r.scissor) v = uint16_t(value());
        r.depth = chance(4) ? double(svalue()) : 0.5;
        last_ = "clear";
        return s.send(r);
      }
      case 19: {
        if (chance(2)) {
          ClearRenderTarget r;
          r.surface = chance(2) ? 11 : any_id();
          r.x = value() % 80;
          r.y = value() % 80;
          r.width = value() % 80;
          r.height = value() % 80;
          last_ = "clear_render_target";
          return s.send(r);
        }
        ClearDepthStencil r;
        r.surface = any_id();
        r.clear_flags = pick(4);
        r.x = value() % 80;
        r.width = value() % 80;
        r.height = value() % 80;
        last_ = "clear_depth_stencil";
        return s.send(r);
      }
      case 20: {
        if (chance(2)) {
          ClearTexture r;
          r.resource = res_id();
          r.level = pick(3);
          r.box = res_.count(r.resource) ? small_box(res_[r.resource]) : box();
          std::vector<uint8_t> v(pick(17), 0x5a);
          r.data = std::span<const uint8_t>(v);
          last_ = "clear_texture";
          return s.send(r);
        }
        ClearBuffer r;
        r.resource = res_id();
        r.offset = chance(2) ? 4 * pick(8) : value();
        r.size = chance(2) ? 4 * pick(8) : value();
        std::vector<uint8_t> v(1u << pick(5), 0xa5);
        r.value = std::span<const uint8_t>(v);
        last_ = "clear_buffer";
        return s.send(r);
      }
      case 21: {
        Blit r;
        for (BlitSide* side : {&r.dst, &r.src}) {
          side->resource = res_id();
          side->level = pick(3);
          side->box = res_.count(side->resource) ? small_box(res_[side->resource]) : box();
          side->format = uint16_t(chance(3) ? format() : res_.count(side->resource) ? res_[side->resource].format : kBgra);
        }
        if (chance(2)) r.src.box.width = -r.src.box.width;
        r.mask = chance(3) ? value() : PIPE_MASK_RGBA;
        r.filter = uint8_t(pick(2));
        r.scissor_enable = chance(4);
        for (auto& v : r.scissor) v = uint16_t(value());
        r.sample0_only = chance(3);
        r.dst_sample = uint8_t(pick(3));
        last_ = "blit";
        return s.send(r);
      }
      case 22: {
        ResourceCopyRegion r;
        r.dst = res_id();
        r.src = res_id();
        r.dst_level = pick(2);
        r.src_level = pick(2);
        r.dstx = value() % 70;
        r.dsty = value() % 70;
        r.dstz = pick(2);
        r.src_box = res_.count(r.src) ? small_box(res_[r.src]) : box();
        last_ = "resource_copy_region";
        return s.send(r);
      }
      case 23: {
        GenerateMipmap r;
        r.resource = res_id();
        r.format = uint16_t(res_.count(r.resource) && pick(3) ? res_[r.resource].format : format());
        r.base_level = uint16_t(pick(3));
        r.last_level = uint16_t(r.base_level + pick(4));
        r.first_layer = uint16_t(pick(2));
        r.last_layer = uint16_t(r.first_layer + pick(3));
        last_ = "generate_mipmap";
        return s.send(r);
      }
      case 24: {
        Flush f;
        f.flags = chance(3) ? value() : 0;
        f.fence = chance(2) ? fresh() : 0;
        last_ = "flush";
        s.send(f);
        if (!f.fence) return true;
        FenceFinish ff;
        ff.fence = chance(5) ? any_id() : f.fence;
        ff.timeout_ns = chance(2) ? 0 : ~0ull;
        FenceStatus st;
        return s.call(ff, st);
      }
      case 25: {  // queries
        const uint32_t q = fresh();
        QueryCreate qc;
        qc.id = q;
        qc.type = uint16_t(pick(16));
        qc.index = uint16_t(chance(3) ? value() : 0);
        last_ = "query_create type " + std::to_string(qc.type);
        s.send(qc);
        ids_.push_back(q);
        if (chance(3)) {
          QueryBegin b;
          b.id = chance(5) ? any_id() : q;
          s.send(b);
        }
        if (chance(2)) draw_triangle(s);
        if (chance(3)) {
          QueryEnd e;
          e.id = chance(5) ? any_id() : q;
          s.send(e);
        }
        if (chance(3)) {
          RenderCondition rc;
          rc.query = chance(3) ? 0 : q;
          rc.mode = uint8_t(pick(6));
          rc.condition = chance(2);
          s.send(rc);
        }
        if (chance(3)) {
          QueryResultResource qr;
          qr.query = q;
          qr.flags = uint8_t(pick(2));
          qr.result_type = uint8_t(pick(6));
          qr.index = chance(2) ? -1 : svalue();
          qr.resource = res_id();
          qr.offset = value();
          s.send(qr);
        }
        QueryResult qr;
        qr.id = chance(6) ? any_id() : q;
        qr.wait = chance(2);
        QueryValue v;
        return s.call(qr, v);
      }
      case 26: {  // reads of resources whose size the test knows
        if (res_.empty()) return true;
        auto it = std::next(res_.begin(), pick(unsigned(res_.size())));
        const Res& r = it->second;
        if (r.format != kBgra && r.target != PIPE_BUFFER) return true;
        TransferRead tr;
        tr.resource = it->first;
        tr.box = r.target == PIPE_BUFFER ? Box{int(pick(r.w)), 0, 0, 0, 1, 1} : small_box(r);
        if (r.target == PIPE_BUFFER) tr.box.width = int(pick(r.w - unsigned(tr.box.x) + 1));
        const bool sane = tr.box.width >= 0 && tr.box.height >= 0 && tr.box.depth >= 0;
        const size_t bytes = sane ? size_t(tr.box.width) * size_t(tr.box.height) * size_t(tr.box.depth) * (r.target == PIPE_BUFFER ? 1 : 4) : 0;
        if (!sane || bytes > (1u << 24)) return true;
        std::vector<uint8_t> out(bytes);
        last_ = "transfer_read";
        return s.call_data(tr, out.data(), out.size());
      }
      case 27: {
        TransferWriteInline w;
        w.resource = res_id();
        w.level = pick(2);
        w.box = res_.count(w.resource) ? small_box(res_[w.resource]) : box();
        if (res_.count(w.resource) && res_[w.resource].target == PIPE_BUFFER) w.box = Box{int(pick(96)), 0, 0, int(pick(40)), 1, 1};
        w.stride = chance(3) ? value() : 256;
        w.layer_stride = value();
        std::vector<uint8_t> data(pick(2048), 0x33);
        w.data = std::span<const uint8_t>(data);
        last_ = "transfer_write_inline";
        return s.send(w);
      }
      case 28: {
        last_ = "present";
        return s.send(random_present<Present>());
      }
      case 29: {  // a window buffer's memory: the descriptor follows an ok answer
        FrameShare f;
        f.resource = chance(3) ? res_id() : 10;
        FrameShared answer;
        last_ = "frame_share";
        if (!s.call(f, answer)) return false;
        if (answer.ok) {
          std::string error;
          const int fd = s.transport().receive_fd(kFdAfterAnswerTimeoutMs, error);
          if (fd < 0) return false;
          ::close(fd);
        }
        return true;
      }
      case 30: {
        PresentDone done;
        last_ = "present_shared";
        return s.call(random_present<PresentShared>(), done);
      }
      default: {
        ObjectDestroy od;
        od.id = any_id();
        od.kind = uint8_t(chance(4) ? pick(16) : 0);
        if (!od.kind) {
          // Mostly the right kind, so objects really go away under bound state.
          static const std::pair<uint32_t, uint8_t> kKnown[] = {{10, 2}, {11, 3}, {20, 2}, {30, 6}, {31, 8}, {32, 7},
                                                                {33, 10}, {40, 11}, {41, 11}, {1, 1}};
          const auto& k = kKnown[pick(10)];
          od.id = k.first;
          od.kind = k.second;
        }
        last_ = "object_destroy #" + std::to_string(od.id) + " kind " + std::to_string(od.kind);
        s.send(od);
        if (!ping(s, 7)) return false;
        ids_.erase(std::remove(ids_.begin(), ids_.end(), od.id), ids_.end());
        res_.erase(od.id);
        return true;
      }
    }
  }

  Compositor& c_;
  std::mt19937 rng_;
  std::unique_ptr<GuestSession> g_;
  std::vector<uint32_t> ids_;
  std::map<uint32_t, Res> res_;
  uint32_t next_id_ = 100;
  std::string last_;
};

void run_record_fuzz(uint32_t seed, unsigned steps) {
  Compositor c;
  RecordFuzzer f(c, seed);
  unsigned executed = 0, refused = 0;
  f.run(steps, executed, refused);
  INFO(executed << " records ran, " << refused << " were refused");
  CHECK(executed + refused == steps);
  CHECK(executed > 0);
}

}  // namespace

TEST_CASE("random Gallium records never crash the compositor", "[compositor][executor][fuzz]") {
  run_record_fuzz(4242, 300);
}

TEST_CASE("random Gallium records never crash the compositor (long)", "[.][fuzz-records]") {
  const char* seed = std::getenv("XEN3D_FUZZ_SEED");
  const char* iters = std::getenv("XEN3D_FUZZ_ITERATIONS");
  run_record_fuzz(seed ? uint32_t(std::strtoul(seed, nullptr, 10)) : 1, iters ? unsigned(std::atoi(iters)) : 3000);
}
