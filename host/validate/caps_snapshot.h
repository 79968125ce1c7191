// The host screen's capabilities, read once at start-up into the flat
// proto::CapsTable that get_caps sends (proto/caps_table.h). Every guest gets
// the same immutable table; nothing asks the driver again per guest.
#pragma once

#include <memory>

#include "pipe/p_format.h"
#include "proto/caps_table.h"  // needs p_format.h first
#include "host/validate/shader_path.h"

struct pipe_screen;

namespace xen3d::host {

// Queries every cap, shader cap, compute cap and format of `screen`.
// Shader stages the host cannot run from TGSI (the only shader IR the wire
// protocol carries) on `path` (see stage_accepts_guest_shaders) are reported with all-zero
// shader caps, so guests never expose them.
// What only the TGSI path cannot do is masked on it (mask_host_caps).
std::shared_ptr<const proto::CapsTable> take_caps_snapshot(pipe_screen* screen, ShaderPath path);

// Whether shader_create can run guest TGSI of this stage on the host driver
// along `path`. On the TGSI path: false when the driver does not list TGSI
// among the stage's supported IRs; for tessellation everywhere (the draw
// module's tessellation reads only NIR although the caps claim TGSI, and
// Mesa's tgsi_to_nir, which other drivers use, hits unreachable() on
// tessellation properties); and for geometry shaders outside the draw module
// (tgsi_to_nir again). On the NIR path (host/shader's own translation): every
// stage the driver compiles from NIR.
bool stage_accepts_guest_shaders(pipe_screen* screen, unsigned stage, ShaderPath path);

// The shader path guests of `screen` get: NIR for drivers that compile it,
// TGSI for drivers that run TGSI themselves (softpipe, which would run our
// NIR back through Mesa's nir_to_tgsi, whose TGSI breaks what the validator
// guarantees the TGSI path: a committed fuzz input made draw_llvm
// dereference a null constant buffer there).
ShaderPath shader_path_for(pipe_screen* screen);

// Whether the driver runs geometry and tessellation through Mesa's draw
// module (llvmpipe, softpipe), whose TGSI handling has limits of its own.
bool draw_module_driver(pipe_screen* screen);

}  // namespace xen3d::host
