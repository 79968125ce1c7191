// The geometry of Gallium resources, as the executor checks guest boxes and
// ranges against it: level sizes, how many z slices a level has, the host
// memory a resource costs, and whether a box lies inside a level. All size
// arithmetic is 64-bit (or 128-bit where products can pass 2^64) so no guest
// number can wrap a check.
#pragma once

#include <cstdint>
#include <string>

#include "pipe/p_state.h"

namespace xen3d::host {

// Width, height and z extent (3D slices, or array layers / cube faces) of a
// level. Height is 1 for buffers and 1D targets (1D array layers are z).
unsigned level_width(const pipe_resource& r, unsigned level);
unsigned level_height(const pipe_resource& r, unsigned level);
unsigned level_slices(const pipe_resource& r, unsigned level);

inline bool target_is_array_like(pipe_texture_target t) {
  return t == PIPE_TEXTURE_1D_ARRAY || t == PIPE_TEXTURE_2D_ARRAY || t == PIPE_TEXTURE_CUBE ||
         t == PIPE_TEXTURE_CUBE_ARRAY;
}
inline bool target_has_height(pipe_texture_target t) {
  return t != PIPE_BUFFER && t != PIPE_TEXTURE_1D && t != PIPE_TEXTURE_1D_ARRAY;
}
const char* target_name(unsigned target);

// Empty when `bind` is a buffer's (none of a texture's binds); else what is
// wrong. A buffer is bytes (a 1-byte format, checked with its size), and its
// format is never asked of the driver: drivers answer it as a vertex or
// index format (zink refuses R8 with the index bind), and st/mesa, which
// makes every buffer R8_UNORM, never asks either.
std::string check_buffer_bind(unsigned bind);

// Host bytes of a resource template: every level's blocks times slices times
// samples. False when the total does not fit 63 bits.
bool resource_bytes(const pipe_resource& templ, uint64_t& bytes);

// Bytes of `width` x `height` x `depth` pixels of `format` packed with
// util_format_get_stride rows: the layout transfer_read and present_readback send.
uint64_t packed_box_bytes(pipe_format format, unsigned width, unsigned height, unsigned depth);

// A box as the wire carries it (all i32).
struct WireBox {
  int32_t x, y, z, width, height, depth;
};

// How a box may look.
enum class BoxRule {
  Plain,       // x,y,z >= 0, extents >= 0
  BlitSource,  // negative width/height mean a flipped blit: the covered range is checked
};

// Empty when the box lies inside `level` of `r` (the level must exist);
// otherwise what is wrong, e.g. "box x=0 width=100 exceeds level 2 width 64".
// Compressed formats also need block-aligned boxes (ends may stop at the level edge).
std::string check_box(const pipe_resource& r, unsigned level, const WireBox& box, BoxRule rule = BoxRule::Plain);

// The same box as pipe_box (y, z, height and depth are int16 there; check_box
// has proven they fit, since no level is taller or deeper than 16384).
pipe_box to_pipe_box(const WireBox& b);

}  // namespace xen3d::host
