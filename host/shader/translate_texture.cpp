// TGSI texture opcodes -> nir_tex_instr.
//
// TGSI packs a lookup's operands into src0 (and src1 for the *2 opcodes):
// the coordinates (at least two slots), then the shadow comparator, then the
// bias / lod / projector / sample index, in the order Mesa's NIR -> TGSI
// packs them (nir_to_tgsi_lower_tex_instr). The sampler is the last source;
// on these opcodes the sampler view has the sampler's index.
#include "host/shader/translator.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace xen3d::host::shader {
namespace {

struct Target {
  glsl_sampler_dim dim;
  bool array, shadow;
  unsigned coords;  // including the array layer
};

bool target_of(unsigned t, Target& out) {
  switch (t) {
    case TGSI_TEXTURE_BUFFER: out = {GLSL_SAMPLER_DIM_BUF, false, false, 1}; return true;
    case TGSI_TEXTURE_1D: out = {GLSL_SAMPLER_DIM_1D, false, false, 1}; return true;
    case TGSI_TEXTURE_2D: out = {GLSL_SAMPLER_DIM_2D, false, false, 2}; return true;
    case TGSI_TEXTURE_3D: out = {GLSL_SAMPLER_DIM_3D, false, false, 3}; return true;
    case TGSI_TEXTURE_CUBE: out = {GLSL_SAMPLER_DIM_CUBE, false, false, 3}; return true;
    case TGSI_TEXTURE_RECT: out = {GLSL_SAMPLER_DIM_RECT, false, false, 2}; return true;
    case TGSI_TEXTURE_SHADOW1D: out = {GLSL_SAMPLER_DIM_1D, false, true, 1}; return true;
    case TGSI_TEXTURE_SHADOW2D: out = {GLSL_SAMPLER_DIM_2D, false, true, 2}; return true;
    case TGSI_TEXTURE_SHADOWRECT: out = {GLSL_SAMPLER_DIM_RECT, false, true, 2}; return true;
    case TGSI_TEXTURE_1D_ARRAY: out = {GLSL_SAMPLER_DIM_1D, true, false, 2}; return true;
    case TGSI_TEXTURE_2D_ARRAY: out = {GLSL_SAMPLER_DIM_2D, true, false, 3}; return true;
    case TGSI_TEXTURE_SHADOW1D_ARRAY: out = {GLSL_SAMPLER_DIM_1D, true, true, 2}; return true;
    case TGSI_TEXTURE_SHADOW2D_ARRAY: out = {GLSL_SAMPLER_DIM_2D, true, true, 3}; return true;
    case TGSI_TEXTURE_SHADOWCUBE: out = {GLSL_SAMPLER_DIM_CUBE, false, true, 3}; return true;
    case TGSI_TEXTURE_2D_MSAA: out = {GLSL_SAMPLER_DIM_MS, false, false, 2}; return true;
    case TGSI_TEXTURE_2D_ARRAY_MSAA: out = {GLSL_SAMPLER_DIM_MS, true, false, 3}; return true;
    case TGSI_TEXTURE_CUBE_ARRAY: out = {GLSL_SAMPLER_DIM_CUBE, true, false, 4}; return true;
    case TGSI_TEXTURE_SHADOWCUBE_ARRAY: out = {GLSL_SAMPLER_DIM_CUBE, true, true, 4}; return true;
    default: return false;
  }
}

bool is_texture_op(unsigned op) {
  switch (op) {
    case TGSI_OPCODE_TEX: case TGSI_OPCODE_TEX2: case TGSI_OPCODE_TXB: case TGSI_OPCODE_TXB2:
    case TGSI_OPCODE_TXL: case TGSI_OPCODE_TXL2: case TGSI_OPCODE_TXP: case TGSI_OPCODE_TEX_LZ:
    case TGSI_OPCODE_TXD: case TGSI_OPCODE_TXF: case TGSI_OPCODE_TXF_LZ: case TGSI_OPCODE_TXQ:
    case TGSI_OPCODE_TXQS: case TGSI_OPCODE_TG4: case TGSI_OPCODE_LODQ:
      return true;
    default:
      return false;
  }
}

}  // namespace

bool Translator::texture(unsigned op) {
  if (!is_texture_op(op)) {
    switch (op) {
      case TGSI_OPCODE_SAMPLE: case TGSI_OPCODE_SAMPLE_B: case TGSI_OPCODE_SAMPLE_C: case TGSI_OPCODE_SAMPLE_C_LZ:
      case TGSI_OPCODE_SAMPLE_D: case TGSI_OPCODE_SAMPLE_L: case TGSI_OPCODE_SAMPLE_I: case TGSI_OPCODE_SAMPLE_I_MS:
      case TGSI_OPCODE_GATHER4: case TGSI_OPCODE_SVIEWINFO: case TGSI_OPCODE_LOD:
        fail("the D3D10-style %s is not translated (Mesa's GL frontend does not emit it)", op_name(op));
        return true;
      default:
        return false;
    }
  }
  nir_builder* bb = b();
  const tgsi_full_instruction& in = inst();
  Target t;
  if (!in.Instruction.Texture || !target_of(in.Texture.Texture, t)) {
    fail("%s: texture target %u is not translated", op_name(op), in.Instruction.Texture ? in.Texture.Texture : 0);
    return true;
  }
  const unsigned nsrc = in.Instruction.NumSrcRegs;
  if (nsrc < (op == TGSI_OPCODE_TXQS ? 1u : 2u)) return fail("%s without a sampler", op_name(op)), true;
  const tgsi_full_src_register& samp = in.Src[nsrc - 1];
  if (samp.Register.File != TGSI_FILE_SAMPLER) return fail("%s: the last source is not a sampler", op_name(op)), true;
  const unsigned unit = samp.Register.Index;

  // The packed operands: src0, then src1 for the *2 opcodes and shadow-cube-array gathers.
  const bool two = op == TGSI_OPCODE_TEX2 || op == TGSI_OPCODE_TXB2 || op == TGSI_OPCODE_TXL2 ||
                   (op == TGSI_OPCODE_TG4 && in.Texture.Texture == TGSI_TEXTURE_SHADOWCUBE_ARRAY);
  nir_ssa_def* p[8] = {};
  if (op != TGSI_OPCODE_TXQS) {  // TXQS: the sampler is its only source
    nir_ssa_def* s0 = src(0, TGSI_TYPE_FLOAT);
    for (unsigned c = 0; c < 4; ++c) p[c] = nir_channel(bb, s0, c);
    if (two) {
      nir_ssa_def* s1 = src(1, TGSI_TYPE_FLOAT);
      for (unsigned c = 0; c < 4; ++c) p[4 + c] = nir_channel(bb, s1, c);
    }
  }
  const unsigned comparator_at = t.coords > 2 ? t.coords : 2;
  const unsigned extra_at = t.shadow ? std::max(comparator_at + 1, 3u) : std::max(t.coords, 3u);
  auto packed = [&](unsigned i) -> nir_ssa_def* {
    if (i >= 8 || !p[i]) {
      fail("%s: operand %u of the packed sources is missing", op_name(op), i);
      return nir_imm_float(bb, 0.0f);
    }
    return p[i];
  };

  nir_texop texop;
  bool has_lod = false, has_bias = false, has_proj = false, lod_zero = false;
  switch (op) {
    case TGSI_OPCODE_TEX: case TGSI_OPCODE_TEX2: texop = nir_texop_tex; break;
    case TGSI_OPCODE_TXP: texop = nir_texop_tex; has_proj = true; break;
    case TGSI_OPCODE_TXB: case TGSI_OPCODE_TXB2: texop = nir_texop_txb; has_bias = true; break;
    case TGSI_OPCODE_TXL: case TGSI_OPCODE_TXL2: texop = nir_texop_txl; has_lod = true; break;
    case TGSI_OPCODE_TEX_LZ: texop = nir_texop_txl; lod_zero = true; break;
    case TGSI_OPCODE_TXD: texop = nir_texop_txd; break;
    case TGSI_OPCODE_TXF:
      texop = t.dim == GLSL_SAMPLER_DIM_MS ? nir_texop_txf_ms : nir_texop_txf;
      has_lod = t.dim != GLSL_SAMPLER_DIM_MS && t.dim != GLSL_SAMPLER_DIM_BUF;
      break;
    case TGSI_OPCODE_TXF_LZ: texop = nir_texop_txf; lod_zero = t.dim != GLSL_SAMPLER_DIM_BUF; break;
    case TGSI_OPCODE_TXQ: texop = nir_texop_txs; break;
    case TGSI_OPCODE_TXQS: texop = nir_texop_texture_samples; break;
    case TGSI_OPCODE_TG4: texop = nir_texop_tg4; break;
    default: texop = nir_texop_lod; break;  // LODQ
  }
  const bool fetch = texop == nir_texop_txf || texop == nir_texop_txf_ms;
  if (t.dim == GLSL_SAMPLER_DIM_MS && texop != nir_texop_txf_ms && texop != nir_texop_txs &&
      texop != nir_texop_texture_samples) {
    return fail("%s on a multisampled texture", op_name(op)), true;
  }
  if (t.dim == GLSL_SAMPLER_DIM_BUF && !fetch && texop != nir_texop_txs) {
    return fail("%s on a buffer texture", op_name(op)), true;
  }
  if (t.shadow && (fetch || texop == nir_texop_lod)) return fail("%s on a shadow target", op_name(op)), true;

  struct Operand {
    nir_tex_src_type type;
    nir_ssa_def* value;
  };
  std::vector<Operand> ops;
  const unsigned grad_components = t.coords - (t.array ? 1 : 0);
  if (texop == nir_texop_txs) {
    if (t.dim != GLSL_SAMPLER_DIM_BUF && t.dim != GLSL_SAMPLER_DIM_MS && t.dim != GLSL_SAMPLER_DIM_RECT) {
      ops.push_back({nir_tex_src_lod, packed(0)});
    }
  } else if (texop != nir_texop_texture_samples) {
    nir_ssa_def* coord[4];
    for (unsigned c = 0; c < t.coords; ++c) coord[c] = packed(c);
    ops.push_back({nir_tex_src_coord, nir_vec(bb, coord, t.coords)});
    if (t.shadow) ops.push_back({nir_tex_src_comparator, packed(comparator_at)});
    if (has_bias) ops.push_back({nir_tex_src_bias, packed(extra_at)});
    if (has_lod) ops.push_back({nir_tex_src_lod, packed(extra_at)});
    if (lod_zero) ops.push_back({nir_tex_src_lod, fetch ? nir_imm_int(bb, 0) : nir_imm_float(bb, 0.0f)});
    if (has_proj) ops.push_back({nir_tex_src_projector, packed(extra_at)});
    if (texop == nir_texop_txf_ms) ops.push_back({nir_tex_src_ms_index, packed(extra_at)});
    if (texop == nir_texop_txd) {
      if (nsrc < 4) return fail("TXD needs its two gradients"), true;
      ops.push_back({nir_tex_src_ddx, nir_channels(bb, src(1, TGSI_TYPE_FLOAT), (1u << grad_components) - 1)});
      ops.push_back({nir_tex_src_ddy, nir_channels(bb, src(2, TGSI_TYPE_FLOAT), (1u << grad_components) - 1)});
    }
  }

  // Offsets: one for the lookup, or four for a gather (lowered by the driver).
  const unsigned offsets = in.Texture.NumOffsets;
  const unsigned offset_components = t.dim == GLSL_SAMPLER_DIM_CUBE ? 0 : grad_components;
  int8_t tg4_offsets[4][2] = {};
  bool explicit_tg4_offsets = false;
  if (offsets) {
    if (!offset_components) return fail("%s: offsets on a cube map", op_name(op)), true;
    if (offsets != 1 && !(offsets == 4 && texop == nir_texop_tg4)) {
      return fail("%s with %u offsets", op_name(op), offsets), true;
    }
    for (unsigned i = 0; i < offsets; ++i) {
      const tgsi_texture_offset& o = in.TexOffsets[i];
      tgsi_full_src_register r{};
      r.Register.File = o.File;
      r.Register.Index = o.Index;
      r.Register.SwizzleX = o.SwizzleX;
      r.Register.SwizzleY = o.SwizzleY;
      r.Register.SwizzleZ = o.SwizzleZ;
      r.Register.SwizzleW = o.SwizzleZ;
      nir_ssa_def* v = nir_channels(bb, src(r, TGSI_TYPE_SIGNED), (1u << offset_components) - 1);
      if (offsets == 1) {
        ops.push_back({nir_tex_src_offset, v});
        continue;
      }
      const nir_const_value* cv = nir_src_as_const_value(nir_src_for_ssa(v));
      if (!cv || offset_components != 2) return fail("TG4 with four offsets needs 2D immediate offsets"), true;
      tg4_offsets[i][0] = static_cast<int8_t>(cv[0].i32);
      tg4_offsets[i][1] = static_cast<int8_t>(cv[1].i32);
      explicit_tg4_offsets = true;
    }
  }
  // Sampler arrays indexed by a register (GLSL's sampler[i]): the offset
  // from SAMP[unit] is clamped into the declared units, so no lookup reaches
  // a unit the shader does not have (llvmpipe also switches over its bound
  // samplers only; other drivers index their tables with it).
  nir_ssa_def* unit_offset = nullptr;
  if (samp.Register.Indirect) {
    const unsigned units = util_last_bit(scan_.samplers_declared | scan_.file_mask[TGSI_FILE_SAMPLER_VIEW]);
    if (unit >= units) return fail("SAMP[%u] is not declared", unit), true;
    unit_offset = nir_umin(bb, indirect_index(samp.Indirect), nir_imm_int(bb, int(units - 1 - unit)));
    ops.push_back({nir_tex_src_texture_offset, unit_offset});
    ops.push_back({nir_tex_src_sampler_offset, unit_offset});
  }
  if (failed()) return true;
  {
    const unsigned units = util_last_bit(scan_.samplers_declared | scan_.file_mask[TGSI_FILE_SAMPLER_VIEW]);
    if (!use_samplers(unit, samp.Register.Indirect && units ? units - 1 : unit, t.dim, t.array, t.shadow)) return true;
  }

  nir_tex_instr* tex = nir_tex_instr_create(bb->shader, ops.size());
  tex->op = texop;
  tex->sampler_dim = t.dim;
  tex->is_array = t.array;
  tex->is_shadow = t.shadow;
  // TGSI's shadow lookups return four channels: the comparison result
  // through the view's swizzle, which is how st/mesa applies
  // GL_DEPTH_TEXTURE_MODE (ALPHA: 0,0,0,r). NIR's old-style shadow lookups
  // are the same; new-style ones return the bare result, dropping the
  // swizzle (fixed-function depth textures in ALPHA mode came out white).
  tex->is_new_style_shadow = false;
  tex->coord_components = texop == nir_texop_txs || texop == nir_texop_texture_samples ? 0 : t.coords;
  tex->texture_index = unit;
  tex->sampler_index = unit;
  tex->dest_type = texop == nir_texop_txs || texop == nir_texop_texture_samples ? nir_type_int32
                   : texop == nir_texop_lod                                      ? nir_type_float32
                   : t.shadow                                                    ? nir_type_float32
                                                                                 : view_type(unit);
  if (texop == nir_texop_tg4) {
    if (t.shadow) {
      tex->component = 0;
    } else if (nsrc >= 3 && in.Src[1].Register.File == TGSI_FILE_IMMEDIATE) {
      // The component as an immediate (drivers without
      // TG4_COMPONENT_IN_SWIZZLE: zink), read from the immediate itself: the
      // swizzled source is a new vector, not a constant NIR can read.
      const tgsi_full_src_register& c = in.Src[1];
      const unsigned index = unsigned(c.Register.Index);
      const nir_const_value* cv =
          index < imms_.size() ? nir_src_as_const_value(nir_src_for_ssa(imms_[index])) : nullptr;
      tex->component = cv ? (cv[c.Register.SwizzleX & 3].u32 & 3) : 0;
    } else {
      tex->component = samp.Register.SwizzleX & 3;  // PIPE_CAP_TGSI_TG4_COMPONENT_IN_SWIZZLE
    }
    if (explicit_tg4_offsets) std::memcpy(tex->tg4_offsets, tg4_offsets, sizeof tg4_offsets);
  }
  for (unsigned i = 0; i < ops.size(); ++i) {
    tex->src[i].src_type = ops[i].type;
    tex->src[i].src = nir_src_for_ssa(ops[i].value);
  }
  nir_ssa_dest_init(&tex->instr, &tex->dest, nir_tex_instr_dest_size(tex), 32, nullptr);
  nir_builder_instr_insert(bb, &tex->instr);
  nir_ssa_def* r = &tex->dest.ssa;

  if (texop == nir_texop_txs) {
    // TGSI's TXQ: (width, height, depth or layers, levels); NIR asks for levels apart.
    nir_ssa_def* c[4];
    for (unsigned i = 0; i < 3; ++i) c[i] = i < r->num_components ? nir_channel(bb, r, i) : nir_imm_int(bb, 0);
    c[3] = nir_imm_int(bb, 1);
    if ((write_mask() & TGSI_WRITEMASK_W) && t.dim != GLSL_SAMPLER_DIM_BUF && t.dim != GLSL_SAMPLER_DIM_MS &&
        t.dim != GLSL_SAMPLER_DIM_RECT) {
      nir_tex_instr* q = nir_tex_instr_create(bb->shader, unit_offset ? 2 : 0);
      if (unit_offset) {
        q->src[0].src_type = nir_tex_src_texture_offset;
        q->src[0].src = nir_src_for_ssa(unit_offset);
        q->src[1].src_type = nir_tex_src_sampler_offset;
        q->src[1].src = nir_src_for_ssa(unit_offset);
      }
      q->op = nir_texop_query_levels;
      q->sampler_dim = t.dim;
      q->is_array = t.array;
      q->is_shadow = t.shadow;
      q->texture_index = unit;
      q->sampler_index = unit;
      q->dest_type = nir_type_int32;
      nir_ssa_dest_init(&q->instr, &q->dest, 1, 32, nullptr);
      nir_builder_instr_insert(bb, &q->instr);
      c[3] = &q->dest.ssa;
    }
    r = nir_vec(bb, c, 4);
  } else if (r->num_components < 4) {
    // Shadow lookups and sample counts replicate; LODQ fills .xy.
    nir_ssa_def* c[4];
    for (unsigned i = 0; i < 4; ++i) {
      c[i] = texop == nir_texop_lod ? (i < 2 ? nir_channel(bb, r, i) : nir_imm_float(bb, 0.0f)) : nir_channel(bb, r, 0);
    }
    r = nir_vec(bb, c, 4);
  }
  store_dst(r, false);
  return true;
}

}  // namespace xen3d::host::shader
