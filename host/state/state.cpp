// GalliumExecutor: state objects, shaders, binding and the set_* records.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "host/shader/tgsi_to_nir.h"
#include "host/validate/caps_snapshot.h"
#include "host/executor/executor_util.h"
#include "host/executor/gallium_executor.h"
#include "host/validate/resource_layout.h"
#include "host/validate/state_validation.h"
#include "host/validate/tgsi_validation.h"
#include "pipe/p_context.h"
#include "pipe/p_defines.h"
#include "pipe/p_screen.h"
#include "util/format/u_format.h"
#include "util/u_inlines.h"

namespace xen3d::host {

using proto::BindSlot;
using proto::ObjectKind;

proto::DecodeError GalliumExecutor::handle(const proto::StateCreate& r) {
  const char* rec = "state_create";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  const auto kind = static_cast<ObjectKind>(r.kind);
  if (auto e = objects_.check_free(r.id, kind); !e.ok()) return e;
  pipe_context* p = ctx->pipe;
  const uint8_t* blob = r.blob.wire_bytes();
  const size_t size = r.blob.size();
  std::string why;
  void* handle = nullptr;
  bool rewrites_fs = false;
  unsigned vertex_elements = 0;
  switch (kind) {
    case ObjectKind::Blend: {
      pipe_blend_state s;
      if ((why = decode_blend(blob, size, caps_, s)).empty()) handle = p->create_blend_state(p, &s);
      break;
    }
    case ObjectKind::DepthStencilAlpha: {
      pipe_depth_stencil_alpha_state s;
      if ((why = decode_depth_stencil_alpha(blob, size, caps_, s)).empty()) handle = p->create_depth_stencil_alpha_state(p, &s);
      break;
    }
    case ObjectKind::Rasterizer: {
      pipe_rasterizer_state s;
      if ((why = decode_rasterizer(blob, size, caps_, s)).empty()) {
        handle = p->create_rasterizer_state(p, &s);
        rewrites_fs = (!s.multisample && (s.line_smooth || s.point_smooth)) || s.poly_stipple_enable;
      }
      break;
    }
    case ObjectKind::Sampler: {
      pipe_sampler_state s;
      if ((why = decode_sampler(blob, size, caps_, s)).empty()) {
        // Clamped, not refused: GL lets any program ask for anisotropy, and
        // the host may not sample with it (mask_host_caps says why).
        s.max_anisotropy = std::min(s.max_anisotropy, static_cast<unsigned>(limits_.max_anisotropy));
        handle = p->create_sampler_state(p, &s);
      }
      break;
    }
    case ObjectKind::VertexElements: {
      std::vector<pipe_vertex_element> elems;
      if ((why = decode_vertex_elements(blob, size, screen_, limits_.vertex_buffers, elems)).empty()) {
        handle = p->create_vertex_elements_state(p, static_cast<unsigned>(elems.size()), elems.data());
        vertex_elements = static_cast<unsigned>(elems.size());
      }
      break;
    }
    default:
      return reject_("%s #%u: kind %u (%s) is not a state object kind", rec, r.id, unsigned(r.kind),
                     proto::object_kind_name(kind));
  }
  if (!why.empty()) return reject_("%s #%u: %s", rec, r.id, why.c_str());
  if (!handle) return reject_("%s #%u: the host driver could not create the %s", rec, r.id, proto::object_kind_name(kind));
  HostObject obj;
  obj.kind = kind;
  obj.ptr = handle;
  obj.ctx = p;
  obj.owner = ctx->id;
  obj.rast_rewrites_fs = rewrites_fs;
  obj.vertex_elements = static_cast<uint8_t>(vertex_elements);
  if (auto e = add_object(r.id, obj); !e.ok()) {
    release(r.id, obj);
    return e;
  }
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::ShaderCreate& r) {
  const char* rec = "shader_create";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  if (auto e = objects_.check_free(r.id, ObjectKind::Shader); !e.ok()) return e;
  const unsigned stage = r.stage;
  if (stage >= PIPE_SHADER_TYPES || !stage_accepts_guest_shaders(screen_, stage, config_.shader_path) ||
      !shader_cap(stage, PIPE_SHADER_CAP_MAX_INSTRUCTIONS) || !shader_stage_available(ctx->pipe, stage)) {
    return reject_("%s #%u: %s shaders are not supported by the host", rec, r.id, stage_name(stage));
  }
  const char* why = nullptr;
  const uint8_t* bytes = session_.bulk(r.tokens, why);
  if (!bytes) return reject_("%s #%u: tokens: %s", rec, r.id, why);
  if (uint64_t{r.token_count} * sizeof(tgsi_token) != r.tokens.size) {
    return reject_("%s #%u: token_count %u does not match the %u-byte bulk span", rec, r.id, r.token_count, r.tokens.size);
  }
  if (r.token_count > config_.max_shader_tokens) {
    return reject_("%s #%u: %u TGSI tokens exceed this guest's shader size quota of %u tokens (--max-shader-tokens)",
                   rec, r.id, r.token_count, config_.max_shader_tokens);
  }
  // A compiled shader costs the host at least its tokens: charged like resource memory.
  const uint64_t shader_bytes = uint64_t{r.token_count} * sizeof(tgsi_token);
  if (objects_.bytes() > config_.max_resource_bytes - std::min(shader_bytes, config_.max_resource_bytes)) {
    return reject_("%s #%u: %llu more bytes would pass the guest's memory quota of %llu bytes (%llu in use; "
                   "--max-guest-mem-mib)",
                   rec, r.id, static_cast<unsigned long long>(shader_bytes),
                   static_cast<unsigned long long>(config_.max_resource_bytes),
                   static_cast<unsigned long long>(objects_.bytes()));
  }
  // A private copy: the guest could rewrite shared memory between check and compile.
  std::vector<tgsi_token> tokens = padded_tgsi_copy(bytes, r.token_count);
  pipe_stream_output_info so;
  if (auto e = decode_stream_output(r.stream_output, so); !e.empty()) return reject_("%s #%u: %s", rec, r.id, e.c_str());
  TgsiLimits limits = tgsi_limits(limits_, stage);
  limits.nir_path = config_.shader_path == ShaderPath::Nir;
  if (stage == PIPE_SHADER_GEOMETRY && draw_module_driver(screen_) && !limits.nir_path) {
    // Mesa's draw module sizes a TGSI geometry shader's per-stream output
    // arrays by the streams its stream output names: EMIT to any other
    // stream writes past them. (A NIR shader's arrays cover every stream it
    // emits to: the translator marks each in info.gs.active_stream_mask,
    // which draw_gs.c sizes them by.)
    unsigned streams = 1;
    for (unsigned i = 0; i < so.num_outputs; ++i) streams = std::max(streams, so.output[i].stream + 1u);
    limits.vertex_streams = std::min(limits.vertex_streams, streams);
  }
  TgsiSummary summary;
  const std::string bad = validate_tgsi(tokens.data(), r.token_count, stage, limits, summary);
  if (!bad.empty()) return reject_("%s #%u: invalid TGSI %s shader: %s", rec, r.id, stage_name(stage), bad.c_str());

  if (so.num_outputs) {
    if (stage != PIPE_SHADER_VERTEX && stage != PIPE_SHADER_GEOMETRY && stage != PIPE_SHADER_TESS_EVAL) {
      return reject_("%s #%u: %s shaders cannot stream out", rec, r.id, stage_name(stage));
    }
    for (unsigned i = 0; i < so.num_outputs; ++i) {
      if (so.output[i].register_index >= summary.num_outputs) {
        return reject_("%s #%u: stream output %u reads OUT[%u], the shader has %u outputs", rec, r.id, i,
                       unsigned(so.output[i].register_index), summary.num_outputs);
      }
    }
  }

  if (stage != PIPE_SHADER_COMPUTE && r.req_local_mem) {
    return reject_("%s #%u: req_local_mem is for compute shaders", rec, r.id);
  }
  uint64_t max_local = 0;
  if (caps_.compute_size[PIPE_COMPUTE_CAP_MAX_LOCAL_SIZE] == sizeof max_local) {
    std::memcpy(&max_local, caps_.compute[PIPE_COMPUTE_CAP_MAX_LOCAL_SIZE], sizeof max_local);
  }
  if (r.req_local_mem > max_local) {
    return reject_("%s #%u: %u bytes of local memory exceed the host's %llu", rec, r.id, r.req_local_mem,
                   static_cast<unsigned long long>(max_local));
  }
  // The NIR path: the driver gets our translation of the checked tokens (it
  // takes ownership of the nir_shader, Gallium's contract for NIR).
  nir_shader* nir = nullptr;
  if (config_.shader_path == ShaderPath::Nir) {
    NirTranslation t = translate_tgsi_to_nir(tokens.data(), stage, screen_, r.req_local_mem);
    if (!t.nir) return reject_("%s #%u: %s shader not translated to NIR: %s", rec, r.id, stage_name(stage), t.error.c_str());
    nir = t.nir;
  }
  pipe_context* p = ctx->pipe;
  void* handle = nullptr;
  if (stage == PIPE_SHADER_COMPUTE) {
    pipe_compute_state cs{};
    cs.ir_type = nir ? PIPE_SHADER_IR_NIR : PIPE_SHADER_IR_TGSI;
    cs.prog = nir ? static_cast<const void*>(nir) : tokens.data();
    cs.req_local_mem = r.req_local_mem;
    handle = p->create_compute_state(p, &cs);
  } else {
    pipe_shader_state st{};
    st.type = PIPE_SHADER_IR_TGSI;
    st.tokens = tokens.data();
    if (nir) {
      // No tokens beside the NIR: the draw module frees state->tokens of
      // shaders it keeps (draw_delete_geometry_shader), and ours are a vector.
      st.type = PIPE_SHADER_IR_NIR;
      st.tokens = nullptr;
      st.ir.nir = nir;
    }
    st.stream_output = so;
    switch (stage) {
      case PIPE_SHADER_VERTEX: handle = p->create_vs_state(p, &st); break;
      case PIPE_SHADER_TESS_CTRL: handle = p->create_tcs_state(p, &st); break;
      case PIPE_SHADER_TESS_EVAL: handle = p->create_tes_state(p, &st); break;
      case PIPE_SHADER_GEOMETRY: handle = p->create_gs_state(p, &st); break;
      case PIPE_SHADER_FRAGMENT: handle = p->create_fs_state(p, &st); break;
    }
  }
  // Drivers copy the tokens (Gallium's contract); ours die with this frame.
  if (!handle) return reject_("%s #%u: the host driver could not compile the %s shader", rec, r.id, stage_name(stage));
  HostObject obj;
  obj.kind = ObjectKind::Shader;
  obj.ptr = handle;
  obj.ctx = p;
  obj.owner = ctx->id;
  obj.stage = static_cast<uint8_t>(stage);
  obj.shader_temps = static_cast<uint16_t>(summary.temps);
  obj.const_bytes = summary.const_bytes;
  obj.interface = summary.interface;
  obj.sampled_targets = summary.sampled_targets;
  obj.bytes = shader_bytes;
  if (stage == PIPE_SHADER_GEOMETRY) {
    obj.gs_input_prim = static_cast<uint8_t>(summary.gs_input_prim < 0 ? PIPE_PRIM_POINTS : summary.gs_input_prim);
  }
  if (auto e = add_object(r.id, obj); !e.ok()) {
    delete_shader(p, stage, handle);
    return e;
  }
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::Bind& r) {
  const char* rec = "bind";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  const unsigned slot = r.slot;
  if (slot > unsigned(BindSlot::Last)) return reject_("%s: slot %u is not a bind slot", rec, slot);
  const bool shader = slot >= unsigned(BindSlot::ShaderBase);
  const unsigned stage = shader ? slot - unsigned(BindSlot::ShaderBase) : 0;
  if (shader && !shader_stage_available(ctx->pipe, stage)) return reject_("%s: the host has no %s shader stage", rec, stage_name(stage));
  void* handle = nullptr;
  if (r.id) {
    const ObjectKind kind = shader ? ObjectKind::Shader
                            : slot == unsigned(BindSlot::Blend) ? ObjectKind::Blend
                            : slot == unsigned(BindSlot::DepthStencilAlpha) ? ObjectKind::DepthStencilAlpha
                            : slot == unsigned(BindSlot::Rasterizer) ? ObjectKind::Rasterizer
                                                                     : ObjectKind::VertexElements;
    HostObject* o = nullptr;
    if (auto e = get_owned(r.id, kind, *ctx, o, rec); !e.ok()) return e;
    if (shader && o->stage != stage) {
      return reject_("%s: shader #%u is a %s shader, not a %s shader", rec, r.id, stage_name(o->stage), stage_name(stage));
    }
    handle = o->ptr;
  }
  bind_slot(ctx->pipe, slot, handle);
  ctx->bound[slot] = r.id;
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::BindSamplers& r) {
  const char* rec = "bind_samplers";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  const unsigned n = static_cast<unsigned>(r.ids.size());
  const unsigned limit = std::min(shader_cap(r.stage, PIPE_SHADER_CAP_MAX_TEXTURE_SAMPLERS), unsigned(PIPE_MAX_SAMPLERS));
  if (r.start + n > limit) {
    return reject_("%s: slots %u..%u exceed the %u %s samplers", rec, unsigned(r.start), r.start + n - 1, limit,
                   stage_name(r.stage));
  }
  for (unsigned i = 0; i < n; ++i) {
    if (!r.ids[i]) continue;
    HostObject* o = nullptr;
    if (auto e = get_owned(r.ids[i], ObjectKind::Sampler, *ctx, o, IdRole(rec, "ids", i)); !e.ok()) return e;
  }
  if (!n) return {};
  for (unsigned i = 0; i < n; ++i) ctx->samplers[r.stage][r.start + i] = r.ids[i];
  rebind_samplers(*ctx, r.stage);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::SetFramebuffer& r) {
  const char* rec = "set_framebuffer";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  const unsigned n = static_cast<unsigned>(r.cbufs.size());
  if (n > std::min(cap(PIPE_CAP_MAX_RENDER_TARGETS), unsigned(PIPE_MAX_COLOR_BUFS))) {
    return reject_("%s: %u color buffers exceed the host's %u", rec, n, cap(PIPE_CAP_MAX_RENDER_TARGETS));
  }
  const unsigned max2d = cap(PIPE_CAP_MAX_TEXTURE_2D_SIZE);
  if (r.width > max2d || r.height > max2d) return reject_("%s: %ux%u exceeds the host's %u", rec, unsigned(r.width), unsigned(r.height), max2d);
  if (r.layers > cap(PIPE_CAP_MAX_TEXTURE_ARRAY_LAYERS)) return reject_("%s: %u layers exceed the host's limit", rec, unsigned(r.layers));
  // The default sample count of a framebuffer without attachments: one the
  // driver renders with (st/mesa quantizes to those it names for PIPE_FORMAT_NONE).
  if (r.samples > 1 && !screen_->is_format_supported(screen_, PIPE_FORMAT_NONE, PIPE_TEXTURE_2D, r.samples, r.samples,
                                                     PIPE_BIND_RENDER_TARGET)) {
    return reject_("%s: the host cannot render %u samples without attachments", rec, unsigned(r.samples));
  }
  pipe_framebuffer_state fb{};
  fb.width = r.width;
  fb.height = r.height;
  fb.layers = r.layers;
  fb.samples = r.samples;
  fb.nr_cbufs = static_cast<uint8_t>(n);
  int samples = -1;  // every attachment must have the same sample count
  unsigned layers = ~0u;
  uint32_t mask = 0;
  // Drivers render the whole width x height into every attachment: each must be at least that big.
  auto attach = [&](uint32_t id, bool depth, const IdRole& role, pipe_surface*& out) -> proto::DecodeError {
    HostObject* o = nullptr;
    if (auto e = get_owned(id, ObjectKind::Surface, *ctx, o, role); !e.ok()) return e;
    auto* s = static_cast<pipe_surface*>(o->ptr);
    if (!o->renderable) return {};  // an incomplete attachment: bound as none (surface_create)
    if (util_format_is_depth_or_stencil(s->format) != depth) {
      return reject_("%s: surface #%u (%s) is %sa depth-stencil format", role.str().c_str(), id, util_format_short_name(s->format),
                     depth ? "not " : "");
    }
    const unsigned lw = level_width(*s->texture, s->u.tex.level), lh = level_height(*s->texture, s->u.tex.level);
    if (r.width > lw || r.height > lh) {
      return reject_("%s: framebuffer %ux%u is larger than surface #%u (%ux%u)", role.str().c_str(), unsigned(r.width),
                     unsigned(r.height), id, lw, lh);
    }
    layers = std::min(layers, unsigned(s->u.tex.last_layer - s->u.tex.first_layer + 1));
    const int ns = std::max(1, int(s->texture->nr_samples));
    if (samples >= 0 && ns != samples) return reject_("%s: surface #%u has %d samples, other attachments %d", role.str().c_str(), id, ns, samples);
    samples = ns;
    out = s;
    return {};
  };
  for (unsigned i = 0; i < n; ++i) {
    if (!r.cbufs[i]) continue;
    if (auto e = attach(r.cbufs[i], false, IdRole(rec, "cbufs", i), fb.cbufs[i]); !e.ok()) return e;
    if (fb.cbufs[i]) mask |= PIPE_CLEAR_COLOR0 << i;
  }
  if (r.zsbuf) {
    if (auto e = attach(r.zsbuf, true, "set_framebuffer zsbuf", fb.zsbuf); !e.ok()) return e;
  }
  ctx->pipe->set_framebuffer_state(ctx->pipe, &fb);
  ctx->fb_cbuf_mask = mask;
  ctx->fb_zs = fb.zsbuf != nullptr;
  ctx->fb_layers = layers;
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::SetViewports& r) {
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, "set_viewports"); !e.ok()) return e;
  std::vector<pipe_viewport_state> vps;
  if (auto why = decode_viewports(r.blob.wire_bytes(), r.blob.size(), r.start, vps); !why.empty()) {
    return reject_("set_viewports: %s", why.c_str());
  }
  if (r.start + vps.size() > std::max(1u, cap(PIPE_CAP_MAX_VIEWPORTS))) {
    return reject_("set_viewports: slots %u..%zu exceed the host's %u viewports", unsigned(r.start), r.start + vps.size() - 1,
                   cap(PIPE_CAP_MAX_VIEWPORTS));
  }
  ctx->pipe->set_viewport_states(ctx->pipe, r.start, static_cast<unsigned>(vps.size()), vps.data());
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::SetScissors& r) {
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, "set_scissors"); !e.ok()) return e;
  std::vector<pipe_scissor_state> sc;
  if (auto why = decode_scissors(r.blob.wire_bytes(), r.blob.size(), r.start, sc); !why.empty()) {
    return reject_("set_scissors: %s", why.c_str());
  }
  if (r.start + sc.size() > std::max(1u, cap(PIPE_CAP_MAX_VIEWPORTS))) {
    return reject_("set_scissors: slots %u..%zu exceed the host's %u scissors", unsigned(r.start), r.start + sc.size() - 1,
                   cap(PIPE_CAP_MAX_VIEWPORTS));
  }
  ctx->pipe->set_scissor_states(ctx->pipe, r.start, static_cast<unsigned>(sc.size()), sc.data());
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::SetBlendColor& r) {
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, "set_blend_color"); !e.ok()) return e;
  pipe_blend_color c;
  for (unsigned i = 0; i < 4; ++i) c.color[i] = r.color[i];
  ctx->pipe->set_blend_color(ctx->pipe, &c);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::SetStencilRef& r) {
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, "set_stencil_ref"); !e.ok()) return e;
  pipe_stencil_ref ref;
  ref.ref_value[0] = r.ref[0];
  ref.ref_value[1] = r.ref[1];
  ctx->pipe->set_stencil_ref(ctx->pipe, ref);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::SetSampleMask& r) {
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, "set_sample_mask"); !e.ok()) return e;
  ctx->pipe->set_sample_mask(ctx->pipe, r.mask);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::SetMinSamples& r) {
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, "set_min_samples"); !e.ok()) return e;
  if (ctx->pipe->set_min_samples) ctx->pipe->set_min_samples(ctx->pipe, r.min_samples);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::SetClipState& r) {
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, "set_clip_state"); !e.ok()) return e;
  pipe_clip_state c;
  static_assert(sizeof c.ucp == sizeof(float) * 32);
  for (unsigned i = 0; i < 32; ++i) c.ucp[i / 4][i % 4] = r.ucp[i];
  ctx->pipe->set_clip_state(ctx->pipe, &c);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::SetPolygonStipple& r) {
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, "set_polygon_stipple"); !e.ok()) return e;
  pipe_poly_stipple s;
  for (unsigned i = 0; i < 32; ++i) s.stipple[i] = r.stipple[i];
  ctx->pipe->set_polygon_stipple(ctx->pipe, &s);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::SetTessState& r) {
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, "set_tess_state"); !e.ok()) return e;
  // The tessellator clamps levels with comparisons NaN slips through.
  for (float v : r.outer) if (std::isnan(v)) return reject_("set_tess_state: an outer level is NaN");
  for (float v : r.inner) if (std::isnan(v)) return reject_("set_tess_state: an inner level is NaN");
  if (ctx->pipe->set_tess_state) ctx->pipe->set_tess_state(ctx->pipe, r.outer.data(), r.inner.data());
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::SetPatchVertices& r) {
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, "set_patch_vertices"); !e.ok()) return e;
  if (!r.count || r.count > limits_.max_patch_vertices) {
    return reject_("set_patch_vertices: %u vertices per patch is not 1..%u", unsigned(r.count), limits_.max_patch_vertices);
  }
  if (ctx->pipe->set_patch_vertices) ctx->pipe->set_patch_vertices(ctx->pipe, r.count);
  ctx->patch_vertices = r.count;
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::SetConstantBuffer& r) {
  const char* rec = "set_constant_buffer";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  const unsigned limit = limits_.stage[r.stage].const_buffers;
  if (r.index >= limit) return reject_("%s: index %u exceeds the %u %s constant buffers", rec, unsigned(r.index), limit, stage_name(r.stage));
  const auto stage = static_cast<pipe_shader_type>(r.stage);
  auto& copy = ctx->user_constants[r.stage][r.index];
  pipe_context* p = ctx->pipe;
  if (!r.resource && r.user_data.empty()) {
    if (r.size || r.offset) return reject_("%s: a %u-byte range without a buffer or data", rec, r.size);
    p->set_constant_buffer(p, stage, r.index, false, nullptr);
    std::vector<uint8_t>().swap(copy);
    ctx->constant_bytes[r.stage][r.index] = 0;
    ctx->constant_source[r.stage][r.index] = {};
    return {};
  }
  pipe_constant_buffer cb{};
  if (!r.resource) {
    if (r.offset || r.size != r.user_data.size()) {
      return reject_("%s: user data of %zu bytes but offset %u size %u", rec, r.user_data.size(), r.offset, r.size);
    }
    // Drivers may keep the pointer until the slot changes: the copy lives with the binding.
    std::vector<uint8_t> data(r.user_data.wire_bytes(), r.user_data.wire_bytes() + r.user_data.size());
    cb.user_buffer = data.data();
    cb.buffer_size = r.size;
    p->set_constant_buffer(p, stage, r.index, false, &cb);
    copy.swap(data);
    ctx->constant_bytes[r.stage][r.index] = r.size;
    ctx->constant_source[r.stage][r.index] = {};
    return {};
  }
  if (!r.user_data.empty()) return reject_("%s: both a buffer and inline data", rec);
  pipe_resource* res = nullptr;
  if (auto e = get_buffer(r.resource, res, "set_constant_buffer resource"); !e.ok()) return e;
  if (auto e = check_range(*res, r.offset, r.size, rec, r.resource); !e.ok()) return e;
  const unsigned align = std::max(1u, cap(PIPE_CAP_CONSTANT_BUFFER_OFFSET_ALIGNMENT));
  if (r.offset % align) return reject_("%s: offset %u is not a multiple of %u", rec, r.offset, align);
  cb.buffer = res;
  cb.buffer_offset = r.offset;
  cb.buffer_size = r.size;
  p->set_constant_buffer(p, stage, r.index, false, &cb);
  std::vector<uint8_t>().swap(copy);
  // What the driver reads is the bound size, not the buffer: llvmpipe copies
  // that many bytes (fragment, compute) or substitutes a zero vec4 when it is
  // under 4 bytes. guard_constant_reads widens the binding when a shader
  // reads further.
  ctx->constant_bytes[r.stage][r.index] = r.size >= 4 ? r.size : 0;
  ctx->constant_source[r.stage][r.index] = {r.resource, r.offset};
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::SetVertexBuffers& r) {
  const char* rec = "set_vertex_buffers";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  const unsigned n = static_cast<unsigned>(r.buffers.size());
  if (r.start + n > limits_.vertex_buffers) {
    return reject_("%s: slots %u..%u exceed the host's %u", rec, unsigned(r.start), r.start + n - 1,
                   limits_.vertex_buffers);
  }
  // Frontends unbind PIPE_MAX_ATTRIBS slots whatever the driver has
  // (cso_context.c): slots the host lacks are unbound already.
  const unsigned unbind = std::min<unsigned>(r.unbind_trailing, limits_.vertex_buffers - (r.start + n));
  std::array<pipe_vertex_buffer, PIPE_MAX_ATTRIBS> vbs{};
  for (unsigned i = 0; i < n; ++i) {
    const proto::VertexBuffer vb = r.buffers[i];
    vbs[i].stride = vb.stride;
    vbs[i].buffer_offset = vb.offset;
    if (!vb.resource) continue;
    if (auto e = get_buffer(vb.resource, vbs[i].buffer.resource, IdRole(rec, "buffers", i)); !e.ok()) return e;
    // Offsets past the end are fine: vertex fetch is bounds-checked against the buffer size.
  }
  // Empty and unbound slots get the zeroed stand-in: never a null buffer.
  const unsigned total = n + unbind;
  if (!empty_vertex_buffers(vbs.data(), total)) return reject_("%s: the host driver could not create a vertex buffer", rec);
  ctx->pipe->set_vertex_buffers(ctx->pipe, r.start, total, 0, false, vbs.data());
  for (unsigned i = 0; i < total; ++i) ctx->vertex_buffers[r.start + i] = i < n ? r.buffers[i] : proto::VertexBuffer{};
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::SetSamplerViews& r) {
  const char* rec = "set_sampler_views";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  const unsigned n = static_cast<unsigned>(r.ids.size());
  const unsigned limit = limits_.stage[r.stage].sampler_views;
  if (unsigned(r.start) + n + r.unbind_trailing > limit) {
    return reject_("%s: slots %u..%u (with %u unbound) exceed the %u %s sampler views", rec, unsigned(r.start),
                   r.start + n - 1, unsigned(r.unbind_trailing), limit, stage_name(r.stage));
  }
  // Slots to unbind go to the driver as NULL views (set_sampler_views says why).
  std::vector<pipe_sampler_view*> views(n + r.unbind_trailing, nullptr);
  for (unsigned i = 0; i < n; ++i) {
    if (!r.ids[i]) continue;
    HostObject* o = nullptr;
    if (auto e = get_owned(r.ids[i], ObjectKind::SamplerView, *ctx, o, IdRole(rec, "ids", i)); !e.ok()) return e;
    views[i] = static_cast<pipe_sampler_view*>(o->ptr);
  }
  set_sampler_views(ctx->pipe, r.stage, r.start, static_cast<unsigned>(views.size()), views.data());
  if (r.stage == PIPE_SHADER_FRAGMENT) {
    for (unsigned i = 0; i < views.size(); ++i) ctx->fragment_views[r.start + i] = views[i] != nullptr;
  }
  for (unsigned i = 0; i < views.size() && r.start + i < PIPE_MAX_SAMPLERS; ++i) {
    ctx->view_targets[r.stage][r.start + i] = views[i] ? uint8_t(views[i]->target + 1) : 0;
  }
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::SetShaderImages& r) {
  const char* rec = "set_shader_images";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  if (!ctx->pipe->set_shader_images) return reject_("%s: the host driver has no shader images", rec);
  const unsigned n = static_cast<unsigned>(r.images.size());
  const unsigned limit = limits_.stage[r.stage].images;
  if (unsigned(r.start) + n + r.unbind_trailing > limit) {
    return reject_("%s: slots %u..%u (with %u unbound) exceed the %u %s images", rec, unsigned(r.start), r.start + n - 1,
                   unsigned(r.unbind_trailing), limit, stage_name(r.stage));
  }
  std::vector<pipe_image_view> views(n);
  for (unsigned i = 0; i < n; ++i) {
    const proto::ImageView iv = r.images[i];
    pipe_image_view& v = views[i];
    v = {};
    if (!iv.resource) continue;
    char role[40];
    std::snprintf(role, sizeof role, "%s images[%u]", rec, i);
    pipe_resource* res = nullptr;
    if (auto e = get_resource(iv.resource, res, role); !e.ok()) return e;
    constexpr unsigned kAccess = PIPE_IMAGE_ACCESS_READ_WRITE;
    if ((iv.access & ~kAccess) || (iv.shader_access & ~kAccess)) {
      return reject_("%s: access 0x%x / shader_access 0x%x have unknown bits", role, unsigned(iv.access), unsigned(iv.shader_access));
    }
    const auto format = static_cast<pipe_format>(iv.format);
    if (res->target == PIPE_BUFFER) {
      if (iv.format >= PIPE_FORMAT_COUNT || format == PIPE_FORMAT_NONE || !util_format_description(format) ||
          util_format_is_compressed(format)) {
        return reject_("%s: format %u cannot view a buffer", role, unsigned(iv.format));
      }
      if (auto e = check_range(*res, iv.first, iv.last, role, iv.resource); !e.ok()) return e;
      v.u.buf.offset = iv.first;
      v.u.buf.size = iv.last;
    } else {
      pipe_format f;
      if (auto e = check_view_format(*res, iv.format, role, iv.resource, f); !e.ok()) return e;
      if (auto e = check_level(*res, iv.level, role, iv.resource); !e.ok()) return e;
      const unsigned layers = level_slices(*res, iv.level);
      if (iv.first > iv.last || iv.last >= layers) {
        return reject_("%s: layers %u..%u outside the %u of level %u of resource #%u", role, iv.first, iv.last, layers,
                       unsigned(iv.level), iv.resource);
      }
      v.u.tex.level = iv.level;
      v.u.tex.first_layer = iv.first;
      v.u.tex.last_layer = iv.last;
    }
    if (!screen_->is_format_supported(screen_, format, res->target, res->nr_samples, res->nr_storage_samples,
                                      PIPE_BIND_SHADER_IMAGE)) {
      return reject_("%s: format %s is not supported for shader images on a %s", role, util_format_short_name(format),
                     target_name(res->target));
    }
    v.resource = res;
    v.format = format;
    v.access = iv.access;
    v.shader_access = iv.shader_access;
  }
  ctx->pipe->set_shader_images(ctx->pipe, static_cast<pipe_shader_type>(r.stage), r.start, n, r.unbind_trailing, views.data());
  for (unsigned i = 0; i < n + r.unbind_trailing; ++i) {
    pipe_resource* res = i < n ? views[i].resource : nullptr;
    const bool written = res && res->target == PIPE_BUFFER && (views[i].access & PIPE_IMAGE_ACCESS_WRITE);
    ctx->written_images[r.stage][r.start + i] = written ? res : nullptr;
  }
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::SetShaderBuffers& r) {
  const char* rec = "set_shader_buffers";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  if (!ctx->pipe->set_shader_buffers) return reject_("%s: the host driver has no shader buffers", rec);
  const unsigned n = static_cast<unsigned>(r.buffers.size());
  const unsigned limit = limits_.stage[r.stage].buffers;
  if (unsigned(r.start) + n > limit) {
    return reject_("%s: slots %u..%u exceed the %u %s buffers", rec, unsigned(r.start), r.start + n - 1, limit, stage_name(r.stage));
  }
  if (n < 32 && (r.writable_mask >> n)) return reject_("%s: writable_mask 0x%x names buffers past the %u given", rec, r.writable_mask, n);
  const unsigned align = std::max(1u, cap(PIPE_CAP_SHADER_BUFFER_OFFSET_ALIGNMENT));
  std::vector<pipe_shader_buffer> bufs(n);
  for (unsigned i = 0; i < n; ++i) {
    const proto::ShaderBuffer sb = r.buffers[i];
    bufs[i] = {};
    if (!sb.resource) continue;
    char role[40];
    std::snprintf(role, sizeof role, "%s buffers[%u]", rec, i);
    if (auto e = get_buffer(sb.resource, bufs[i].buffer, role); !e.ok()) return e;
    if (auto e = check_range(*bufs[i].buffer, sb.offset, sb.size, role, sb.resource); !e.ok()) return e;
    if (sb.offset % align) return reject_("%s: offset %u is not a multiple of %u", role, sb.offset, align);
    bufs[i].buffer_offset = sb.offset;
    bufs[i].buffer_size = sb.size;
  }
  ctx->pipe->set_shader_buffers(ctx->pipe, static_cast<pipe_shader_type>(r.stage), r.start, n, bufs.data(), r.writable_mask);
  for (unsigned i = 0; i < n; ++i) {
    ctx->written_buffers[r.stage][r.start + i] = (r.writable_mask >> i) & 1 ? bufs[i].buffer : nullptr;
  }
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::SetStreamOutputTargets& r) {
  const char* rec = "set_stream_output_targets";
  ContextState* ctx = nullptr;
  if (auto e = need_context(ctx, rec); !e.ok()) return e;
  if (!ctx->pipe->set_stream_output_targets) return reject_("%s: the host driver has no stream output", rec);
  const unsigned n = static_cast<unsigned>(r.targets.size());
  if (n > std::min(cap(PIPE_CAP_MAX_STREAM_OUTPUT_BUFFERS), unsigned(PIPE_MAX_SO_BUFFERS))) {
    return reject_("%s: %u targets exceed the host's %u", rec, n, cap(PIPE_CAP_MAX_STREAM_OUTPUT_BUFFERS));
  }
  std::array<pipe_stream_output_target*, PIPE_MAX_SO_BUFFERS> targets{};
  std::array<unsigned, PIPE_MAX_SO_BUFFERS> offsets{};
  for (unsigned i = 0; i < n; ++i) {
    const proto::SoBinding b = r.targets[i];
    offsets[i] = b.offset;
    if (!b.target) continue;
    const IdRole role(rec, "targets", i);
    HostObject* o = nullptr;
    if (auto e = get_owned(b.target, ObjectKind::SoTarget, *ctx, o, role); !e.ok()) return e;
    targets[i] = static_cast<pipe_stream_output_target*>(o->ptr);
    // ~0 appends; any other offset restarts writing there and must lie inside the target.
    if (b.offset != ~0u && b.offset > targets[i]->buffer_size) {
      return reject_("%s: offset %u passes the %u-byte target", role.str().c_str(), b.offset, targets[i]->buffer_size);
    }
  }
  ctx->pipe->set_stream_output_targets(ctx->pipe, n, targets.data(), offsets.data());
  for (unsigned i = 0; i < PIPE_MAX_SO_BUFFERS; ++i) ctx->written_so[i] = targets[i] ? targets[i]->buffer : nullptr;
  return {};
}

}  // namespace xen3d::host
