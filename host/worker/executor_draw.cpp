// GalliumExecutor: draws, compute, clears, copies, flushes and queries.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "host/worker/executor_util.h"
#include "host/worker/gallium_executor.h"
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

constexpr unsigned slot_of(unsigned stage) { return unsigned(BindSlot::ShaderBase) + stage; }

// The primitive a geometry shader receives for a draw mode (GL's rules).
int gs_input_for(unsigned mode) {
  switch (mode) {
    case PIPE_PRIM_POINTS: return PIPE_PRIM_POINTS;
    case PIPE_PRIM_LINES: case PIPE_PRIM_LINE_LOOP: case PIPE_PRIM_LINE_STRIP: return PIPE_PRIM_LINES;
    case PIPE_PRIM_LINES_ADJACENCY: case PIPE_PRIM_LINE_STRIP_ADJACENCY: return PIPE_PRIM_LINES_ADJACENCY;
    case PIPE_PRIM_TRIANGLES_ADJACENCY: case PIPE_PRIM_TRIANGLE_STRIP_ADJACENCY: return PIPE_PRIM_TRIANGLES_ADJACENCY;
    case PIPE_PRIM_PATCHES: return -1;
    default: return PIPE_PRIM_TRIANGLES;
  }
}

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

proto::DecodeError GalliumExecutor::guard_constant_reads(ContextState& ctx, std::initializer_list<unsigned> stages,
                                                        const char* rec) {
  for (unsigned stage : stages) {
    const uint32_t id = ctx.bound[slot_of(stage)];
    const HostObject* shader = id ? objects_.find(id) : nullptr;
    if (!shader) continue;
    // llvmpipe copies at most this much of a fragment or compute shader's
    // constant buffer; the JIT reads past the copy unchecked.
    const bool copied = stage == PIPE_SHADER_FRAGMENT || stage == PIPE_SHADER_COMPUTE;
    const uint32_t copy_limit = copied && limits_.constant_copy_bytes ? limits_.constant_copy_bytes : UINT32_MAX;
    for (unsigned slot = 0; slot < shader->const_bytes.size(); ++slot) {
      const uint32_t need = shader->const_bytes[slot];
      if (need > copy_limit) {
        return reject_("%s: the %s shader #%u reads %u bytes of constant buffer %u; the host driver makes at most %u "
                       "readable", rec, stage_name(stage), id, need, slot, copy_limit);
      }
      if (need <= ctx.constant_bytes[stage][slot]) continue;
      const auto source = ctx.constant_source[stage][slot];
      pipe_constant_buffer cb{};
      auto& data = ctx.user_constants[stage][slot];
      if (source.resource) {
        pipe_resource* res = nullptr;
        if (auto e = get_buffer(source.resource, res, "the bound constant buffer"); !e.ok()) return e;
        const uint32_t readable = res->width0 > source.offset ? res->width0 - source.offset : 0;
        if (readable >= need) {
          // The guest's own bytes past its bound size: widen the binding so
          // the driver copies (and the shader reads) no further than them.
          cb.buffer = res;
          cb.buffer_offset = source.offset;
          cb.buffer_size = need;
          ctx.pipe->set_constant_buffer(ctx.pipe, static_cast<pipe_shader_type>(stage), slot, false, &cb);
          ctx.constant_bytes[stage][slot] = need;
          continue;
        }
        // A buffer ending inside the shader's last vec4 (a uniform block of
        // one float): a zero-padded copy, taken again at every draw (the
        // guest may write the buffer in between).
        if (need > ((readable + 15u) & ~15u)) {
          return reject_("%s: the %s shader #%u reads %u bytes of constant buffer %u; the bound buffer holds %u", rec,
                         stage_name(stage), id, need, slot, readable);
        }
        data.assign(need, 0);
        if (readable) pipe_buffer_read(ctx.pipe, res, source.offset, readable, data.data());
      } else {
        // Inline data shorter than the declared range (or none): zero-fill
        // the rest, as reads past a bound range return zero on robust drivers.
        data.resize(need, 0);
        ctx.constant_bytes[stage][slot] = need;
      }
      cb.user_buffer = data.data();
      cb.buffer_size = need;
      ctx.pipe->set_constant_buffer(ctx.pipe, static_cast<pipe_shader_type>(stage), slot, false, &cb);
    }
  }
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::Draw& r) {
  const char* rec = "draw";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  if (r.mode >= PIPE_PRIM_MAX) return reject_("%s: mode %u is not a primitive type", rec, unsigned(r.mode));
  if (r.index_size != 0 && r.index_size != 1 && r.index_size != 2 && r.index_size != 4) {
    return reject_("%s: index_size %u is not 0, 1, 2 or 4", rec, unsigned(r.index_size));
  }
  const bool user_indices = r.flags & proto::kDrawUserIndices;
  const bool indirect = r.indirect_buffer != 0;
  const bool from_so = r.count_from_stream_output != 0;
  const size_t ndraws = r.draws.size();
  if (user_indices && !r.index_size) return reject_("%s: user indices without an index size", rec);
  if (user_indices && r.index_buffer) return reject_("%s: both user indices and index buffer #%u", rec, r.index_buffer);
  if (!user_indices && r.index_size && !r.index_buffer) return reject_("%s: an indexed draw without indices", rec);
  if (!r.index_size && r.index_buffer) return reject_("%s: index buffer #%u on a non-indexed draw", rec, r.index_buffer);
  if (indirect && from_so) return reject_("%s: indirect and stream-output counts at once", rec);
  if ((indirect || from_so) && ndraws > 1) return reject_("%s: %zu ranges on an indirect draw", rec, ndraws);
  if (from_so && r.index_size) return reject_("%s: stream-output draws are not indexed", rec);
  if (indirect && user_indices) return reject_("%s: indirect draws cannot read user indices", rec);
  if (r.indirect_count_buffer && !indirect) return reject_("%s: a draw-count buffer without an indirect buffer", rec);

  // The pipeline must be complete: drivers dereference every one of these.
  static const struct { unsigned slot; const char* name; } kRequired[] = {
      {slot_of(PIPE_SHADER_VERTEX), "vertex shader"},
      {slot_of(PIPE_SHADER_FRAGMENT), "fragment shader"},
      {unsigned(BindSlot::Rasterizer), "rasterizer state"},
      {unsigned(BindSlot::Blend), "blend state"},
      {unsigned(BindSlot::DepthStencilAlpha), "depth-stencil-alpha state"},
      {unsigned(BindSlot::VertexElements), "vertex elements"},
  };
  for (const auto& req : kRequired) {
    if (!ctx->bound[req.slot]) return reject_("%s: no %s is bound on context #%u", rec, req.name, ctx->id);
  }
  const bool tcs = ctx->bound[slot_of(PIPE_SHADER_TESS_CTRL)], tes = ctx->bound[slot_of(PIPE_SHADER_TESS_EVAL)];
  if (r.mode == PIPE_PRIM_PATCHES) {
    if (!tes) return reject_("%s: patches need a tessellation evaluation shader", rec);
    if (!ctx->patch_vertices) return reject_("%s: patches need set_patch_vertices first", rec);
  } else if (tes || tcs) {
    return reject_("%s: tessellation shaders are bound but mode %u is not PIPE_PRIM_PATCHES", rec, unsigned(r.mode));
  }
  if (tcs && !tes) return reject_("%s: a tessellation control shader without an evaluation shader", rec);
  // Smooth lines/points and polygon stipple make the draw module splice its
  // own code into the fragment shader, and it only finds scratch registers
  // among the first 32 temporaries (it asserts or indexes TEMP[-1] otherwise).
  {
    const HostObject* rast = objects_.find(ctx->bound[unsigned(BindSlot::Rasterizer)]);
    const HostObject* fs = objects_.find(ctx->bound[slot_of(PIPE_SHADER_FRAGMENT)]);
    if (rast && fs && rast->rast_rewrites_fs && fs->shader_temps > 30) {
      return reject_("%s: smooth lines/points or polygon stipple need a fragment shader with at most 30 "
                     "temporaries on this host (shader #%u has %u)", rec, ctx->bound[slot_of(PIPE_SHADER_FRAGMENT)],
                     unsigned(fs->shader_temps));
    }
  }
  // The draw module emits position, every fragment input and a few vertex
  // outputs through one fixed-size translate key: past it, it writes out of
  // bounds (a fragment shader with 40 inputs crashed the compositor).
  if (limits_.draw_emit_attribs) {
    const HostObject* fs = objects_.find(ctx->bound[slot_of(PIPE_SHADER_FRAGMENT)]);
    const uint32_t last_id = ctx->bound[slot_of(PIPE_SHADER_GEOMETRY)] ? ctx->bound[slot_of(PIPE_SHADER_GEOMETRY)]
                                                                       : ctx->bound[slot_of(PIPE_SHADER_VERTEX)];
    const HostObject* last = objects_.find(last_id);
    const HostObject* rast = objects_.find(ctx->bound[unsigned(BindSlot::Rasterizer)]);
    if (fs && last) {
      const unsigned attribs = draw_emit_attribs(last->interface, fs->interface, rast && rast->rast_rewrites_fs);
      if (attribs > limits_.draw_emit_attribs) {
        return reject_("%s: the fragment shader #%u (%u inputs) and %s shader #%u need %u vertex attributes from the "
                       "host's draw module, which emits at most %u", rec, ctx->bound[slot_of(PIPE_SHADER_FRAGMENT)],
                       unsigned(fs->interface.num_inputs), stage_name(last->stage), last_id, attribs,
                       limits_.draw_emit_attribs);
      }
    }
  }
  // Every vertex shader input comes from a vertex element: the draw module
  // fetches only as many as are bound and runs the shader on the rest of
  // its vertex buffer unwritten (host heap left by whatever used it before,
  // another guest's data included). Found by fuzzing on instrumented Mesa
  // (draw_pt_fetch.c asserts it; release Mesa does not check).
  {
    const uint32_t vs_id = ctx->bound[slot_of(PIPE_SHADER_VERTEX)];
    const HostObject* vs = objects_.find(vs_id);
    const HostObject* ve = objects_.find(ctx->bound[unsigned(BindSlot::VertexElements)]);
    if (vs && ve && vs->interface.num_inputs > ve->vertex_elements + vs->interface.input_instance_id) {
      return reject_("%s: vertex shader #%u reads %u inputs but the bound vertex elements #%u supply %u", rec, vs_id,
                     unsigned(vs->interface.num_inputs), ctx->bound[unsigned(BindSlot::VertexElements)],
                     unsigned(ve->vertex_elements));
    }
  }
  // Each view renders to the framebuffer layer of its index.
  if (r.view_mask && unsigned(32 - __builtin_clz(r.view_mask)) > ctx->fb_layers) {
    return reject_("%s: view_mask 0x%x needs more layers than the framebuffer's %u", rec, unsigned(r.view_mask), ctx->fb_layers);
  }
  if (const uint32_t gs = ctx->bound[slot_of(PIPE_SHADER_GEOMETRY)]; gs && !tes) {
    const HostObject* o = objects_.find(gs);
    if (o && gs_input_for(r.mode) != int(o->gs_input_prim)) {
      return reject_("%s: mode %u does not feed geometry shader #%u, which takes primitive %u", rec, unsigned(r.mode), gs,
                     unsigned(o->gs_input_prim));
    }
  }

  if (auto e = guard_constant_reads(*ctx, {PIPE_SHADER_VERTEX, PIPE_SHADER_TESS_CTRL, PIPE_SHADER_TESS_EVAL,
                                            PIPE_SHADER_GEOMETRY, PIPE_SHADER_FRAGMENT}, rec);
      !e.ok()) {
    return e;
  }

  pipe_draw_info info{};
  info.mode = static_cast<pipe_prim_type>(r.mode);
  info.index_size = r.index_size;
  info.view_mask = r.view_mask;
  info.primitive_restart = (r.flags & proto::kDrawPrimitiveRestart) != 0;
  info.increment_draw_id = (r.flags & proto::kDrawIncrementDrawId) != 0;
  info.start_instance = r.start_instance;
  info.instance_count = r.instance_count;
  info.restart_index = r.restart_index;
  // min/max_index are hints the guest cannot prove: drivers may skip per-index
  // checks inside the claimed range, so they are not passed on.
  info.index_bounds_valid = false;
  info.min_index = 0;
  info.max_index = ~0u;

  std::vector<pipe_draw_start_count_bias> draws(ndraws ? ndraws : 1);
  bool bias_varies = false;
  for (size_t i = 0; i < ndraws; ++i) {
    const proto::DrawRange d = r.draws[i];
    draws[i] = {d.start, d.count, d.index_bias};
    bias_varies |= d.index_bias != draws[0].index_bias;
  }
  info.index_bias_varies = bias_varies;

  if (r.index_size && !indirect) {
    uint64_t avail = 0;
    if (user_indices) {
      const char* why = nullptr;
      const uint8_t* bytes = session_.bulk(r.user_indices, why);
      if (!bytes) return reject_("%s: user indices: %s", rec, why);
      avail = r.user_indices.size;
      // Read from a private copy: shared memory can change under the driver.
      scratch_.assign(bytes, bytes + avail);
    } else {
      if (auto e = get_buffer(r.index_buffer, info.index.resource, "draw index_buffer"); !e.ok()) return e;
      avail = info.index.resource->width0;
    }
    for (size_t i = 0; i < ndraws; ++i) {
      const uint64_t end = (uint64_t{draws[i].start} + draws[i].count) * r.index_size;
      if (end > avail) {
        return reject_("%s: range %zu reads indices %u..+%u, past the %llu bytes of %s", rec, i, draws[i].start,
                       draws[i].count, static_cast<unsigned long long>(avail),
                       user_indices ? "user indices" : "the index buffer");
      }
    }
    if (user_indices) {
      info.has_user_indices = true;
      info.index.user = scratch_.data();
    }
  } else if (r.index_size) {
    if (auto e = get_buffer(r.index_buffer, info.index.resource, "draw index_buffer"); !e.ok()) return e;
  }

  pipe_draw_indirect_info ind{};
  if (indirect) {
    if (auto e = get_buffer(r.indirect_buffer, ind.buffer, "draw indirect_buffer"); !e.ok()) return e;
    if (r.indirect_offset % 4 || r.indirect_stride % 4) {
      return reject_("%s: indirect offset %u / stride %u are not 4-byte aligned", rec, r.indirect_offset, r.indirect_stride);
    }
    if (!r.indirect_draw_count) return {};  // nothing to draw (and the driver would map 0 bytes)
    const uint64_t params = r.index_size ? 5 : 4;
    // util_draw_indirect maps min(stride/4, params) words per draw and reads params words at each stride.
    const uint64_t mapped = (r.indirect_stride ? std::min<uint64_t>(r.indirect_stride / 4, params) : params) * 4 *
                            r.indirect_draw_count;
    const uint64_t read = uint64_t(r.indirect_draw_count - 1) * r.indirect_stride + params * 4;
    if (auto e = check_range(*ind.buffer, r.indirect_offset, std::max(mapped, read), "draw indirect parameters",
                             r.indirect_buffer);
        !e.ok()) {
      return e;
    }
    ind.offset = r.indirect_offset;
    ind.stride = r.indirect_stride;
    ind.draw_count = r.indirect_draw_count;
    if (r.indirect_count_buffer) {
      if (auto e = get_buffer(r.indirect_count_buffer, ind.indirect_draw_count, "draw indirect_count_buffer"); !e.ok()) return e;
      if (r.indirect_count_offset % 4) return reject_("%s: indirect count offset %u is not 4-byte aligned", rec, r.indirect_count_offset);
      if (auto e = check_range(*ind.indirect_draw_count, r.indirect_count_offset, 4, "draw indirect count",
                               r.indirect_count_buffer);
          !e.ok()) {
        return e;
      }
      ind.indirect_draw_count_offset = r.indirect_count_offset;
    }
  } else if (from_so) {
    HostObject* o = nullptr;
    if (auto e = get_owned(r.count_from_stream_output, ObjectKind::SoTarget, *ctx, o, "draw count_from_stream_output");
        !e.ok()) {
      return e;
    }
    ind.count_from_stream_output = static_cast<pipe_stream_output_target*>(o->ptr);
  } else if (!ndraws) {
    return {};  // no ranges: nothing to draw
  }
  ctx->pipe->draw_vbo(ctx->pipe, &info, r.drawid_offset, indirect || from_so ? &ind : nullptr, draws.data(),
                      static_cast<unsigned>(draws.size()));
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::LaunchGrid& r) {
  const char* rec = "launch_grid";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  if (!ctx->bound[slot_of(PIPE_SHADER_COMPUTE)]) return reject_("%s: no compute shader is bound on context #%u", rec, ctx->id);
  if (auto e = guard_constant_reads(*ctx, {PIPE_SHADER_COMPUTE}, rec); !e.ok()) return e;
  // 0 is what st/mesa leaves for GL dispatches; drivers read block and grid.
  if (r.work_dim > 3) return reject_("%s: work_dim %u is not 0..3", rec, r.work_dim);
  // Mesa 22.3.6's pipe_grid_info has no variable shared memory.
  if (r.variable_shared_mem) return reject_("%s: variable shared memory is not supported by the host", rec);
  auto compute_u64s = [&](unsigned param, uint64_t (&out)[3]) {
    out[0] = out[1] = out[2] = 0;
    const unsigned size = caps_.compute_size[param];
    std::memcpy(out, caps_.compute[param], std::min<size_t>(size, sizeof out));
  };
  uint64_t max_block[3], max_grid[3], max_threads[3];
  compute_u64s(PIPE_COMPUTE_CAP_MAX_BLOCK_SIZE, max_block);
  compute_u64s(PIPE_COMPUTE_CAP_MAX_GRID_SIZE, max_grid);
  compute_u64s(PIPE_COMPUTE_CAP_MAX_THREADS_PER_BLOCK, max_threads);
  uint64_t threads = 1;
  for (unsigned i = 0; i < 3; ++i) {
    if (r.block[i] < 1 || r.block[i] > max_block[i]) return reject_("%s: block[%u] %u is not 1..%llu", rec, i, r.block[i], static_cast<unsigned long long>(max_block[i]));
    if (r.last_block[i] > r.block[i]) return reject_("%s: last_block[%u] %u exceeds block[%u] %u", rec, i, r.last_block[i], i, r.block[i]);
    if (r.grid[i] > max_grid[i]) return reject_("%s: grid[%u] %u exceeds %llu", rec, i, r.grid[i], static_cast<unsigned long long>(max_grid[i]));
    threads *= r.block[i];
  }
  if (threads > max_threads[0]) return reject_("%s: %llu threads per block exceed %llu", rec, static_cast<unsigned long long>(threads), static_cast<unsigned long long>(max_threads[0]));
  pipe_grid_info info{};
  info.pc = r.pc;
  info.work_dim = r.work_dim;
  for (unsigned i = 0; i < 3; ++i) {
    info.block[i] = r.block[i];
    info.last_block[i] = r.last_block[i];
    info.grid[i] = r.grid[i];
    info.grid_base[i] = r.grid_base[i];
  }
  if (r.indirect) {
    if (auto e = get_buffer(r.indirect, info.indirect, "launch_grid indirect"); !e.ok()) return e;
    if (r.indirect_offset % 4) return reject_("%s: indirect offset %u is not 4-byte aligned", rec, r.indirect_offset);
    if (auto e = check_range(*info.indirect, r.indirect_offset, 12, "launch_grid indirect", r.indirect); !e.ok()) return e;
    // The grid the guest's buffer holds gets the same check as a direct one:
    // read here (after the guest's earlier writes), launched as direct.
    uint32_t grid[3] = {};
    pipe_buffer_read(ctx->pipe, info.indirect, r.indirect_offset, sizeof grid, grid);
    info.indirect = nullptr;
    for (unsigned i = 0; i < 3; ++i) {
      if (grid[i] > max_grid[i]) {
        return reject_("%s: the indirect grid[%u] %u exceeds %llu", rec, i, grid[i], static_cast<unsigned long long>(max_grid[i]));
      }
      info.grid[i] = grid[i];
    }
    if (!grid[0] || !grid[1] || !grid[2]) return {};
  } else if (!r.grid[0] || !r.grid[1] || !r.grid[2]) {
    return {};  // an empty grid runs nothing
  }
  if (!r.input.empty()) {
    // The driver may keep the pointer until the next launch: a buffer that never moves.
    grid_input_.assign(r.input.wire_bytes(), r.input.wire_bytes() + r.input.size());
    info.input = grid_input_.data();
  }
  ctx->pipe->launch_grid(ctx->pipe, &info);
  return {};
}

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
  ctx->pipe->clear_buffer(ctx->pipe, res, r.offset, r.size, value, static_cast<int>(vs));
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::Blit& r) {
  const char* rec = "blit";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  pipe_blit_info bi{};
  const proto::BlitSide sides[2] = {r.dst, r.src};
  const char* names[2] = {"blit dst", "blit src"};
  for (unsigned i = 0; i < 2; ++i) {
    const proto::BlitSide& s = sides[i];
    auto& out = i == 0 ? bi.dst : bi.src;
    pipe_resource* res = nullptr;
    if (auto e = get_resource(s.resource, res, names[i]); !e.ok()) return e;
    if (res->target == PIPE_BUFFER) return reject_("%s: resource #%u is a buffer", names[i], s.resource);
    if (auto e = check_level(*res, s.level, names[i], s.resource); !e.ok()) return e;
    const WireBox wb{s.box.x, s.box.y, s.box.z, s.box.width, s.box.height, s.box.depth};
    if (auto why = check_box(*res, s.level, wb, i == 0 ? BoxRule::Plain : BoxRule::BlitSource); !why.empty()) {
      return reject_("%s: %s of resource #%u", names[i], why.c_str(), s.resource);
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
  if (r.filter == PIPE_TEX_FILTER_LINEAR &&
      (src_zs || util_format_is_pure_integer(bi.src.format) || util_format_is_pure_integer(bi.dst.format))) {
    return reject_("%s: linear filtering of integer or depth/stencil formats", rec);
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
  if (util_format_get_blocksize(df) != util_format_get_blocksize(sf) ||
      util_format_get_blockwidth(df) != util_format_get_blockwidth(sf) ||
      util_format_get_blockheight(df) != util_format_get_blockheight(sf)) {
    return reject_("%s: formats %s and %s have different block sizes", rec, util_format_short_name(df), util_format_short_name(sf));
  }
  const WireBox sb{r.src_box.x, r.src_box.y, r.src_box.z, r.src_box.width, r.src_box.height, r.src_box.depth};
  if (auto why = check_box(*src, r.src_level, sb); !why.empty()) return reject_("%s src: %s of resource #%u", rec, why.c_str(), r.src);
  if (r.dstx > INT32_MAX || r.dsty > INT32_MAX || r.dstz > INT32_MAX) return reject_("%s: destination origin is out of range", rec);
  const WireBox db{int32_t(r.dstx), int32_t(r.dsty), int32_t(r.dstz), r.src_box.width, r.src_box.height, r.src_box.depth};
  if (auto why = check_box(*dst, r.dst_level, db); !why.empty()) return reject_("%s dst: %s of resource #%u", rec, why.c_str(), r.dst);
  if (!sb.width || !sb.height || !sb.depth) return {};
  const pipe_box box = to_pipe_box(sb);
  ctx->pipe->resource_copy_region(ctx->pipe, dst, r.dst_level, r.dstx, r.dsty, r.dstz, src, r.src_level, &box);
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

proto::DecodeError GalliumExecutor::handle(const proto::Flush& r) {
  const char* rec = "flush";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  constexpr uint32_t kAllowed = PIPE_FLUSH_END_OF_FRAME | PIPE_FLUSH_DEFERRED | PIPE_FLUSH_ASYNC | PIPE_FLUSH_HINT_FINISH |
                                PIPE_FLUSH_TOP_OF_PIPE | PIPE_FLUSH_BOTTOM_OF_PIPE;
  if (r.flags & ~kAllowed) return reject_("%s: flags 0x%x are unknown or need file descriptors", rec, r.flags);
  if (!r.fence) {
    ctx->pipe->flush(ctx->pipe, nullptr, r.flags);
    return {};
  }
  if (auto e = objects_.check_free(r.fence, ObjectKind::Fence); !e.ok()) return e;
  pipe_fence_handle* fence = nullptr;
  ctx->pipe->flush(ctx->pipe, &fence, r.flags);
  HostObject obj;
  obj.kind = ObjectKind::Fence;
  obj.ptr = fence;  // may be null: nothing was pending, the fence is signalled
  obj.owner = ctx->id;
  if (auto e = add_object(r.fence, obj); !e.ok()) {
    screen_->fence_reference(screen_, &fence, nullptr);
    return e;
  }
  return {};
}

// --- queries ---------------------------------------------------------------------------

namespace {
bool query_needs_begin(unsigned type) { return type != PIPE_QUERY_TIMESTAMP && type != PIPE_QUERY_GPU_FINISHED; }
bool query_index_ok(unsigned type, unsigned index) {
  switch (type) {
    case PIPE_QUERY_PRIMITIVES_GENERATED: case PIPE_QUERY_PRIMITIVES_EMITTED:
    case PIPE_QUERY_SO_STATISTICS: case PIPE_QUERY_SO_OVERFLOW_PREDICATE:
      return index < PIPE_MAX_VERTEX_STREAMS;  // the vertex stream; indexes per-stream arrays
    case PIPE_QUERY_PIPELINE_STATISTICS_SINGLE:
    case PIPE_QUERY_PIPELINE_STATISTICS:  // st/mesa passes the GL counter it wants here too
      return index <= PIPE_STAT_QUERY_CS_INVOCATIONS;
    default:
      return index == 0;
  }
}
constexpr unsigned kMaxActiveQueries = 32;  // llvmpipe tracks at most 64 binned queries at once
// The cap that says the host supports a query type (drivers create any type,
// then assert on the ones they do not implement).
unsigned query_cap(unsigned type) {
  switch (type) {
    case PIPE_QUERY_OCCLUSION_COUNTER: case PIPE_QUERY_OCCLUSION_PREDICATE:
    case PIPE_QUERY_OCCLUSION_PREDICATE_CONSERVATIVE:
      return PIPE_CAP_OCCLUSION_QUERY;
    case PIPE_QUERY_TIMESTAMP: case PIPE_QUERY_TIMESTAMP_DISJOINT:
      return PIPE_CAP_QUERY_TIMESTAMP;
    case PIPE_QUERY_TIME_ELAPSED:
      return PIPE_CAP_QUERY_TIME_ELAPSED;
    case PIPE_QUERY_PRIMITIVES_GENERATED: case PIPE_QUERY_PRIMITIVES_EMITTED:
    case PIPE_QUERY_SO_STATISTICS: case PIPE_QUERY_SO_OVERFLOW_PREDICATE:
      return PIPE_CAP_MAX_STREAM_OUTPUT_BUFFERS;
    case PIPE_QUERY_SO_OVERFLOW_ANY_PREDICATE:
      return PIPE_CAP_QUERY_SO_OVERFLOW;
    case PIPE_QUERY_PIPELINE_STATISTICS:
      return PIPE_CAP_QUERY_PIPELINE_STATISTICS;
    case PIPE_QUERY_PIPELINE_STATISTICS_SINGLE:
      return PIPE_CAP_QUERY_PIPELINE_STATISTICS_SINGLE;
    default:
      return PIPE_CAP_LAST;  // GPU_FINISHED: always there
  }
}
}  // namespace

proto::DecodeError GalliumExecutor::handle(const proto::QueryCreate& r) {
  const char* rec = "query_create";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  if (auto e = objects_.check_free(r.id, ObjectKind::Query); !e.ok()) return e;
  if (r.type >= PIPE_QUERY_TYPES) return reject_("%s #%u: type %u is not a PIPE_QUERY_*", rec, r.id, unsigned(r.type));
  if (const unsigned c = query_cap(r.type); c != PIPE_CAP_LAST && !cap(c)) {
    return reject_("%s #%u: the host does not support query type %u", rec, r.id, unsigned(r.type));
  }
  if (!query_index_ok(r.type, r.index)) return reject_("%s #%u: index %u is invalid for query type %u", rec, r.id, unsigned(r.index), unsigned(r.type));
  pipe_query* q = ctx->pipe->create_query(ctx->pipe, r.type, r.index);
  if (!q) return reject_("%s #%u: the host driver does not support query type %u", rec, r.id, unsigned(r.type));
  HostObject obj;
  obj.kind = ObjectKind::Query;
  obj.ptr = q;
  obj.ctx = ctx->pipe;
  obj.owner = ctx->id;
  obj.query_type = r.type;
  if (auto e = add_object(r.id, obj); !e.ok()) {
    ctx->pipe->destroy_query(ctx->pipe, q);
    return e;
  }
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::QueryBegin& r) {
  const char* rec = "query_begin";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  HostObject* o = nullptr;
  if (auto e = get_owned(r.id, ObjectKind::Query, *ctx, o, rec); !e.ok()) return e;
  if (!query_needs_begin(o->query_type)) return reject_("%s: query #%u (type %u) cannot be begun", rec, r.id, unsigned(o->query_type));
  if (o->query_active) return reject_("%s: query #%u is already active", rec, r.id);
  if (ctx->active_queries >= kMaxActiveQueries) return reject_("%s: more than %u active queries", rec, kMaxActiveQueries);
  ctx->pipe->begin_query(ctx->pipe, static_cast<pipe_query*>(o->ptr));
  o->query_active = true;
  ctx->active_queries++;
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::QueryEnd& r) {
  const char* rec = "query_end";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  HostObject* o = nullptr;
  if (auto e = get_owned(r.id, ObjectKind::Query, *ctx, o, rec); !e.ok()) return e;
  if (query_needs_begin(o->query_type) && !o->query_active) return reject_("%s: query #%u was not begun", rec, r.id);
  ctx->pipe->end_query(ctx->pipe, static_cast<pipe_query*>(o->ptr));
  if (o->query_active) {
    o->query_active = false;
    ctx->active_queries--;
  }
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::QueryResult& r) {
  const char* rec = "query_result";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  HostObject* o = nullptr;
  if (auto e = get_owned(r.id, ObjectKind::Query, *ctx, o, rec); !e.ok()) return e;
  if (o->query_active) return reject_("%s: query #%u is still active", rec, r.id);
  static_assert(sizeof(pipe_query_result) <= sizeof(uint64_t) * 16, "query_value carries 16 words");
  union {
    pipe_query_result result;
    uint64_t words[16];
  } u;
  std::memset(&u, 0, sizeof u);
  proto::QueryValue v;
  if (r.wait) {
    // Waiting is for the guest's own rendering: done on a fence with the
    // driver lock let go, not inside get_query_result holding it.
    std::vector<std::pair<pipe_context*, pipe_fence_handle*>> fences(1, {ctx->pipe, nullptr});
    ctx->pipe->flush(ctx->pipe, &fences[0].second, 0);
    if (!fences[0].second) fences.clear();
    wait_for_fences(fences);
  }
  v.ready = ctx->pipe->get_query_result(ctx->pipe, static_cast<pipe_query*>(o->ptr), r.wait, &u.result);
  for (unsigned i = 0; i < 16; ++i) v.value[i] = u.words[i];
  session_.reply(v);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::QueryResultResource& r) {
  const char* rec = "query_result_resource";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  if (!ctx->pipe->get_query_result_resource) return reject_("%s: the host driver cannot write query results to buffers", rec);
  HostObject* o = nullptr;
  if (auto e = get_owned(r.query, ObjectKind::Query, *ctx, o, rec); !e.ok()) return e;
  if (o->query_active) return reject_("%s: query #%u is still active", rec, r.query);
  if (r.result_type > PIPE_QUERY_TYPE_U64) return reject_("%s: result_type %u is not a PIPE_QUERY_TYPE_*", rec, unsigned(r.result_type));
  const bool stats = o->query_type == PIPE_QUERY_PIPELINE_STATISTICS;
  if (r.index != -1 && !(stats ? r.index >= 0 && r.index <= PIPE_STAT_QUERY_CS_INVOCATIONS : r.index == 0)) {
    return reject_("%s: index %d is invalid for query type %u", rec, r.index, unsigned(o->query_type));
  }
  pipe_resource* res = nullptr;
  if (auto e = get_buffer(r.resource, res, "query_result_resource resource"); !e.ok()) return e;
  const unsigned word = r.result_type >= PIPE_QUERY_TYPE_I64 ? 8 : 4;
  // SO statistics write two values (primitives written and needed).
  const unsigned values = o->query_type == PIPE_QUERY_SO_STATISTICS && r.index != -1 ? 2 : 1;
  if (r.offset % 4) return reject_("%s: offset %u is not 4-byte aligned", rec, r.offset);
  if (auto e = check_range(*res, r.offset, uint64_t{word} * values, rec, r.resource); !e.ok()) return e;
  ctx->pipe->get_query_result_resource(ctx->pipe, static_cast<pipe_query*>(o->ptr),
                                       static_cast<pipe_query_flags>(r.flags),
                                       static_cast<pipe_query_value_type>(r.result_type), r.index, res, r.offset);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::RenderCondition& r) {
  const char* rec = "render_condition";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  if (!ctx->pipe->render_condition) return reject_("%s: the host driver has no conditional rendering", rec);
  if (r.mode > PIPE_RENDER_COND_BY_REGION_NO_WAIT) return reject_("%s: mode %u is not a PIPE_RENDER_COND_*", rec, unsigned(r.mode));
  pipe_query* q = nullptr;
  if (r.query) {
    HostObject* o = nullptr;
    if (auto e = get_owned(r.query, ObjectKind::Query, *ctx, o, rec); !e.ok()) return e;
    q = static_cast<pipe_query*>(o->ptr);
  }
  ctx->pipe->render_condition(ctx->pipe, q, r.condition, static_cast<pipe_render_cond_flag>(r.mode));
  ctx->render_condition = r.query;
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::SetActiveQueryState& r) {
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, "set_active_query_state"); !e.ok()) return e;
  if (ctx->pipe->set_active_query_state) ctx->pipe->set_active_query_state(ctx->pipe, r.enable);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::MemoryBarrier& r) {
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, "memory_barrier"); !e.ok()) return e;
  if (r.flags & ~unsigned(PIPE_BARRIER_ALL)) return reject_("memory_barrier: flags 0x%x has unknown bits", r.flags);
  if (ctx->pipe->memory_barrier) ctx->pipe->memory_barrier(ctx->pipe, r.flags);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::TextureBarrier& r) {
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, "texture_barrier"); !e.ok()) return e;
  if (r.flags & ~unsigned(PIPE_TEXTURE_BARRIER_SAMPLER | PIPE_TEXTURE_BARRIER_FRAMEBUFFER)) {
    return reject_("texture_barrier: flags 0x%x has unknown bits", r.flags);
  }
  if (ctx->pipe->texture_barrier) ctx->pipe->texture_barrier(ctx->pipe, r.flags);
  return {};
}

}  // namespace xen3d::host
