// TGSI's 64-bit opcodes (doubles and 64-bit integers) -> NIR ALU.
//
// A TGSI register holds two 64-bit values: .xy and .zw, low dword first.
// 64-bit results go to the same pair; 32-bit sources of 32 -> 64 conversions
// come from .x and .y; 64 -> 32 conversions write .x and .y; and 64-bit
// comparisons write .x and .z (~0 / 0), as Mesa's NIR -> TGSI emits them.
#include "host/shader/translator.h"

namespace xen3d::host::shader {
namespace {

enum class Shape {
  Same,      // 64-bit sources, 64-bit result in the same pair
  Compare,   // 64-bit sources, ~0/0 in .x / .z
  Narrow,    // 64-bit source, 32-bit result in .x / .y
  Widen,     // 32-bit source from .x / .y, 64-bit result
  Shift,     // 64-bit value, 32-bit count from .x / .y
};

struct Op64 {
  unsigned tgsi;
  nir_op op;
  Shape shape;
  bool integer;  // modifiers read the value as an integer
};

constexpr Op64 kOps64[] = {
    {TGSI_OPCODE_DADD, nir_op_fadd, Shape::Same, false},
    {TGSI_OPCODE_DMUL, nir_op_fmul, Shape::Same, false},
    {TGSI_OPCODE_DDIV, nir_op_fdiv, Shape::Same, false},
    {TGSI_OPCODE_DMAD, nir_op_ffma, Shape::Same, false},
    {TGSI_OPCODE_DMIN, nir_op_fmin, Shape::Same, false},
    {TGSI_OPCODE_DMAX, nir_op_fmax, Shape::Same, false},
    {TGSI_OPCODE_DABS, nir_op_fabs, Shape::Same, false},
    {TGSI_OPCODE_DNEG, nir_op_fneg, Shape::Same, false},
    {TGSI_OPCODE_DSQRT, nir_op_fsqrt, Shape::Same, false},
    {TGSI_OPCODE_DRSQ, nir_op_frsq, Shape::Same, false},
    {TGSI_OPCODE_DRCP, nir_op_frcp, Shape::Same, false},
    {TGSI_OPCODE_DFRAC, nir_op_ffract, Shape::Same, false},
    {TGSI_OPCODE_DFLR, nir_op_ffloor, Shape::Same, false},
    {TGSI_OPCODE_DCEIL, nir_op_fceil, Shape::Same, false},
    {TGSI_OPCODE_DTRUNC, nir_op_ftrunc, Shape::Same, false},
    {TGSI_OPCODE_DROUND, nir_op_fround_even, Shape::Same, false},
    {TGSI_OPCODE_DSSG, nir_op_fsign, Shape::Same, false},
    {TGSI_OPCODE_DSEQ, nir_op_feq, Shape::Compare, false},
    {TGSI_OPCODE_DSNE, nir_op_fneu, Shape::Compare, false},
    {TGSI_OPCODE_DSLT, nir_op_flt, Shape::Compare, false},
    {TGSI_OPCODE_DSGE, nir_op_fge, Shape::Compare, false},
    {TGSI_OPCODE_F2D, nir_op_f2f64, Shape::Widen, false},
    {TGSI_OPCODE_I2D, nir_op_i2f64, Shape::Widen, true},
    {TGSI_OPCODE_U2D, nir_op_u2f64, Shape::Widen, true},
    {TGSI_OPCODE_D2F, nir_op_f2f32, Shape::Narrow, false},
    {TGSI_OPCODE_D2I, nir_op_f2i32, Shape::Narrow, false},
    {TGSI_OPCODE_D2U, nir_op_f2u32, Shape::Narrow, false},
    {TGSI_OPCODE_I64ABS, nir_op_iabs, Shape::Same, true},
    {TGSI_OPCODE_I64NEG, nir_op_ineg, Shape::Same, true},
    {TGSI_OPCODE_I64SSG, nir_op_isign, Shape::Same, true},
    {TGSI_OPCODE_U64ADD, nir_op_iadd, Shape::Same, true},
    {TGSI_OPCODE_U64MUL, nir_op_imul, Shape::Same, true},
    {TGSI_OPCODE_U64DIV, nir_op_udiv, Shape::Same, true},
    {TGSI_OPCODE_I64DIV, nir_op_idiv, Shape::Same, true},
    {TGSI_OPCODE_U64MOD, nir_op_umod, Shape::Same, true},
    {TGSI_OPCODE_I64MOD, nir_op_irem, Shape::Same, true},
    {TGSI_OPCODE_U64MAX, nir_op_umax, Shape::Same, true},
    {TGSI_OPCODE_I64MAX, nir_op_imax, Shape::Same, true},
    {TGSI_OPCODE_U64MIN, nir_op_umin, Shape::Same, true},
    {TGSI_OPCODE_I64MIN, nir_op_imin, Shape::Same, true},
    {TGSI_OPCODE_U64SEQ, nir_op_ieq, Shape::Compare, true},
    {TGSI_OPCODE_U64SNE, nir_op_ine, Shape::Compare, true},
    {TGSI_OPCODE_U64SLT, nir_op_ult, Shape::Compare, true},
    {TGSI_OPCODE_U64SGE, nir_op_uge, Shape::Compare, true},
    {TGSI_OPCODE_I64SLT, nir_op_ilt, Shape::Compare, true},
    {TGSI_OPCODE_I64SGE, nir_op_ige, Shape::Compare, true},
    {TGSI_OPCODE_U64SHL, nir_op_ishl, Shape::Shift, true},
    {TGSI_OPCODE_I64SHR, nir_op_ishr, Shape::Shift, true},
    {TGSI_OPCODE_U64SHR, nir_op_ushr, Shape::Shift, true},
    {TGSI_OPCODE_F2I64, nir_op_f2i64, Shape::Widen, false},
    {TGSI_OPCODE_F2U64, nir_op_f2u64, Shape::Widen, false},
    {TGSI_OPCODE_I2I64, nir_op_i2i64, Shape::Widen, true},
    {TGSI_OPCODE_U2I64, nir_op_u2u64, Shape::Widen, true},
    {TGSI_OPCODE_D2I64, nir_op_f2i64, Shape::Same, false},
    {TGSI_OPCODE_D2U64, nir_op_f2u64, Shape::Same, false},
    {TGSI_OPCODE_I642D, nir_op_i2f64, Shape::Same, true},
    {TGSI_OPCODE_U642D, nir_op_u2f64, Shape::Same, true},
    {TGSI_OPCODE_I642F, nir_op_i2f32, Shape::Narrow, true},
    {TGSI_OPCODE_U642F, nir_op_u2f32, Shape::Narrow, true},
};

}  // namespace

bool Translator::alu64(unsigned opcode) {
  const Op64* op = nullptr;
  for (const Op64& o : kOps64) {
    if (o.tgsi == opcode) op = &o;
  }
  if (!op) return false;
  nir_builder* bb = b();
  const tgsi_full_instruction& in = inst();
  const unsigned nsrc = nir_op_infos[op->op].num_inputs;
  if (in.Instruction.NumSrcRegs != nsrc && !(op->shape == Shape::Shift && in.Instruction.NumSrcRegs == 2)) {
    fail("%s: %u sources", op_name(opcode), in.Instruction.NumSrcRegs);
    return true;
  }
  // The swizzled sources; modifiers apply to the 64-bit values.
  nir_ssa_def* raw[3] = {};
  for (unsigned i = 0; i < in.Instruction.NumSrcRegs && i < 3; ++i) {
    tgsi_full_src_register r = in.Src[i];
    r.Register.Absolute = r.Register.Negate = 0;
    raw[i] = src(r, TGSI_TYPE_UNSIGNED);
  }
  if (failed()) return true;
  auto modified = [&](unsigned i, nir_ssa_def* v) {
    const bool integer = op->integer || op->shape == Shape::Shift;
    if (in.Src[i].Register.Absolute) v = integer ? nir_iabs(bb, v) : nir_fabs(bb, v);
    if (in.Src[i].Register.Negate) v = integer ? nir_ineg(bb, v) : nir_fneg(bb, v);
    return v;
  };
  auto pair = [&](unsigned i, unsigned k) {
    return modified(i, nir_pack_64_2x32_split(bb, nir_channel(bb, raw[i], 2 * k), nir_channel(bb, raw[i], 2 * k + 1)));
  };

  nir_ssa_def* c[4] = {nir_imm_int(bb, 0), nir_imm_int(bb, 0), nir_imm_int(bb, 0), nir_imm_int(bb, 0)};
  const unsigned mask = write_mask();
  for (unsigned k = 0; k < 2; ++k) {
    nir_ssa_def* a[3] = {};
    switch (op->shape) {
      case Shape::Widen:
        if (!(mask & (3u << (2 * k)))) continue;
        a[0] = modified(0, nir_channel(bb, raw[0], k));
        break;
      case Shape::Narrow:
        if (!(mask & (1u << k))) continue;
        a[0] = pair(0, k);
        break;
      case Shape::Compare:
        if (!(mask & (1u << (2 * k)))) continue;
        for (unsigned i = 0; i < nsrc; ++i) a[i] = pair(i, k);
        break;
      case Shape::Shift:
        if (!(mask & (3u << (2 * k)))) continue;
        a[0] = pair(0, k);
        a[1] = nir_channel(bb, raw[1], k);
        break;
      case Shape::Same:
        if (!(mask & (3u << (2 * k)))) continue;
        for (unsigned i = 0; i < nsrc; ++i) a[i] = pair(i, k);
        break;
    }
    nir_ssa_def* r = nir_build_alu(bb, op->op, a[0], a[1], a[2], nullptr);
    switch (op->shape) {
      case Shape::Compare: c[2 * k] = nir_ineg(bb, nir_b2i32(bb, r)); break;
      case Shape::Narrow: c[k] = r; break;
      default:
        c[2 * k] = nir_unpack_64_2x32_split_x(bb, r);
        c[2 * k + 1] = nir_unpack_64_2x32_split_y(bb, r);
    }
  }
  store_dst(nir_vec(bb, c, 4), false);
  return true;
}

}  // namespace xen3d::host::shader
