// GalliumExecutor: draws, compute dispatches, flushes and barriers.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "host/executor/executor_util.h"
#include "host/executor/gallium_executor.h"
#include "host/validate/resource_layout.h"
#include "host/validate/tgsi_validation.h"
#include "pipe/p_context.h"
#include "pipe/p_defines.h"
#include "pipe/p_screen.h"
#include "tgsi/tgsi_strings.h"
#include "util/u_dump.h"
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

}  // namespace

proto::DecodeError GalliumExecutor::check_sampled_views(const ContextState& ctx, std::initializer_list<unsigned> stages,
                                                       const char* rec) {
  for (unsigned stage : stages) {
    const uint32_t id = ctx.bound[slot_of(stage)];
    const HostObject* shader = id ? objects_.find(id) : nullptr;
    if (!shader) continue;
    for (unsigned unit = 0; unit < PIPE_MAX_SAMPLERS; ++unit) {
      const unsigned have = ctx.view_targets[stage][unit];
      if (!have) continue;
      for (uint32_t want = shader->sampled_targets[unit]; want; want &= want - 1) {
        const int target = __builtin_ctz(want);
        if (sampled_view_matches(target, have - 1)) continue;
        return reject_("%s: the %s shader #%u samples unit %u as %s, but the view bound there is %s", rec,
                       stage_name(stage), id, unit, tgsi_texture_names[target],
                       util_str_tex_target(static_cast<pipe_texture_target>(have - 1), true));
      }
    }
  }
  return {};
}

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
  copy_arena_in(ctx->pipe);  // before anything reads a buffer, the checks below included
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
  if (auto e = check_sampled_views(*ctx, {PIPE_SHADER_VERTEX, PIPE_SHADER_TESS_CTRL, PIPE_SHADER_TESS_EVAL,
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
  arena_written_by_draw(*ctx);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::LaunchGrid& r) {
  const char* rec = "launch_grid";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  copy_arena_in(ctx->pipe);
  if (!ctx->bound[slot_of(PIPE_SHADER_COMPUTE)]) return reject_("%s: no compute shader is bound on context #%u", rec, ctx->id);
  if (auto e = guard_constant_reads(*ctx, {PIPE_SHADER_COMPUTE}, rec); !e.ok()) return e;
  if (auto e = check_sampled_views(*ctx, {PIPE_SHADER_COMPUTE}, rec); !e.ok()) return e;
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
  arena_written_by_draw(*ctx);
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
