// TGSI arithmetic -> NIR ALU. TGSI registers are untyped vec4s; each opcode
// says how it reads them (tgsi_opcode_infer_*_type), and comparisons return
// 1.0/0.0 (SEQ and friends) or ~0/0 (FSEQ, USEQ, ...), where NIR has
// 1-bit booleans.
#include "host/shader/translator.h"

namespace xen3d::host::shader {
namespace {

struct Direct {
  unsigned tgsi;
  nir_op op;
};

// Opcodes that are one NIR ALU operation on their sources, channel by channel
// (or on .x, replicated, where TGSI says REPL).
constexpr Direct kDirect[] = {
    {TGSI_OPCODE_MOV, nir_op_mov},          {TGSI_OPCODE_ADD, nir_op_fadd},
    {TGSI_OPCODE_MUL, nir_op_fmul},         {TGSI_OPCODE_DIV, nir_op_fdiv},
    {TGSI_OPCODE_MIN, nir_op_fmin},         {TGSI_OPCODE_MAX, nir_op_fmax},
    {TGSI_OPCODE_FLR, nir_op_ffloor},       {TGSI_OPCODE_CEIL, nir_op_fceil},
    {TGSI_OPCODE_TRUNC, nir_op_ftrunc},     {TGSI_OPCODE_ROUND, nir_op_fround_even},
    {TGSI_OPCODE_FRC, nir_op_ffract},       {TGSI_OPCODE_SQRT, nir_op_fsqrt},
    {TGSI_OPCODE_RSQ, nir_op_frsq},         {TGSI_OPCODE_RCP, nir_op_frcp},
    {TGSI_OPCODE_EX2, nir_op_fexp2},        {TGSI_OPCODE_LG2, nir_op_flog2},
    {TGSI_OPCODE_POW, nir_op_fpow},         {TGSI_OPCODE_SIN, nir_op_fsin},
    {TGSI_OPCODE_COS, nir_op_fcos},         {TGSI_OPCODE_SSG, nir_op_fsign},
    {TGSI_OPCODE_DDX, nir_op_fddx},         {TGSI_OPCODE_DDY, nir_op_fddy},
    {TGSI_OPCODE_DDX_FINE, nir_op_fddx_fine}, {TGSI_OPCODE_DDY_FINE, nir_op_fddy_fine},
    {TGSI_OPCODE_F2I, nir_op_f2i32},        {TGSI_OPCODE_F2U, nir_op_f2u32},
    {TGSI_OPCODE_I2F, nir_op_i2f32},        {TGSI_OPCODE_U2F, nir_op_u2f32},
    {TGSI_OPCODE_UADD, nir_op_iadd},        {TGSI_OPCODE_UMUL, nir_op_imul},
    {TGSI_OPCODE_IMUL_HI, nir_op_imul_high}, {TGSI_OPCODE_UMUL_HI, nir_op_umul_high},
    {TGSI_OPCODE_IDIV, nir_op_idiv},        {TGSI_OPCODE_UDIV, nir_op_udiv},
    {TGSI_OPCODE_UMOD, nir_op_umod},        {TGSI_OPCODE_MOD, nir_op_irem},
    {TGSI_OPCODE_INEG, nir_op_ineg},        {TGSI_OPCODE_IABS, nir_op_iabs},
    {TGSI_OPCODE_ISSG, nir_op_isign},       {TGSI_OPCODE_IMIN, nir_op_imin},
    {TGSI_OPCODE_IMAX, nir_op_imax},        {TGSI_OPCODE_UMIN, nir_op_umin},
    {TGSI_OPCODE_UMAX, nir_op_umax},        {TGSI_OPCODE_AND, nir_op_iand},
    {TGSI_OPCODE_OR, nir_op_ior},           {TGSI_OPCODE_XOR, nir_op_ixor},
    {TGSI_OPCODE_NOT, nir_op_inot},         {TGSI_OPCODE_SHL, nir_op_ishl},
    {TGSI_OPCODE_ISHR, nir_op_ishr},        {TGSI_OPCODE_USHR, nir_op_ushr},
    {TGSI_OPCODE_IBFE, nir_op_ibitfield_extract}, {TGSI_OPCODE_UBFE, nir_op_ubitfield_extract},
    {TGSI_OPCODE_BFI, nir_op_bitfield_insert}, {TGSI_OPCODE_BREV, nir_op_bitfield_reverse},
    {TGSI_OPCODE_POPC, nir_op_bit_count},   {TGSI_OPCODE_LSB, nir_op_find_lsb},
    {TGSI_OPCODE_IMSB, nir_op_ifind_msb},   {TGSI_OPCODE_UMSB, nir_op_ufind_msb},
    {TGSI_OPCODE_LDEXP, nir_op_ldexp},
};

// Comparisons: `op` on (src0, src1), or on (src1, src0) when `swapped`.
struct Compare {
  unsigned tgsi;
  nir_op op;
  bool swapped;
  bool float_result;  // 1.0/0.0 rather than ~0/0
};
constexpr Compare kCompare[] = {
    {TGSI_OPCODE_SEQ, nir_op_feq, false, true},   {TGSI_OPCODE_SNE, nir_op_fneu, false, true},
    {TGSI_OPCODE_SLT, nir_op_flt, false, true},   {TGSI_OPCODE_SGE, nir_op_fge, false, true},
    {TGSI_OPCODE_SGT, nir_op_flt, true, true},    {TGSI_OPCODE_SLE, nir_op_fge, true, true},
    {TGSI_OPCODE_FSEQ, nir_op_feq, false, false}, {TGSI_OPCODE_FSNE, nir_op_fneu, false, false},
    {TGSI_OPCODE_FSLT, nir_op_flt, false, false}, {TGSI_OPCODE_FSGE, nir_op_fge, false, false},
    {TGSI_OPCODE_USEQ, nir_op_ieq, false, false}, {TGSI_OPCODE_USNE, nir_op_ine, false, false},
    {TGSI_OPCODE_USGE, nir_op_uge, false, false}, {TGSI_OPCODE_USLT, nir_op_ult, false, false},
    {TGSI_OPCODE_ISGE, nir_op_ige, false, false}, {TGSI_OPCODE_ISLT, nir_op_ilt, false, false},
};

bool is_float_type(tgsi_opcode_type t) { return t == TGSI_TYPE_FLOAT || t == TGSI_TYPE_UNTYPED; }

}  // namespace

bool Translator::alu(unsigned opcode) {
  const auto op = static_cast<tgsi_opcode>(opcode);
  nir_builder* bb = b();
  const tgsi_opcode_info* info = tgsi_get_opcode_info(op);
  if (!info) return false;
  const tgsi_opcode_type dst_type = tgsi_opcode_infer_dst_type(op, 0);
  const bool replicate = info->output_mode == TGSI_OUTPUT_REPLICATE;
  auto s = [&](unsigned i) {
    nir_ssa_def* v = src(i, tgsi_opcode_infer_src_type(op, i));
    return replicate ? nir_channel(bb, v, 0) : v;
  };

  for (const Direct& d : kDirect) {
    if (d.tgsi != op) continue;
    const unsigned n = nir_op_infos[d.op].num_inputs;
    if (info->num_src != n) return fail("%s: %u sources where NIR's %s takes %u", op_name(op), info->num_src, nir_op_infos[d.op].name, n), true;
    nir_ssa_def* a[4] = {};
    for (unsigned i = 0; i < n; ++i) a[i] = s(i);
    if (failed()) return true;
    store_dst(nir_build_alu(bb, d.op, a[0], a[1], a[2], a[3]), is_float_type(dst_type));
    return true;
  }
  for (const Compare& c : kCompare) {
    if (c.tgsi != op) continue;
    nir_ssa_def* x = s(0);
    nir_ssa_def* y = s(1);
    if (failed()) return true;
    nir_ssa_def* r = c.swapped ? nir_build_alu(bb, c.op, y, x, nullptr, nullptr) : nir_build_alu(bb, c.op, x, y, nullptr, nullptr);
    store_dst(c.float_result ? nir_b2f32(bb, r) : nir_ineg(bb, nir_b2i32(bb, r)), false);
    return true;
  }

  switch (op) {
    case TGSI_OPCODE_MAD: store_dst(nir_fadd(bb, nir_fmul(bb, s(0), s(1)), s(2)), true); return true;
    case TGSI_OPCODE_UMAD: store_dst(nir_iadd(bb, nir_imul(bb, s(0), s(1)), s(2)), false); return true;
    case TGSI_OPCODE_LRP:  // src0 * src1 + (1 - src0) * src2
      store_dst(nir_flrp(bb, s(2), s(1), s(0)), true);
      return true;
    case TGSI_OPCODE_CMP:
      store_dst(nir_bcsel(bb, nir_flt(bb, s(0), nir_imm_float(bb, 0.0f)), s(1), s(2)), true);
      return true;
    case TGSI_OPCODE_UCMP:
      store_dst(nir_bcsel(bb, nir_ine(bb, s(0), nir_imm_int(bb, 0)), s(1), s(2)), false);
      return true;
    case TGSI_OPCODE_DP2:
    case TGSI_OPCODE_DP3:
    case TGSI_OPCODE_DP4: {
      const unsigned n = op == TGSI_OPCODE_DP2 ? 2 : op == TGSI_OPCODE_DP3 ? 3 : 4;
      nir_ssa_def* x = nir_channels(bb, src(0, TGSI_TYPE_FLOAT), (1u << n) - 1);
      nir_ssa_def* y = nir_channels(bb, src(1, TGSI_TYPE_FLOAT), (1u << n) - 1);
      store_dst(n == 2 ? nir_fdot2(bb, x, y) : n == 3 ? nir_fdot3(bb, x, y) : nir_fdot4(bb, x, y), true);
      return true;
    }
    case TGSI_OPCODE_ARL: store_dst(nir_f2i32(bb, nir_ffloor(bb, src(0, TGSI_TYPE_FLOAT))), false); return true;
    case TGSI_OPCODE_ARR: store_dst(nir_f2i32(bb, nir_fround_even(bb, src(0, TGSI_TYPE_FLOAT))), false); return true;
    case TGSI_OPCODE_UARL: store_dst(src(0, TGSI_TYPE_UNSIGNED), false); return true;
    case TGSI_OPCODE_PK2H: {
      nir_ssa_def* v = src(0, TGSI_TYPE_FLOAT);
      store_dst(nir_pack_half_2x16(bb, nir_channels(bb, v, 0x3)), false);
      return true;
    }
    case TGSI_OPCODE_UP2H: {
      nir_ssa_def* v = nir_unpack_half_2x16(bb, src_chan(0, 0, TGSI_TYPE_UNSIGNED));
      store_dst(nir_vec4(bb, nir_channel(bb, v, 0), nir_channel(bb, v, 1), nir_channel(bb, v, 0), nir_channel(bb, v, 1)), true);
      return true;
    }
    default: break;
  }
  if (dst_type == TGSI_TYPE_DOUBLE || dst_type == TGSI_TYPE_SIGNED64 || dst_type == TGSI_TYPE_UNSIGNED64 ||
      tgsi_opcode_infer_src_type(op, 0) == TGSI_TYPE_DOUBLE ||
      tgsi_opcode_infer_src_type(op, 0) == TGSI_TYPE_SIGNED64 ||
      tgsi_opcode_infer_src_type(op, 0) == TGSI_TYPE_UNSIGNED64) {
    fail("64-bit opcode %s is not translated to NIR yet", op_name(op));
    return true;
  }
  return false;
}

}  // namespace xen3d::host::shader
