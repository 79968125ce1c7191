// Checks guest TGSI tokens before any host shader compiler sees them.
//
// Mesa's TGSI consumers (tgsi_parse, tgsi_scan, gallivm's lp_bld_tgsi_soa)
// trust their input: a token that claims more sub-tokens than the stream has,
// a register index past a fixed array, an opcode the JIT cannot translate or a
// texture target an opcode does not take ends in an out-of-bounds access or an
// assert (asserts are live in this build) in the compositor process. The
// validator walks the stream with its own size arithmetic first, then parses
// each token with tgsi_parse_token and checks the parser landed where the
// token said it ends, then checks every field the consumers index with, and
// finally runs tgsi_sanity_check().
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "pipe/p_format.h"
#include "pipe/p_shader_tokens.h"
#include "pipe/p_state.h"
#include "host/validate/host_limits.h"
#include "host/validate/shader_interface.h"

namespace xen3d::host {

// Zero tokens kept after the guest's tokens: should any parser read past the
// end it reads zeros, not foreign memory.
inline constexpr uint32_t kTgsiPadTokens = 512;

// The guest's tokens copied out of shared memory (so they cannot change while
// they are checked and compiled), followed by kTgsiPadTokens zero tokens.
std::vector<tgsi_token> padded_tgsi_copy(const uint8_t* bytes, uint32_t token_count);

// Per-stage limits, taken from the host limits table (host_limits.h).
struct TgsiLimits {
  unsigned inputs = 0, outputs = 0, temps = 0, consts = 0, const_buffers = 0;
  unsigned immediates = 0, address_regs = 0, system_values = 0;
  unsigned samplers = 0, sampler_views = 0, images = 0, buffers = 0;
  unsigned instructions = 0, control_flow_depth = 0;
  unsigned gs_max_output_vertices = 0, gs_max_total_components = 0, gs_max_invocations = 0;
  unsigned cs_max_block = 0;
  unsigned vertex_streams = 1;
  bool vs_window_space_position = false;
  bool tg4_component_in_swizzle = false;  // TG4 src1 may be empty (PIPE_CAP_TGSI_TG4_COMPONENT_IN_SWIZZLE)
  bool texture_samples_query = false;     // TXQS is accepted (the caps offer textureSamples)
  // The tokens go to host/shader's translator, not gallivm's TGSI path: it
  // clamps indirect second dimensions (vertices, constant buffers) into what
  // the shader declared, where gallivm would index memory with them, and it
  // translates INTERP_* and FBFETCH, which gallivm's TGSI path has no code for.
  bool nir_path = false;
  pipe_screen* screen = nullptr;  // image formats are checked against it when set
};
TgsiLimits tgsi_limits(const HostLimits& host, unsigned stage);

// What the executor needs to know about an accepted shader.
struct TgsiSummary {
  unsigned num_outputs = 0;    // highest declared OUTPUT register + 1
  ShaderInterface interface;    // what draw checks a linked pipeline's emit against
  int gs_input_prim = -1;      // TGSI_PROPERTY_GS_INPUT_PRIM (PIPE_PRIM_*), -1 when absent
  unsigned instructions = 0;
  unsigned temps = 0;          // highest declared TEMP register + 1
  // Per constant buffer: bytes up to the end of the highest declared CONST
  // register (0: not read). gallivm reads constants at constant indices
  // without a bounds check, so the executor makes every bound buffer at least
  // this long (GalliumExecutor::guard_constant_reads).
  std::vector<uint32_t> const_bytes;
  // Per sampler unit: the TGSI texture targets its lookups and queries use
  // (bit per TGSI_TEXTURE_*). Draws check the bound views against them
  // (sampled_view_matches): a lookup of fewer dimensions than the view's
  // drove gallivm's NIR path into LLVM IR that smashed the compiler's stack.
  std::array<uint32_t, PIPE_MAX_SAMPLERS> sampled_targets{};
};

// Whether a view of `view_target` (pipe_texture_target) is what a lookup of
// `tgsi_target` samples (RECT and 2D views serve either).
bool sampled_view_matches(int tgsi_target, unsigned view_target);

// `tokens` holds token_count tokens followed by at least kTgsiPadTokens zero
// tokens. `stage` is a pipe_shader_type. Empty string when the shader is
// acceptable; otherwise what is wrong, naming the token position.
std::string validate_tgsi(const tgsi_token* tokens, uint32_t token_count, unsigned stage, const TgsiLimits& limits,
                          TgsiSummary& summary);

}  // namespace xen3d::host
