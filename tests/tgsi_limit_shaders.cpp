#include "tests/tgsi_limit_shaders.h"

#include <algorithm>
#include <string>

#include "gallivm/lp_bld_limits.h"
#include "pipe/p_defines.h"
#include "pipe/p_shader_tokens.h"
#include "pipe/p_state.h"
#include "translate/translate.h"

namespace xen3d::test {
namespace {

using std::to_string;

// Limits no cap states: the Mesa macros host_limits.cpp's MesaInternal uses.
constexpr unsigned kDrawEmitAttribs = TRANSLATE_MAX_ATTRIBS;
constexpr unsigned kConstantCopyVec4s = LP_MAX_TGSI_CONST_BUFFER_SIZE / 16;
constexpr unsigned kAddressRegs = LP_MAX_TGSI_ADDRS;
constexpr unsigned kImmediates = LP_MAX_TGSI_IMMEDIATES;
constexpr unsigned kNesting = LP_MAX_TGSI_NESTING;
constexpr unsigned kScanInputs = PIPE_MAX_SHADER_INPUTS;
constexpr unsigned kScanOutputs = PIPE_MAX_SHADER_OUTPUTS;
constexpr unsigned kScanMaskBits = 32;
constexpr unsigned kSemanticIndex = 256;

const char* const kTargets[] = {"BUFFER", "1D", "2D", "3D", "CUBE", "RECT", "SHADOW1D", "SHADOW2D",
                                "SHADOWRECT", "1D_ARRAY", "2D_ARRAY", "SHADOW1D_ARRAY", "SHADOW2D_ARRAY",
                                "SHADOWCUBE", "2D_MSAA", "2D_ARRAY_MSAA", "CUBE_ARRAY", "SHADOWCUBE_ARRAY"};
constexpr unsigned kTargetCount = sizeof kTargets / sizeof kTargets[0];

const char* stage_header(unsigned stage) {
  switch (stage) {
    case PIPE_SHADER_VERTEX: return "VERT";
    case PIPE_SHADER_FRAGMENT: return "FRAG";
    case PIPE_SHADER_GEOMETRY: return "GEOM";
    default: return "COMP";
  }
}

// A register every stage's programs can read.
std::string source(unsigned stage) {
  switch (stage) {
    case PIPE_SHADER_COMPUTE: return "SV[0].xyzx";  // THREAD_ID has no w (the validator refuses reading it)
    case PIPE_SHADER_GEOMETRY: return "IN[0][1]";
    default: return "IN[0]";
  }
}

// The smallest complete program of `stage` around the declarations and
// instructions of a case; `result` is what reaches the stage's output.
std::string program(unsigned stage, const std::string& decls, const std::string& body,
                    const std::string& result = "", const std::string& properties = "") {
  const std::string x = source(stage);
  const std::string r = result.empty() ? x : result;
  std::string t = std::string(stage_header(stage)) + "\n" + properties;
  switch (stage) {
    case PIPE_SHADER_VERTEX:
      t += "DCL IN[0]\nDCL OUT[0], POSITION\nDCL OUT[1], GENERIC[0]\n" + decls + body;
      t += "MOV OUT[0], IN[0]\nMOV OUT[1], " + r + "\n";
      break;
    case PIPE_SHADER_FRAGMENT:
      t += "DCL IN[0], GENERIC[0], PERSPECTIVE\nDCL OUT[0], COLOR\n" + decls + body;
      t += "MOV OUT[0], " + r + "\n";
      break;
    case PIPE_SHADER_GEOMETRY:
      if (properties.empty()) {
        t += "PROPERTY GS_INPUT_PRIMITIVE TRIANGLES\nPROPERTY GS_OUTPUT_PRIMITIVE TRIANGLE_STRIP\n"
             "PROPERTY GS_MAX_OUTPUT_VERTICES 3\nPROPERTY GS_INVOCATIONS 1\n";
      }
      t += "DCL IN[][0], POSITION\nDCL IN[][1], GENERIC[0]\nDCL OUT[0], POSITION\nDCL OUT[1], GENERIC[0]\n"
           "IMM[0] UINT32 {0, 0, 0, 0}\n" + decls + body;
      for (int v = 0; v < 3; ++v) {
        t += "MOV OUT[0], IN[" + to_string(v) + "][0]\nMOV OUT[1], " + r + "\nEMIT IMM[0].xxxx\n";
      }
      break;
    default:
      t += "DCL SV[0], THREAD_ID\n" + decls + body;
      break;
  }
  return t + "END\n";
}

// A vertex shader writing `n` generic outputs from `first` on, and a
// fragment shader reading them: the interface the draw module emits.
std::string vs_generics(unsigned n, unsigned first = 0) {
  std::string t = "VERT\nDCL IN[0]\nDCL OUT[0], POSITION\n";
  for (unsigned i = 0; i < n; ++i) t += "DCL OUT[" + to_string(i + 1) + "], GENERIC[" + to_string(first + i) + "]\n";
  t += "MOV OUT[0], IN[0]\n";
  for (unsigned i = 0; i < n; ++i) t += "MOV OUT[" + to_string(i + 1) + "], IN[0]\n";
  return t + "END\n";
}

std::string fs_generics(unsigned n, unsigned first = 0) {
  std::string t = "FRAG\n";
  for (unsigned i = 0; i < n; ++i) {
    t += "DCL IN[" + to_string(i) + "], GENERIC[" + to_string(first + i) + "], PERSPECTIVE\n";
  }
  t += "DCL OUT[0], COLOR\nDCL TEMP[0]\nMOV TEMP[0], IN[0]\n";
  for (unsigned i = 1; i < n; ++i) t += "ADD TEMP[0], TEMP[0], IN[" + to_string(i) + "]\n";
  return t + "MOV OUT[0], TEMP[0]\nEND\n";
}

class Cases {
 public:
  Cases(const proto::CapsTable& caps, bool exhaustive) : caps_(caps), exhaustive_(exhaustive) {}

  std::vector<LimitCase> make() {
    for (unsigned stage : {PIPE_SHADER_VERTEX, PIPE_SHADER_FRAGMENT, PIPE_SHADER_GEOMETRY, PIPE_SHADER_COMPUTE}) {
      if (shader_cap(stage, PIPE_SHADER_CAP_MAX_INSTRUCTIONS) == 0) continue;  // the host has no such stage
      register_files(stage);
      constants(stage);
      nesting(stage);
      memory(stage);
      if (exhaustive_) instructions(stage);
    }
    interfaces();
    textures();
    geometry();
    return std::move(out_);
  }

 private:
  unsigned shader_cap(unsigned stage, unsigned cap) const {
    const int v = caps_.shader[stage][cap];
    return v > 0 ? unsigned(v) : 0u;
  }
  unsigned cap(unsigned param) const { return caps_.param[param] > 0 ? unsigned(caps_.param[param]) : 0u; }

  // One case of `stage`'s program; graphics cases get the other shaders of a pipeline.
  void add(const std::string& name, unsigned stage, const std::string& text) {
    LimitCase c;
    c.name = std::string(stage_header(stage)) + " " + name;
    if (stage == PIPE_SHADER_COMPUTE) {
      c.shaders = {{stage, text}};
    } else {
      if (stage != PIPE_SHADER_VERTEX) c.shaders.push_back({PIPE_SHADER_VERTEX, vs_generics(1)});
      if (stage != PIPE_SHADER_FRAGMENT) c.shaders.push_back({PIPE_SHADER_FRAGMENT, fs_generics(1)});
      c.shaders.push_back({stage, text});
    }
    out_.push_back(std::move(c));
  }
  // The case at `limit` and the one just past it.
  template <class Make>
  void around(const std::string& what, unsigned stage, unsigned limit, Make make) {
    if (limit == 0) return;
    add(what + " at the limit of " + to_string(limit), stage, make(limit));
    add(what + " one past the limit of " + to_string(limit), stage, make(limit + 1));
  }

  void register_files(unsigned s) {
    const std::string x = source(s);
    const unsigned temps = std::min(shader_cap(s, PIPE_SHADER_CAP_MAX_TEMPS), unsigned(LP_MAX_TGSI_TEMPS));
    around("temporaries", s, temps, [&](unsigned n) {
      const std::string last = "TEMP[" + to_string(n - 1) + "]";
      return program(s, "DCL TEMP[0.." + to_string(n - 1) + "]\n", "MOV " + last + ", " + x + "\n", last);
    });
    around("immediates", s, kImmediates, [&](unsigned n) {
      std::string decls = "DCL TEMP[0]\n";
      // The geometry program declares one of its own.
      const unsigned own = s == PIPE_SHADER_GEOMETRY ? 1 : 0;
      for (unsigned i = own; i < n; ++i) decls += "IMM[" + to_string(i) + "] FLT32 {" + to_string(i) + ".0, 0.0, 0.0, 1.0}\n";
      return program(s, decls, "MOV TEMP[0], IMM[" + to_string(n - 1) + "]\n", "TEMP[0]");
    });
    around("address registers", s, kAddressRegs, [&](unsigned n) {
      const std::string a = "ADDR[" + to_string(n - 1) + "]";
      return program(s, "DCL ADDR[0.." + to_string(n - 1) + "]\nDCL TEMP[0..3]\n",
                     "ARL " + a + ".x, " + x + ".xxxx\nMOV TEMP[0], TEMP[" + a + ".x+1]\n", "TEMP[0]");
    });
    const unsigned samplers = shader_cap(s, PIPE_SHADER_CAP_MAX_TEXTURE_SAMPLERS);
    around("samplers", s, samplers, [&](unsigned n) {
      const std::string i = to_string(n - 1);
      return program(s, "DCL SAMP[" + i + "]\nDCL SVIEW[" + i + "], 2D, FLOAT\nDCL TEMP[0]\n",
                     "TXL TEMP[0], " + x + ", SAMP[" + i + "], 2D\n", "TEMP[0]");
    });
    const unsigned views = shader_cap(s, PIPE_SHADER_CAP_MAX_SAMPLER_VIEWS);
    around("sampler views", s, views, [&](unsigned n) {
      const std::string i = to_string(n - 1);
      return program(s, "DCL SAMP[0]\nDCL SVIEW[" + i + "], 2D, FLOAT\nDCL TEMP[0]\n",
                     "SAMPLE_L TEMP[0], " + x + ", SVIEW[" + i + "], SAMP[0], " + x + ".xxxx\n", "TEMP[0]");
    });
    if (s == PIPE_SHADER_VERTEX || s == PIPE_SHADER_FRAGMENT) {
      around("inputs", s, kScanInputs, [&](unsigned n) {
        const std::string last = "IN[" + to_string(n - 1) + "]";
        const std::string decl = s == PIPE_SHADER_VERTEX ? "DCL " + last + "\n"
                                                         : "DCL " + last + ", GENERIC[1], PERSPECTIVE\n";
        return program(s, decl + "DCL TEMP[0]\n", "ADD TEMP[0], " + x + ", " + last + "\n", "TEMP[0]");
      });
      around("outputs", s, kScanOutputs, [&](unsigned n) {
        const std::string last = "OUT[" + to_string(n - 1) + "]";
        const std::string decl = s == PIPE_SHADER_VERTEX ? "DCL " + last + ", GENERIC[1]\n" : "DCL " + last + ", COLOR[1]\n";
        return program(s, decl, "MOV " + last + ", " + x + "\n");
      });
    }
  }

  void constants(unsigned s) {
    const std::string x = source(s);
    // Reads of CONST[slot][index] with the range declared up to it.
    auto read = [&](unsigned slot, unsigned index) {
      const std::string c = "CONST[" + to_string(slot) + "][" + to_string(index) + "]";
      return program(s, "DCL CONST[" + to_string(slot) + "][0.." + to_string(index) + "]\nDCL TEMP[0]\n",
                     "ADD TEMP[0], " + x + ", " + c + "\n", "TEMP[0]");
    };
    const unsigned file = shader_cap(s, PIPE_SHADER_CAP_MAX_CONST_BUFFER0_SIZE) / 16;
    around("constant register file", s, file, [&](unsigned n) { return read(0, n - 1); });
    // What llvmpipe copies of a fragment or compute binding: the last vec4 of 64 KiB and the next.
    around("constant read of the driver's 64 KiB copy", s, kConstantCopyVec4s, [&](unsigned n) { return read(0, n - 1); });
    // Slot 0 holds 256 bytes of inline data, slot 1 a 256-byte buffer resource.
    const unsigned bound = kLimitConstBufferBytes / 16;
    around("constant read of the 256-byte inline data", s, bound, [&](unsigned n) { return read(0, n - 1); });
    around("constant read of the 256-byte buffer", s, bound, [&](unsigned n) { return read(1, n - 1); });
    add("constant read through ADDR past the 256-byte buffer", s,
        program(s, "DCL CONST[1][0..15]\nDCL ADDR[0]\nDCL TEMP[0]\n",
                "ARL ADDR[0].x, " + x + ".xxxx\nADD TEMP[0], " + x + ", CONST[1][ADDR[0].x+15]\n", "TEMP[0]"));
  }

  void nesting(unsigned s) {
    const unsigned depth = std::min(shader_cap(s, PIPE_SHADER_CAP_MAX_CONTROL_FLOW_DEPTH), kNesting);
    const std::string x = source(s);
    around("nested IFs", s, depth, [&](unsigned n) {
      std::string body;
      for (unsigned i = 0; i < n; ++i) body += "IF " + x + ".xxxx\n";
      body += "ADD TEMP[0], TEMP[0], " + x + "\n";
      for (unsigned i = 0; i < n; ++i) body += "ENDIF\n";
      return program(s, "DCL TEMP[0]\n", "MOV TEMP[0], " + x + "\n" + body, "TEMP[0]");
    });
    // Every loop breaks after one pass: only the nesting is at stake.
    around("nested loops", s, depth, [&](unsigned n) {
      std::string body;
      for (unsigned i = 0; i < n; ++i) body += "BGNLOOP\n";
      body += "ADD TEMP[0], TEMP[0], " + x + "\n";
      for (unsigned i = 0; i < n; ++i) body += "BRK\nENDLOOP\n";
      return program(s, "DCL TEMP[0]\n", "MOV TEMP[0], " + x + "\n" + body, "TEMP[0]");
    });
  }

  // Images and buffers: the host's slots, and the 32 bits of tgsi_scan's masks.
  void memory(unsigned s) {
    const std::string x = source(s);
    auto image = [&](unsigned n) {
      const std::string i = "IMAGE[" + to_string(n - 1) + "]";
      return program(s, "DCL " + i + ", 2D, PIPE_FORMAT_R32_FLOAT, WR\nDCL TEMP[0]\n",
                     "LOAD TEMP[0], " + i + ", " + x + ", 2D, PIPE_FORMAT_R32_FLOAT\n", "TEMP[0]");
    };
    auto buffer = [&](unsigned n) {
      const std::string b = "BUFFER[" + to_string(n - 1) + "]";
      return program(s, "DCL " + b + "\nDCL TEMP[0]\n", "LOAD TEMP[0], " + b + ", " + x + ".xxxx\n", "TEMP[0]");
    };
    const unsigned images = shader_cap(s, PIPE_SHADER_CAP_MAX_SHADER_IMAGES);
    const unsigned buffers = shader_cap(s, PIPE_SHADER_CAP_MAX_SHADER_BUFFERS);
    if (images) around("images (tgsi_scan's mask)", s, kScanMaskBits, image);
    if (images != kScanMaskBits) around("images (host slots)", s, images, image);
    if (buffers) around("buffers (tgsi_scan's mask)", s, kScanMaskBits, buffer);
    if (buffers != kScanMaskBits) around("buffers (host slots)", s, buffers, buffer);
  }

  void instructions(unsigned s) {
    const unsigned limit = shader_cap(s, PIPE_SHADER_CAP_MAX_INSTRUCTIONS);
    const std::string x = source(s);
    around("instructions", s, limit, [&](unsigned n) {
      // The program adds its own: the output moves (and END, which counts).
      const unsigned own = s == PIPE_SHADER_VERTEX ? 3 : s == PIPE_SHADER_GEOMETRY ? 10 : s == PIPE_SHADER_FRAGMENT ? 2 : 1;
      std::string body;
      for (unsigned i = own; i < n; ++i) body += "ADD TEMP[0], TEMP[0], " + x + "\n";
      return program(s, "DCL TEMP[0]\n", body, "TEMP[0]");
    });
  }

  // What the vertex stage hands the fragment stage through the draw module.
  void interfaces() {
    // Position takes one of the emitted attributes.
    const unsigned generics = kDrawEmitAttribs - 1;
    for (unsigned n : {generics, generics + 1}) {
      LimitCase c;
      c.name = "VERT+FRAG " + to_string(n) + " generic varyings (the draw module emits " + to_string(kDrawEmitAttribs) +
               " attributes with position)";
      c.shaders = {{PIPE_SHADER_VERTEX, vs_generics(n)}, {PIPE_SHADER_FRAGMENT, fs_generics(n)}};
      out_.push_back(std::move(c));
    }
    for (unsigned index : {kSemanticIndex - 1, kSemanticIndex}) {
      LimitCase c;
      c.name = "VERT+FRAG varying GENERIC[" + to_string(index) + "] (semantic indices are bytes)";
      c.shaders = {{PIPE_SHADER_VERTEX, vs_generics(1, index)}, {PIPE_SHADER_FRAGMENT, fs_generics(1, index)}};
      out_.push_back(std::move(c));
    }
  }

  // The target a TEX instruction names against the target its view is declared with.
  void textures() {
    unsigned k = 0;
    for (unsigned tex = 0; tex < kTargetCount; ++tex) {
      for (unsigned view = 0; view < kTargetCount; ++view, ++k) {
        // Quick runs: the diagonal and every nineteenth pair of the rest.
        if (!exhaustive_ && tex != view && k % 19) continue;
        const std::string t = kTargets[tex], v = kTargets[view];
        add("TEX " + t + " of a view declared " + v, PIPE_SHADER_FRAGMENT,
            program(PIPE_SHADER_FRAGMENT, "DCL SAMP[0]\nDCL SVIEW[0], " + v + ", FLOAT\nDCL TEMP[0]\n",
                    "TEX TEMP[0], IN[0], SAMP[0], " + t + "\n", "TEMP[0]"));
        if (exhaustive_) {
          add("TXL " + t + " of a view declared " + v, PIPE_SHADER_VERTEX,
              program(PIPE_SHADER_VERTEX, "DCL SAMP[0]\nDCL SVIEW[0], " + v + ", FLOAT\nDCL TEMP[0]\n",
                      "TXL TEMP[0], IN[0], SAMP[0], " + t + "\n", "TEMP[0]"));
        }
      }
    }
  }

  void geometry() {
    const unsigned s = PIPE_SHADER_GEOMETRY;
    if (shader_cap(s, PIPE_SHADER_CAP_MAX_INSTRUCTIONS) == 0) return;
    const std::string fixed = "PROPERTY GS_INPUT_PRIMITIVE TRIANGLES\nPROPERTY GS_OUTPUT_PRIMITIVE TRIANGLE_STRIP\n";
    around("output vertices", s, cap(PIPE_CAP_MAX_GEOMETRY_OUTPUT_VERTICES), [&](unsigned n) {
      return program(s, "", "", "", fixed + "PROPERTY GS_MAX_OUTPUT_VERTICES " + to_string(n) + "\nPROPERTY GS_INVOCATIONS 1\n");
    });
    around("invocations", s, cap(PIPE_CAP_MAX_GS_INVOCATIONS), [&](unsigned n) {
      return program(s, "", "", "", fixed + "PROPERTY GS_MAX_OUTPUT_VERTICES 3\nPROPERTY GS_INVOCATIONS " + to_string(n) + "\n");
    });
  }

  const proto::CapsTable& caps_;
  const bool exhaustive_;
  std::vector<LimitCase> out_;
};

}  // namespace

std::vector<LimitCase> tgsi_limit_cases(const proto::CapsTable& caps, bool exhaustive) {
  return Cases(caps, exhaustive).make();
}

}  // namespace xen3d::test
