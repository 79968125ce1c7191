#include "host/validate/state_validation.h"
#include "host/validate/rejection.h"

#include <cmath>
#include <cstdarg>
#include <cstddef>
#include <cstdio>
#include <cstring>

#include "pipe/p_defines.h"
#include "pipe/p_screen.h"
#include "util/format/u_format.h"

namespace xen3d::host {

namespace {

// Bitfields as wide as their enum: every bit pattern is a valid value.
static_assert(PIPE_FUNC_ALWAYS == 7, "3-bit compare-func fields cover PIPE_FUNC_*");
static_assert(PIPE_STENCIL_OP_INVERT == 7, "3-bit stencil-op fields cover PIPE_STENCIL_OP_*");
static_assert(PIPE_TEX_WRAP_MIRROR_CLAMP_TO_BORDER == 7, "3-bit wrap fields cover PIPE_TEX_WRAP_*");
static_assert(PIPE_LOGICOP_SET == 15, "the 4-bit logicop field covers PIPE_LOGICOP_*");
static_assert(PIPE_FACE_FRONT_AND_BACK == 3, "the 2-bit cull_face field covers PIPE_FACE_*");
static_assert(PIPE_TEX_FILTER_LINEAR == 1 && PIPE_TEX_COMPARE_R_TO_TEXTURE == 1, "1-bit sampler fields");
static_assert(PIPE_SPRITE_COORD_LOWER_LEFT == 1, "the 1-bit sprite_coord_mode field");

constexpr auto fmt = format_message;

template <class T>
std::string copy_exact(const uint8_t* blob, size_t size, const char* what, T& out) {
  if (size != sizeof(T)) return fmt("%s blob is %zu bytes, expected sizeof(%s) = %zu", what, size, what, sizeof(T));
  std::memcpy(&out, blob, sizeof(T));
  return {};
}

bool valid_blend_factor(unsigned f) {
  return (f >= PIPE_BLENDFACTOR_ONE && f <= PIPE_BLENDFACTOR_SRC1_ALPHA) ||
         (f >= PIPE_BLENDFACTOR_ZERO && f <= PIPE_BLENDFACTOR_INV_DST_COLOR) ||
         (f >= PIPE_BLENDFACTOR_INV_CONST_COLOR && f <= PIPE_BLENDFACTOR_INV_SRC1_ALPHA);
}

bool finite_in(float v, float lo, float hi) { return std::isfinite(v) && v >= lo && v <= hi; }

}  // namespace

std::string decode_blend(const uint8_t* blob, size_t size, const proto::CapsTable& caps, pipe_blend_state& out) {
  if (auto e = copy_exact(blob, size, "pipe_blend_state", out); !e.empty()) return e;
  if (out.advanced_blend_func && !caps.param[PIPE_CAP_BLEND_EQUATION_ADVANCED]) {
    return fmt("blend advanced_blend_func %u needs PIPE_CAP_BLEND_EQUATION_ADVANCED, which the host lacks",
               out.advanced_blend_func);
  }
  for (unsigned i = 0; i < PIPE_MAX_COLOR_BUFS; ++i) {
    const pipe_rt_blend_state& rt = out.rt[i];
    if (rt.rgb_func > PIPE_BLEND_MAX) return fmt("blend rt[%u].rgb_func %u is not a PIPE_BLEND_*", i, rt.rgb_func);
    if (rt.alpha_func > PIPE_BLEND_MAX) return fmt("blend rt[%u].alpha_func %u is not a PIPE_BLEND_*", i, rt.alpha_func);
    // Disabled targets commonly carry zero (unset) factors; drivers never read them.
    const unsigned factors[4] = {rt.rgb_src_factor, rt.rgb_dst_factor, rt.alpha_src_factor, rt.alpha_dst_factor};
    static const char* const names[4] = {"rgb_src_factor", "rgb_dst_factor", "alpha_src_factor", "alpha_dst_factor"};
    for (unsigned f = 0; f < 4; ++f) {
      if (!valid_blend_factor(factors[f]) && (rt.blend_enable || factors[f] != 0)) {
        return fmt("blend rt[%u].%s %u is not a PIPE_BLENDFACTOR_*", i, names[f], factors[f]);
      }
    }
  }
  return {};
}

std::string decode_depth_stencil_alpha(const uint8_t* blob, size_t size, const proto::CapsTable& caps,
                                       pipe_depth_stencil_alpha_state& out) {
  if (auto e = copy_exact(blob, size, "pipe_depth_stencil_alpha_state", out); !e.empty()) return e;
  // func/op fields are exactly as wide as their enums (see the static_asserts).
  if (std::isnan(out.alpha_ref_value)) return "depth-stencil-alpha alpha_ref_value is NaN";
  if (out.depth_bounds_test) {
    if (!caps.param[PIPE_CAP_DEPTH_BOUNDS_TEST]) return "depth_bounds_test needs PIPE_CAP_DEPTH_BOUNDS_TEST";
    if (!std::isfinite(out.depth_bounds_min) || !std::isfinite(out.depth_bounds_max)) {
      return "depth bounds must be finite";
    }
  }
  return {};
}

std::string decode_rasterizer(const uint8_t* blob, size_t size, const proto::CapsTable& caps,
                              pipe_rasterizer_state& out) {
  if (auto e = copy_exact(blob, size, "pipe_rasterizer_state", out); !e.empty()) return e;
  for (unsigned mode : {unsigned(out.fill_front), unsigned(out.fill_back)}) {
    if (mode == PIPE_POLYGON_MODE_FILL_RECTANGLE && !caps.param[PIPE_CAP_POLYGON_MODE_FILL_RECTANGLE]) {
      return "rasterizer fill mode PIPE_POLYGON_MODE_FILL_RECTANGLE is not supported by the host";
    }
  }
  if (out.conservative_raster_mode > PIPE_CONSERVATIVE_RASTER_PRE_SNAP) {
    return fmt("rasterizer conservative_raster_mode %u is not a PIPE_CONSERVATIVE_RASTER_*",
               out.conservative_raster_mode);
  }
  if (out.conservative_raster_mode != PIPE_CONSERVATIVE_RASTER_OFF &&
      !caps.param[PIPE_CAP_CONSERVATIVE_RASTER_POST_SNAP_TRIANGLES] &&
      !caps.param[PIPE_CAP_CONSERVATIVE_RASTER_PRE_SNAP_TRIANGLES]) {
    return "rasterizer conservative rasterization is not supported by the host";
  }
  // Bits 0-7: TEXCOORD/GENERIC inputs, bit 8: PCOORD.
  if (out.sprite_coord_enable >> 9) {
    return fmt("rasterizer sprite_coord_enable 0x%x sets bits above 8", unsigned(out.sprite_coord_enable));
  }
  const float max_line = std::fmax(caps.paramf[PIPE_CAPF_MAX_LINE_WIDTH], caps.paramf[PIPE_CAPF_MAX_LINE_WIDTH_AA]);
  const float max_point = std::fmax(caps.paramf[PIPE_CAPF_MAX_POINT_SIZE], caps.paramf[PIPE_CAPF_MAX_POINT_SIZE_AA]);
  // Out-of-range sizes turn into huge fixed-point extents in the rasterizer.
  if (!finite_in(out.line_width, 0.0f, max_line)) {
    return fmt("rasterizer line_width %g is outside [0, %g]", double(out.line_width), double(max_line));
  }
  if (!finite_in(out.point_size, 0.0f, max_point)) {
    return fmt("rasterizer point_size %g is outside [0, %g]", double(out.point_size), double(max_point));
  }
  if (std::isnan(out.offset_units) || std::isnan(out.offset_scale) || std::isnan(out.offset_clamp)) {
    return "rasterizer polygon offset is NaN";
  }
  if (!finite_in(out.conservative_raster_dilate, 0.0f, 1e6f)) {
    return fmt("rasterizer conservative_raster_dilate %g is not a sane size", double(out.conservative_raster_dilate));
  }
  return {};
}

std::string decode_sampler(const uint8_t* blob, size_t size, const proto::CapsTable& caps, pipe_sampler_state& out) {
  if (size == sizeof(pipe_sampler_state)) {
    // A plain enum: checked as a number first (loading an out-of-range enum is undefined).
    uint32_t border_format;
    std::memcpy(&border_format, blob + offsetof(pipe_sampler_state, border_color_format), sizeof border_format);
    if (border_format >= PIPE_FORMAT_COUNT) return fmt("sampler border_color_format %u is not a pipe_format", border_format);
  }
  if (auto e = copy_exact(blob, size, "pipe_sampler_state", out); !e.empty()) return e;
  if (out.min_mip_filter > PIPE_TEX_MIPFILTER_NONE) {
    return fmt("sampler min_mip_filter %u is not a PIPE_TEX_MIPFILTER_*", out.min_mip_filter);
  }
  if (out.max_anisotropy > 16) return fmt("sampler max_anisotropy %u exceeds 16", out.max_anisotropy);
  if (out.reduction_mode > PIPE_TEX_REDUCTION_MAX) {
    return fmt("sampler reduction_mode %u is not a PIPE_TEX_REDUCTION_*", out.reduction_mode);
  }
  if (out.reduction_mode != PIPE_TEX_REDUCTION_WEIGHTED_AVERAGE && !caps.param[PIPE_CAP_SAMPLER_REDUCTION_MINMAX] &&
      !caps.param[PIPE_CAP_SAMPLER_REDUCTION_MINMAX_ARB]) {
    return "sampler min/max reduction is not supported by the host";
  }
  if (std::isnan(out.lod_bias) || std::isnan(out.min_lod) || std::isnan(out.max_lod)) return "sampler LOD value is NaN";
  return {};
}

std::string decode_vertex_elements(const uint8_t* blob, size_t size, pipe_screen* screen, unsigned vertex_buffers,
                                   std::vector<pipe_vertex_element>& out) {
  constexpr size_t kElem = sizeof(pipe_vertex_element);
  // Zero elements is valid: st/mesa binds that for shaders without inputs.
  if (size % kElem || size / kElem > PIPE_MAX_ATTRIBS) {
    return fmt("vertex elements blob is %zu bytes: expected 0..%u elements of %zu bytes", size, PIPE_MAX_ATTRIBS,
               kElem);
  }
  out.resize(size / kElem);
  if (size) std::memcpy(out.data(), blob, size);  // blob may be null when empty
  for (size_t i = 0; i < out.size(); ++i) {
    const pipe_vertex_element& e = out[i];
    const auto format = static_cast<pipe_format>(e.src_format);
    const struct util_format_description* desc = util_format_description(format);
    if (format == PIPE_FORMAT_NONE || !desc) return fmt("vertex element %zu: src_format %u is not a format", i, e.src_format);
    if (!screen->is_format_supported(screen, format, PIPE_BUFFER, 0, 0, PIPE_BIND_VERTEX_BUFFER)) {
      return fmt("vertex element %zu: format %s cannot be fetched from vertex buffers on the host", i, desc->short_name);
    }
    if (e.vertex_buffer_index >= vertex_buffers) {
      return fmt("vertex element %zu: vertex_buffer_index %u exceeds %u", i, unsigned(e.vertex_buffer_index),
                 vertex_buffers - 1);
    }
    // dual_slot (a 64-bit attribute taking two input slots) is only a hint:
    // st/mesa sets it from the shader's input type even when the bound
    // format is 32-bit, and no host consumer sizes memory by it.
  }
  return {};
}

constexpr size_t kViewportSwizzleOffset = 6 * sizeof(float);

std::string decode_viewports(const uint8_t* blob, size_t size, unsigned start, std::vector<pipe_viewport_state>& out) {
  constexpr size_t kElem = sizeof(pipe_viewport_state);
  if (size == 0 || size % kElem) {
    return fmt("viewport blob is %zu bytes, not a non-zero multiple of sizeof(pipe_viewport_state) = %zu", size, kElem);
  }
  const size_t count = size / kElem;
  if (start >= PIPE_MAX_VIEWPORTS || count > PIPE_MAX_VIEWPORTS - start) {
    return fmt("viewports %u..%zu exceed the %u viewport slots", start, start + count - 1, PIPE_MAX_VIEWPORTS);
  }
  // The swizzles are enum bitfields: checked as bytes before the blob becomes
  // structs, since loading an out-of-range enum is itself undefined (UBSan).
  static_assert(kElem == kViewportSwizzleOffset + 4, "pipe_viewport_state: scale[3], translate[3], 4 swizzle bytes");
  for (size_t i = 0; i < count; ++i) {
    for (unsigned c = 0; c < 4; ++c) {
      const unsigned sw = blob[i * kElem + kViewportSwizzleOffset + c];
      if (sw > PIPE_VIEWPORT_SWIZZLE_NEGATIVE_W) {
        return fmt("viewport %zu swizzle[%u] %u is not a PIPE_VIEWPORT_SWIZZLE_*", start + i, c, sw);
      }
    }
  }
  out.resize(count);
  std::memcpy(out.data(), blob, size);
  for (size_t i = 0; i < count; ++i) {
    const pipe_viewport_state& v = out[i];
    // Window coordinates far beyond any surface overflow the rasterizer's fixed point.
    for (unsigned c = 0; c < 3; ++c) {
      const float limit = c < 2 ? 1048576.0f : 1e9f;
      if (!finite_in(v.scale[c], -limit, limit) || !finite_in(v.translate[c], -limit, limit)) {
        return fmt("viewport %zu scale/translate[%u] = %g/%g is not finite or beyond %g", start + i, c,
                   double(v.scale[c]), double(v.translate[c]), double(limit));
      }
    }
  }
  return {};
}

std::string decode_scissors(const uint8_t* blob, size_t size, unsigned start, std::vector<pipe_scissor_state>& out) {
  constexpr size_t kElem = sizeof(pipe_scissor_state);
  if (size == 0 || size % kElem) {
    return fmt("scissor blob is %zu bytes, not a non-zero multiple of sizeof(pipe_scissor_state) = %zu", size, kElem);
  }
  const size_t count = size / kElem;
  if (start >= PIPE_MAX_VIEWPORTS || count > PIPE_MAX_VIEWPORTS - start) {
    return fmt("scissors %u..%zu exceed the %u scissor slots", start, start + count - 1, PIPE_MAX_VIEWPORTS);
  }
  out.resize(count);
  std::memcpy(out.data(), blob, size);
  for (size_t i = 0; i < count; ++i) {
    const pipe_scissor_state& s = out[i];
    if (s.minx > s.maxx || s.miny > s.maxy) {
      return fmt("scissor %zu min (%u,%u) is beyond max (%u,%u)", start + i, s.minx, s.miny, s.maxx, s.maxy);
    }
  }
  return {};
}

std::string decode_stream_output(const std::array<uint8_t, sizeof(pipe_stream_output_info)>& image,
                                 pipe_stream_output_info& out) {
  std::memcpy(&out, image.data(), sizeof out);
  if (out.num_outputs > PIPE_MAX_SO_OUTPUTS) {
    return fmt("stream output num_outputs %u exceeds %u", out.num_outputs, PIPE_MAX_SO_OUTPUTS);
  }
  for (unsigned i = 0; i < out.num_outputs; ++i) {
    const pipe_stream_output& o = out.output[i];
    if (o.num_components < 1 || o.num_components > 4 || o.start_component + o.num_components > 4) {
      return fmt("stream output %u: components %u..%u are outside x..w", i, o.start_component,
                 o.start_component + o.num_components - 1);
    }
    if (o.output_buffer >= PIPE_MAX_SO_BUFFERS) {
      return fmt("stream output %u: output_buffer %u exceeds %u", i, o.output_buffer, PIPE_MAX_SO_BUFFERS - 1);
    }
    if (o.dst_offset + o.num_components > out.stride[o.output_buffer]) {
      return fmt("stream output %u: dwords %u..%u pass buffer %u's vertex stride of %u dwords", i, o.dst_offset,
                 o.dst_offset + o.num_components - 1, o.output_buffer, unsigned(out.stride[o.output_buffer]));
    }
  }
  return {};
}

}  // namespace xen3d::host
