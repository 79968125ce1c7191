// Gallium state structs that cross the wire as their Mesa 22.3.6 byte image
// (state_create.blob, set_viewports.blob, set_scissors.blob,
// shader_create.stream_output): each decoder checks the size, copies the bytes
// into a host struct (never aliasing the record) and checks every enum and
// bitfield before the host driver sees the struct. A bitfield whose width
// covers exactly its enum's values needs no check; those are pinned with
// static_asserts in the .cpp so a Mesa upgrade cannot silently widen them.
//
// Each function returns an empty string when the state is acceptable, or what
// is wrong ("blend rt[2].rgb_src_factor 0 is not a PIPE_BLENDFACTOR").
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "pipe/p_format.h"
#include "pipe/p_state.h"
#include "proto/caps_table.h"  // needs p_format.h first

struct pipe_screen;

namespace xen3d::host {

std::string decode_blend(const uint8_t* blob, size_t size, const proto::CapsTable& caps, pipe_blend_state& out);
std::string decode_depth_stencil_alpha(const uint8_t* blob, size_t size, const proto::CapsTable& caps,
                                       pipe_depth_stencil_alpha_state& out);
std::string decode_rasterizer(const uint8_t* blob, size_t size, const proto::CapsTable& caps,
                              pipe_rasterizer_state& out);
std::string decode_sampler(const uint8_t* blob, size_t size, const proto::CapsTable& caps, pipe_sampler_state& out);
// An array of 0..PIPE_MAX_ATTRIBS elements, each fetching from one of the
// host's `vertex_buffers` slots in a format vertex-fetchable on `screen`.
std::string decode_vertex_elements(const uint8_t* blob, size_t size, pipe_screen* screen, unsigned vertex_buffers,
                                   std::vector<pipe_vertex_element>& out);
// Arrays for slots start .. start+count-1 (at most PIPE_MAX_VIEWPORTS in all).
std::string decode_viewports(const uint8_t* blob, size_t size, unsigned start,
                             std::vector<pipe_viewport_state>& out);
std::string decode_scissors(const uint8_t* blob, size_t size, unsigned start, std::vector<pipe_scissor_state>& out);

// shader_create.stream_output carries the struct's image byte for byte.
static_assert(sizeof(pipe_stream_output_info) == 268, "pipe_stream_output_info layout changed");
// Structure only; the caller checks register_index against the shader's outputs.
std::string decode_stream_output(const std::array<uint8_t, sizeof(pipe_stream_output_info)>& image,
                                 pipe_stream_output_info& out);

}  // namespace xen3d::host
