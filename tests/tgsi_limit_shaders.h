// TGSI programs at and just past every limit of the host limits table
// (host/validate/host_limits.h, docs/hardening.md): register counts per
// file, interface counts (fragment inputs against the draw module's emitted
// attributes), constant ranges around 64 KiB and around the bound buffer,
// nested loops and ifs around the nesting limit, every texture target
// against every sampler view target, images and buffers around the 32 bits
// of tgsi_scan's masks. The compositor must run each or refuse it with a
// reason that costs only the guest that sent it (tests/compositor/fuzz_test.cpp).
//
// Limits come from the caps table the host answers get_caps with (the
// limits it enforces, already masked) and, for those no cap states, from the
// same Mesa macros host_limits.cpp takes them from.
#pragma once

#include <string>
#include <vector>

#include "pipe/p_format.h"
#include "proto/caps_table.h"  // after p_format.h

namespace xen3d::test {

struct LimitShader {
  unsigned stage;    // pipe_shader_type
  std::string text;  // TGSI assembly
};

struct LimitCase {
  std::string name;  // "FRAG TEMP[0..4096]: one past the temporaries"
  // Bound together, then a draw (graphics stages) or a launch_grid (compute).
  // Graphics cases always carry a vertex and a fragment shader.
  std::vector<LimitShader> shaders;
};

// What the runner binds in every stage: this many bytes of inline constants
// at slot 0 and a buffer resource of as many at slot 1 (cases read around
// their ends), sampler and view 0 (a 2D texture).
inline constexpr unsigned kLimitConstBufferBytes = 256;

// Every case. `exhaustive` (long runs) adds every texture x view target
// pair (quick runs: the diagonal and a fixed spread of the rest), the same
// in the vertex stage, and programs at the instruction limit.
std::vector<LimitCase> tgsi_limit_cases(const xen3d::proto::CapsTable& caps, bool exhaustive);

}  // namespace xen3d::test
