// Small dispatch helpers the executor uses to reach the per-stage and
// per-slot entry points of pipe_context by number.
#pragma once

#include "pipe/p_context.h"
#include "pipe/p_defines.h"
#include "pipe/p_state.h"
#include "proto/gallium_ids.h"

namespace xen3d::host {

inline const char* stage_name(unsigned s) {
  static const char* const names[] = {"vertex", "tessellation-control", "tessellation-evaluation",
                                      "geometry", "fragment", "compute"};
  return s < PIPE_SHADER_TYPES ? names[s] : "unknown";
}

inline void bind_shader(pipe_context* p, unsigned stage, void* h) {
  switch (stage) {
    case PIPE_SHADER_VERTEX: p->bind_vs_state(p, h); break;
    case PIPE_SHADER_TESS_CTRL: p->bind_tcs_state(p, h); break;
    case PIPE_SHADER_TESS_EVAL: p->bind_tes_state(p, h); break;
    case PIPE_SHADER_GEOMETRY: p->bind_gs_state(p, h); break;
    case PIPE_SHADER_FRAGMENT: p->bind_fs_state(p, h); break;
    case PIPE_SHADER_COMPUTE: p->bind_compute_state(p, h); break;
  }
}

inline void delete_shader(pipe_context* p, unsigned stage, void* h) {
  switch (stage) {
    case PIPE_SHADER_VERTEX: p->delete_vs_state(p, h); break;
    case PIPE_SHADER_TESS_CTRL: p->delete_tcs_state(p, h); break;
    case PIPE_SHADER_TESS_EVAL: p->delete_tes_state(p, h); break;
    case PIPE_SHADER_GEOMETRY: p->delete_gs_state(p, h); break;
    case PIPE_SHADER_FRAGMENT: p->delete_fs_state(p, h); break;
    case PIPE_SHADER_COMPUTE: p->delete_compute_state(p, h); break;
  }
}

// Whether the driver provides the bind/create/delete entry points of a stage.
inline bool shader_stage_available(const pipe_context* p, unsigned stage) {
  switch (stage) {
    case PIPE_SHADER_VERTEX: return p->create_vs_state && p->bind_vs_state && p->delete_vs_state;
    case PIPE_SHADER_TESS_CTRL: return p->create_tcs_state && p->bind_tcs_state && p->delete_tcs_state;
    case PIPE_SHADER_TESS_EVAL: return p->create_tes_state && p->bind_tes_state && p->delete_tes_state;
    case PIPE_SHADER_GEOMETRY: return p->create_gs_state && p->bind_gs_state && p->delete_gs_state;
    case PIPE_SHADER_FRAGMENT: return p->create_fs_state && p->bind_fs_state && p->delete_fs_state;
    case PIPE_SHADER_COMPUTE: return p->create_compute_state && p->bind_compute_state && p->delete_compute_state;
    default: return false;
  }
}

// bind.slot numbering (proto::BindSlot): CSO kinds, then ShaderBase + stage.
inline void bind_slot(pipe_context* p, unsigned slot, void* h) {
  switch (static_cast<proto::BindSlot>(slot)) {
    case proto::BindSlot::Blend: p->bind_blend_state(p, h); break;
    case proto::BindSlot::DepthStencilAlpha: p->bind_depth_stencil_alpha_state(p, h); break;
    case proto::BindSlot::Rasterizer: p->bind_rasterizer_state(p, h); break;
    case proto::BindSlot::VertexElements: p->bind_vertex_elements_state(p, h); break;
    default: bind_shader(p, slot - unsigned(proto::BindSlot::ShaderBase), h); break;
  }
}

// Sets views[0..n) of a stage's sampler view slots from `start`; NULL
// entries unbind. Slots are never unbound with Gallium's trailing count:
// softpipe's trailing unbind drops the view but keeps its sampler's private
// copy of it (texture pointer and all), so a shader sampling the slot read
// through a tile cache with no texture (SEGV) or a texture already freed.
// Found by xen3d-fuzz-stream (regressions/softpipe-trailing-view-unbind).
inline void set_sampler_views(pipe_context* p, unsigned stage, unsigned start, unsigned n,
                              pipe_sampler_view** views) {
  p->set_sampler_views(p, static_cast<pipe_shader_type>(stage), start, n, 0, false, views);
}

inline void delete_slot_object(pipe_context* p, unsigned slot, void* h) {
  switch (static_cast<proto::BindSlot>(slot)) {
    case proto::BindSlot::Blend: p->delete_blend_state(p, h); break;
    case proto::BindSlot::DepthStencilAlpha: p->delete_depth_stencil_alpha_state(p, h); break;
    case proto::BindSlot::Rasterizer: p->delete_rasterizer_state(p, h); break;
    case proto::BindSlot::VertexElements: p->delete_vertex_elements_state(p, h); break;
    default: delete_shader(p, slot - unsigned(proto::BindSlot::ShaderBase), h); break;
  }
}

}  // namespace xen3d::host
