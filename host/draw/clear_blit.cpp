// GalliumExecutor: clears, blits, copies and mipmap generation.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "host/executor/executor_util.h"
#include "host/executor/gallium_executor.h"
#include "host/validate/resource_layout.h"
#include "pipe/p_context.h"
#include "pipe/p_defines.h"
#include "pipe/p_screen.h"
#include "util/format/u_format.h"
#include "util/u_gen_mipmap.h"
#include "util/u_inlines.h"
#include "util/u_surface.h"

namespace xen3d::host {

using proto::BindSlot;
using proto::ObjectKind;

namespace {

union ColorBits {
  uint32_t u[4];
  pipe_color_union c;
};

template <class Array>
pipe_color_union color_of(const Array& bits) {
  ColorBits cb;
  for (unsigned i = 0; i < 4; ++i) cb.u[i] = bits[i];
  return cb.c;
}
}  // namespace

proto::DecodeError GalliumExecutor::handle(const proto::Clear& r) {
  const char* rec = "clear";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  constexpr uint32_t kAll = PIPE_CLEAR_DEPTHSTENCIL | PIPE_CLEAR_COLOR;
  if (r.buffers & ~kAll) return reject_("%s: buffers 0x%x has unknown bits", rec, r.buffers);
  if (std::isnan(r.depth)) return reject_("%s: depth is NaN", rec);
  // Only attachments that exist are cleared (GL clears nothing for missing ones).
  uint32_t buffers = r.buffers & ctx->fb_cbuf_mask;
  if (ctx->fb_zs) buffers |= r.buffers & PIPE_CLEAR_DEPTHSTENCIL;
  pipe_scissor_state sc{};
  if (r.scissor_enable) {
    sc.minx = r.scissor[0];
    sc.miny = r.scissor[1];
    sc.maxx = r.scissor[2];
    sc.maxy = r.scissor[3];
    if (sc.minx > sc.maxx || sc.miny > sc.maxy) return reject_("%s: scissor min is beyond max", rec);
  }
  if (!buffers) return {};
  const pipe_color_union color = color_of(r.color);
  ctx->pipe->clear(ctx->pipe, buffers, r.scissor_enable ? &sc : nullptr, &color, r.depth, r.stencil);
  return {};
}

namespace {
// The part of a blit's destination box inside scissor {minx, miny, maxx, maxy};
// a box with no part inside is empty at the scissor's corner.
template <class Scissor>
WireBox clip_to_scissor(const WireBox& b, const Scissor& sc) {
  const int64_t x0 = std::max<int64_t>(b.x, sc[0]), y0 = std::max<int64_t>(b.y, sc[1]);
  const int64_t x1 = std::min<int64_t>(int64_t(b.x) + b.width, sc[2]);
  const int64_t y1 = std::min<int64_t>(int64_t(b.y) + b.height, sc[3]);
  if (b.width < 0 || b.height < 0) return b;  // check_box names the negative size
  if (x1 <= x0 || y1 <= y0) return {0, 0, b.z, 0, 0, b.depth};
  return {int32_t(x0), int32_t(y0), b.z, int32_t(x1 - x0), int32_t(y1 - y0), b.depth};
}

// The part of a (possibly mirrored) blit source box inside its level, with
// positive sizes.
WireBox clamp_to_level(const WireBox& b, const pipe_resource& res, unsigned level) {
  int64_t x0 = b.x, x1 = int64_t(b.x) + b.width, y0 = b.y, y1 = int64_t(b.y) + b.height;
  if (x1 < x0) std::swap(x0, x1);
  if (y1 < y0) std::swap(y0, y1);
  x0 = std::clamp<int64_t>(x0, 0, level_width(res, level));
  x1 = std::clamp<int64_t>(x1, 0, level_width(res, level));
  y0 = std::clamp<int64_t>(y0, 0, level_height(res, level));
  y1 = std::clamp<int64_t>(y1, 0, level_height(res, level));
  if (x1 == x0 || y1 == y0) return {0, 0, b.z, 0, 0, b.depth};
  return {int32_t(x0), int32_t(y0), b.z, int32_t(x1 - x0), int32_t(y1 - y0), b.depth};
}

struct SurfaceRect {
  unsigned width, height;
};
SurfaceRect surface_size(const pipe_surface* s) {
  return {level_width(*s->texture, s->u.tex.level), level_height(*s->texture, s->u.tex.level)};
}
}  // namespace

proto::DecodeError GalliumExecutor::handle(const proto::ClearRenderTarget& r) {
  const char* rec = "clear_render_target";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  HostObject* o = nullptr;
  if (auto e = get_owned(r.surface, ObjectKind::Surface, *ctx, o, rec); !e.ok()) return e;
  auto* s = static_cast<pipe_surface*>(o->ptr);
  if (!o->renderable) return reject_("%s: the host cannot render to surface #%u (%s)", rec, r.surface, util_format_short_name(s->format));
  if (util_format_is_depth_or_stencil(s->format)) return reject_("%s: surface #%u is a depth-stencil surface", rec, r.surface);
  const SurfaceRect sz = surface_size(s);
  if (uint64_t{r.x} + r.width > sz.width || uint64_t{r.y} + r.height > sz.height) {
    return reject_("%s: rectangle %u,%u %ux%u exceeds surface #%u (%ux%u)", rec, r.x, r.y, r.width, r.height, r.surface,
                   sz.width, sz.height);
  }
  if (!r.width || !r.height) return {};
  const pipe_color_union color = color_of(r.color);
  ctx->pipe->clear_render_target(ctx->pipe, s, &color, r.x, r.y, r.width, r.height, r.render_condition_enabled);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::ClearDepthStencil& r) {
  const char* rec = "clear_depth_stencil";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  HostObject* o = nullptr;
  if (auto e = get_owned(r.surface, ObjectKind::Surface, *ctx, o, rec); !e.ok()) return e;
  auto* s = static_cast<pipe_surface*>(o->ptr);
  if (!o->renderable) return reject_("%s: the host cannot render to surface #%u (%s)", rec, r.surface, util_format_short_name(s->format));
  if (!util_format_is_depth_or_stencil(s->format)) return reject_("%s: surface #%u is not a depth-stencil surface", rec, r.surface);
  if (!r.clear_flags || (r.clear_flags & ~PIPE_CLEAR_DEPTHSTENCIL)) return reject_("%s: clear_flags 0x%x is not depth and/or stencil", rec, r.clear_flags);
  if (std::isnan(r.depth)) return reject_("%s: depth is NaN", rec);
  const SurfaceRect sz = surface_size(s);
  if (uint64_t{r.x} + r.width > sz.width || uint64_t{r.y} + r.height > sz.height) {
    return reject_("%s: rectangle %u,%u %ux%u exceeds surface #%u (%ux%u)", rec, r.x, r.y, r.width, r.height, r.surface,
                   sz.width, sz.height);
  }
  if (!r.width || !r.height) return {};
  ctx->pipe->clear_depth_stencil(ctx->pipe, s, r.clear_flags, r.depth, r.stencil, r.x, r.y, r.width, r.height,
                                 r.render_condition_enabled);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::ClearTexture& r) {
  const char* rec = "clear_texture";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  pipe_resource* res = nullptr;
  if (auto e = get_resource(r.resource, res, rec); !e.ok()) return e;
  if (res->target == PIPE_BUFFER) return reject_("%s: resource #%u is a buffer (use clear_buffer)", rec, r.resource);
  if (auto e = check_level(*res, r.level, rec, r.resource); !e.ok()) return e;
  const auto format = static_cast<pipe_format>(res->format);
  if (util_format_is_compressed(format)) return reject_("%s: compressed resource #%u cannot be cleared", rec, r.resource);
  if (r.data.size() != util_format_get_blocksize(format)) {
    return reject_("%s: %zu bytes of clear value for the %u-byte texels of %s", rec, r.data.size(),
                   util_format_get_blocksize(format), util_format_short_name(format));
  }
  const WireBox wb{r.box.x, r.box.y, r.box.z, r.box.width, r.box.height, r.box.depth};
  if (auto why = check_box(*res, r.level, wb); !why.empty()) return reject_("%s: %s of resource #%u", rec, why.c_str(), r.resource);
  if (!r.box.width || !r.box.height || !r.box.depth) return {};
  const pipe_box box = to_pipe_box(wb);
  uint8_t value[16] = {};
  std::memcpy(value, r.data.wire_bytes(), r.data.size());
  if (ctx->pipe->clear_texture) ctx->pipe->clear_texture(ctx->pipe, res, r.level, &box, value);
  else util_clear_texture(ctx->pipe, res, r.level, &box, value);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::ClearBuffer& r) {
  const char* rec = "clear_buffer";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  if (!ctx->pipe->clear_buffer) return reject_("%s: the host driver cannot clear buffers", rec);
  pipe_resource* res = nullptr;
  if (auto e = get_buffer(r.resource, res, rec); !e.ok()) return e;
  const size_t vs = r.value.size();
  if (vs != 1 && vs != 2 && vs != 4 && vs != 8 && vs != 12 && vs != 16) return reject_("%s: a %zu-byte clear value", rec, vs);
  if (r.offset % vs || r.size % vs) return reject_("%s: offset %u / size %u are not multiples of the %zu-byte value", rec, r.offset, r.size, vs);
  if (auto e = check_range(*res, r.offset, r.size, rec, r.resource); !e.ok()) return e;
  if (!r.size) return {};
  uint8_t value[16] = {};
  std::memcpy(value, r.value.wire_bytes(), vs);
  copy_arena_in(ctx->pipe);
  ctx->pipe->clear_buffer(ctx->pipe, res, r.offset, r.size, value, static_cast<int>(vs));
  arena_written(res, ctx->pipe);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::Blit& r) {
  const char* rec = "blit";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  pipe_blit_info bi{};
  const proto::BlitSide sides[2] = {r.dst, r.src};
  const char* names[2] = {"blit dst", "blit src"};
  // The source first: whether it is multisampled decides how the destination is checked.
  for (unsigned i : {1u, 0u}) {
    const proto::BlitSide& s = sides[i];
    auto& out = i == 0 ? bi.dst : bi.src;
    pipe_resource* res = nullptr;
    if (auto e = get_resource(s.resource, res, names[i]); !e.ok()) return e;
    if (res->target == PIPE_BUFFER) return reject_("%s: resource #%u is a buffer", names[i], s.resource);
    if (auto e = check_level(*res, s.level, names[i], s.resource); !e.ok()) return e;
    const WireBox wb{s.box.x, s.box.y, s.box.z, s.box.width, s.box.height, s.box.depth};
    // A scissored blit is drawn by the driver's blitter, which clips to the
    // scissor: st/mesa sends stretched and mirrored blits unclipped, with the
    // scissor holding the part inside the framebuffer. What is written is the
    // box within the scissor; the source is sampled with its coordinates
    // clamped to the level (fetches outside it return zero). Resolves of
    // multisampled sources may be copies: they stay inside both levels.
    const bool clipped = r.scissor_enable && (i == 1 ? res : bi.src.resource)->nr_samples <= 1;
    const WireBox checked = !clipped ? wb : i == 0 ? clip_to_scissor(wb, r.scissor) : clamp_to_level(wb, *res, s.level);
    if (auto why = check_box(*res, s.level, checked, i == 0 ? BoxRule::Plain : BoxRule::BlitSource); !why.empty()) {
      return reject_("%s: %s of resource #%u%s", names[i], why.c_str(), s.resource, clipped ? " (within the scissor)" : "");
    }
    pipe_format f;
    if (auto e = check_view_format(*res, s.format, names[i], s.resource, f); !e.ok()) return e;
    const bool zs = util_format_is_depth_or_stencil(f);
    const unsigned bind = i == 1 ? PIPE_BIND_SAMPLER_VIEW : zs ? PIPE_BIND_DEPTH_STENCIL : PIPE_BIND_RENDER_TARGET;
    if (!screen_->is_format_supported(screen_, f, res->target, res->nr_samples, res->nr_storage_samples, bind)) {
      return reject_("%s: format %s is not supported for %s on the host", names[i], util_format_short_name(f),
                     i == 1 ? "sampling" : "rendering");
    }
    out.resource = res;
    out.level = s.level;
    out.box = to_pipe_box(wb);
    out.format = f;
  }
  if (r.mask & ~PIPE_MASK_RGBAZS) return reject_("%s: mask 0x%x has unknown bits", rec, r.mask);
  const bool dst_zs = util_format_is_depth_or_stencil(bi.dst.format), src_zs = util_format_is_depth_or_stencil(bi.src.format);
  if ((r.mask & PIPE_MASK_ZS) && !(dst_zs && src_zs)) return reject_("%s: depth/stencil mask on color formats", rec);
  if ((r.mask & PIPE_MASK_RGBA) && (dst_zs || src_zs)) return reject_("%s: color mask on depth/stencil formats", rec);
  // Depth and stencil take any filter (u_blitter samples them nearest;
  // st/mesa's mipmap generation asks for linear); integer colors cannot be filtered.
  if (r.filter == PIPE_TEX_FILTER_LINEAR && !src_zs &&
      (util_format_is_pure_integer(bi.src.format) || util_format_is_pure_integer(bi.dst.format))) {
    return reject_("%s: linear filtering of integer formats", rec);
  }
  const unsigned dst_samples = std::max(1u, unsigned(bi.dst.resource->nr_samples));
  const unsigned src_samples = std::max(1u, unsigned(bi.src.resource->nr_samples));
  if (dst_samples > 1 && src_samples > 1 && dst_samples != src_samples) {
    return reject_("%s: %u-sample source into a %u-sample destination", rec, src_samples, dst_samples);
  }
  // Multisample sources are resolved or copied sample by sample, which the
  // drivers do at the source's size: both rectangles must have equal sizes.
  // A mirrored resolve (st/mesa's glCopyTexImage from a window) goes through
  // resolve_then_blit: llvmpipe crashes when asked for it in one blit.
  bool mirrored_resolve = false;
  if (src_samples > 1) {
    if (std::abs(r.src.box.width) != std::abs(r.dst.box.width) || std::abs(r.src.box.height) != std::abs(r.dst.box.height) ||
        std::abs(r.src.box.depth) != std::abs(r.dst.box.depth)) {
      return reject_("%s: a multisampled source needs equal source and destination sizes", rec);
    }
    mirrored_resolve = r.src.box.width != r.dst.box.width || r.src.box.height != r.dst.box.height ||
                       r.src.box.depth != r.dst.box.depth;
    if (mirrored_resolve && dst_samples > 1) return reject_("%s: a mirrored multisample-to-multisample copy", rec);
  }
  if (r.dst_sample > dst_samples) return reject_("%s: dst_sample %u exceeds %u samples", rec, unsigned(r.dst_sample), dst_samples);
  if (r.scissor_enable && (r.scissor[0] > r.scissor[2] || r.scissor[1] > r.scissor[3])) return reject_("%s: scissor min is beyond max", rec);
  if (!r.mask || !r.dst.box.width || !r.dst.box.height || !r.dst.box.depth || !r.src.box.width || !r.src.box.height ||
      !r.src.box.depth) {
    return {};
  }
  bi.mask = r.mask;
  bi.filter = r.filter;
  bi.scissor_enable = r.scissor_enable;
  bi.scissor.minx = r.scissor[0];
  bi.scissor.miny = r.scissor[1];
  bi.scissor.maxx = r.scissor[2];
  bi.scissor.maxy = r.scissor[3];
  bi.render_condition_enable = r.render_condition_enable;
  bi.alpha_blend = r.alpha_blend;
  bi.sample0_only = r.sample0_only;
  bi.dst_sample = r.dst_sample;
  if (mirrored_resolve) {
    if (!resolve_then_blit(ctx->pipe, bi)) return reject_("%s: out of host memory for a mirrored resolve", rec);
    return {};
  }
  blit(ctx->pipe, bi);
  return {};
}

// Resolves the source rectangle into a single-sample scratch texture, then
// blits that with the caller's mirroring.
void GalliumExecutor::blit(pipe_context* pipe, const pipe_blit_info& info) {
  pipe->blit(pipe, &info);
  // u_blitter restores the views [0, n) the context had, n being the highest
  // bound slot + 1 (none on the utility context); of the slots it used
  // (util_blitter_blit_generic: depth and stencil), those from n on were
  // empty before the blit.
  constexpr unsigned kBlitterViewSlots = 2;
  unsigned restored = 0;
  for (const auto& [id, c] : contexts_) {
    if (c->pipe != pipe) continue;
    for (unsigned i = c->fragment_views.size(); i > restored; --i) {
      if (c->fragment_views[i - 1]) restored = i;
    }
  }
  if (restored >= kBlitterViewSlots) return;
  std::array<pipe_sampler_view*, kBlitterViewSlots> none{};
  set_sampler_views(pipe, PIPE_SHADER_FRAGMENT, restored, kBlitterViewSlots - restored, none.data());
}

bool GalliumExecutor::resolve_then_blit(pipe_context* pipe, const pipe_blit_info& bi) {
  const pipe_box& sb = bi.src.box;
  pipe_resource templ{};
  templ.target = sb.depth != 1 && sb.depth != -1 ? PIPE_TEXTURE_2D_ARRAY : PIPE_TEXTURE_2D;
  templ.format = bi.src.format;
  templ.width0 = std::abs(sb.width);
  templ.height0 = std::abs(sb.height);
  templ.depth0 = 1;
  templ.array_size = std::abs(sb.depth);
  templ.bind = util_format_is_depth_or_stencil(bi.src.format) ? PIPE_BIND_DEPTH_STENCIL | PIPE_BIND_SAMPLER_VIEW
                                                               : PIPE_BIND_RENDER_TARGET | PIPE_BIND_SAMPLER_VIEW;
  pipe_resource* scratch = screen_->resource_create(screen_, &templ);
  if (!scratch) return false;
  pipe_blit_info resolve = bi;
  // The source rectangle with positive sizes (a negative size starts at the far edge).
  resolve.src.box.x = sb.width < 0 ? sb.x + sb.width : sb.x;
  resolve.src.box.y = sb.height < 0 ? sb.y + sb.height : sb.y;
  resolve.src.box.z = sb.depth < 0 ? sb.z + sb.depth : sb.z;
  resolve.src.box.width = templ.width0;
  resolve.src.box.height = templ.height0;
  resolve.src.box.depth = templ.array_size;
  resolve.dst.resource = scratch;
  resolve.dst.level = 0;
  resolve.dst.format = bi.src.format;
  u_box_3d(0, 0, 0, templ.width0, templ.height0, templ.array_size, &resolve.dst.box);
  resolve.filter = PIPE_TEX_FILTER_NEAREST;
  resolve.scissor_enable = false;
  resolve.alpha_blend = false;
  resolve.dst_sample = 0;
  blit(pipe, resolve);

  pipe_blit_info mirror = bi;
  mirror.src.resource = scratch;
  mirror.src.level = 0;
  mirror.src.box.x = sb.width < 0 ? int(templ.width0) : 0;
  mirror.src.box.y = sb.height < 0 ? int(templ.height0) : 0;
  mirror.src.box.z = sb.depth < 0 ? int(templ.array_size) : 0;
  blit(pipe, mirror);
  pipe_resource_reference(&scratch, nullptr);
  return true;
}

proto::DecodeError GalliumExecutor::handle(const proto::ResourceCopyRegion& r) {
  const char* rec = "resource_copy_region";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  pipe_resource *dst = nullptr, *src = nullptr;
  if (auto e = get_resource(r.dst, dst, "resource_copy_region dst"); !e.ok()) return e;
  if (auto e = get_resource(r.src, src, "resource_copy_region src"); !e.ok()) return e;
  if (auto e = check_level(*dst, r.dst_level, "resource_copy_region dst", r.dst); !e.ok()) return e;
  if (auto e = check_level(*src, r.src_level, "resource_copy_region src", r.src); !e.ok()) return e;
  if ((dst->target == PIPE_BUFFER) != (src->target == PIPE_BUFFER)) return reject_("%s: cannot copy between a buffer and a texture", rec);
  if (std::max(1u, unsigned(dst->nr_samples)) != std::max(1u, unsigned(src->nr_samples))) {
    return reject_("%s: resources #%u and #%u have different sample counts", rec, r.dst, r.src);
  }
  const auto df = static_cast<pipe_format>(dst->format), sf = static_cast<pipe_format>(src->format);
  // Copies move blocks of equal bytes: compressed blocks to and from texels
  // of their size (ARB_copy_image's compatible formats).
  const unsigned sbw = util_format_get_blockwidth(sf), sbh = util_format_get_blockheight(sf);
  const unsigned dbw = util_format_get_blockwidth(df), dbh = util_format_get_blockheight(df);
  const bool same_blocks = sbw == dbw && sbh == dbh;
  if (util_format_get_blocksize(df) != util_format_get_blocksize(sf) || (!same_blocks && sbw > 1 && dbw > 1)) {
    return reject_("%s: formats %s and %s have different block sizes", rec, util_format_short_name(df), util_format_short_name(sf));
  }
  const WireBox sb{r.src_box.x, r.src_box.y, r.src_box.z, r.src_box.width, r.src_box.height, r.src_box.depth};
  if (auto why = check_box(*src, r.src_level, sb); !why.empty()) return reject_("%s src: %s of resource #%u", rec, why.c_str(), r.src);
  if (r.dstx > INT32_MAX || r.dsty > INT32_MAX || r.dstz > INT32_MAX) return reject_("%s: destination origin is out of range", rec);
  // The destination box in its own pixels, as the drivers take it
  // (util_resource_copy_region): source blocks become texels, texels blocks.
  WireBox db{int32_t(r.dstx), int32_t(r.dsty), int32_t(r.dstz), r.src_box.width, r.src_box.height, r.src_box.depth};
  if (sbw > 1 && dbw == 1) {
    db.width /= int32_t(sbw);
    db.height /= int32_t(sbh);
  } else if (sbw == 1 && dbw > 1) {
    // Blocks of a level smaller than one block reach past its edge: the
    // box stops at the edge (check_box lets a compressed box end there).
    // Only the last, partial block may: a longer box is still rejected.
    const auto to_edge = [](int64_t extent, int64_t origin, int64_t level, unsigned block) {
      const int64_t room = level - origin;
      return int32_t(extent > room && room >= 0 && extent - room < block ? room : extent);
    };
    if (db.width < 0 || db.height < 0 || int64_t(db.width) * dbw > INT32_MAX || int64_t(db.height) * dbh > INT32_MAX) {
      return reject_("%s: box %dx%d is out of range", rec, db.width, db.height);
    }
    db.width = to_edge(int64_t(db.width) * dbw, db.x, level_width(*dst, r.dst_level), dbw);
    db.height = to_edge(int64_t(db.height) * dbh, db.y, level_height(*dst, r.dst_level), dbh);
  }
  if (auto why = check_box(*dst, r.dst_level, db); !why.empty()) return reject_("%s dst: %s of resource #%u", rec, why.c_str(), r.dst);
  if (!sb.width || !sb.height || !sb.depth) return {};
  const pipe_box box = to_pipe_box(sb);
  if (dst->target == PIPE_BUFFER) copy_arena_in(ctx->pipe);
  ctx->pipe->resource_copy_region(ctx->pipe, dst, r.dst_level, r.dstx, r.dsty, r.dstz, src, r.src_level, &box);
  arena_written(dst, ctx->pipe);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::GenerateMipmap& r) {
  const char* rec = "generate_mipmap";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  pipe_resource* res = nullptr;
  if (auto e = get_resource(r.resource, res, rec); !e.ok()) return e;
  if (res->target == PIPE_BUFFER || res->nr_samples > 1) return reject_("%s: resource #%u has no mipmaps", rec, r.resource);
  pipe_format format;
  if (auto e = check_view_format(*res, r.format, rec, r.resource, format); !e.ok()) return e;
  if (r.base_level > r.last_level || r.last_level > res->last_level) {
    return reject_("%s: levels %u..%u outside resource #%u's 0..%u", rec, unsigned(r.base_level), unsigned(r.last_level),
                   r.resource, unsigned(res->last_level));
  }
  const unsigned layers = res->target == PIPE_TEXTURE_3D ? 1 : res->array_size;
  if (r.first_layer > r.last_layer || r.last_layer >= layers) {
    return reject_("%s: layers %u..%u outside the %u of resource #%u", rec, unsigned(r.first_layer), unsigned(r.last_layer),
                   layers, r.resource);
  }
  if (r.base_level == r.last_level) return {};
  pipe_context* p = ctx->pipe;
  if (p->generate_mipmap && p->generate_mipmap(p, res, format, r.base_level, r.last_level, r.first_layer, r.last_layer)) {
    return {};
  }
  util_gen_mipmap(p, res, format, r.base_level, r.last_level, r.first_layer, r.last_layer, PIPE_TEX_FILTER_LINEAR);
  return {};
}

}  // namespace xen3d::host
