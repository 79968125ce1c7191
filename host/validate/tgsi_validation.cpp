#include "host/validate/tgsi_validation.h"
#include "host/validate/rejection.h"

#include <algorithm>
#include <array>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include "pipe/p_defines.h"
#include "pipe/p_screen.h"
#include "pipe/p_state.h"
#include "tgsi/tgsi_info.h"
#include "tgsi/tgsi_parse.h"
#include "tgsi/tgsi_sanity.h"
#include "tgsi/tgsi_util.h"
#include "util/bitscan.h"
#include "util/format/u_format.h"

namespace xen3d::host {

namespace {

constexpr auto fmt = format_message;

template <class T>
T token_as(const tgsi_token* tokens, uint32_t i) {
  static_assert(sizeof(T) == sizeof(tgsi_token));
  T t;
  std::memcpy(&t, &tokens[i], sizeof t);
  return t;
}

// ---------------------------------------------------------------------------
// Token sizes, computed the way tgsi_parse_token will consume them, but with
// every read bounds-checked and every count the parser trusts (it asserts, or
// writes fixed arrays) checked first.

std::string shadow_token_size(const tgsi_token* tokens, uint32_t pos, uint32_t end, uint32_t& size) {
  const tgsi_token head = tokens[pos];
  uint32_t n = 1;
  auto need = [&](uint32_t count) { return pos + n + count <= end; };
  switch (head.Type) {
    case TGSI_TOKEN_TYPE_DECLARATION: {
      const auto d = token_as<tgsi_declaration>(tokens, pos);
      n += 1 + d.Dimension + d.Interpolate + d.Semantic + (d.File == TGSI_FILE_IMAGE) +
           (d.File == TGSI_FILE_SAMPLER_VIEW) + d.Array;
      // The size is what the flags say, as tgsi_parse reads it: ureg itself
      // writes NrTokens = 2 for temporary arrays that carry a third token.
      if (d.NrTokens != n && !(d.Array && d.NrTokens + 1 == n)) {
        return fmt("declaration at token %u: NrTokens %u, but its flags add up to %u", pos, d.NrTokens, n);
      }
      break;
    }
    case TGSI_TOKEN_TYPE_IMMEDIATE: {
      const auto im = token_as<tgsi_immediate>(tokens, pos);
      if (im.DataType > TGSI_IMM_INT64) return fmt("immediate at token %u: data type %u is not a TGSI_IMM_*", pos, im.DataType);
      // tgsi_full_immediate holds 4 data words.
      if (im.NrTokens < 2 || im.NrTokens > 5) return fmt("immediate at token %u: NrTokens %u is not 2..5", pos, im.NrTokens);
      n = im.NrTokens;
      break;
    }
    case TGSI_TOKEN_TYPE_INSTRUCTION: {
      const auto in = token_as<tgsi_instruction>(tokens, pos);
      if (in.NumDstRegs > TGSI_FULL_MAX_DST_REGISTERS || in.NumSrcRegs > TGSI_FULL_MAX_SRC_REGISTERS) {
        return fmt("instruction at token %u: %u destinations / %u sources exceed %u / %u", pos, in.NumDstRegs,
                   in.NumSrcRegs, TGSI_FULL_MAX_DST_REGISTERS, TGSI_FULL_MAX_SRC_REGISTERS);
      }
      n += in.Label;
      if (in.Texture) {
        if (!need(1)) return fmt("instruction at token %u runs past the end of the shader", pos);
        const auto tex = token_as<tgsi_instruction_texture>(tokens, pos + n);
        if (tex.NumOffsets > TGSI_FULL_MAX_TEX_OFFSETS) {
          return fmt("instruction at token %u: %u texture offsets exceed %u", pos, tex.NumOffsets, TGSI_FULL_MAX_TEX_OFFSETS);
        }
        n += 1 + tex.NumOffsets;
      }
      n += in.Memory;
      for (unsigned i = 0; i < unsigned(in.NumDstRegs) + unsigned(in.NumSrcRegs); ++i) {
        const bool dst = i < unsigned(in.NumDstRegs);
        if (!need(1)) return fmt("instruction at token %u runs past the end of the shader", pos);
        bool indirect, dimension;
        if (dst) {
          const auto r = token_as<tgsi_dst_register>(tokens, pos + n);
          indirect = r.Indirect;
          dimension = r.Dimension;
        } else {
          const auto r = token_as<tgsi_src_register>(tokens, pos + n);
          indirect = r.Indirect;
          dimension = r.Dimension;
        }
        n += 1 + indirect;
        if (dimension) {
          if (!need(1)) return fmt("instruction at token %u runs past the end of the shader", pos);
          const auto dim = token_as<tgsi_dimension>(tokens, pos + n);
          if (dim.Dimension) return fmt("instruction at token %u: multi-dimensional addressing is not supported", pos);
          n += 1 + dim.Indirect;
        }
      }
      // An instruction's NrTokens leaves out the instruction token itself (tgsi_build, ureg).
      if (in.NrTokens + 1 != n) {
        return fmt("instruction at token %u: NrTokens %u, but its operands add up to %u", pos, in.NrTokens, n - 1);
      }
      break;
    }
    case TGSI_TOKEN_TYPE_PROPERTY: {
      const auto p = token_as<tgsi_property>(tokens, pos);
      // tgsi_full_property holds 8 data words; every property has at least one.
      if (p.NrTokens < 2 || p.NrTokens > 9) return fmt("property at token %u: NrTokens %u is not 2..9", pos, p.NrTokens);
      n = p.NrTokens;
      break;
    }
    default:
      return fmt("token %u has unknown type %u", pos, head.Type);
  }
  if (pos + n > end) return fmt("token %u claims %u tokens, past the end of the %u-token shader", pos, n, end);
  size = n;
  return {};
}

// ---------------------------------------------------------------------------
// Opcodes gallivm's TGSI translator implements (lp_set_default_actions*,
// lp_build_tgsi_soa); anything else leaves an unfinished LLVM function.
// Subroutines (CAL/BGNSUB/ENDSUB) are left out on purpose: nothing the GL
// frontend emits uses them and they need label fix-ups the validator would
// have to follow.
bool opcode_supported(unsigned op) {
  switch (op) {
    case TGSI_OPCODE_ADD: case TGSI_OPCODE_AND: case TGSI_OPCODE_ARL: case TGSI_OPCODE_ARR:
    case TGSI_OPCODE_ATOMAND: case TGSI_OPCODE_ATOMCAS: case TGSI_OPCODE_ATOMIMAX: case TGSI_OPCODE_ATOMIMIN:
    case TGSI_OPCODE_ATOMOR: case TGSI_OPCODE_ATOMUADD: case TGSI_OPCODE_ATOMUMAX: case TGSI_OPCODE_ATOMUMIN:
    case TGSI_OPCODE_ATOMXCHG: case TGSI_OPCODE_ATOMXOR: case TGSI_OPCODE_BARRIER: case TGSI_OPCODE_BFI:
    case TGSI_OPCODE_BGNLOOP: case TGSI_OPCODE_BREV: case TGSI_OPCODE_BRK: case TGSI_OPCODE_CASE:
    case TGSI_OPCODE_CEIL: case TGSI_OPCODE_CMP: case TGSI_OPCODE_CONT: case TGSI_OPCODE_COS:
    case TGSI_OPCODE_D2F: case TGSI_OPCODE_D2I: case TGSI_OPCODE_D2I64: case TGSI_OPCODE_D2U:
    case TGSI_OPCODE_D2U64: case TGSI_OPCODE_DABS: case TGSI_OPCODE_DADD: case TGSI_OPCODE_DDIV:
    case TGSI_OPCODE_DDX: case TGSI_OPCODE_DDY: case TGSI_OPCODE_DEFAULT: case TGSI_OPCODE_DFRAC:
    case TGSI_OPCODE_DIV: case TGSI_OPCODE_DMAD: case TGSI_OPCODE_DMAX: case TGSI_OPCODE_DMIN:
    case TGSI_OPCODE_DMUL: case TGSI_OPCODE_DNEG: case TGSI_OPCODE_DP2: case TGSI_OPCODE_DP3:
    case TGSI_OPCODE_DP4: case TGSI_OPCODE_DRCP: case TGSI_OPCODE_DRSQ: case TGSI_OPCODE_DSEQ:
    case TGSI_OPCODE_DSGE: case TGSI_OPCODE_DSLT: case TGSI_OPCODE_DSNE: case TGSI_OPCODE_DSQRT:
    case TGSI_OPCODE_DST: case TGSI_OPCODE_ELSE: case TGSI_OPCODE_EMIT: case TGSI_OPCODE_END:
    case TGSI_OPCODE_ENDIF: case TGSI_OPCODE_ENDLOOP: case TGSI_OPCODE_ENDPRIM: case TGSI_OPCODE_ENDSWITCH:
    case TGSI_OPCODE_EX2: case TGSI_OPCODE_EXP: case TGSI_OPCODE_F2D: case TGSI_OPCODE_F2I:
    case TGSI_OPCODE_F2I64: case TGSI_OPCODE_F2U: case TGSI_OPCODE_F2U64: case TGSI_OPCODE_FLR:
    case TGSI_OPCODE_FRC: case TGSI_OPCODE_FSEQ: case TGSI_OPCODE_FSGE: case TGSI_OPCODE_FSLT:
    case TGSI_OPCODE_FSNE: case TGSI_OPCODE_GATHER4: case TGSI_OPCODE_I2D: case TGSI_OPCODE_I2F:
    case TGSI_OPCODE_I2I64: case TGSI_OPCODE_I642D: case TGSI_OPCODE_I642F: case TGSI_OPCODE_I64ABS:
    case TGSI_OPCODE_I64DIV: case TGSI_OPCODE_I64MAX: case TGSI_OPCODE_I64MIN: case TGSI_OPCODE_I64MOD:
    case TGSI_OPCODE_I64NEG: case TGSI_OPCODE_I64SGE: case TGSI_OPCODE_I64SHR: case TGSI_OPCODE_I64SLT:
    case TGSI_OPCODE_I64SSG: case TGSI_OPCODE_IABS: case TGSI_OPCODE_IBFE: case TGSI_OPCODE_IDIV:
    case TGSI_OPCODE_IF: case TGSI_OPCODE_IMAX: case TGSI_OPCODE_IMIN: case TGSI_OPCODE_IMSB:
    case TGSI_OPCODE_IMUL_HI: case TGSI_OPCODE_INEG: case TGSI_OPCODE_ISGE: case TGSI_OPCODE_ISHR:
    case TGSI_OPCODE_ISLT: case TGSI_OPCODE_ISSG: case TGSI_OPCODE_KILL: case TGSI_OPCODE_KILL_IF:
    case TGSI_OPCODE_LG2: case TGSI_OPCODE_LIT: case TGSI_OPCODE_LOAD: case TGSI_OPCODE_LOD:
    case TGSI_OPCODE_LODQ: case TGSI_OPCODE_LOG: case TGSI_OPCODE_LRP: case TGSI_OPCODE_LSB:
    case TGSI_OPCODE_MAD: case TGSI_OPCODE_MAX: case TGSI_OPCODE_MEMBAR: case TGSI_OPCODE_MIN:
    case TGSI_OPCODE_MOD: case TGSI_OPCODE_MOV: case TGSI_OPCODE_MUL: case TGSI_OPCODE_NOT:
    case TGSI_OPCODE_OR: case TGSI_OPCODE_PK2H: case TGSI_OPCODE_POPC: case TGSI_OPCODE_POW:
    case TGSI_OPCODE_RCP: case TGSI_OPCODE_RESQ: case TGSI_OPCODE_RET: case TGSI_OPCODE_ROUND:
    case TGSI_OPCODE_RSQ: case TGSI_OPCODE_SAMPLE: case TGSI_OPCODE_SAMPLE_B: case TGSI_OPCODE_SAMPLE_C:
    case TGSI_OPCODE_SAMPLE_C_LZ: case TGSI_OPCODE_SAMPLE_D: case TGSI_OPCODE_SAMPLE_I:
    case TGSI_OPCODE_SAMPLE_I_MS: case TGSI_OPCODE_SAMPLE_L: case TGSI_OPCODE_SEQ: case TGSI_OPCODE_SGE:
    case TGSI_OPCODE_SGT: case TGSI_OPCODE_SHL: case TGSI_OPCODE_SIN: case TGSI_OPCODE_SLE:
    case TGSI_OPCODE_SLT: case TGSI_OPCODE_SNE: case TGSI_OPCODE_SQRT: case TGSI_OPCODE_SSG:
    case TGSI_OPCODE_STORE: case TGSI_OPCODE_SVIEWINFO: case TGSI_OPCODE_SWITCH: case TGSI_OPCODE_TEX:
    case TGSI_OPCODE_TEX2: case TGSI_OPCODE_TEX_LZ: case TGSI_OPCODE_TG4: case TGSI_OPCODE_TRUNC:
    case TGSI_OPCODE_TXB: case TGSI_OPCODE_TXB2: case TGSI_OPCODE_TXD: case TGSI_OPCODE_TXF:
    case TGSI_OPCODE_TXF_LZ: case TGSI_OPCODE_TXL: case TGSI_OPCODE_TXL2: case TGSI_OPCODE_TXP:
    case TGSI_OPCODE_TXQ: case TGSI_OPCODE_U2D: case TGSI_OPCODE_U2F: case TGSI_OPCODE_U2I64:
    case TGSI_OPCODE_U642D: case TGSI_OPCODE_U642F: case TGSI_OPCODE_U64ADD: case TGSI_OPCODE_U64DIV:
    case TGSI_OPCODE_U64MAX: case TGSI_OPCODE_U64MIN: case TGSI_OPCODE_U64MOD: case TGSI_OPCODE_U64MUL:
    case TGSI_OPCODE_U64SEQ: case TGSI_OPCODE_U64SGE: case TGSI_OPCODE_U64SHL: case TGSI_OPCODE_U64SHR:
    case TGSI_OPCODE_U64SLT: case TGSI_OPCODE_U64SNE: case TGSI_OPCODE_UADD: case TGSI_OPCODE_UARL:
    case TGSI_OPCODE_UBFE: case TGSI_OPCODE_UCMP: case TGSI_OPCODE_UDIV: case TGSI_OPCODE_UIF:
    case TGSI_OPCODE_UMAD: case TGSI_OPCODE_UMAX: case TGSI_OPCODE_UMIN: case TGSI_OPCODE_UMOD:
    case TGSI_OPCODE_UMSB: case TGSI_OPCODE_UMUL: case TGSI_OPCODE_UMUL_HI: case TGSI_OPCODE_UP2H:
    case TGSI_OPCODE_USEQ: case TGSI_OPCODE_USGE: case TGSI_OPCODE_USHR: case TGSI_OPCODE_USLT:
    case TGSI_OPCODE_USNE: case TGSI_OPCODE_XOR:
      return true;
    default:
      return false;
  }
}

// Opcodes the host's translator (host/shader) takes that gallivm's TGSI path
// has not: fp64 rounding (GL_ARB_gpu_shader_fp64's floor, ceil, trunc,
// roundEven, sign), fine derivatives, ldexp, framebuffer fetch, float atomics.
bool nir_path_opcode(unsigned op) {
  switch (op) {
    case TGSI_OPCODE_DFLR: case TGSI_OPCODE_DCEIL: case TGSI_OPCODE_DTRUNC: case TGSI_OPCODE_DROUND:
    case TGSI_OPCODE_DSSG: case TGSI_OPCODE_DDX_FINE: case TGSI_OPCODE_DDY_FINE: case TGSI_OPCODE_LDEXP:
    case TGSI_OPCODE_FBFETCH: case TGSI_OPCODE_ATOMFADD:
      return true;
    default:
      return false;
  }
}

bool is_atomic(unsigned op) {
  switch (op) {
    case TGSI_OPCODE_ATOMAND: case TGSI_OPCODE_ATOMCAS: case TGSI_OPCODE_ATOMIMAX: case TGSI_OPCODE_ATOMIMIN:
    case TGSI_OPCODE_ATOMOR: case TGSI_OPCODE_ATOMUADD: case TGSI_OPCODE_ATOMUMAX: case TGSI_OPCODE_ATOMUMIN:
    case TGSI_OPCODE_ATOMXCHG: case TGSI_OPCODE_ATOMXOR: case TGSI_OPCODE_ATOMFADD:
      return true;
    default:
      return false;
  }
}

// Texture opcodes translated by gallivm's emit_tex: the sampler is the last source.
bool is_emit_tex_op(unsigned op) {
  switch (op) {
    case TGSI_OPCODE_TEX: case TGSI_OPCODE_TEX_LZ: case TGSI_OPCODE_TXB: case TGSI_OPCODE_TXD:
    case TGSI_OPCODE_TXL: case TGSI_OPCODE_TXP: case TGSI_OPCODE_TEX2: case TGSI_OPCODE_TXB2:
    case TGSI_OPCODE_TXL2: case TGSI_OPCODE_TG4: case TGSI_OPCODE_LODQ:
      return true;
    default:
      return false;
  }
}
bool is_sample_op(unsigned op) {  // D3D10-style: src1 sampler view, src2 sampler
  switch (op) {
    case TGSI_OPCODE_SAMPLE: case TGSI_OPCODE_SAMPLE_B: case TGSI_OPCODE_SAMPLE_C: case TGSI_OPCODE_SAMPLE_C_LZ:
    case TGSI_OPCODE_SAMPLE_D: case TGSI_OPCODE_SAMPLE_L: case TGSI_OPCODE_GATHER4: case TGSI_OPCODE_LOD:
      return true;
    default:
      return false;
  }
}

enum class Role { Value, Sampler, SamplerView, MemResource };

Role src_role(unsigned op, unsigned i, unsigned nsrc) {
  if (is_emit_tex_op(op) || op == TGSI_OPCODE_TXF || op == TGSI_OPCODE_TXF_LZ || op == TGSI_OPCODE_TXQ ||
      op == TGSI_OPCODE_TXQS) {
    return i + 1 == nsrc ? Role::Sampler : Role::Value;
  }
  if (is_sample_op(op)) return i == 1 ? Role::SamplerView : i == 2 ? Role::Sampler : Role::Value;
  if (op == TGSI_OPCODE_SAMPLE_I || op == TGSI_OPCODE_SAMPLE_I_MS || op == TGSI_OPCODE_SVIEWINFO) {
    return i == 1 ? Role::SamplerView : Role::Value;
  }
  if (op == TGSI_OPCODE_LOAD || op == TGSI_OPCODE_RESQ || is_atomic(op)) return i == 0 ? Role::MemResource : Role::Value;
  return Role::Value;
}

// Targets gallivm's emit_tex handles (no buffers, no multisample).
bool emit_tex_target_ok(unsigned t) {
  return t < TGSI_TEXTURE_UNKNOWN && t != TGSI_TEXTURE_BUFFER && t != TGSI_TEXTURE_2D_MSAA &&
         t != TGSI_TEXTURE_2D_ARRAY_MSAA;
}
// Targets of texel fetches (emit_fetch_texels).
bool fetch_target_ok(unsigned t) {
  switch (t) {
    case TGSI_TEXTURE_1D: case TGSI_TEXTURE_BUFFER: case TGSI_TEXTURE_1D_ARRAY: case TGSI_TEXTURE_2D:
    case TGSI_TEXTURE_RECT: case TGSI_TEXTURE_2D_MSAA: case TGSI_TEXTURE_2D_ARRAY:
    case TGSI_TEXTURE_2D_ARRAY_MSAA: case TGSI_TEXTURE_3D:
      return true;
    default:
      return false;
  }
}
// Sampler-view targets of the D3D10-style sample opcodes (emit_sample).
bool sample_target_ok(unsigned t) {
  switch (t) {
    case TGSI_TEXTURE_1D: case TGSI_TEXTURE_1D_ARRAY: case TGSI_TEXTURE_2D: case TGSI_TEXTURE_RECT:
    case TGSI_TEXTURE_2D_ARRAY: case TGSI_TEXTURE_CUBE: case TGSI_TEXTURE_3D: case TGSI_TEXTURE_CUBE_ARRAY:
      return true;
    default:
      return false;
  }
}
// Image targets (target_to_dims_layer).
// Multisampled images on the NIR path only: there the driver checks each
// access's sample index against the view's samples (gallivm's
// lp_build_img_op_soa); the TGSI path's image code takes no sample index.
bool image_target_ok(unsigned t, bool nir_path) {
  switch (t) {
    case TGSI_TEXTURE_1D: case TGSI_TEXTURE_BUFFER: case TGSI_TEXTURE_1D_ARRAY: case TGSI_TEXTURE_2D:
    case TGSI_TEXTURE_RECT: case TGSI_TEXTURE_2D_ARRAY: case TGSI_TEXTURE_3D: case TGSI_TEXTURE_CUBE:
    case TGSI_TEXTURE_CUBE_ARRAY:
      return true;
    case TGSI_TEXTURE_2D_MSAA: case TGSI_TEXTURE_2D_ARRAY_MSAA:
      return nir_path;
    default:
      return false;
  }
}

// System values gallivm can fetch, by stage: each stage's code generator fills
// only its own (emit_fetch_system_value would build on a null value otherwise).
// The NIR path's translator also reads the fragment's sample mask and
// position (gl_SampleMaskIn, gl_SamplePosition), which gallivm's TGSI path lacks.
bool system_value_ok(unsigned name, unsigned stage, bool nir_path) {
  if (nir_path && stage == PIPE_SHADER_FRAGMENT && (name == TGSI_SEMANTIC_SAMPLEMASK || name == TGSI_SEMANTIC_SAMPLEPOS)) {
    return true;
  }
  switch (stage) {
    case PIPE_SHADER_VERTEX:
      return name == TGSI_SEMANTIC_INSTANCEID || name == TGSI_SEMANTIC_VERTEXID ||
             name == TGSI_SEMANTIC_VERTEXID_NOBASE || name == TGSI_SEMANTIC_BASEVERTEX ||
             name == TGSI_SEMANTIC_BASEINSTANCE || name == TGSI_SEMANTIC_DRAWID;
    case PIPE_SHADER_GEOMETRY:
      return name == TGSI_SEMANTIC_INSTANCEID || name == TGSI_SEMANTIC_INVOCATIONID || name == TGSI_SEMANTIC_PRIMID;
    case PIPE_SHADER_FRAGMENT:
      return name == TGSI_SEMANTIC_FACE || name == TGSI_SEMANTIC_SAMPLEID || name == TGSI_SEMANTIC_HELPER_INVOCATION;
    case PIPE_SHADER_COMPUTE:
      return name == TGSI_SEMANTIC_THREAD_ID || name == TGSI_SEMANTIC_BLOCK_ID || name == TGSI_SEMANTIC_GRID_SIZE;
    case PIPE_SHADER_TESS_CTRL:
      return name == TGSI_SEMANTIC_INVOCATIONID || name == TGSI_SEMANTIC_PRIMID || name == TGSI_SEMANTIC_VERTICESIN;
    case PIPE_SHADER_TESS_EVAL:
      return name == TGSI_SEMANTIC_PRIMID || name == TGSI_SEMANTIC_TESSCOORD || name == TGSI_SEMANTIC_TESSOUTER ||
             name == TGSI_SEMANTIC_TESSINNER || name == TGSI_SEMANTIC_VERTICESIN;
    default:
      return false;
  }
}

unsigned vertices_per_gs_prim(int prim) {
  switch (prim) {
    case PIPE_PRIM_POINTS: return 1;
    case PIPE_PRIM_LINES: return 2;
    case PIPE_PRIM_TRIANGLES: return 3;
    case PIPE_PRIM_LINES_ADJACENCY: return 4;
    case PIPE_PRIM_TRIANGLES_ADJACENCY: return 6;
    default: return 0;
  }
}

const char* file_name(unsigned f) {
  static const char* const names[] = {"NULL", "CONST", "IN",   "OUT",  "TEMP", "SAMP",     "ADDR", "IMM",
                                      "SV",   "IMAGE", "SVIEW", "BUFFER", "MEMORY", "CONSTBUF", "HWATOMIC"};
  return f < TGSI_FILE_COUNT ? names[f] : "?";
}

// What has been declared so far, by register file.
struct Declared {
  std::array<std::vector<bool>, TGSI_FILE_COUNT> regs;                // 1D registers
  std::vector<std::vector<bool>> consts2d;                             // CONST[buffer][index]
  std::array<std::set<unsigned>, TGSI_FILE_COUNT> arrays;              // declared ArrayIDs
  std::array<int, PIPE_MAX_SHADER_SAMPLER_VIEWS> sview_target;        // -1 = undeclared
  std::array<int, PIPE_MAX_SAMPLERS> sampler_target;                  // first texture target seen
  std::vector<std::array<uint32_t, 4>> immediates;
  std::vector<uint8_t> immediate_type;
  std::vector<int> input_semantic;                                    // -1 = none
  std::vector<int> sv_semantic;                                       // -1 = none
  // Inputs and outputs: (semantic name, index, usage mask) by (file, register).
  std::map<std::pair<unsigned, unsigned>, std::array<unsigned, 3>> io;
  Declared() {
    input_semantic.assign(MesaInternal::kScanInputs, -1);
    sv_semantic.assign(MesaInternal::kScanInputs, -1);
    sview_target.fill(-1);
    sampler_target.fill(-1);
  }
};

class Validator {
 public:
  Validator(unsigned stage, const TgsiLimits& limits) : stage_(stage), lim_(limits) {
    const unsigned size[TGSI_FILE_COUNT] = {
        0,                                       // NULL
        0,                                       // CONSTANT: tracked per buffer in consts2d
        lim_.inputs,
        lim_.outputs,
        lim_.temps,
        lim_.samplers,
        lim_.address_regs,
        lim_.immediates,
        lim_.system_values,
        lim_.images,
        lim_.sampler_views,
        lim_.buffers,
        // MEMORY, indexed by memory type (ureg_DECL_memory): shared only, NIR path only
        lim_.nir_path && stage == PIPE_SHADER_COMPUTE ? unsigned(TGSI_MEMORY_TYPE_SHARED) + 1 : 0u,
        0, 0,                                    // CONSTBUF, HW_ATOMIC: not accepted
    };
    for (unsigned f = 0; f < TGSI_FILE_COUNT; ++f) decl_.regs[f].assign(size[f], false);
    decl_.consts2d.resize(lim_.const_buffers);
  }

  std::string declaration(uint32_t pos, const tgsi_full_declaration& d);
  std::string immediate(uint32_t pos, const tgsi_full_immediate& im);
  std::string property(uint32_t pos, const tgsi_full_property& p);
  std::string instruction(uint32_t pos, const tgsi_full_instruction& in);
  std::string finish();
  // GL's limit on a geometry shader's output (vertices x the components of
  // its outputs, as declared). draw sizes its output buffers from max
  // vertices x whole outputs, so memory stays within 4x of the cap.
  std::string check_gs_output_size() const {
    if (stage_ != PIPE_SHADER_GEOMETRY || !lim_.gs_max_total_components) return {};
    uint64_t per_vertex = 0;
    for (unsigned r = 0; r < summary.num_outputs; ++r) {
      auto it = decl_.io.find({unsigned(TGSI_FILE_OUTPUT), r});
      per_vertex += it == decl_.io.end() ? 4u : std::max(1u, unsigned(util_bitcount(it->second[2])));
    }
    const uint64_t components = uint64_t{gs_max_vertices_} * per_vertex;
    if (components > lim_.gs_max_total_components) {
      return fmt("geometry shader writes %u vertices x %u output components, more than %u", gs_max_vertices_,
                 unsigned(per_vertex), lim_.gs_max_total_components);
    }
    return {};
  }

  std::vector<uint32_t> constant_bytes() const {
    std::vector<uint32_t> bytes(decl_.consts2d.size(), 0);
    for (size_t b = 0; b < bytes.size(); ++b) {
      const auto& regs = decl_.consts2d[b];
      for (size_t r = regs.size(); r > 0; --r) {
        if (regs[r - 1]) {
          bytes[b] = uint32_t(r * 16);
          break;
        }
      }
    }
    while (!bytes.empty() && !bytes.back()) bytes.pop_back();
    return bytes;
  }

  TgsiSummary summary;

 private:
  std::string check_src(uint32_t pos, const tgsi_full_instruction& in, unsigned i);
  std::string check_dst(uint32_t pos, const tgsi_full_instruction& in, unsigned i);
  std::string check_declared(uint32_t pos, const char* what, unsigned file, int index, bool has_dim, int dim_index);
  std::string check_indirect(uint32_t pos, const char* what, unsigned file, const tgsi_ind_register& ind);
  std::string check_texture(uint32_t pos, const tgsi_full_instruction& in);
  std::string control_flow(uint32_t pos, unsigned op);
  void note_semantic(unsigned file, unsigned name, unsigned index, unsigned count);

  unsigned stage_;
  TgsiLimits lim_;
  Declared decl_;
  bool seen_instruction_ = false;
  bool seen_end_ = false;
  std::vector<unsigned> flow_;  // open IF/UIF, BGNLOOP, SWITCH
  unsigned tcs_vertices_out_ = 0;
  unsigned gs_max_vertices_ = 0;
  unsigned clipdist_ = 0, culldist_ = 0;
};

std::string Validator::declaration(uint32_t pos, const tgsi_full_declaration& d) {
  if (seen_instruction_) return fmt("declaration at token %u follows instructions", pos);
  const unsigned file = d.Declaration.File;
  const unsigned first = d.Range.First, last = d.Range.Last;
  if (file == TGSI_FILE_NULL || file >= TGSI_FILE_COUNT) return fmt("declaration at token %u: file %u is not a register file", pos, file);
  if (file == TGSI_FILE_IMMEDIATE || file == TGSI_FILE_CONSTBUF || file == TGSI_FILE_HW_ATOMIC) {
    return fmt("declaration at token %u: %s registers cannot be declared here", pos, file_name(file));
  }
  if (file == TGSI_FILE_MEMORY) {
    // gallivm does not bounds-check shared-memory addresses: only the NIR
    // path's translator, which clamps them, takes compute shared memory.
    if (!lim_.nir_path || stage_ != PIPE_SHADER_COMPUTE || d.Declaration.MemType != TGSI_MEMORY_TYPE_SHARED) {
      return fmt("declaration at token %u: memory other than compute shared memory on the NIR path is refused", pos);
    }
  }
  if (first > last) return fmt("declaration at token %u: range %u..%u is reversed", pos, first, last);
  if (stage_ == PIPE_SHADER_COMPUTE && (file == TGSI_FILE_INPUT || file == TGSI_FILE_OUTPUT)) {
    return fmt("declaration at token %u: compute shaders have no %s registers", pos, file_name(file));
  }
  if (d.Declaration.Dimension && file != TGSI_FILE_CONSTANT) {
    return fmt("declaration at token %u: only constants take a second dimension", pos);
  }
  if (d.Declaration.Interpolate) {
    if (d.Interp.Interpolate >= TGSI_INTERPOLATE_COUNT || d.Interp.Location >= TGSI_INTERPOLATE_LOC_COUNT) {
      return fmt("declaration at token %u: interpolation %u/%u is invalid", pos, d.Interp.Interpolate, d.Interp.Location);
    }
  }
  if (d.Declaration.Semantic) {
    const unsigned name = d.Semantic.Name, index = d.Semantic.Index;
    if (name >= TGSI_SEMANTIC_COUNT) return fmt("declaration at token %u: semantic %u is unknown", pos, name);
    const unsigned top = index + (last - first);
    unsigned limit = MesaInternal::kSemanticIndex;
    if (name == TGSI_SEMANTIC_COLOR || name == TGSI_SEMANTIC_BCOLOR) limit = PIPE_MAX_COLOR_BUFS;
    if (name == TGSI_SEMANTIC_CLIPDIST) limit = 2;
    if (top >= limit) return fmt("declaration at token %u: semantic index %u exceeds %u", pos, top, limit - 1);
  }
  if (file == TGSI_FILE_SYSTEM_VALUE) {
    if (first != last) return fmt("declaration at token %u: system values are declared one at a time", pos);
    if (!d.Declaration.Semantic || !system_value_ok(d.Semantic.Name, stage_, lim_.nir_path)) {
      return fmt("declaration at token %u: system value semantic %u is not available to this stage on the host", pos,
                 d.Declaration.Semantic ? unsigned(d.Semantic.Name) : 0u);
    }
  }
  if (d.Declaration.Array) {
    const unsigned id = d.Array.ArrayID;
    // tgsi_scan records input/output array starts in arrays of its register count.
    if (id == 0 || id >= MesaInternal::kScanInputs) {
      return fmt("declaration at token %u: ArrayID %u is not 1..%u", pos, id, MesaInternal::kScanInputs - 1);
    }
    if (!decl_.arrays[file].insert(id).second) return fmt("declaration at token %u: ArrayID %u declared twice", pos, id);
  }
  if (file == TGSI_FILE_SAMPLER_VIEW) {
    const auto& sv = d.SamplerView;
    if (sv.Resource >= TGSI_TEXTURE_UNKNOWN) return fmt("declaration at token %u: sampler view target %u is invalid", pos, sv.Resource);
    if (sv.ReturnTypeX >= TGSI_RETURN_TYPE_COUNT || sv.ReturnTypeY >= TGSI_RETURN_TYPE_COUNT ||
        sv.ReturnTypeZ >= TGSI_RETURN_TYPE_COUNT || sv.ReturnTypeW >= TGSI_RETURN_TYPE_COUNT) {
      return fmt("declaration at token %u: sampler view return type is invalid", pos);
    }
  }
  if (file == TGSI_FILE_IMAGE) {
    const auto& im = d.Image;
    if (!image_target_ok(im.Resource, lim_.nir_path)) return fmt("declaration at token %u: image target %u is not supported", pos, im.Resource);
    const auto format = static_cast<pipe_format>(im.Format);
    // GLSL's write-only images may omit the format (GL 4.2): gallivm's NIR
    // path accesses an image by the format of the view bound to it, never
    // by the declaration's.
    const bool unformatted = format == PIPE_FORMAT_NONE && lim_.nir_path;
    if (!im.Raw && !unformatted) {
      if (im.Format >= PIPE_FORMAT_COUNT || format == PIPE_FORMAT_NONE || !util_format_description(format)) {
        return fmt("declaration at token %u: image format %u is invalid", pos, im.Format);
      }
      if (lim_.screen && !lim_.screen->is_format_supported(lim_.screen, format, PIPE_TEXTURE_2D, 0, 0,
                                                           PIPE_BIND_SHADER_IMAGE) &&
          !lim_.screen->is_format_supported(lim_.screen, format, PIPE_BUFFER, 0, 0, PIPE_BIND_SHADER_IMAGE)) {
        return fmt("declaration at token %u: image format %s is not supported for shader images", pos,
                   util_format_short_name(format));
      }
    }
  }

  // Register ranges and double declarations. Constants without a second
  // dimension are buffer 0, as gallivm reads them.
  if (file == TGSI_FILE_CONSTANT) {
    const unsigned buf = d.Declaration.Dimension ? d.Dim.Index2D : 0;
    if (buf >= decl_.consts2d.size()) {
      return fmt("declaration at token %u: constant buffer %u exceeds the host's %zu", pos, buf, decl_.consts2d.size());
    }
    auto& regs = decl_.consts2d[buf];
    // st/mesa appends state parameters after a full set of uniforms, so the
    // declared range can pass MAX_CONST_BUFFER0_SIZE. gallivm bounds-checks
    // only indirect constant reads; the executor makes bound buffers cover the
    // declared range (summary.const_bytes), within what the driver makes
    // readable (HostLimits::constant_copy_bytes).
    const unsigned limit = lim_.consts * 4;
    if (last >= limit) return fmt("declaration at token %u: CONST[%u][%u] exceeds %u constants", pos, buf, last, limit);
    if (regs.empty()) regs.assign(limit, false);
    for (unsigned r = first; r <= last; ++r) {
      if (regs[r]) return fmt("declaration at token %u: CONST[%u][%u] declared twice", pos, buf, r);
      regs[r] = true;
    }
    return {};
  }
  auto& regs = decl_.regs[file];
  if (last >= regs.size()) {
    return fmt("declaration at token %u: %s[%u] exceeds the %zu %s registers allowed", pos, file_name(file), last,
               regs.size(), file_name(file));
  }
  for (unsigned r = first; r <= last; ++r) {
    if ((file == TGSI_FILE_INPUT || file == TGSI_FILE_OUTPUT) && d.Declaration.Semantic) {
      // nir_to_tgsi declares a register again for each variable packed into
      // it, with the same semantic (64-bit varyings: OUT[2] and OUT[2].xy).
      const std::array<unsigned, 3> now{d.Semantic.Name, d.Semantic.Index + (r - first), d.Declaration.UsageMask};
      auto [it, fresh] = decl_.io.emplace(std::make_pair(file, r), now);
      if (!fresh) {
        if (it->second[0] != now[0] || it->second[1] != now[1]) {
          return fmt("declaration at token %u: %s[%u] declared twice", pos, file_name(file), r);
        }
        it->second[2] |= now[2];
        continue;
      }
    } else if (regs[r]) {
      return fmt("declaration at token %u: %s[%u] declared twice", pos, file_name(file), r);
    }
    if (regs[r]) return fmt("declaration at token %u: %s[%u] declared twice", pos, file_name(file), r);
    regs[r] = true;
    if (file == TGSI_FILE_SAMPLER_VIEW) decl_.sview_target[r] = static_cast<int>(d.SamplerView.Resource);
    if (file == TGSI_FILE_INPUT && d.Declaration.Semantic) decl_.input_semantic[r] = d.Semantic.Name;
    if (file == TGSI_FILE_SYSTEM_VALUE && d.Declaration.Semantic && r < decl_.sv_semantic.size()) {
      decl_.sv_semantic[r] = d.Semantic.Name;
    }
  }
  if (file == TGSI_FILE_OUTPUT) summary.num_outputs = std::max(summary.num_outputs, last + 1);
  if (file == TGSI_FILE_INPUT) {
    summary.interface.num_inputs = static_cast<uint16_t>(std::max<unsigned>(summary.interface.num_inputs, last + 1));
  }
  if (d.Declaration.Semantic) note_semantic(file, d.Semantic.Name, d.Semantic.Index, last - first + 1);
  if (file == TGSI_FILE_TEMPORARY) summary.temps = std::max(summary.temps, last + 1);
  return {};
}

void Validator::note_semantic(unsigned file, unsigned name, unsigned index, unsigned count) {
  ShaderInterface& io = summary.interface;
  if (file == TGSI_FILE_INPUT) {
    io.input_face |= name == TGSI_SEMANTIC_FACE;
    io.input_layer |= name == TGSI_SEMANTIC_LAYER;
    io.input_viewport_index |= name == TGSI_SEMANTIC_VIEWPORT_INDEX;
    io.input_instance_id |= name == TGSI_SEMANTIC_INSTANCEID;
  } else if (file == TGSI_FILE_SYSTEM_VALUE) {
    io.uses_frontface |= name == TGSI_SEMANTIC_FACE;
  } else if (file == TGSI_FILE_OUTPUT) {
    for (unsigned i = index; i < index + count && i < 2; ++i) {
      if (name == TGSI_SEMANTIC_BCOLOR) io.output_bcolors |= static_cast<uint8_t>(1u << i);
    }
    io.output_psize |= name == TGSI_SEMANTIC_PSIZE;
    io.output_layer |= name == TGSI_SEMANTIC_LAYER;
    io.output_viewport_index |= name == TGSI_SEMANTIC_VIEWPORT_INDEX;
  }
}

std::string Validator::immediate(uint32_t pos, const tgsi_full_immediate& im) {
  if (seen_instruction_) return fmt("immediate at token %u follows instructions", pos);
  if (decl_.immediates.size() >= decl_.regs[TGSI_FILE_IMMEDIATE].size()) return fmt("immediate at token %u: too many immediates", pos);
  const unsigned words = im.Immediate.NrTokens - 1;
  const bool wide = im.Immediate.DataType >= TGSI_IMM_FLOAT64;
  if (wide ? (words != 2 && words != 4) : words != 4) {
    return fmt("immediate at token %u: %u data words for data type %u", pos, words, im.Immediate.DataType);
  }
  std::array<uint32_t, 4> v{};
  for (unsigned i = 0; i < words; ++i) v[i] = im.u[i].Uint;
  decl_.regs[TGSI_FILE_IMMEDIATE][decl_.immediates.size()] = true;
  decl_.immediates.push_back(v);
  decl_.immediate_type.push_back(static_cast<uint8_t>(im.Immediate.DataType));
  return {};
}

std::string Validator::property(uint32_t pos, const tgsi_full_property& p) {
  if (seen_instruction_) return fmt("property at token %u follows instructions", pos);
  const unsigned name = p.Property.PropertyName, v = p.u[0].Data;
  auto only = [&](unsigned s) -> std::string {
    if (stage_ != s) return fmt("property %u at token %u does not apply to this shader stage", name, pos);
    return {};
  };
  auto flag = [&](unsigned s) -> std::string {
    if (auto e = only(s); !e.empty()) return e;
    if (v > 1) return fmt("property %u at token %u: value %u is not 0 or 1", name, pos, v);
    return {};
  };
  switch (name) {
    case TGSI_PROPERTY_GS_INPUT_PRIM:
      if (auto e = only(PIPE_SHADER_GEOMETRY); !e.empty()) return e;
      if (!vertices_per_gs_prim(static_cast<int>(v))) return fmt("geometry input primitive %u is invalid", v);
      summary.gs_input_prim = static_cast<int>(v);
      return {};
    case TGSI_PROPERTY_GS_OUTPUT_PRIM:
      if (auto e = only(PIPE_SHADER_GEOMETRY); !e.empty()) return e;
      if (v != PIPE_PRIM_POINTS && v != PIPE_PRIM_LINE_STRIP && v != PIPE_PRIM_TRIANGLE_STRIP) {
        return fmt("geometry output primitive %u is invalid", v);
      }
      return {};
    case TGSI_PROPERTY_GS_MAX_OUTPUT_VERTICES:
      if (auto e = only(PIPE_SHADER_GEOMETRY); !e.empty()) return e;
      if (v > lim_.gs_max_output_vertices) return fmt("geometry max output vertices %u exceeds %u", v, lim_.gs_max_output_vertices);
      gs_max_vertices_ = v;
      return {};
    case TGSI_PROPERTY_GS_INVOCATIONS:
      if (auto e = only(PIPE_SHADER_GEOMETRY); !e.empty()) return e;
      if (v < 1 || v > lim_.gs_max_invocations) return fmt("geometry invocations %u is not 1..%u", v, lim_.gs_max_invocations);
      return {};
    case TGSI_PROPERTY_FS_COORD_ORIGIN:
    case TGSI_PROPERTY_FS_COORD_PIXEL_CENTER:
    case TGSI_PROPERTY_FS_COLOR0_WRITES_ALL_CBUFS:
    case TGSI_PROPERTY_FS_EARLY_DEPTH_STENCIL:
    case TGSI_PROPERTY_FS_POST_DEPTH_COVERAGE:
      return flag(PIPE_SHADER_FRAGMENT);
    case TGSI_PROPERTY_FS_DEPTH_LAYOUT:
      if (auto e = only(PIPE_SHADER_FRAGMENT); !e.empty()) return e;
      if (v > TGSI_FS_DEPTH_LAYOUT_UNCHANGED) return fmt("depth layout %u is invalid", v);
      return {};
    case TGSI_PROPERTY_VS_PROHIBIT_UCPS:
      return flag(PIPE_SHADER_VERTEX);
    case TGSI_PROPERTY_VS_WINDOW_SPACE_POSITION:
      if (v && !lim_.vs_window_space_position) return "window-space positions are not supported by the host";
      return flag(PIPE_SHADER_VERTEX);
    case TGSI_PROPERTY_TCS_VERTICES_OUT:
      if (auto e = only(PIPE_SHADER_TESS_CTRL); !e.empty()) return e;
      if (v < 1 || v > 32) return fmt("tessellation control vertices out %u is not 1..32", v);
      tcs_vertices_out_ = v;
      return {};
    case TGSI_PROPERTY_TES_PRIM_MODE:
      if (auto e = only(PIPE_SHADER_TESS_EVAL); !e.empty()) return e;
      if (v != PIPE_PRIM_TRIANGLES && v != PIPE_PRIM_QUADS && v != PIPE_PRIM_LINES) return fmt("tessellation mode %u is invalid", v);
      return {};
    case TGSI_PROPERTY_TES_SPACING:
      if (auto e = only(PIPE_SHADER_TESS_EVAL); !e.empty()) return e;
      if (v > PIPE_TESS_SPACING_EQUAL) return fmt("tessellation spacing %u is invalid", v);
      return {};
    case TGSI_PROPERTY_TES_VERTEX_ORDER_CW:
    case TGSI_PROPERTY_TES_POINT_MODE:
      return flag(PIPE_SHADER_TESS_EVAL);
    case TGSI_PROPERTY_NUM_CLIPDIST_ENABLED:
    case TGSI_PROPERTY_NUM_CULLDIST_ENABLED:
      (name == TGSI_PROPERTY_NUM_CLIPDIST_ENABLED ? clipdist_ : culldist_) = v;
      // tgsi_scan shifts by this count.
      if (clipdist_ + culldist_ > PIPE_MAX_CLIP_OR_CULL_DISTANCE_COUNT) {
        return fmt("%u clip + %u cull distances exceed %u", clipdist_, culldist_, PIPE_MAX_CLIP_OR_CULL_DISTANCE_COUNT);
      }
      return {};
    case TGSI_PROPERTY_NEXT_SHADER:
      if (v >= PIPE_SHADER_TYPES) return fmt("next shader stage %u is invalid", v);
      return {};
    case TGSI_PROPERTY_CS_FIXED_BLOCK_WIDTH:
    case TGSI_PROPERTY_CS_FIXED_BLOCK_HEIGHT:
    case TGSI_PROPERTY_CS_FIXED_BLOCK_DEPTH:
      if (auto e = only(PIPE_SHADER_COMPUTE); !e.empty()) return e;
      if (v > lim_.cs_max_block) return fmt("fixed block size %u exceeds %u", v, lim_.cs_max_block);
      return {};
    case TGSI_PROPERTY_LEGACY_MATH_RULES:
    case TGSI_PROPERTY_LAYER_VIEWPORT_RELATIVE:
    case TGSI_PROPERTY_SEPARABLE_PROGRAM:
      if (v > 1) return fmt("property %u at token %u: value %u is not 0 or 1", name, pos, v);
      return {};
    default:
      return fmt("property %u at token %u is not supported by the host", name, pos);
  }
}

std::string Validator::check_declared(uint32_t pos, const char* what, unsigned file, int index, bool has_dim,
                                      int dim_index) {
  if (index < 0) return fmt("instruction at token %u: %s %s[%d] has a negative index", pos, what, file_name(file), index);
  if (file == TGSI_FILE_CONSTANT) {
    if (!has_dim) dim_index = 0;
    if (dim_index < 0 || unsigned(dim_index) >= decl_.consts2d.size() || decl_.consts2d[dim_index].empty() ||
        unsigned(index) >= decl_.consts2d[dim_index].size() || !decl_.consts2d[dim_index][index]) {
      return fmt("instruction at token %u: %s CONST[%d][%d] is not declared", pos, what, dim_index, index);
    }
    return {};
  }
  const auto& regs = decl_.regs[file];
  // MEMORY is declared by memory type (MEMORY[1], SHARED) and used as
  // MEMORY[0] by nir_to_tgsi: shared memory is one space whatever the index.
  if (file == TGSI_FILE_MEMORY) {
    if (std::find(regs.begin(), regs.end(), true) == regs.end()) {
      return fmt("instruction at token %u: %s MEMORY is not declared", pos, what);
    }
    return {};
  }
  if (unsigned(index) >= regs.size() || !regs[index]) {
    return fmt("instruction at token %u: %s %s[%d] is not declared", pos, what, file_name(file), index);
  }
  return {};
}

std::string Validator::check_indirect(uint32_t pos, const char* what, unsigned file, const tgsi_ind_register& ind) {
  // gallivm reads the index from an address register or a temporary.
  if (ind.File != TGSI_FILE_ADDRESS && ind.File != TGSI_FILE_TEMPORARY) {
    return fmt("instruction at token %u: %s indirect index comes from %s, not ADDR or TEMP", pos, what, file_name(ind.File));
  }
  if (auto e = check_declared(pos, "indirect", ind.File, ind.Index, false, 0); !e.empty()) return e;
  if (ind.ArrayID && !decl_.arrays[file].count(ind.ArrayID)) {
    return fmt("instruction at token %u: %s names undeclared %s array %u", pos, what, file_name(file), ind.ArrayID);
  }
  return {};
}

std::string Validator::check_src(uint32_t pos, const tgsi_full_instruction& in, unsigned i) {
  const auto& s = in.Src[i];
  const unsigned op = in.Instruction.Opcode, file = s.Register.File;
  const Role role = src_role(op, i, in.Instruction.NumSrcRegs);
  char what[16];
  std::snprintf(what, sizeof what, "src%u", i);
  // Drivers with TG4_COMPONENT_IN_SWIZZLE take the gather component from the
  // sampler's swizzle and expect an empty src1 (nir_to_tgsi emits one).
  if (op == TGSI_OPCODE_TG4 && i == 1 && file == TGSI_FILE_NULL && lim_.tg4_component_in_swizzle) return {};
  switch (role) {
    case Role::Sampler:
      if (file != TGSI_FILE_SAMPLER) return fmt("instruction at token %u: %s must be a sampler, not %s", pos, what, file_name(file));
      break;
    case Role::SamplerView:
      if (file != TGSI_FILE_SAMPLER_VIEW) return fmt("instruction at token %u: %s must be a sampler view, not %s", pos, what, file_name(file));
      break;
    case Role::MemResource:
      if (file != TGSI_FILE_BUFFER && file != TGSI_FILE_IMAGE && file != TGSI_FILE_MEMORY) {
        return fmt("instruction at token %u: %s must be a buffer or image, not %s", pos, what, file_name(file));
      }
      break;
    case Role::Value: {
      const bool ok = file == TGSI_FILE_CONSTANT || file == TGSI_FILE_IMMEDIATE || file == TGSI_FILE_INPUT ||
                      file == TGSI_FILE_TEMPORARY || file == TGSI_FILE_SYSTEM_VALUE ||
                      (file == TGSI_FILE_OUTPUT && stage_ == PIPE_SHADER_TESS_CTRL) ||
                      (file == TGSI_FILE_OUTPUT && op == TGSI_OPCODE_FBFETCH && i == 0);
      if (!ok) return fmt("instruction at token %u: %s cannot read from the %s file", pos, what, file_name(file));
      if (file == TGSI_FILE_SYSTEM_VALUE && !s.Register.Indirect && s.Register.Index >= 0 &&
          unsigned(s.Register.Index) < decl_.sv_semantic.size()) {
        // gallivm keeps these three as 3-element values: a W component read
        // builds an out-of-range extract, and LLVM dereferences null
        // (found by the TGSI limits generator: MOV TEMP[0], SV[0] with THREAD_ID).
        const int sv = decl_.sv_semantic[s.Register.Index];
        if (sv == TGSI_SEMANTIC_THREAD_ID || sv == TGSI_SEMANTIC_BLOCK_ID || sv == TGSI_SEMANTIC_GRID_SIZE) {
          const unsigned swz[4] = {s.Register.SwizzleX, s.Register.SwizzleY, s.Register.SwizzleZ, s.Register.SwizzleW};
          const unsigned used = tgsi_util_get_inst_usage_mask(&in, i);
          for (unsigned c = 0; c < 4; ++c) {
            if ((used & (1u << c)) && swz[c] == TGSI_SWIZZLE_W) {
              return fmt("instruction at token %u: %s reads component w of a 3-component system value", pos, what);
            }
          }
        }
      }
      break;
    }
  }
  // Source modifiers: gallivm applies abs only to float data and negate to
  // anything but doubles (asserting otherwise); resource operands take none.
  if (s.Register.Absolute || s.Register.Negate) {
    const auto t = tgsi_opcode_infer_src_type(static_cast<tgsi_opcode>(op), i);
    const bool abs_ok = t == TGSI_TYPE_FLOAT || t == TGSI_TYPE_UNTYPED;
    const bool neg_ok = t != TGSI_TYPE_DOUBLE && t != TGSI_TYPE_VOID;
    if (role != Role::Value || (s.Register.Absolute && !abs_ok) || (s.Register.Negate && !neg_ok)) {
      return fmt("instruction at token %u: %s takes no %s modifier", pos, what, s.Register.Absolute ? "absolute" : "negate");
    }
  }
  if (s.Register.Dimension) {
    const bool vertex_dim = file == TGSI_FILE_INPUT && (stage_ == PIPE_SHADER_GEOMETRY || stage_ == PIPE_SHADER_TESS_CTRL ||
                                                        stage_ == PIPE_SHADER_TESS_EVAL);
    const bool tcs_out = file == TGSI_FILE_OUTPUT && stage_ == PIPE_SHADER_TESS_CTRL;
    if (file != TGSI_FILE_CONSTANT && !vertex_dim && !tcs_out) {
      return fmt("instruction at token %u: %s %s takes no second dimension", pos, what, file_name(file));
    }
    if (s.Dimension.Indirect) {
      if (!lim_.nir_path) {
        return fmt("instruction at token %u: %s indirect second dimension is not supported", pos, what);
      }
      if (auto e = check_indirect(pos, what, file, s.DimIndirect); !e.empty()) return e;
    }
    if (vertex_dim || tcs_out) {
      unsigned verts = 32;
      if (stage_ == PIPE_SHADER_GEOMETRY) verts = vertices_per_gs_prim(summary.gs_input_prim < 0 ? PIPE_PRIM_POINTS : summary.gs_input_prim);
      if (tcs_out) verts = tcs_vertices_out_;
      if (s.Dimension.Index < 0 || unsigned(s.Dimension.Index) >= verts) {
        return fmt("instruction at token %u: %s vertex index %d is not below %u", pos, what, s.Dimension.Index, verts);
      }
    }
  } else if (file == TGSI_FILE_INPUT && stage_ == PIPE_SHADER_GEOMETRY &&
             !(s.Register.Index >= 0 && unsigned(s.Register.Index) < decl_.input_semantic.size() &&
               decl_.input_semantic[s.Register.Index] == TGSI_SEMANTIC_PRIMID)) {  // (one per primitive)
    return fmt("instruction at token %u: %s geometry shader input needs a vertex index", pos, what);
  }
  const bool const2d = file == TGSI_FILE_CONSTANT && s.Register.Dimension;
  if (auto e = check_declared(pos, what, file, s.Register.Index, const2d, s.Dimension.Index); !e.empty()) return e;
  if (s.Register.Indirect) {
    if (file != TGSI_FILE_CONSTANT && file != TGSI_FILE_INPUT && file != TGSI_FILE_OUTPUT &&
        file != TGSI_FILE_TEMPORARY && file != TGSI_FILE_IMMEDIATE && role == Role::Value) {
      return fmt("instruction at token %u: %s %s cannot be addressed indirectly", pos, what, file_name(file));
    }
    // gallivm serves a PRIMID input from a system value and asserts it is read directly.
    if (file == TGSI_FILE_INPUT && decl_.input_semantic[s.Register.Index] == TGSI_SEMANTIC_PRIMID) {
      return fmt("instruction at token %u: %s primitive-id input cannot be addressed indirectly", pos, what);
    }
    if (auto e = check_indirect(pos, what, file, s.Indirect); !e.empty()) return e;
  }
  return {};
}

std::string Validator::check_dst(uint32_t pos, const tgsi_full_instruction& in, unsigned i) {
  const auto& d = in.Dst[i];
  const unsigned op = in.Instruction.Opcode, file = d.Register.File;
  if (!d.Register.WriteMask) return fmt("instruction at token %u: dst%u has an empty write mask", pos, i);
  if (op == TGSI_OPCODE_STORE) {
    if (file != TGSI_FILE_BUFFER && file != TGSI_FILE_IMAGE && file != TGSI_FILE_MEMORY) {
      return fmt("instruction at token %u: STORE must write a buffer, image or shared memory, not %s", pos, file_name(file));
    }
  } else if (file == TGSI_FILE_ADDRESS) {
    if (op != TGSI_OPCODE_ARL && op != TGSI_OPCODE_ARR && op != TGSI_OPCODE_UARL) {
      return fmt("instruction at token %u: only ARL/ARR/UARL may write ADDR", pos);
    }
  } else if (file != TGSI_FILE_TEMPORARY && !(file == TGSI_FILE_OUTPUT && stage_ != PIPE_SHADER_COMPUTE)) {
    return fmt("instruction at token %u: dst%u cannot write the %s file", pos, i, file_name(file));
  }
  if (d.Register.Dimension) {
    if (!(file == TGSI_FILE_OUTPUT && stage_ == PIPE_SHADER_TESS_CTRL)) {
      return fmt("instruction at token %u: dst%u %s takes no second dimension", pos, i, file_name(file));
    }
    if ((d.Dimension.Indirect && !lim_.nir_path) || d.Dimension.Index < 0 ||
        unsigned(d.Dimension.Index) >= tcs_vertices_out_) {
      return fmt("instruction at token %u: dst%u vertex index is outside 0..%d", pos, i, int(tcs_vertices_out_) - 1);
    }
    if (d.Dimension.Indirect) {
      if (auto e = check_indirect(pos, "dst", file, d.DimIndirect); !e.empty()) return e;
    }
  }
  if (auto e = check_declared(pos, "dst", file, d.Register.Index, false, 0); !e.empty()) return e;
  if (d.Register.Indirect) {
    // Image and buffer arrays (GLSL's image[i], ssbo[i]): the translator
    // clamps the index into the declared ones (host/shader, resource_index).
    const bool resource_array = op == TGSI_OPCODE_STORE && lim_.nir_path &&
                                (file == TGSI_FILE_IMAGE || file == TGSI_FILE_BUFFER);
    if (file != TGSI_FILE_TEMPORARY && file != TGSI_FILE_OUTPUT && !resource_array) {
      return fmt("instruction at token %u: dst%u %s cannot be addressed indirectly", pos, i, file_name(file));
    }
    if (tgsi_type_is_64bit(tgsi_opcode_infer_dst_type(static_cast<tgsi_opcode>(op), i))) {
      return fmt("instruction at token %u: indirect 64-bit stores are not supported", pos);
    }
    if (auto e = check_indirect(pos, "dst", file, d.Indirect); !e.empty()) return e;
  }
  return {};
}

std::string Validator::check_texture(uint32_t pos, const tgsi_full_instruction& in) {
  const unsigned op = in.Instruction.Opcode, nsrc = in.Instruction.NumSrcRegs;
  const bool is_tex = tgsi_get_opcode_info(static_cast<tgsi_opcode>(op))->is_tex;
  bool uses_sampler = false;
  for (unsigned i = 0; i < nsrc; ++i) uses_sampler |= in.Src[i].Register.File == TGSI_FILE_SAMPLER;
  if ((is_tex || uses_sampler) && !in.Instruction.Texture) {
    return fmt("instruction at token %u: %s needs a texture token", pos, tgsi_get_opcode_name(static_cast<tgsi_opcode>(op)));
  }
  if (!in.Instruction.Texture) return {};
  const unsigned target = in.Texture.Texture;
  if (target >= TGSI_TEXTURE_COUNT || in.Texture.ReturnType >= TGSI_RETURN_TYPE_COUNT) {
    return fmt("instruction at token %u: texture target %u / return type %u is invalid", pos, target, in.Texture.ReturnType);
  }
  for (unsigned i = 0; i < in.Texture.NumOffsets; ++i) {
    const auto& o = in.TexOffsets[i];
    if (o.File != TGSI_FILE_IMMEDIATE && o.File != TGSI_FILE_TEMPORARY && o.File != TGSI_FILE_CONSTANT &&
        o.File != TGSI_FILE_INPUT) {
      return fmt("instruction at token %u: texture offset %u reads from %s", pos, i, file_name(o.File));
    }
    if (auto e = check_declared(pos, "texture offset", o.File, o.Index, false, 0); !e.empty()) return e;
  }
  const char* name = tgsi_get_opcode_name(static_cast<tgsi_opcode>(op));
  if (is_emit_tex_op(op)) {
    if (!emit_tex_target_ok(target)) return fmt("instruction at token %u: %s cannot sample target %u", pos, name, target);
    // Sources gallivm reads besides the coordinates: they must exist and not be the sampler.
    const unsigned sampler_src = nsrc - 1;
    const bool lod = op == TGSI_OPCODE_TXB || op == TGSI_OPCODE_TXB2 || op == TGSI_OPCODE_TXL || op == TGSI_OPCODE_TXL2;
    unsigned needs = 0;
    if (lod && (target == TGSI_TEXTURE_SHADOWCUBE || target == TGSI_TEXTURE_CUBE_ARRAY)) needs = 1;
    if (target == TGSI_TEXTURE_SHADOWCUBE_ARRAY) needs = 1;
    if (op == TGSI_OPCODE_TXD) needs = 2;
    if (needs >= sampler_src) return fmt("instruction at token %u: %s on target %u needs more sources", pos, name, target);
  } else if (op == TGSI_OPCODE_TXF || op == TGSI_OPCODE_TXF_LZ) {
    if (!fetch_target_ok(target)) return fmt("instruction at token %u: %s cannot fetch from target %u", pos, name, target);
  } else if (op == TGSI_OPCODE_TXQ) {
    if (target >= TGSI_TEXTURE_UNKNOWN) return fmt("instruction at token %u: TXQ target %u is invalid", pos, target);
  } else if (op == TGSI_OPCODE_TXQS) {
    if (target != TGSI_TEXTURE_2D_MSAA && target != TGSI_TEXTURE_2D_ARRAY_MSAA) {
      return fmt("instruction at token %u: TXQS on target %u, which is not multisampled", pos, target);
    }
  }
  // Every target a unit is used with: the bound view must be of each.
  if (nsrc && in.Src[nsrc - 1].Register.File == TGSI_FILE_SAMPLER) {
    const int unit = in.Src[nsrc - 1].Register.Index;
    if (unit >= 0 && unit < PIPE_MAX_SAMPLERS) summary.sampled_targets[unit] |= 1u << target;
  }
  // tgsi_scan insists each sampler keeps one target (and matches its sampler view).
  if (is_tex && op != TGSI_OPCODE_TXQ && op != TGSI_OPCODE_TXQS && op != TGSI_OPCODE_LODQ) {
    const int unit = in.Src[nsrc - 1].Register.Index;
    if (unit >= 0 && unit < PIPE_MAX_SAMPLERS) {
      int& seen = decl_.sampler_target[unit];
      const int want = unit < int(decl_.sview_target.size()) && decl_.sview_target[unit] >= 0 ? decl_.sview_target[unit] : seen;
      if (want >= 0 && want != int(target)) {
        return fmt("instruction at token %u: sampler %d used with target %u and %d", pos, unit, target, want);
      }
      seen = int(target);
    }
  }
  return {};
}

std::string Validator::control_flow(uint32_t pos, unsigned op) {
  auto top = [&]() { return flow_.empty() ? ~0u : flow_.back(); };
  auto in_loop = [&]() {
    for (auto it = flow_.rbegin(); it != flow_.rend(); ++it) {
      if (*it == TGSI_OPCODE_BGNLOOP) return true;
    }
    return false;
  };
  switch (op) {
    case TGSI_OPCODE_IF: case TGSI_OPCODE_UIF: case TGSI_OPCODE_BGNLOOP: case TGSI_OPCODE_SWITCH:
      if (flow_.size() >= lim_.control_flow_depth) return fmt("instruction at token %u nests deeper than %u", pos, lim_.control_flow_depth);
      flow_.push_back(op == TGSI_OPCODE_UIF ? unsigned(TGSI_OPCODE_IF) : op);
      return {};
    case TGSI_OPCODE_ELSE:
      if (top() != TGSI_OPCODE_IF) return fmt("ELSE at token %u outside IF", pos);
      return {};
    case TGSI_OPCODE_ENDIF:
      if (top() != TGSI_OPCODE_IF) return fmt("ENDIF at token %u without IF", pos);
      flow_.pop_back();
      return {};
    case TGSI_OPCODE_ENDLOOP:
      if (top() != TGSI_OPCODE_BGNLOOP) return fmt("ENDLOOP at token %u without BGNLOOP", pos);
      flow_.pop_back();
      return {};
    case TGSI_OPCODE_ENDSWITCH:
      if (top() != TGSI_OPCODE_SWITCH) return fmt("ENDSWITCH at token %u without SWITCH", pos);
      flow_.pop_back();
      return {};
    case TGSI_OPCODE_CASE: case TGSI_OPCODE_DEFAULT:
      if (top() != TGSI_OPCODE_SWITCH) return fmt("CASE/DEFAULT at token %u outside SWITCH", pos);
      return {};
    case TGSI_OPCODE_BRK:
      if (!in_loop() && top() != TGSI_OPCODE_SWITCH) return fmt("BRK at token %u outside a loop or switch", pos);
      return {};
    case TGSI_OPCODE_CONT:
      if (!in_loop()) return fmt("CONT at token %u outside a loop", pos);
      return {};
    case TGSI_OPCODE_END:
      if (!flow_.empty()) return fmt("END at token %u inside an open IF/loop/switch", pos);
      return {};
    default:
      return {};
  }
}

std::string Validator::instruction(uint32_t pos, const tgsi_full_instruction& in) {
  seen_instruction_ = true;
  const unsigned op = in.Instruction.Opcode;
  if (seen_end_) return fmt("instruction at token %u follows END", pos);
  // TXQS only where the caps offer it: the NIR shader path translates it,
  // gallivm's TGSI path has none.
  const bool interp = op == TGSI_OPCODE_INTERP_CENTROID || op == TGSI_OPCODE_INTERP_SAMPLE ||
                      op == TGSI_OPCODE_INTERP_OFFSET;
  const bool allowed = opcode_supported(op) || (op == TGSI_OPCODE_TXQS && lim_.texture_samples_query) ||
                       ((interp || nir_path_opcode(op)) && lim_.nir_path);
  if (op >= TGSI_OPCODE_LAST || !allowed) {
    return fmt("instruction at token %u: opcode %u (%s) is not supported by the host", pos, op,
               op < TGSI_OPCODE_LAST ? tgsi_get_opcode_name(static_cast<tgsi_opcode>(op)) : "out of range");
  }
  const char* name = tgsi_get_opcode_name(static_cast<tgsi_opcode>(op));
  const tgsi_opcode_info* info = tgsi_get_opcode_info(static_cast<tgsi_opcode>(op));
  if (info->num_dst != in.Instruction.NumDstRegs || info->num_src != in.Instruction.NumSrcRegs) {
    return fmt("instruction at token %u: %s takes %u dst / %u src operands, not %u / %u", pos, name, info->num_dst,
               info->num_src, in.Instruction.NumDstRegs, in.Instruction.NumSrcRegs);
  }
  if (++summary.instructions > lim_.instructions) return fmt("shader exceeds %u instructions", lim_.instructions);
  // Stage-specific instructions: they reach for state only that stage has.
  switch (op) {
    case TGSI_OPCODE_KILL: case TGSI_OPCODE_KILL_IF: case TGSI_OPCODE_DDX: case TGSI_OPCODE_DDY:
    case TGSI_OPCODE_DDX_FINE: case TGSI_OPCODE_DDY_FINE:
      if (stage_ != PIPE_SHADER_FRAGMENT) return fmt("instruction at token %u: %s is fragment-shader only", pos, name);
      break;
    case TGSI_OPCODE_EMIT: case TGSI_OPCODE_ENDPRIM: {
      if (stage_ != PIPE_SHADER_GEOMETRY) return fmt("instruction at token %u: %s is geometry-shader only", pos, name);
      // The vertex stream is read from an immediate and indexes per-stream arrays.
      const auto& s = in.Src[0].Register;
      if (s.File != TGSI_FILE_IMMEDIATE || s.Indirect || s.Index < 0 || size_t(s.Index) >= decl_.immediates.size()) {
        return fmt("instruction at token %u: %s stream must be a declared immediate", pos, name);
      }
      const uint32_t stream = decl_.immediates[s.Index][s.SwizzleX];
      if (stream >= lim_.vertex_streams) return fmt("instruction at token %u: %s stream %u exceeds %u", pos, name, stream, lim_.vertex_streams - 1);
      break;
    }
    case TGSI_OPCODE_FBFETCH:
      if (stage_ != PIPE_SHADER_FRAGMENT || in.Src[0].Register.File != TGSI_FILE_OUTPUT) {
        return fmt("instruction at token %u: FBFETCH reads a fragment-shader output", pos);
      }
      break;
    case TGSI_OPCODE_INTERP_CENTROID: case TGSI_OPCODE_INTERP_SAMPLE: case TGSI_OPCODE_INTERP_OFFSET:
      if (stage_ != PIPE_SHADER_FRAGMENT) return fmt("instruction at token %u: %s is fragment-shader only", pos, name);
      if (in.Src[0].Register.File != TGSI_FILE_INPUT || in.Src[0].Register.Dimension) {
        return fmt("instruction at token %u: %s interpolates an input", pos, name);
      }
      break;
    case TGSI_OPCODE_BARRIER:
      if (stage_ != PIPE_SHADER_COMPUTE && stage_ != PIPE_SHADER_TESS_CTRL) {
        return fmt("instruction at token %u: BARRIER is compute/tessellation-control only", pos);
      }
      break;
    default:
      break;
  }
  if (in.Instruction.Saturate) {
    const auto t = tgsi_opcode_infer_dst_type(static_cast<tgsi_opcode>(op), 0);
    if (t != TGSI_TYPE_FLOAT && t != TGSI_TYPE_UNTYPED) return fmt("instruction at token %u: %s cannot saturate", pos, name);
  }
  if (in.Instruction.Memory) {
    if (in.Memory.Texture >= TGSI_TEXTURE_COUNT || in.Memory.Format >= PIPE_FORMAT_COUNT) {
      return fmt("instruction at token %u: memory token target %u / format %u is invalid", pos, in.Memory.Texture, in.Memory.Format);
    }
  }
  const bool memory_op = op == TGSI_OPCODE_LOAD || op == TGSI_OPCODE_STORE || op == TGSI_OPCODE_RESQ || is_atomic(op);
  if (memory_op) {
    const unsigned file = op == TGSI_OPCODE_STORE ? in.Dst[0].Register.File : in.Src[0].Register.File;
    if (file == TGSI_FILE_IMAGE && !image_target_ok(in.Memory.Texture, lim_.nir_path)) {
      return fmt("instruction at token %u: %s image target %u is not supported", pos, name, in.Memory.Texture);
    }
  }
  for (unsigned i = 0; i < in.Instruction.NumDstRegs; ++i) {
    if (auto e = check_dst(pos, in, i); !e.empty()) return e;
  }
  for (unsigned i = 0; i < in.Instruction.NumSrcRegs; ++i) {
    if (auto e = check_src(pos, in, i); !e.empty()) return e;
  }
  if (auto e = check_texture(pos, in); !e.empty()) return e;
  // Sampler views the D3D10-style opcodes read their target from must be declared with a usable one.
  if (is_sample_op(op) || op == TGSI_OPCODE_SAMPLE_I || op == TGSI_OPCODE_SAMPLE_I_MS || op == TGSI_OPCODE_SVIEWINFO) {
    const int unit = in.Src[1].Register.Index;
    const int t = unit >= 0 && unit < int(decl_.sview_target.size()) ? decl_.sview_target[unit] : -1;
    const bool ok = op == TGSI_OPCODE_SVIEWINFO ? t >= 0
                    : is_sample_op(op)          ? t >= 0 && sample_target_ok(unsigned(t))
                                                : t >= 0 && fetch_target_ok(unsigned(t));
    if (!ok) return fmt("instruction at token %u: %s cannot use sampler view %d (target %d)", pos, name, unit, t);
  }
  if (auto e = control_flow(pos, op); !e.empty()) return e;
  if (op == TGSI_OPCODE_END) seen_end_ = true;
  return {};
}

std::string Validator::finish() {
  if (!seen_end_) return "the shader has no END instruction";
  if (stage_ == PIPE_SHADER_TESS_CTRL && !tcs_vertices_out_) return "tessellation control shader without TCS_VERTICES_OUT";
  // The draw module's LLVM vertex path (draw_llvm.c) stores every output
  // below the highest declared one, and gallivm allocates only declared
  // ones: a hole was a NULL value in LLVM's hands (SEGV compiling the draw
  // variant; found by the limits generator of compositor_test with OUT[79]
  // alone). st/mesa declares outputs without holes.
  if (stage_ == PIPE_SHADER_VERTEX || stage_ == PIPE_SHADER_GEOMETRY || stage_ == PIPE_SHADER_TESS_EVAL) {
    const auto& out = decl_.regs[TGSI_FILE_OUTPUT];
    for (unsigned r = 0; r < summary.num_outputs; ++r) {
      if (!out[r]) {
        return fmt("OUT[%u] is declared but OUT[%u] below it is not: the draw module reads every output up to the "
                   "highest", summary.num_outputs - 1, r);
      }
    }
  }
  return {};
}


}  // namespace

std::vector<tgsi_token> padded_tgsi_copy(const uint8_t* bytes, uint32_t token_count) {
  std::vector<tgsi_token> tokens(size_t{token_count} + kTgsiPadTokens);
  std::memset(tokens.data(), 0, tokens.size() * sizeof(tgsi_token));
  std::memcpy(tokens.data(), bytes, size_t{token_count} * sizeof(tgsi_token));
  return tokens;
}

TgsiLimits tgsi_limits(const HostLimits& host, unsigned stage) {
  TgsiLimits l;
  const StageLimits& s = host.stage[stage];
  l.inputs = s.inputs;
  l.outputs = s.outputs;
  l.temps = s.temps;
  l.consts = s.consts;
  l.const_buffers = s.const_buffers;
  l.immediates = s.immediates;
  l.address_regs = s.address_regs;
  l.system_values = s.system_values;
  l.samplers = s.samplers;
  l.sampler_views = s.sampler_views;
  l.images = std::min(s.images, MesaInternal::kScanMaskBits);
  l.buffers = std::min(s.buffers, MesaInternal::kScanMaskBits);
  l.instructions = s.instructions;
  l.control_flow_depth = s.control_flow_depth;
  l.gs_max_output_vertices = host.gs_max_output_vertices;
  l.gs_max_total_components = host.gs_max_total_components;
  l.gs_max_invocations = host.gs_max_invocations;
  l.vertex_streams = host.vertex_streams;
  l.vs_window_space_position = host.vs_window_space_position;
  l.tg4_component_in_swizzle = host.tg4_component_in_swizzle;
  l.texture_samples_query = host.texture_samples_query;
  l.cs_max_block = host.cs_max_block;
  l.screen = host.screen;
  return l;
}

std::string validate_tgsi(const tgsi_token* tokens, uint32_t token_count, unsigned stage, const TgsiLimits& limits,
                          TgsiSummary& summary) {
  if (stage >= PIPE_SHADER_TYPES) return fmt("shader stage %u is invalid", stage);
  if (token_count < 3) return fmt("%u tokens cannot hold a header and an END instruction", token_count);
  const auto header = token_as<tgsi_header>(tokens, 0);
  if (header.HeaderSize != 2) return fmt("header size %u, expected 2", header.HeaderSize);
  if (uint64_t{header.HeaderSize} + header.BodySize != token_count) {
    return fmt("header says %u + %u tokens, the bulk span holds %u", header.HeaderSize, header.BodySize, token_count);
  }
  const auto proc = token_as<tgsi_processor>(tokens, 1);
  if (proc.Processor != stage) return fmt("tokens are for shader stage %u, the record says %u", proc.Processor, stage);

  Validator v(stage, limits);
  tgsi_parse_context parse;
  if (tgsi_parse_init(&parse, tokens) != TGSI_PARSE_OK) return "tgsi_parse_init rejected the header";
  uint32_t pos = header.HeaderSize;
  while (pos < token_count) {
    uint32_t size = 0;
    if (auto e = shadow_token_size(tokens, pos, token_count, size); !e.empty()) return e;
    // Safe now: the token and everything it claims lie inside the stream.
    tgsi_parse_token(&parse);
    if (parse.Position != pos + size) {
      return fmt("token %u: the parser consumed %u tokens, the token claims %u", pos, parse.Position - pos, size);
    }
    std::string e;
    switch (parse.FullToken.Token.Type) {
      case TGSI_TOKEN_TYPE_DECLARATION: e = v.declaration(pos, parse.FullToken.FullDeclaration); break;
      case TGSI_TOKEN_TYPE_IMMEDIATE: e = v.immediate(pos, parse.FullToken.FullImmediate); break;
      case TGSI_TOKEN_TYPE_PROPERTY: e = v.property(pos, parse.FullToken.FullProperty); break;
      case TGSI_TOKEN_TYPE_INSTRUCTION: e = v.instruction(pos, parse.FullToken.FullInstruction); break;
    }
    if (!e.empty()) return e;
    pos += size;
  }
  tgsi_parse_free(&parse);
  if (auto e = v.finish(); !e.empty()) return e;
  if (auto e = v.check_gs_output_size(); !e.empty()) return e;
  // Mesa's own checker. It counts errors only when TGSI_PRINT_SANITY is set,
  // so the checks above repeat its rules (declared registers, operand counts,
  // write masks, one END); it still fails on streams it cannot iterate.
  if (!tgsi_sanity_check(tokens)) return "tgsi_sanity_check rejected the shader";
  summary = v.summary;
  summary.const_bytes = v.constant_bytes();
  return {};
}

bool sampled_view_matches(int tgsi_target, unsigned view_target) {
  switch (tgsi_target) {
    case TGSI_TEXTURE_BUFFER: return view_target == PIPE_BUFFER;
    case TGSI_TEXTURE_1D: case TGSI_TEXTURE_SHADOW1D: return view_target == PIPE_TEXTURE_1D;
    case TGSI_TEXTURE_2D: case TGSI_TEXTURE_SHADOW2D: case TGSI_TEXTURE_RECT: case TGSI_TEXTURE_SHADOWRECT:
    case TGSI_TEXTURE_2D_MSAA:
      return view_target == PIPE_TEXTURE_2D || view_target == PIPE_TEXTURE_RECT;
    case TGSI_TEXTURE_1D_ARRAY: case TGSI_TEXTURE_SHADOW1D_ARRAY: return view_target == PIPE_TEXTURE_1D_ARRAY;
    case TGSI_TEXTURE_2D_ARRAY: case TGSI_TEXTURE_SHADOW2D_ARRAY: case TGSI_TEXTURE_2D_ARRAY_MSAA:
      return view_target == PIPE_TEXTURE_2D_ARRAY;
    case TGSI_TEXTURE_3D: return view_target == PIPE_TEXTURE_3D;
    case TGSI_TEXTURE_CUBE: case TGSI_TEXTURE_SHADOWCUBE: return view_target == PIPE_TEXTURE_CUBE;
    case TGSI_TEXTURE_CUBE_ARRAY: case TGSI_TEXTURE_SHADOWCUBE_ARRAY: return view_target == PIPE_TEXTURE_CUBE_ARRAY;
    default: return false;
  }
}

}  // namespace xen3d::host
