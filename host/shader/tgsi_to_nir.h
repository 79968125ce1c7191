// The host's own TGSI -> NIR translator (docs/shaders.md).
//
// TGSI stays the wire IR: compact, and checked token by token by
// host/validate/tgsi_validation.cpp. On the NIR shader path the executor then
// lowers the accepted tokens here and hands the driver NIR, the IR Mesa's
// drivers are written for (llvmpipe's NIR backend, softpipe, zink). Mesa's own
// tgsi_to_nir ends in unreachable() on much of what a guest can send; this one
// refuses what it does not translate, with the reason.
#pragma once

#include <string>

#include "host/validate/shader_path.h"
#include "pipe/p_shader_tokens.h"

struct nir_shader;
struct pipe_screen;

namespace xen3d::host {

struct NirTranslation {
  nir_shader* nir = nullptr;  // owned by the caller (ralloc_free) until handed to the driver
  std::string error;          // why the shader was refused; empty on success
};

// `tokens`: a shader validate_tgsi accepted for `stage` (a pipe_shader_type),
// followed by its zero padding. The result is optimized for and finalized by
// `screen` (its finalize_nir), ready for create_*_state with PIPE_SHADER_IR_NIR.
// `shared_bytes`: a compute shader's req_local_mem, what its shared-memory
// accesses are clamped into.
NirTranslation translate_tgsi_to_nir(const tgsi_token* tokens, unsigned stage, pipe_screen* screen,
                                     unsigned shared_bytes = 0);

}  // namespace xen3d::host
