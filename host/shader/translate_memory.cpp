// TGSI memory opcodes on shader buffers and images -> NIR intrinsics.
//
// Operands: LOAD dst, RES, address; STORE RES.mask, address, value;
// ATOM* dst, RES, address, data [, data2]; RESQ dst, RES. A buffer address is
// a byte offset in .x; an image address is integer coordinates, with the
// sample in .w for multisampled images. The driver bounds-checks every
// access against the bound buffer or image.
#include "host/shader/translator.h"

#include "util/format/u_format.h"

namespace xen3d::host::shader {
namespace {

struct ImageShape {
  glsl_sampler_dim dim;
  bool array;
  unsigned coords;  // coordinate components, the layer included
};

bool image_shape(unsigned target, ImageShape& out) {
  switch (target) {
    case TGSI_TEXTURE_BUFFER: out = {GLSL_SAMPLER_DIM_BUF, false, 1}; return true;
    case TGSI_TEXTURE_1D: out = {GLSL_SAMPLER_DIM_1D, false, 1}; return true;
    case TGSI_TEXTURE_1D_ARRAY: out = {GLSL_SAMPLER_DIM_1D, true, 2}; return true;
    case TGSI_TEXTURE_2D: out = {GLSL_SAMPLER_DIM_2D, false, 2}; return true;
    case TGSI_TEXTURE_RECT: out = {GLSL_SAMPLER_DIM_RECT, false, 2}; return true;
    case TGSI_TEXTURE_2D_ARRAY: out = {GLSL_SAMPLER_DIM_2D, true, 3}; return true;
    case TGSI_TEXTURE_3D: out = {GLSL_SAMPLER_DIM_3D, false, 3}; return true;
    case TGSI_TEXTURE_CUBE: out = {GLSL_SAMPLER_DIM_CUBE, false, 3}; return true;
    case TGSI_TEXTURE_CUBE_ARRAY: out = {GLSL_SAMPLER_DIM_CUBE, true, 3}; return true;
    case TGSI_TEXTURE_2D_MSAA: out = {GLSL_SAMPLER_DIM_MS, false, 2}; return true;
    case TGSI_TEXTURE_2D_ARRAY_MSAA: out = {GLSL_SAMPLER_DIM_MS, true, 3}; return true;
    default: return false;
  }
}

struct Atomic {
  unsigned tgsi;
  nir_intrinsic_op ssbo, image, shared, image_deref;
};
constexpr Atomic kAtomics[] = {
    {TGSI_OPCODE_ATOMUADD, nir_intrinsic_ssbo_atomic_add, nir_intrinsic_image_atomic_add, nir_intrinsic_shared_atomic_add,
     nir_intrinsic_image_deref_atomic_add},
    {TGSI_OPCODE_ATOMXCHG, nir_intrinsic_ssbo_atomic_exchange, nir_intrinsic_image_atomic_exchange,
     nir_intrinsic_shared_atomic_exchange,
     nir_intrinsic_image_deref_atomic_exchange},
    {TGSI_OPCODE_ATOMCAS, nir_intrinsic_ssbo_atomic_comp_swap, nir_intrinsic_image_atomic_comp_swap,
     nir_intrinsic_shared_atomic_comp_swap,
     nir_intrinsic_image_deref_atomic_comp_swap},
    {TGSI_OPCODE_ATOMAND, nir_intrinsic_ssbo_atomic_and, nir_intrinsic_image_atomic_and, nir_intrinsic_shared_atomic_and,
     nir_intrinsic_image_deref_atomic_and},
    {TGSI_OPCODE_ATOMOR, nir_intrinsic_ssbo_atomic_or, nir_intrinsic_image_atomic_or, nir_intrinsic_shared_atomic_or,
     nir_intrinsic_image_deref_atomic_or},
    {TGSI_OPCODE_ATOMXOR, nir_intrinsic_ssbo_atomic_xor, nir_intrinsic_image_atomic_xor, nir_intrinsic_shared_atomic_xor,
     nir_intrinsic_image_deref_atomic_xor},
    {TGSI_OPCODE_ATOMUMIN, nir_intrinsic_ssbo_atomic_umin, nir_intrinsic_image_atomic_umin,
     nir_intrinsic_shared_atomic_umin,
     nir_intrinsic_image_deref_atomic_umin},
    {TGSI_OPCODE_ATOMUMAX, nir_intrinsic_ssbo_atomic_umax, nir_intrinsic_image_atomic_umax,
     nir_intrinsic_shared_atomic_umax,
     nir_intrinsic_image_deref_atomic_umax},
    {TGSI_OPCODE_ATOMIMIN, nir_intrinsic_ssbo_atomic_imin, nir_intrinsic_image_atomic_imin,
     nir_intrinsic_shared_atomic_imin,
     nir_intrinsic_image_deref_atomic_imin},
    {TGSI_OPCODE_ATOMIMAX, nir_intrinsic_ssbo_atomic_imax, nir_intrinsic_image_atomic_imax,
     nir_intrinsic_shared_atomic_imax,
     nir_intrinsic_image_deref_atomic_imax},
    {TGSI_OPCODE_ATOMFADD, nir_intrinsic_ssbo_atomic_fadd, nir_intrinsic_image_atomic_fadd,
     nir_intrinsic_shared_atomic_fadd,
     nir_intrinsic_image_deref_atomic_fadd},
};

gl_access_qualifier access_of(unsigned qualifier) {
  unsigned a = 0;
  if (qualifier & TGSI_MEMORY_COHERENT) a |= ACCESS_COHERENT;
  if (qualifier & TGSI_MEMORY_RESTRICT) a |= ACCESS_RESTRICT;
  if (qualifier & TGSI_MEMORY_VOLATILE) a |= ACCESS_VOLATILE;
  return static_cast<gl_access_qualifier>(a);
}

// Inserts `intr` with a destination of `components` 32-bit values (none: no destination).
nir_ssa_def* insert(nir_builder* b, nir_intrinsic_instr* intr, unsigned components) {
  if (components) nir_ssa_dest_init(&intr->instr, &intr->dest, components, 32, nullptr);
  nir_builder_instr_insert(b, &intr->instr);
  return components ? &intr->dest.ssa : nullptr;
}

// A vec4 of the `n` loaded dwords, zeros after them (LOAD fills dst.x, .y, ...).
nir_ssa_def* zero_extend(nir_builder* b, nir_ssa_def* v, unsigned n) {
  nir_ssa_def* c[4];
  for (unsigned i = 0; i < 4; ++i) c[i] = i < n ? nir_channel(b, v, i) : nir_imm_int(b, 0);
  return nir_vec(b, c, 4);
}

nir_alu_type format_type(unsigned format) {
  const auto f = static_cast<pipe_format>(format);
  if (f != PIPE_FORMAT_NONE && util_format_is_pure_uint(f)) return nir_type_uint32;
  if (f != PIPE_FORMAT_NONE && util_format_is_pure_sint(f)) return nir_type_int32;
  return nir_type_float32;
}

}  // namespace

// The buffer or image a memory instruction names, clamped into the declared
// ones when indexed indirectly.
nir_ssa_def* Translator::resource_index(const tgsi_full_src_register& r, unsigned count, const char* what) {
  nir_builder* bb = b();
  const unsigned index = r.Register.Index;
  if (index >= count) {
    fail("%s[%u] is not declared", what, index);
    return nir_imm_int(bb, 0);
  }
  if (!r.Register.Indirect) return nir_imm_int(bb, index);
  return nir_umin(bb, nir_iadd_imm(bb, indirect_index(r.Indirect), index), nir_imm_int(bb, count - 1));
}

bool Translator::memory(unsigned opcode) {
  const auto op = static_cast<tgsi_opcode>(opcode);
  const Atomic* atomic = nullptr;
  for (const Atomic& a : kAtomics) {
    if (a.tgsi == op) atomic = &a;
  }
  if (op != TGSI_OPCODE_LOAD && op != TGSI_OPCODE_STORE && op != TGSI_OPCODE_RESQ && !atomic) {
    if (op == TGSI_OPCODE_ATOMINC_WRAP || op == TGSI_OPCODE_ATOMDEC_WRAP) {
      fail("%s is not translated to NIR yet", op_name(op));
      return true;
    }
    return false;
  }
  nir_builder* bb = b();
  const tgsi_full_instruction& in = inst();
  // The resource: the destination of a STORE, source 0 otherwise.
  tgsi_full_src_register res{};
  unsigned mask = TGSI_WRITEMASK_XYZW;
  if (op == TGSI_OPCODE_STORE) {
    res.Register.File = in.Dst[0].Register.File;
    res.Register.Index = in.Dst[0].Register.Index;
    res.Register.Indirect = in.Dst[0].Register.Indirect;
    res.Indirect = in.Dst[0].Indirect;
    mask = in.Dst[0].Register.WriteMask;
  } else {
    res = in.Src[0];
  }
  const gl_access_qualifier access = access_of(in.Memory.Qualifier);
  const unsigned addr_src = op == TGSI_OPCODE_STORE ? 0 : 1;

  auto finish = [&](nir_intrinsic_instr* intr, unsigned components) { return insert(bb, intr, components); };

  if (res.Register.File == TGSI_FILE_BUFFER) {
    nir_ssa_def* block = resource_index(res, ssbos_, "BUFFER");
    if (op == TGSI_OPCODE_RESQ) {
      nir_intrinsic_instr* q = nir_intrinsic_instr_create(bb->shader, nir_intrinsic_get_ssbo_size);
      q->src[0] = nir_src_for_ssa(block);
      store_dst(finish(q, 1), false);
      return true;
    }
    nir_ssa_def* offset = src_chan(addr_src, 0, TGSI_TYPE_UNSIGNED);
    if (failed()) return true;
    if (op == TGSI_OPCODE_LOAD) {
      // dst.x is the dword at the offset, .y the next one, and so on.
      const unsigned n = util_last_bit(write_mask());
      if (!n) return true;
      nir_intrinsic_instr* l = nir_intrinsic_instr_create(bb->shader, nir_intrinsic_load_ssbo);
      l->num_components = n;
      l->src[0] = nir_src_for_ssa(block);
      l->src[1] = nir_src_for_ssa(offset);
      nir_intrinsic_set_access(l, access);
      nir_intrinsic_set_align(l, 4, 0);
      nir_ssa_def* v = finish(l, n);
      store_dst(zero_extend(bb, v, n), false);
      return true;
    }
    if (op == TGSI_OPCODE_STORE) {
      const unsigned n = util_last_bit(mask);
      if (!n) return true;
      nir_ssa_def* value = nir_channels(bb, src(1, TGSI_TYPE_UNSIGNED), (1u << n) - 1);
      nir_intrinsic_instr* st = nir_intrinsic_instr_create(bb->shader, nir_intrinsic_store_ssbo);
      st->num_components = n;
      st->src[0] = nir_src_for_ssa(value);
      st->src[1] = nir_src_for_ssa(block);
      st->src[2] = nir_src_for_ssa(offset);
      nir_intrinsic_set_write_mask(st, mask);
      nir_intrinsic_set_access(st, access);
      nir_intrinsic_set_align(st, 4, 0);
      finish(st, 0);
      return true;
    }
    nir_intrinsic_instr* a = nir_intrinsic_instr_create(bb->shader, atomic->ssbo);
    a->src[0] = nir_src_for_ssa(block);
    a->src[1] = nir_src_for_ssa(offset);
    a->src[2] = nir_src_for_ssa(src_chan(2, 0, TGSI_TYPE_UNSIGNED));
    if (op == TGSI_OPCODE_ATOMCAS) a->src[3] = nir_src_for_ssa(src_chan(3, 0, TGSI_TYPE_UNSIGNED));
    nir_intrinsic_set_access(a, access);
    if (failed()) return true;
    store_dst(finish(a, 1), false);
    return true;
  }

  if (res.Register.File == TGSI_FILE_MEMORY) return shared_memory(op, atomic, mask);
  if (res.Register.File != TGSI_FILE_IMAGE) {
    fail("%s on register file %u is not translated", op_name(op), res.Register.File);
    return true;
  }
  if (res.Register.Index >= images_.size() || !images_[res.Register.Index].declared) {
    fail("IMAGE[%u] is not declared", res.Register.Index);
    return true;
  }
  const Image& img = images_[res.Register.Index];
  ImageShape shape;
  if (!image_shape(img.target, shape)) {
    fail("image target %u is not translated", img.target);
    return true;
  }
  const unsigned format = in.Memory.Format ? in.Memory.Format : img.format;
  // The image: its binding, or a deref of its variable (images_by_deref_),
  // with each intrinsic's deref twin.
  nir_ssa_def* index = nullptr;
  if (images_by_deref_) {
    if (res.Register.Indirect) return fail("indexed image arrays are not translated for this host driver"), true;
    const unsigned unit = res.Register.Index;
    image_vars_.resize(images_.size());
    nir_variable*& var = image_vars_[unit];
    if (!var) {
      const nir_alu_type t = format_type(img.format);
      const glsl_base_type base = t == nir_type_int32 ? GLSL_TYPE_INT : t == nir_type_uint32 ? GLSL_TYPE_UINT : GLSL_TYPE_FLOAT;
      var = nir_variable_create(bb->shader, nir_var_image, glsl_image_type(shape.dim, shape.array, base), "image");
      var->data.binding = unit;
      var->data.explicit_binding = true;
      var->data.image.format = static_cast<pipe_format>(img.format);
    }
    index = &nir_build_deref_var(bb, var)->dest.ssa;
  } else {
    index = resource_index(res, images_.size(), "IMAGE");
  }
  auto op_for = [&](nir_intrinsic_op by_index, nir_intrinsic_op by_deref) {
    return images_by_deref_ ? by_deref : by_index;
  };
  auto set_image = [&](nir_intrinsic_instr* intr) {
    nir_intrinsic_set_image_dim(intr, shape.dim);
    nir_intrinsic_set_image_array(intr, shape.array);
    nir_intrinsic_set_format(intr, static_cast<pipe_format>(format));
    nir_intrinsic_set_access(intr, access);
  };

  if (op == TGSI_OPCODE_RESQ) {
    unsigned n = shape.coords;
    if (shape.dim == GLSL_SAMPLER_DIM_CUBE && !shape.array) n = 2;
    nir_intrinsic_instr* q = nir_intrinsic_instr_create(bb->shader, op_for(nir_intrinsic_image_size, nir_intrinsic_image_deref_size));
    q->num_components = n;
    q->src[0] = nir_src_for_ssa(index);
    q->src[1] = nir_src_for_ssa(nir_imm_int(bb, 0));
    set_image(q);
    nir_ssa_def* size = finish(q, n);
    nir_ssa_def* c[4];
    for (unsigned i = 0; i < 4; ++i) c[i] = i < n ? nir_channel(bb, size, i) : nir_imm_int(bb, 0);
    if (shape.dim == GLSL_SAMPLER_DIM_MS && (write_mask() & TGSI_WRITEMASK_W)) {
      nir_intrinsic_instr* s = nir_intrinsic_instr_create(bb->shader, op_for(nir_intrinsic_image_samples, nir_intrinsic_image_deref_samples));
      s->src[0] = nir_src_for_ssa(index);
      set_image(s);
      c[3] = finish(s, 1);
    }
    store_dst(nir_vec(bb, c, 4), false);
    return true;
  }

  nir_ssa_def* addr = src(addr_src, TGSI_TYPE_UNSIGNED);
  nir_ssa_def* coord[4];
  for (unsigned i = 0; i < 4; ++i) coord[i] = i < shape.coords ? nir_channel(bb, addr, i) : nir_imm_int(bb, 0);
  nir_ssa_def* coords = nir_vec(bb, coord, 4);
  nir_ssa_def* sample = shape.dim == GLSL_SAMPLER_DIM_MS ? nir_channel(bb, addr, 3) : nir_imm_int(bb, 0);
  if (failed()) return true;

  if (op == TGSI_OPCODE_LOAD) {
    nir_intrinsic_instr* l = nir_intrinsic_instr_create(bb->shader, op_for(nir_intrinsic_image_load, nir_intrinsic_image_deref_load));
    l->num_components = 4;
    l->src[0] = nir_src_for_ssa(index);
    l->src[1] = nir_src_for_ssa(coords);
    l->src[2] = nir_src_for_ssa(sample);
    l->src[3] = nir_src_for_ssa(nir_imm_int(bb, 0));
    set_image(l);
    nir_intrinsic_set_dest_type(l, format_type(format));
    store_dst(finish(l, 4), false);
    return true;
  }
  if (op == TGSI_OPCODE_STORE) {
    nir_intrinsic_instr* st = nir_intrinsic_instr_create(bb->shader, op_for(nir_intrinsic_image_store, nir_intrinsic_image_deref_store));
    st->num_components = 4;
    st->src[0] = nir_src_for_ssa(index);
    st->src[1] = nir_src_for_ssa(coords);
    st->src[2] = nir_src_for_ssa(sample);
    st->src[3] = nir_src_for_ssa(src(1, TGSI_TYPE_UNSIGNED));
    st->src[4] = nir_src_for_ssa(nir_imm_int(bb, 0));
    set_image(st);
    nir_intrinsic_set_src_type(st, format_type(format));
    if (failed()) return true;
    finish(st, 0);
    return true;
  }
  nir_intrinsic_instr* a = nir_intrinsic_instr_create(bb->shader, op_for(atomic->image, atomic->image_deref));
  a->src[0] = nir_src_for_ssa(index);
  a->src[1] = nir_src_for_ssa(coords);
  a->src[2] = nir_src_for_ssa(sample);
  a->src[3] = nir_src_for_ssa(src_chan(2, 0, TGSI_TYPE_UNSIGNED));
  if (op == TGSI_OPCODE_ATOMCAS) a->src[4] = nir_src_for_ssa(src_chan(3, 0, TGSI_TYPE_UNSIGNED));
  set_image(a);
  if (failed()) return true;
  store_dst(finish(a, 1), false);
  return true;
}

// Compute shared memory: the driver allocates the req_local_mem bytes the
// guest asked for and does not bounds-check the addresses (gallivm indexes
// its shared pointer with them), so every access is clamped into them,
// dword-aligned.
bool Translator::shared_memory(unsigned opcode, const void* atomic_entry, unsigned store_mask) {
  const auto op = static_cast<tgsi_opcode>(opcode);
  const auto* atomic = static_cast<const Atomic*>(atomic_entry);
  nir_builder* bb = b();
  if (!shared_declared_) return fail("MEMORY is not declared"), true;
  if (op == TGSI_OPCODE_RESQ) return fail("RESQ of shared memory"), true;
  const unsigned n = op == TGSI_OPCODE_LOAD ? util_last_bit(write_mask()) : op == TGSI_OPCODE_STORE ? util_last_bit(store_mask) : 1;
  if (!n) return true;
  if (shared_bytes_ < 4 * n) return fail("shared memory access past the %u bytes the shader asks for", shared_bytes_), true;
  nir_ssa_def* offset = src_chan(op == TGSI_OPCODE_STORE ? 0 : 1, 0, TGSI_TYPE_UNSIGNED);
  offset = nir_iand_imm(bb, nir_umin(bb, offset, nir_imm_int(bb, int(shared_bytes_ - 4 * n))), ~3);
  if (failed()) return true;
  auto finish = [&](nir_intrinsic_instr* intr, unsigned components) { return insert(bb, intr, components); };
  if (op == TGSI_OPCODE_LOAD) {
    nir_intrinsic_instr* l = nir_intrinsic_instr_create(bb->shader, nir_intrinsic_load_shared);
    l->num_components = n;
    l->src[0] = nir_src_for_ssa(offset);
    nir_intrinsic_set_base(l, 0);
    nir_intrinsic_set_align(l, 4, 0);
    nir_ssa_def* v = finish(l, n);
    store_dst(zero_extend(bb, v, n), false);
    return true;
  }
  if (op == TGSI_OPCODE_STORE) {
    nir_ssa_def* value = nir_channels(bb, src(1, TGSI_TYPE_UNSIGNED), (1u << n) - 1);
    nir_intrinsic_instr* st = nir_intrinsic_instr_create(bb->shader, nir_intrinsic_store_shared);
    st->num_components = n;
    st->src[0] = nir_src_for_ssa(value);
    st->src[1] = nir_src_for_ssa(offset);
    nir_intrinsic_set_base(st, 0);
    nir_intrinsic_set_write_mask(st, store_mask);
    nir_intrinsic_set_align(st, 4, 0);
    finish(st, 0);
    return true;
  }
  nir_intrinsic_instr* a = nir_intrinsic_instr_create(bb->shader, atomic->shared);
  a->src[0] = nir_src_for_ssa(offset);
  a->src[1] = nir_src_for_ssa(src_chan(2, 0, TGSI_TYPE_UNSIGNED));
  if (op == TGSI_OPCODE_ATOMCAS) a->src[2] = nir_src_for_ssa(src_chan(3, 0, TGSI_TYPE_UNSIGNED));
  nir_intrinsic_set_base(a, 0);
  if (failed()) return true;
  store_dst(finish(a, 1), false);
  return true;
}

}  // namespace xen3d::host::shader
