// GalliumExecutor: resources, their views and transfers.
#include <algorithm>
#include <cstring>

#include "common/log.h"
#include "host/executor/gallium_executor.h"
#include "host/executor/host_data_writer.h"
#include "host/validate/resource_layout.h"
#include "pipe/p_context.h"
#include "pipe/p_defines.h"
#include "pipe/p_screen.h"
#include "util/format/u_format.h"
#include "util/u_inlines.h"
#include "util/u_math.h"

namespace xen3d::host {

using proto::ObjectKind;

namespace {

// Bind flags that mean "the window system shows this": dropped, except
// DISPLAY_TARGET on a single-level 2D resource where the host screen keeps
// window buffers in memory it can hand to the guest's X server
// (keeps_display_target); elsewhere the compositor presents through present
// records and the host winsys has no display targets to give.
constexpr uint32_t kDisplayBinds = PIPE_BIND_DISPLAY_TARGET | PIPE_BIND_SCANOUT | PIPE_BIND_SHARED;
constexpr uint32_t kKnownBinds = (1u << 26) - 1;
// Resource flags a guest may ask for. DONT_OVER_ALLOCATE is dropped: the
// driver's slack after buffers is what keeps its block-wide accesses inside.
// SPARSE, ENCRYPTED and driver-private bits are refused.
constexpr uint32_t kAllowedFlags = PIPE_RESOURCE_FLAG_MAP_PERSISTENT | PIPE_RESOURCE_FLAG_MAP_COHERENT |
                                   PIPE_RESOURCE_FLAG_TEXTURING_MORE_LIKELY | PIPE_RESOURCE_FLAG_SINGLE_THREAD_USE |
                                   PIPE_RESOURCE_FLAG_DONT_MAP_DIRECTLY;
constexpr uint32_t kDroppedFlags = PIPE_RESOURCE_FLAG_DONT_OVER_ALLOCATE | PIPE_RESOURCE_FLAG_FRONTEND_PRIV;
constexpr uint32_t kMaxBufferBytes = 1u << 31;
// pipe_box keeps y, z, height and depth in int16.
constexpr unsigned kMaxBoxExtent = 16384;

bool valid_sample_count(unsigned n) { return n <= 1 || n == 2 || n == 4 || n == 8 || n == 16; }

// A window buffer the guest may show from shared memory (frame_share).
bool keeps_display_target(pipe_screen* screen, const pipe_resource& t, uint32_t asked) {
  return (asked & PIPE_BIND_DISPLAY_TARGET) && (t.target == PIPE_TEXTURE_2D || t.target == PIPE_TEXTURE_RECT) &&
         t.last_level == 0 && t.array_size == 1 && t.depth0 == 1 && t.nr_samples <= 1 &&
         screen->is_format_supported(screen, t.format, t.target, t.nr_samples, t.nr_storage_samples,
                                     t.bind | PIPE_BIND_DISPLAY_TARGET);
}

}  // namespace

bool GalliumExecutor::zero_fill(pipe_resource* res) {
  pipe_context* p = utility_context();
  if (!p) return false;
  const auto format = static_cast<pipe_format>(res->format);
  if (res->target == PIPE_BUFFER) {
    pipe_box box;
    u_box_1d(0, res->width0, &box);
    pipe_transfer* xfer = nullptr;
    void* map = p->buffer_map(p, res, 0, PIPE_MAP_WRITE | PIPE_MAP_DISCARD_WHOLE_RESOURCE, &box, &xfer);
    if (!map) return false;
    std::memset(map, 0, res->width0);
    p->buffer_unmap(p, xfer);
    return true;
  }
  const uint8_t zero[64] = {};  // at least one texel of any format (the largest is 32 bytes)
  for (unsigned level = 0; level <= res->last_level; ++level) {
    const unsigned w = level_width(*res, level), h = level_height(*res, level), d = level_slices(*res, level);
    pipe_box box;
    u_box_3d(0, 0, 0, w, h, d, &box);
    if (res->nr_samples > 1) {
      // Maps reach only sample 0 of multisampled resources; clear_texture covers all samples.
      if (!p->clear_texture) return false;
      p->clear_texture(p, res, level, &box, zero);
      continue;
    }
    pipe_transfer* xfer = nullptr;
    auto* map = static_cast<uint8_t*>(p->texture_map(p, res, level, PIPE_MAP_WRITE | PIPE_MAP_DISCARD_RANGE, &box, &xfer));
    if (!map) {
      if (!p->clear_texture || util_format_get_blocksize(format) > sizeof zero) return false;
      p->clear_texture(p, res, level, &box, zero);
      continue;
    }
    const size_t row = util_format_get_stride(format, w);
    const unsigned rows = util_format_get_nblocksy(format, h);
    for (unsigned z = 0; z < d; ++z) {
      for (unsigned y = 0; y < rows; ++y) std::memset(map + size_t{z} * xfer->layer_stride + size_t{y} * xfer->stride, 0, row);
    }
    p->texture_unmap(p, xfer);
  }
  // Later users run on other contexts: make sure the zeros are in memory.
  p->flush(p, nullptr, 0);
  return true;
}

proto::DecodeError GalliumExecutor::check_resource_words(const char* rec, uint32_t id, uint32_t format_word,
                                                         uint32_t usage, uint32_t bind, uint32_t flags) {
  if (auto e = objects_.check_free(id, ObjectKind::Resource); !e.ok()) return e;
  const auto format = static_cast<pipe_format>(format_word);
  if (format_word >= PIPE_FORMAT_COUNT || format == PIPE_FORMAT_NONE || !util_format_description(format)) {
    return reject_("%s #%u: format %u is not a pipe_format", rec, id, format_word);
  }
  if (util_format_get_blockdepth(format) != 1) {
    return reject_("%s #%u: 3D block format %s is not supported", rec, id, util_format_short_name(format));
  }
  if (usage > PIPE_USAGE_STAGING) return reject_("%s #%u: usage %u is not a PIPE_USAGE_*", rec, id, usage);
  if (bind & ~kKnownBinds) return reject_("%s #%u: bind 0x%x has unknown bits", rec, id, bind);
  if (bind & PIPE_BIND_PROTECTED) return reject_("%s #%u: protected resources are not supported", rec, id);
  if (flags & ~(kAllowedFlags | kDroppedFlags | 0xff000000u)) {
    return reject_("%s #%u: flags 0x%x are not supported", rec, id, flags);
  }
  return {};
}

proto::DecodeError GalliumExecutor::check_buffer_size(const char* rec, uint32_t id, uint32_t width, pipe_format format) {
  if (width > kMaxBufferBytes) {
    return reject_("%s #%u: a buffer of %u bytes exceeds the host limit of %u", rec, id, width, kMaxBufferBytes);
  }
  // Buffers are byte arrays (drivers assert a 1-byte format).
  if (util_format_get_blocksize(format) != 1) {
    return reject_("%s #%u: buffer format %s is not a byte format", rec, id, util_format_short_name(format));
  }
  return {};
}

uint32_t GalliumExecutor::driver_bind_and_flags(uint32_t bind, uint32_t flags, uint32_t& out_flags) const {
  out_flags = flags & kAllowedFlags;
  return bind & ~kDisplayBinds;
}

proto::DecodeError GalliumExecutor::handle(const proto::ResourceCreate& r) {
  const char* rec = "resource_create";
  if (auto e = check_resource_words(rec, r.id, r.format, r.usage, r.bind, r.flags); !e.ok()) return e;
  const auto format = static_cast<pipe_format>(r.format);
  const auto target = static_cast<pipe_texture_target>(r.target);
  const char* fname = util_format_short_name(format);
  if (!r.width || !r.height || !r.depth || !r.array_size) {
    return reject_("%s #%u: size %ux%ux%u with %u layers has a zero dimension", rec, r.id, r.width, unsigned(r.height),
                   unsigned(r.depth), unsigned(r.array_size));
  }

  // Sizes against the host's limits.
  const unsigned max2d = cap(PIPE_CAP_MAX_TEXTURE_2D_SIZE);
  const unsigned levels3d = cap(PIPE_CAP_MAX_TEXTURE_3D_LEVELS), levels_cube = cap(PIPE_CAP_MAX_TEXTURE_CUBE_LEVELS);
  const unsigned max3d = levels3d ? 1u << (levels3d - 1) : 0, max_cube = levels_cube ? 1u << (levels_cube - 1) : 0;
  const unsigned max_layers = std::min(cap(PIPE_CAP_MAX_TEXTURE_ARRAY_LAYERS), kMaxBoxExtent);
  auto too_big = [&](unsigned limit) {
    return reject_("%s #%u: %s %ux%ux%u with %u layers exceeds the host limit of %u", rec, r.id, target_name(target),
                   r.width, unsigned(r.height), unsigned(r.depth), unsigned(r.array_size), limit);
  };
  auto bad_shape = [&](const char* why) {
    return reject_("%s #%u: a %s must have %s (got %ux%ux%u, %u layers)", rec, r.id, target_name(target), why, r.width,
                   unsigned(r.height), unsigned(r.depth), unsigned(r.array_size));
  };
  switch (target) {
    case PIPE_BUFFER:
      if (r.height != 1 || r.depth != 1 || r.array_size != 1) return bad_shape("height, depth and layers 1");
      if (auto e = check_buffer_size(rec, r.id, r.width, format); !e.ok()) return e;
      break;
    case PIPE_TEXTURE_1D:
    case PIPE_TEXTURE_1D_ARRAY:
      if (r.height != 1 || r.depth != 1) return bad_shape("height and depth 1");
      if (target == PIPE_TEXTURE_1D && r.array_size != 1) return bad_shape("one layer");
      if (r.width > max2d) return too_big(max2d);
      if (r.array_size > max_layers) return too_big(max_layers);
      break;
    case PIPE_TEXTURE_2D:
    case PIPE_TEXTURE_RECT:
    case PIPE_TEXTURE_2D_ARRAY:
      if (r.depth != 1) return bad_shape("depth 1");
      if (target != PIPE_TEXTURE_2D_ARRAY && r.array_size != 1) return bad_shape("one layer");
      if (r.width > max2d || r.height > std::min(max2d, kMaxBoxExtent)) return too_big(max2d);
      if (r.array_size > max_layers) return too_big(max_layers);
      break;
    case PIPE_TEXTURE_3D:
      if (r.array_size != 1) return bad_shape("one layer");
      if (r.width > max3d || r.height > max3d || r.depth > std::min(max3d, kMaxBoxExtent)) return too_big(max3d);
      break;
    case PIPE_TEXTURE_CUBE:
    case PIPE_TEXTURE_CUBE_ARRAY:
      if (r.depth != 1 || r.width != r.height) return bad_shape("square faces and depth 1");
      if (target == PIPE_TEXTURE_CUBE ? r.array_size != 6 : r.array_size % 6 != 0) return bad_shape("6 faces per cube");
      if (r.width > max_cube) return too_big(max_cube);
      if (r.array_size > max_layers) return too_big(max_layers);
      break;
    default:
      return reject_("%s #%u: target %u is not a pipe_texture_target", rec, r.id, unsigned(r.target));
  }
  unsigned largest = r.width;
  if (target_has_height(target)) largest = std::max<unsigned>(largest, r.height);
  if (target == PIPE_TEXTURE_3D) largest = std::max<unsigned>(largest, r.depth);
  const unsigned max_level = util_logbase2(largest);
  if (r.last_level > max_level || r.last_level >= PIPE_MAX_TEXTURE_LEVELS ||
      ((target == PIPE_BUFFER || target == PIPE_TEXTURE_RECT) && r.last_level)) {
    return reject_("%s #%u: last_level %u exceeds %u for a %ux%ux%u %s", rec, r.id, unsigned(r.last_level),
                   target == PIPE_BUFFER || target == PIPE_TEXTURE_RECT ? 0u : max_level, r.width, unsigned(r.height),
                   unsigned(r.depth), target_name(target));
  }
  if (!valid_sample_count(r.nr_samples) || !valid_sample_count(r.nr_storage_samples) ||
      r.nr_storage_samples > std::max<unsigned>(r.nr_samples, 1)) {
    return reject_("%s #%u: %u samples / %u storage samples is not a valid sample count", rec, r.id,
                   unsigned(r.nr_samples), unsigned(r.nr_storage_samples));
  }
  if (r.nr_samples > 1 && ((target != PIPE_TEXTURE_2D && target != PIPE_TEXTURE_2D_ARRAY) || r.last_level)) {
    return reject_("%s #%u: multisampled resources must be single-level 2D (array) textures", rec, r.id);
  }

  pipe_resource templ{};
  templ.target = target;
  templ.format = format;
  templ.width0 = r.width;
  templ.height0 = r.height;
  templ.depth0 = r.depth;
  templ.array_size = r.array_size;
  templ.last_level = r.last_level;
  templ.nr_samples = r.nr_samples;
  templ.nr_storage_samples = r.nr_storage_samples;
  templ.usage = r.usage;
  templ.bind = driver_bind_and_flags(r.bind, r.flags, templ.flags);
  if (config_.shares_frames && keeps_display_target(screen_, templ, r.bind)) templ.bind |= PIPE_BIND_DISPLAY_TARGET;
  // st/mesa gives an sRGB texture the render-target bind when the linear
  // format has it (st_texture.c default_bindings): surfaces of the sRGB
  // format itself are then never renderable (surface_create).
  const auto supported = [&](pipe_format f) {
    return screen_->is_format_supported(screen_, f, target, r.nr_samples, r.nr_storage_samples, templ.bind);
  };
  if (target == PIPE_BUFFER) {
    if (const std::string why = check_buffer_bind(templ.bind); !why.empty()) {
      return reject_("%s #%u: %s", rec, r.id, why.c_str());
    }
  } else if (!supported(format) && !(util_format_is_srgb(format) && supported(util_format_linear(format)))) {
    return reject_("%s #%u: format %s unsupported for bind 0x%x on a %s with %u samples", rec, r.id, fname, templ.bind,
                   target_name(target), unsigned(r.nr_samples));
  }
  uint64_t bytes = 0;
  if (!resource_bytes(templ, bytes)) return reject_("%s #%u: the size of this resource overflows", rec, r.id);
  const uint64_t held = objects_.bytes();
  if (bytes > config_.max_resource_bytes || held > config_.max_resource_bytes - bytes) {
    return reject_("%s #%u: %llu bytes would pass the guest's quota of %llu bytes (%llu in use)", rec, r.id,
                   static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(config_.max_resource_bytes),
                   static_cast<unsigned long long>(held));
  }

  pipe_resource* res = screen_->resource_create(screen_, &templ);
  if (!res && (templ.bind & PIPE_BIND_DISPLAY_TARGET)) {
    // Out of window-buffer memfds (a worker holds at most 256 descriptors):
    // a buffer of the driver's own, whose frames the guest reads back.
    templ.bind &= ~PIPE_BIND_DISPLAY_TARGET;
    res = screen_->resource_create(screen_, &templ);
  }
  if (!res) return reject_("%s #%u: the host driver could not allocate %llu bytes", rec, r.id, static_cast<unsigned long long>(bytes));
  // Fresh driver memory may hold another process's data: nothing reads it before it is zeroed.
  if (!zero_fill(res)) {
    pipe_resource_reference(&res, nullptr);
    return reject_("%s #%u: the host could not clear the new resource", rec, r.id);
  }
  HostObject obj;
  obj.kind = ObjectKind::Resource;
  obj.ptr = res;
  obj.bytes = bytes;
  if (auto e = add_object(r.id, obj); !e.ok()) {
    pipe_resource_reference(&res, nullptr);
    return e;
  }
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::SurfaceCreate& r) {
  const char* rec = "surface_create";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  if (auto e = objects_.check_free(r.id, ObjectKind::Surface); !e.ok()) return e;
  pipe_resource* res = nullptr;
  if (auto e = get_resource(r.resource, res, "surface_create resource"); !e.ok()) return e;
  if (res->target == PIPE_BUFFER) return reject_("%s: resource #%u is a buffer; surfaces of buffers are not supported", rec, r.resource);
  if (auto e = check_level(*res, r.level, rec, r.resource); !e.ok()) return e;
  const unsigned layers = level_slices(*res, r.level);
  if (r.first_layer > r.last_layer || r.last_layer >= layers) {
    return reject_("%s: layers %u..%u outside the %u layers of level %u of resource #%u", rec, unsigned(r.first_layer),
                   unsigned(r.last_layer), layers, unsigned(r.level), r.resource);
  }
  pipe_format format;
  if (auto e = check_view_format(*res, r.format, rec, r.resource, format); !e.ok()) return e;
  // st/mesa makes a surface for every texture attached to a framebuffer
  // object, before it knows whether the attachment is complete (a compressed
  // or shared-exponent texture never is): the surface exists, but only a
  // renderable one is ever bound (set_framebuffer_state) or cleared.
  const unsigned bind = util_format_is_depth_or_stencil(format) ? PIPE_BIND_DEPTH_STENCIL : PIPE_BIND_RENDER_TARGET;
  const bool renderable =
      screen_->is_format_supported(screen_, format, res->target, res->nr_samples, res->nr_storage_samples, bind);
  pipe_surface templ{};
  templ.format = format;
  templ.u.tex.level = r.level;
  templ.u.tex.first_layer = r.first_layer;
  templ.u.tex.last_layer = r.last_layer;
  pipe_surface* surf = ctx->pipe->create_surface(ctx->pipe, res, &templ);
  if (!surf) return reject_("%s: the host driver could not create surface #%u", rec, r.id);
  HostObject obj;
  obj.kind = ObjectKind::Surface;
  obj.ptr = surf;
  obj.ctx = ctx->pipe;
  obj.owner = ctx->id;
  obj.renderable = renderable;
  if (auto e = add_object(r.id, obj); !e.ok()) {
    pipe_surface_reference(&surf, nullptr);
    return e;
  }
  return {};
}

namespace {
// Which view targets may look at which resource targets (Gallium's rules, as
// llvmpipe's debug build checks them).
bool view_target_compatible(unsigned view, unsigned res) {
  if (view == res) return true;
  switch (view) {
    case PIPE_TEXTURE_1D: case PIPE_TEXTURE_1D_ARRAY:
      return res == PIPE_TEXTURE_1D || res == PIPE_TEXTURE_1D_ARRAY;
    case PIPE_TEXTURE_2D: case PIPE_TEXTURE_RECT:
      return res == PIPE_TEXTURE_2D || res == PIPE_TEXTURE_RECT || res == PIPE_TEXTURE_2D_ARRAY ||
             res == PIPE_TEXTURE_CUBE || res == PIPE_TEXTURE_CUBE_ARRAY || res == PIPE_TEXTURE_3D;
    case PIPE_TEXTURE_2D_ARRAY:
      return res == PIPE_TEXTURE_2D || res == PIPE_TEXTURE_CUBE || res == PIPE_TEXTURE_CUBE_ARRAY;
    case PIPE_TEXTURE_CUBE: case PIPE_TEXTURE_CUBE_ARRAY:
      return res == PIPE_TEXTURE_CUBE || res == PIPE_TEXTURE_CUBE_ARRAY || res == PIPE_TEXTURE_2D_ARRAY;
    default:
      return false;
  }
}
}  // namespace

proto::DecodeError GalliumExecutor::handle(const proto::SamplerViewCreate& r) {
  const char* rec = "sampler_view_create";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  if (auto e = objects_.check_free(r.id, ObjectKind::SamplerView); !e.ok()) return e;
  pipe_resource* res = nullptr;
  if (auto e = get_resource(r.resource, res, "sampler_view_create resource"); !e.ok()) return e;
  for (unsigned i = 0; i < 4; ++i) {
    if (r.swizzle[i] > PIPE_SWIZZLE_1) return reject_("%s: swizzle[%u] %u is not X/Y/Z/W/0/1", rec, i, unsigned(r.swizzle[i]));
  }
  if (!view_target_compatible(r.target, res->target)) {
    return reject_("%s: a %s view of resource #%u (a %s) is not allowed", rec, target_name(r.target), r.resource,
                   target_name(res->target));
  }
  pipe_sampler_view templ{};
  const auto format = static_cast<pipe_format>(r.format);
  if (res->target == PIPE_BUFFER) {
    if (r.format >= PIPE_FORMAT_COUNT || format == PIPE_FORMAT_NONE || !util_format_description(format) ||
        util_format_is_compressed(format)) {
      return reject_("%s: format %u cannot view a buffer", rec, unsigned(r.format));
    }
    // first/last carry the byte offset and size for buffers.
    if (auto e = check_range(*res, r.first, r.last, rec, r.resource); !e.ok()) return e;
    const unsigned align = cap(PIPE_CAP_TEXTURE_BUFFER_OFFSET_ALIGNMENT);
    if (align && r.first % align) return reject_("%s: buffer offset %u is not a multiple of %u", rec, r.first, align);
    const uint64_t elements = r.last / util_format_get_blocksize(format);
    if (elements > cap(PIPE_CAP_MAX_TEXEL_BUFFER_ELEMENTS_UINT)) {
      return reject_("%s: %llu texels exceed the host's %u", rec, static_cast<unsigned long long>(elements),
                     cap(PIPE_CAP_MAX_TEXEL_BUFFER_ELEMENTS_UINT));
    }
    templ.format = format;
    templ.u.buf.offset = r.first;
    templ.u.buf.size = r.last;
  } else {
    pipe_format f;
    if (auto e = check_view_format(*res, r.format, rec, r.resource, f); !e.ok()) return e;
    if (r.first_level > r.last_level || r.last_level > res->last_level) {
      return reject_("%s: levels %u..%u outside resource #%u's 0..%u", rec, unsigned(r.first_level), unsigned(r.last_level),
                     r.resource, unsigned(res->last_level));
    }
    // A 2D view of a 3D texture names depth slices, and the driver offsets
    // every viewed level by first_layer slices of that level (llvmpipe:
    // mip_offsets[j] += first_layer * img_stride[j]): they must exist in the
    // smallest level viewed, not only in level 0.
    const bool slices = res->target == PIPE_TEXTURE_3D && r.target != PIPE_TEXTURE_3D;
    const unsigned layers = slices ? u_minify(res->depth0, r.last_level)
                                   : res->target == PIPE_TEXTURE_3D ? res->depth0 : res->array_size;
    if (r.first > r.last || r.last >= layers) {
      return reject_("%s: layers %u..%u outside the %u layers of resource #%u%s", rec, r.first, r.last, layers,
                     r.resource, slices ? " at the last level viewed" : "");
    }
    const unsigned count = r.last - r.first + 1;
    if (r.target == PIPE_TEXTURE_CUBE || r.target == PIPE_TEXTURE_CUBE_ARRAY) {
      if (res->width0 != res->height0) return reject_("%s: a cube view needs square layers (resource #%u is %ux%u)", rec,
                                                       r.resource, res->width0, unsigned(res->height0));
      if (r.target == PIPE_TEXTURE_CUBE ? count != 6 : count % 6 != 0) {
        return reject_("%s: a %s view needs whole cubes, not %u layers", rec, target_name(r.target), count);
      }
    }
    if (res->nr_samples > 1 && r.target != PIPE_TEXTURE_2D && r.target != PIPE_TEXTURE_2D_ARRAY) {
      return reject_("%s: multisampled resource #%u needs a 2D view", rec, r.resource);
    }
    templ.format = f;
    templ.u.tex.first_level = r.first_level;
    templ.u.tex.last_level = r.last_level;
    templ.u.tex.first_layer = r.first;
    templ.u.tex.last_layer = r.last;
  }
  if (!screen_->is_format_supported(screen_, templ.format, static_cast<pipe_texture_target>(r.target), res->nr_samples,
                                    res->nr_storage_samples, PIPE_BIND_SAMPLER_VIEW)) {
    return reject_("%s: format %s cannot be sampled from a %s on the host", rec, util_format_short_name(templ.format),
                   target_name(r.target));
  }
  templ.target = static_cast<pipe_texture_target>(r.target);
  templ.swizzle_r = r.swizzle[0];
  templ.swizzle_g = r.swizzle[1];
  templ.swizzle_b = r.swizzle[2];
  templ.swizzle_a = r.swizzle[3];
  pipe_sampler_view* view = ctx->pipe->create_sampler_view(ctx->pipe, res, &templ);
  if (!view) return reject_("%s: the host driver could not create sampler view #%u", rec, r.id);
  HostObject obj;
  obj.kind = ObjectKind::SamplerView;
  obj.ptr = view;
  obj.ctx = ctx->pipe;
  obj.owner = ctx->id;
  if (auto e = add_object(r.id, obj); !e.ok()) {
    pipe_sampler_view_reference(&view, nullptr);
    return e;
  }
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::SoTargetCreate& r) {
  const char* rec = "so_target_create";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  if (auto e = objects_.check_free(r.id, ObjectKind::SoTarget); !e.ok()) return e;
  if (!ctx->pipe->create_stream_output_target) return reject_("%s: the host driver has no stream output", rec);
  pipe_resource* res = nullptr;
  if (auto e = get_buffer(r.resource, res, "so_target_create resource"); !e.ok()) return e;
  if (r.offset % 4) return reject_("%s: offset %u is not 4-byte aligned", rec, r.offset);
  if (auto e = check_range(*res, r.offset, r.size, rec, r.resource); !e.ok()) return e;
  pipe_stream_output_target* t = ctx->pipe->create_stream_output_target(ctx->pipe, res, r.offset, r.size);
  if (!t) return reject_("%s: the host driver could not create stream-output target #%u", rec, r.id);
  HostObject obj;
  obj.kind = ObjectKind::SoTarget;
  obj.ptr = t;
  obj.ctx = ctx->pipe;
  obj.owner = ctx->id;
  if (auto e = add_object(r.id, obj); !e.ok()) {
    pipe_so_target_reference(&t, nullptr);
    return e;
  }
  return {};
}

// --- transfers ---------------------------------------------------------------------

proto::DecodeError GalliumExecutor::write_box(const char* rec, uint32_t id, uint32_t level, const proto::Box& box,
                                              uint32_t stride, uint32_t layer_stride, const uint8_t* data,
                                              uint64_t size) {
  pipe_resource* res = nullptr;
  if (auto e = get_resource(id, res, rec); !e.ok()) return e;
  if (auto e = check_level(*res, level, rec, id); !e.ok()) return e;
  const WireBox wb{box.x, box.y, box.z, box.width, box.height, box.depth};
  if (auto why = check_box(*res, level, wb); !why.empty()) return reject_("%s: %s of resource #%u", rec, why.c_str(), id);
  if (!box.width || !box.height || !box.depth) return {};  // an empty box writes nothing
  pipe_context* p = nullptr;
  if (auto e = work_context(p, rec); !e.ok()) return e;
  const pipe_box pbox = to_pipe_box(wb);
  if (res->target == PIPE_BUFFER) {
    if (size < uint64_t(box.width)) {
      return reject_("%s: %llu bytes of data for %d bytes of buffer #%u", rec, static_cast<unsigned long long>(size), box.width, id);
    }
    copy_arena_in(p);
    p->buffer_subdata(p, res, PIPE_MAP_WRITE, box.x, box.width, data);
    arena_written(res, p);
    return {};
  }
  const auto format = static_cast<pipe_format>(res->format);
  const uint64_t row = util_format_get_stride(format, box.width);
  const uint64_t rows = util_format_get_nblocksy(format, box.height);
  if (stride < row) return reject_("%s: stride %u is shorter than a row of %llu bytes", rec, stride, static_cast<unsigned long long>(row));
  if (box.depth > 1 && layer_stride < stride * rows) {
    return reject_("%s: layer_stride %u is shorter than a layer of %llu bytes", rec, layer_stride,
                   static_cast<unsigned long long>(stride * rows));
  }
  const uint64_t need = uint64_t(box.depth - 1) * layer_stride + (rows - 1) * stride + row;
  if (size < need) {
    return reject_("%s: the data holds %llu bytes, the box x=%d y=%d z=%d %dx%dx%d needs %llu", rec,
                   static_cast<unsigned long long>(size), box.x, box.y, box.z, box.width, box.height, box.depth,
                   static_cast<unsigned long long>(need));
  }
  p->texture_subdata(p, res, level, PIPE_MAP_WRITE, &pbox, data, stride, layer_stride);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::TransferWrite& r) {
  const char* why = nullptr;
  const uint8_t* data = session_.bulk(r.data, why);
  if (!data) return reject_("transfer_write: %s (pos %llu, %u bytes)", why, static_cast<unsigned long long>(r.data.pos), r.data.size);
  return write_box("transfer_write", r.resource, r.level, r.box, r.stride, r.layer_stride, data, r.data.size);
}

proto::DecodeError GalliumExecutor::handle(const proto::TransferWriteInline& r) {
  return write_box("transfer_write_inline", r.resource, r.level, r.box, r.stride, r.layer_stride, r.data.wire_bytes(),
                   r.data.size());
}

proto::DecodeError GalliumExecutor::read_box(const char* rec, pipe_context* p, pipe_resource* res, unsigned level,
                                             const pipe_box& box) {
  const auto format = static_cast<pipe_format>(res->format);
  const uint64_t total = res->target == PIPE_BUFFER ? uint64_t(box.width)
                                                    : packed_box_bytes(format, box.width, box.height, box.depth);
  if (total > UINT32_MAX) return reject_("%s: %llu bytes do not fit one answer", rec, static_cast<unsigned long long>(total));
  HostDataWriter out(session_, static_cast<uint32_t>(total));
  if (total) {
    pipe_box read = box;
    // One context alone only ever waits for its own batches, which zink flushes itself.
    const bool other_contexts = contexts_.size() + (utility_ ? 1 : 0) > 1;
    pipe_resource* staged =
        limits_.maps_wait_for_other_contexts && other_contexts ? staged_copy(p, res, level, read) : nullptr;
    if (staged) {
      res = staged;
      level = 0;
    }
    pipe_transfer* xfer = nullptr;
    const auto* map = static_cast<const uint8_t*>(
        res->target == PIPE_BUFFER ? p->buffer_map(p, res, 0, PIPE_MAP_READ, &read, &xfer)
                                   : p->texture_map(p, res, level, PIPE_MAP_READ, &read, &xfer));
    if (!map) {
      pipe_resource_reference(&staged, nullptr);
      return reject_("%s: the host driver could not map the resource for reading", rec);
    }
    if (res->target == PIPE_BUFFER) {
      out.write(map, box.width);
    } else {
      const size_t row = util_format_get_stride(format, box.width);
      const unsigned rows = util_format_get_nblocksy(format, box.height);
      for (int z = 0; z < box.depth; ++z) {
        for (unsigned y = 0; y < rows; ++y) out.write(map + size_t(z) * xfer->layer_stride + size_t{y} * xfer->stride, row);
      }
    }
    if (res->target == PIPE_BUFFER) p->buffer_unmap(p, xfer);
    else p->texture_unmap(p, xfer);
    pipe_resource_reference(&staged, nullptr);
  }
  out.finish();
  return {};
}

pipe_resource* GalliumExecutor::staged_copy(pipe_context* p, pipe_resource* res, unsigned level, pipe_box& box) {
  if (res->nr_samples > 1) return nullptr;  // copies cannot resolve; the guest resolves before reading
  pipe_resource templ{};
  templ.target = res->target;
  templ.format = res->format;
  templ.width0 = box.width;
  templ.height0 = templ.depth0 = templ.array_size = 1;
  switch (res->target) {
    case PIPE_BUFFER:
    case PIPE_TEXTURE_1D:
      break;
    case PIPE_TEXTURE_1D_ARRAY:  // layers are the box's rows
      templ.array_size = box.height;
      break;
    case PIPE_TEXTURE_3D:
      templ.height0 = box.height;
      templ.depth0 = box.depth;
      break;
    default:  // 2D, rectangle, 2D array, cube (array): the box's slices become layers
      templ.height0 = box.height;
      templ.array_size = box.depth;
      if (box.depth > 1 || res->target == PIPE_TEXTURE_CUBE || res->target == PIPE_TEXTURE_CUBE_ARRAY) {
        templ.target = PIPE_TEXTURE_2D_ARRAY;
      }
  }
  templ.usage = PIPE_USAGE_STAGING;
  pipe_resource* staged = screen_->resource_create(screen_, &templ);
  if (!staged) return nullptr;
  p->resource_copy_region(p, staged, 0, 0, 0, 0, res, level, &box);
  u_box_3d(0, 0, 0, box.width, box.height, box.depth, &box);
  return staged;
}

proto::DecodeError GalliumExecutor::handle(const proto::TransferRead& r) {
  const char* rec = "transfer_read";
  pipe_resource* res = nullptr;
  if (auto e = get_resource(r.resource, res, rec); !e.ok()) return e;
  if (auto e = check_level(*res, r.level, rec, r.resource); !e.ok()) return e;
  const WireBox wb{r.box.x, r.box.y, r.box.z, r.box.width, r.box.height, r.box.depth};
  if (auto why = check_box(*res, r.level, wb); !why.empty()) return reject_("%s: %s of resource #%u", rec, why.c_str(), r.resource);
  pipe_context* p = nullptr;
  if (auto e = work_context(p, rec); !e.ok()) return e;
  if (p == utility_) settle_other_contexts(p);
  pipe_box box = to_pipe_box(wb);
  if (!box.width || !box.height || !box.depth) box.width = box.height = box.depth = 0;
  if (res->target == PIPE_BUFFER) copy_arena_in(p);
  return read_box(rec, p, res, r.level, box);
}

proto::DecodeError GalliumExecutor::handle(const proto::InvalidateResource& r) {
  pipe_resource* res = nullptr;
  if (auto e = get_resource(r.resource, res, "invalidate_resource"); !e.ok()) return e;
  // Only a hint; without a current context there is nothing to tell.
  if (res->target == PIPE_BUFFER && limits_.buffer_invalidation_leaks) return {};
  if (arena_.copied_ids.count(res)) return {};  // its bytes are the span's, which the guest keeps
  if (current_ && current_->pipe->invalidate_resource) current_->pipe->invalidate_resource(current_->pipe, res);
  return {};
}

}  // namespace xen3d::host
