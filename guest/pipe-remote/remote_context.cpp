// The remoting pipe_context: state, CSOs, shaders, draws, clears, copies,
// queries and flushes, each marshalled into one record (proto/commands.toml).
// Transfers live in remote_transfer.cpp.
#include "guest/pipe-remote/remote_context.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include "guest/pipe-remote/remote_arena.h"
#include "guest/pipe-remote/remote_objects.h"
#include "tgsi/tgsi_parse.h"
#include "util/format/u_format.h"
#include "util/u_inlines.h"
#include "util/u_math.h"
#include "util/u_upload_mgr.h"

namespace xen3d::guest {
namespace {

using proto::ObjectKind;

proto::Box wire_box(const pipe_box& b) { return {b.x, b.y, b.z, b.width, b.height, b.depth}; }

template <class T>
proto::TailView<T> view(const std::vector<T>& v) {
  return proto::TailView<T>(std::span<const T>(v.data(), v.size()));
}

proto::TailView<uint8_t> bytes(const void* p, size_t n) {
  return proto::TailView<uint8_t>(std::span<const uint8_t>(static_cast<const uint8_t*>(p), n));
}

// Records with one field: set it and queue the record.
template <class R, class F, class V>
bool emit_field(pipe_context* ctx, F R::*field, V value) {
  R r;
  r.*field = static_cast<F>(value);
  return emit(remote(ctx), r);
}

// What the driver cannot send at all ends the context with the reason, so
// the app sees a lost context now instead of an unknown id later.
void lose_context(RemoteContext* c, const std::string& why) {
  std::lock_guard<DeviceMutex> g(c->dev->lock());
  if (!c->dev->lost()) c->dev->session().fail(why);
  c->dev->lost();
}

void destroy_object(RemoteContext* c, uint32_t id, ObjectKind kind) {
  if (!id) return;
  proto::ObjectDestroy r;
  r.id = id;
  r.kind = uint8_t(kind);
  emit(c, r);
}

// --- CSOs: the struct image travels; the host validates it field by field ---

uint32_t create_state(RemoteContext* c, ObjectKind kind, const void* blob, size_t size) {
  proto::StateCreate r;
  r.id = c->dev->new_id();
  r.kind = uint8_t(kind);
  r.blob = bytes(blob, size);
  emit(c, r);
  return r.id;
}

void bind_slot(RemoteContext* c, proto::BindSlot slot, void* handle) {
  proto::Bind r;
  r.slot = uint8_t(slot);
  r.id = id_of_handle(handle);
  emit(c, r);
}

void* create_blend_state(pipe_context* ctx, const pipe_blend_state* s) {
  return handle_of(create_state(remote(ctx), ObjectKind::Blend, s, sizeof *s));
}
void bind_blend_state(pipe_context* ctx, void* h) { bind_slot(remote(ctx), proto::BindSlot::Blend, h); }
void delete_blend_state(pipe_context* ctx, void* h) { destroy_object(remote(ctx), id_of_handle(h), ObjectKind::Blend); }

void* create_dsa_state(pipe_context* ctx, const pipe_depth_stencil_alpha_state* s) {
  return handle_of(create_state(remote(ctx), ObjectKind::DepthStencilAlpha, s, sizeof *s));
}
void bind_dsa_state(pipe_context* ctx, void* h) { bind_slot(remote(ctx), proto::BindSlot::DepthStencilAlpha, h); }
void delete_dsa_state(pipe_context* ctx, void* h) {
  destroy_object(remote(ctx), id_of_handle(h), ObjectKind::DepthStencilAlpha);
}

void* create_rasterizer_state(pipe_context* ctx, const pipe_rasterizer_state* s) {
  return handle_of(create_state(remote(ctx), ObjectKind::Rasterizer, s, sizeof *s));
}
void bind_rasterizer_state(pipe_context* ctx, void* h) { bind_slot(remote(ctx), proto::BindSlot::Rasterizer, h); }
void delete_rasterizer_state(pipe_context* ctx, void* h) {
  destroy_object(remote(ctx), id_of_handle(h), ObjectKind::Rasterizer);
}

void* create_sampler_state(pipe_context* ctx, const pipe_sampler_state* s) {
  return handle_of(create_state(remote(ctx), ObjectKind::Sampler, s, sizeof *s));
}
void delete_sampler_state(pipe_context* ctx, void* h) {
  destroy_object(remote(ctx), id_of_handle(h), ObjectKind::Sampler);
}
void bind_sampler_states(pipe_context* ctx, enum pipe_shader_type shader, unsigned start, unsigned num,
                         void** samplers) {
  RemoteContext* c = remote(ctx);
  proto::BindSamplers r;
  r.stage = uint8_t(shader);
  r.start = uint8_t(start);
  c->ids.assign(num, 0);
  for (unsigned i = 0; i < num; ++i) c->ids[i] = samplers ? id_of_handle(samplers[i]) : 0;
  r.ids = view(c->ids);
  emit(c, r);
}

void* create_vertex_elements_state(pipe_context* ctx, unsigned num, const pipe_vertex_element* elements) {
  return handle_of(create_state(remote(ctx), ObjectKind::VertexElements, elements, sizeof *elements * num));
}
void bind_vertex_elements_state(pipe_context* ctx, void* h) {
  bind_slot(remote(ctx), proto::BindSlot::VertexElements, h);
}
void delete_vertex_elements_state(pipe_context* ctx, void* h) {
  destroy_object(remote(ctx), id_of_handle(h), ObjectKind::VertexElements);
}

// --- shaders: TGSI tokens through the bulk heap ---

uint32_t create_shader(RemoteContext* c, pipe_shader_type stage, const tgsi_token* tokens,
                       const pipe_stream_output_info* so, unsigned req_local_mem) {
  static_assert(sizeof(pipe_stream_output_info) == std::tuple_size_v<decltype(proto::ShaderCreate::stream_output)>);
  proto::ShaderCreate r;
  r.id = c->dev->new_id();
  r.stage = uint8_t(stage);
  if (so) std::memcpy(r.stream_output.data(), so, sizeof *so);
  r.req_local_mem = req_local_mem;
  const unsigned n = tokens ? tgsi_num_tokens(tokens) : 0;
  r.token_count = n;
  std::lock_guard<DeviceMutex> g(c->dev->lock());
  if (c->dev->lost()) return r.id;
  proto::GuestSession& s = c->dev->session();
  c->dev->use_context(c->id);
  proto::GuestSession::Payload tokens_payload;
  if (!s.put_payload(tokens, size_t(n) * sizeof(tgsi_token), tokens_payload)) return r.id;
  r.tokens = tokens_payload.ref;
  s.send(r);
  s.payload_done(tokens_payload);
  return r.id;
}

template <pipe_shader_type Stage>
void* create_shader_state(pipe_context* ctx, const pipe_shader_state* s) {
  if (s->type != PIPE_SHADER_IR_TGSI) {
    lose_context(remote(ctx), "shader IR " + std::to_string(int(s->type)) + " is not TGSI; the remote driver ships TGSI only");
    return nullptr;
  }
  return handle_of(create_shader(remote(ctx), Stage, s->tokens, &s->stream_output, 0));
}
template <pipe_shader_type Stage>
void bind_shader_state(pipe_context* ctx, void* h) {
  bind_slot(remote(ctx), proto::BindSlot(uint8_t(proto::BindSlot::ShaderBase) + Stage), h);
}
void delete_shader_state(pipe_context* ctx, void* h) { destroy_object(remote(ctx), id_of_handle(h), ObjectKind::Shader); }

void* create_compute_state(pipe_context* ctx, const pipe_compute_state* s) {
  if (s->ir_type != PIPE_SHADER_IR_TGSI) {
    lose_context(remote(ctx), "compute IR " + std::to_string(int(s->ir_type)) + " is not TGSI; the remote driver ships TGSI only");
    return nullptr;
  }
  return handle_of(create_shader(remote(ctx), PIPE_SHADER_COMPUTE, static_cast<const tgsi_token*>(s->prog), nullptr,
                                 s->req_local_mem));
}

// --- plain state ---

void set_blend_color(pipe_context* ctx, const pipe_blend_color* color) {
  proto::SetBlendColor r;
  std::copy(color->color, color->color + 4, r.color.begin());
  emit(remote(ctx), r);
}

void set_stencil_ref(pipe_context* ctx, const pipe_stencil_ref ref) {
  proto::SetStencilRef r;
  r.ref = {ref.ref_value[0], ref.ref_value[1]};
  emit(remote(ctx), r);
}

void set_sample_mask(pipe_context* ctx, unsigned mask) {
  emit_field(ctx, &proto::SetSampleMask::mask, mask);
}

void set_min_samples(pipe_context* ctx, unsigned min_samples) {
  emit_field(ctx, &proto::SetMinSamples::min_samples, min_samples);
}

void set_clip_state(pipe_context* ctx, const pipe_clip_state* clip) {
  proto::SetClipState r;
  std::memcpy(r.ucp.data(), clip->ucp, sizeof clip->ucp);
  emit(remote(ctx), r);
}

void set_polygon_stipple(pipe_context* ctx, const pipe_poly_stipple* stipple) {
  proto::SetPolygonStipple r;
  std::memcpy(r.stipple.data(), stipple->stipple, sizeof stipple->stipple);
  emit(remote(ctx), r);
}

void set_tess_state(pipe_context* ctx, const float outer[4], const float inner[2]) {
  proto::SetTessState r;
  std::copy(outer, outer + 4, r.outer.begin());
  std::copy(inner, inner + 2, r.inner.begin());
  emit(remote(ctx), r);
}

void set_patch_vertices(pipe_context* ctx, uint8_t n) {
  emit_field(ctx, &proto::SetPatchVertices::count, n);
}

void set_scissor_states(pipe_context* ctx, unsigned start, unsigned num, const pipe_scissor_state* s) {
  proto::SetScissors r;
  r.start = uint8_t(start);
  r.blob = bytes(s, sizeof *s * num);
  emit(remote(ctx), r);
}

void set_viewport_states(pipe_context* ctx, unsigned start, unsigned num, const pipe_viewport_state* v) {
  proto::SetViewports r;
  r.start = uint8_t(start);
  r.blob = bytes(v, sizeof *v * num);
  emit(remote(ctx), r);
}

void set_framebuffer_state(pipe_context* ctx, const pipe_framebuffer_state* fb) {
  RemoteContext* c = remote(ctx);
  proto::SetFramebuffer r;
  r.width = uint16_t(fb->width);
  r.height = uint16_t(fb->height);
  r.layers = uint16_t(fb->layers);
  r.samples = uint8_t(fb->samples);
  r.zsbuf = id_of(fb->zsbuf);
  c->ids.assign(fb->nr_cbufs, 0);
  for (unsigned i = 0; i < fb->nr_cbufs; ++i) {
    c->ids[i] = id_of(fb->cbufs[i]);
    if (fb->cbufs[i]) mark_all_written(fb->cbufs[i]->texture);
  }
  if (fb->zsbuf) mark_all_written(fb->zsbuf->texture);
  r.cbufs = view(c->ids);
  emit(c, r);
}

void set_constant_buffer(pipe_context* ctx, enum pipe_shader_type shader, uint index, bool take_ownership,
                         const pipe_constant_buffer* cb) {
  if (cb && !cb->buffer && cb->user_buffer && cb->buffer_size > proto::SetConstantBuffer::kMaxUserData) {
    // More uniforms than a record carries (GL allows 64 KiB of them): they go
    // through a real buffer instead.
    pipe_constant_buffer up{};
    up.buffer_size = cb->buffer_size;
    u_upload_data(ctx->const_uploader, 0, cb->buffer_size, 256,
                  static_cast<const uint8_t*>(cb->user_buffer) + cb->buffer_offset, &up.buffer_offset, &up.buffer);
    u_upload_unmap(ctx->const_uploader);
    if (up.buffer) {
      set_constant_buffer(ctx, shader, index, false, &up);
      remote(ctx)->uploaded_constants[shader][index] = up.buffer;  // the upload's reference
      return;
    }
    lose_context(remote(ctx), "no memory to upload " + std::to_string(cb->buffer_size) + " bytes of constants");
    return;
  }
  pipe_resource_reference(&remote(ctx)->uploaded_constants[shader][index], nullptr);
  proto::SetConstantBuffer r;
  r.stage = uint8_t(shader);
  r.index = uint8_t(index);
  if (cb) {
    pin_storage(cb->buffer);
    r.resource = id_of(cb->buffer);
    r.offset = cb->buffer_offset;
    r.size = cb->buffer_size;
    if (!cb->buffer && cb->user_buffer) {
      r.offset = 0;
      r.size = std::min<unsigned>(cb->buffer_size, proto::SetConstantBuffer::kMaxUserData);
      r.user_data = bytes(static_cast<const uint8_t*>(cb->user_buffer) + cb->buffer_offset, r.size);
    }
  }
  emit(remote(ctx), r);
  if (take_ownership && cb && cb->buffer) {
    pipe_resource* b = cb->buffer;
    pipe_resource_reference(&b, nullptr);
  }
}

void set_vertex_buffers(pipe_context* ctx, unsigned start, unsigned num, unsigned unbind_trailing,
                        bool take_ownership, const pipe_vertex_buffer* vbs) {
  std::vector<proto::VertexBuffer> wire(num);
  for (unsigned i = 0; vbs && i < num; ++i) {
    wire[i].resource = vbs[i].is_user_buffer ? 0 : id_of(vbs[i].buffer.resource);
    wire[i].offset = vbs[i].buffer_offset;
    wire[i].stride = vbs[i].stride;
    if (vbs[i].is_user_buffer) {
      // The screen says it has none (PIPE_CAP_USER_VERTEX_BUFFERS): a frontend that sends one anyway gets a lost context, not wrong vertices.
      lose_context(remote(ctx), "a user vertex buffer in slot " + std::to_string(start + i) + " (the remote driver takes buffers only)");
      return;
    }
  }
  proto::SetVertexBuffers r;
  r.start = uint8_t(start);
  r.unbind_trailing = uint8_t(unbind_trailing);
  r.buffers = view(wire);
  emit(remote(ctx), r);
  if (take_ownership && vbs) {
    for (unsigned i = 0; i < num; ++i) {
      if (vbs[i].is_user_buffer) continue;
      pipe_resource* b = vbs[i].buffer.resource;
      pipe_resource_reference(&b, nullptr);
    }
  }
}

void set_sampler_views(pipe_context* ctx, enum pipe_shader_type shader, unsigned start, unsigned num,
                       unsigned unbind_trailing, bool take_ownership, pipe_sampler_view** views) {
  RemoteContext* c = remote(ctx);
  proto::SetSamplerViews r;
  r.stage = uint8_t(shader);
  r.start = uint8_t(start);
  r.unbind_trailing = uint8_t(unbind_trailing);
  c->ids.assign(num, 0);
  for (unsigned i = 0; views && i < num; ++i) c->ids[i] = id_of(views[i]);
  r.ids = view(c->ids);
  emit(c, r);
  if (take_ownership && views) {
    for (unsigned i = 0; i < num; ++i) {
      pipe_sampler_view* v = views[i];
      pipe_sampler_view_reference(&v, nullptr);
    }
  }
}

void set_shader_images(pipe_context* ctx, enum pipe_shader_type shader, unsigned start, unsigned count,
                       unsigned unbind_trailing, const pipe_image_view* images) {
  std::vector<proto::ImageView> wire(count);
  for (unsigned i = 0; images && i < count; ++i) {
    const pipe_image_view& v = images[i];
    proto::ImageView& w = wire[i];
    pin_storage(v.resource);
    w.resource = id_of(v.resource);
    w.format = uint16_t(v.format);
    w.access = v.access;
    w.shader_access = v.shader_access;
    if (v.resource && v.resource->target == PIPE_BUFFER) {
      w.first = v.u.buf.offset;
      w.last = v.u.buf.size;
    } else {
      w.level = uint16_t(v.u.tex.level);
      w.first = v.u.tex.first_layer;
      w.last = v.u.tex.last_layer;
    }
    if (v.access & PIPE_IMAGE_ACCESS_WRITE) mark_all_written(v.resource);
  }
  proto::SetShaderImages r;
  r.stage = uint8_t(shader);
  r.start = uint8_t(start);
  r.unbind_trailing = uint8_t(unbind_trailing);
  r.images = view(wire);
  emit(remote(ctx), r);
}

void set_shader_buffers(pipe_context* ctx, enum pipe_shader_type shader, unsigned start, unsigned count,
                        const pipe_shader_buffer* buffers, unsigned writable_bitmask) {
  std::vector<proto::ShaderBuffer> wire(count);
  for (unsigned i = 0; buffers && i < count; ++i) {
    pin_storage(buffers[i].buffer);
    wire[i].resource = id_of(buffers[i].buffer);
    wire[i].offset = buffers[i].buffer_offset;
    wire[i].size = buffers[i].buffer_size;
    if (writable_bitmask & (1u << i)) mark_all_written(buffers[i].buffer);
  }
  proto::SetShaderBuffers r;
  r.stage = uint8_t(shader);
  r.start = uint8_t(start);
  r.writable_mask = writable_bitmask;
  r.buffers = view(wire);
  emit(remote(ctx), r);
}

// --- views, surfaces, stream-output targets ---

pipe_sampler_view* create_sampler_view(pipe_context* ctx, pipe_resource* res, const pipe_sampler_view* templ) {
  RemoteContext* c = remote(ctx);
  auto* v = new (std::nothrow) RemoteSamplerView{};
  if (!v) return nullptr;
  v->base = *templ;
  pipe_reference_init(&v->base.reference, 1);
  v->base.texture = nullptr;
  pipe_resource_reference(&v->base.texture, res);
  pin_storage(res);
  v->base.context = ctx;
  v->id = c->dev->new_id();
  proto::SamplerViewCreate r;
  r.id = v->id;
  r.resource = id_of(res);
  r.format = uint16_t(templ->format);
  r.target = uint8_t(templ->target);
  r.swizzle = {uint8_t(templ->swizzle_r), uint8_t(templ->swizzle_g), uint8_t(templ->swizzle_b),
               uint8_t(templ->swizzle_a)};
  if (res->target == PIPE_BUFFER) {
    r.first = templ->u.buf.offset;
    r.last = templ->u.buf.size;
  } else {
    r.first_level = uint8_t(templ->u.tex.first_level);
    r.last_level = uint8_t(templ->u.tex.last_level);
    r.first = templ->u.tex.first_layer;
    r.last = templ->u.tex.last_layer;
  }
  emit(c, r);
  return &v->base;
}

void sampler_view_destroy(pipe_context* ctx, pipe_sampler_view* view) {
  auto* v = reinterpret_cast<RemoteSamplerView*>(view);
  destroy_object(remote(ctx), v->id, ObjectKind::SamplerView);
  pipe_resource_reference(&v->base.texture, nullptr);
  delete v;
}

pipe_surface* create_surface(pipe_context* ctx, pipe_resource* res, const pipe_surface* templ) {
  RemoteContext* c = remote(ctx);
  auto* s = new (std::nothrow) RemoteSurface{};
  if (!s) return nullptr;
  pipe_reference_init(&s->base.reference, 1);
  pipe_resource_reference(&s->base.texture, res);
  pin_storage(res);
  s->base.context = ctx;
  s->base.format = templ->format;
  s->base.u = templ->u;
  s->base.nr_samples = templ->nr_samples;
  s->id = c->dev->new_id();
  proto::SurfaceCreate r;
  r.id = s->id;
  r.resource = id_of(res);
  r.format = uint16_t(templ->format);
  if (res->target == PIPE_BUFFER) {
    s->base.width = uint16_t(templ->u.buf.last_element - templ->u.buf.first_element + 1);
    s->base.height = 1;
    r.first_layer = uint16_t(templ->u.buf.first_element);
    r.last_layer = uint16_t(templ->u.buf.last_element);
  } else {
    s->base.width = uint16_t(u_minify(res->width0, templ->u.tex.level));
    s->base.height = uint16_t(u_minify(res->height0, templ->u.tex.level));
    r.level = uint16_t(templ->u.tex.level);
    r.first_layer = uint16_t(templ->u.tex.first_layer);
    r.last_layer = uint16_t(templ->u.tex.last_layer);
  }
  emit(c, r);
  return &s->base;
}

void surface_destroy(pipe_context* ctx, pipe_surface* surf) {
  auto* s = reinterpret_cast<RemoteSurface*>(surf);
  destroy_object(remote(ctx), s->id, ObjectKind::Surface);
  pipe_resource_reference(&s->base.texture, nullptr);
  delete s;
}

pipe_stream_output_target* create_stream_output_target(pipe_context* ctx, pipe_resource* res, unsigned offset,
                                                       unsigned size) {
  RemoteContext* c = remote(ctx);
  auto* t = new (std::nothrow) RemoteSoTarget{};
  if (!t) return nullptr;
  pipe_reference_init(&t->base.reference, 1);
  pipe_resource_reference(&t->base.buffer, res);
  pin_storage(res);
  t->base.context = ctx;
  t->base.buffer_offset = offset;
  t->base.buffer_size = size;
  t->id = c->dev->new_id();
  mark_written(res, offset, size);
  proto::SoTargetCreate r;
  r.id = t->id;
  r.resource = id_of(res);
  r.offset = offset;
  r.size = size;
  emit(c, r);
  return &t->base;
}

void stream_output_target_destroy(pipe_context* ctx, pipe_stream_output_target* target) {
  auto* t = reinterpret_cast<RemoteSoTarget*>(target);
  destroy_object(remote(ctx), t->id, ObjectKind::SoTarget);
  pipe_resource_reference(&t->base.buffer, nullptr);
  delete t;
}

void set_stream_output_targets(pipe_context* ctx, unsigned num, pipe_stream_output_target** targets,
                               const unsigned* offsets) {
  std::vector<proto::SoBinding> wire(num);
  for (unsigned i = 0; i < num; ++i) {
    wire[i].target = id_of(targets[i]);
    wire[i].offset = offsets ? offsets[i] : 0;
  }
  proto::SetStreamOutputTargets r;
  r.targets = view(wire);
  emit(remote(ctx), r);
}

// --- draws and compute ---

void draw_vbo(pipe_context* ctx, const pipe_draw_info* info, unsigned drawid_offset,
              const pipe_draw_indirect_info* indirect, const pipe_draw_start_count_bias* draws, unsigned num_draws);

// A draw whose user indices are too many for the heap: they go into a buffer
// of their own for this draw (the buffer dies after it on both sides).
void draw_from_index_buffer(pipe_context* ctx, const pipe_draw_info* info, unsigned drawid_offset,
                            const pipe_draw_start_count_bias* draws, unsigned num_draws, uint64_t bytes) {
  if (bytes > UINT32_MAX) {
    lose_context(remote(ctx), "a draw names " + std::to_string(bytes) + " bytes of user indices (at most 4 GiB)");
    return;
  }
  pipe_resource* buf = pipe_buffer_create(ctx->screen, PIPE_BIND_INDEX_BUFFER, PIPE_USAGE_STREAM, unsigned(bytes));
  if (!buf) {
    lose_context(remote(ctx), "no memory for a " + std::to_string(bytes) + "-byte index buffer");
    return;
  }
  ctx->buffer_subdata(ctx, buf, PIPE_MAP_WRITE | PIPE_MAP_DISCARD_WHOLE_RESOURCE, 0, unsigned(bytes), info->index.user);
  pipe_draw_info copy = *info;
  copy.has_user_indices = false;
  copy.take_index_buffer_ownership = false;
  copy.index.resource = buf;
  draw_vbo(ctx, &copy, drawid_offset, nullptr, draws, num_draws);
  pipe_resource_reference(&buf, nullptr);
}

void draw_vbo(pipe_context* ctx, const pipe_draw_info* info, unsigned drawid_offset,
              const pipe_draw_indirect_info* indirect, const pipe_draw_start_count_bias* draws, unsigned num_draws) {
  RemoteContext* c = remote(ctx);
  proto::Draw r;
  r.mode = uint8_t(info->mode);
  r.index_size = info->index_size;
  r.view_mask = info->view_mask;
  r.flags = (info->primitive_restart ? proto::kDrawPrimitiveRestart : 0) |
            (info->index_bounds_valid ? proto::kDrawIndexBoundsValid : 0) |
            (info->increment_draw_id ? proto::kDrawIncrementDrawId : 0);
  r.start_instance = info->start_instance;
  r.instance_count = info->instance_count;
  r.restart_index = info->restart_index;
  r.min_index = info->min_index;
  r.max_index = info->max_index;
  if (indirect) {
    r.indirect_buffer = id_of(indirect->buffer);
    r.indirect_offset = indirect->offset;
    r.indirect_stride = indirect->stride;
    r.indirect_draw_count = indirect->draw_count;
    r.indirect_count_buffer = id_of(indirect->indirect_draw_count);
    r.indirect_count_offset = indirect->indirect_draw_count_offset;
    r.count_from_stream_output = id_of(indirect->count_from_stream_output);
  }

  // Client-memory indices: ship the range the draws use.
  uint64_t user_index_bytes = 0;
  if (info->index_size && info->has_user_indices && !indirect) {
    uint64_t end = 0;
    for (unsigned i = 0; i < num_draws; ++i) end = std::max<uint64_t>(end, uint64_t(draws[i].start) + draws[i].count);
    user_index_bytes = end * info->index_size;
    if (user_index_bytes > c->dev->session().bulk_heap_size()) {
      // More than a heap's worth: through a temporary index buffer, whose
      // upload streams through the heap in pieces.
      draw_from_index_buffer(ctx, info, drawid_offset, draws, num_draws, user_index_bytes);
      return;
    }
  }

  std::lock_guard<DeviceMutex> g(c->dev->lock());
  if (c->dev->lost()) return;
  proto::GuestSession& s = c->dev->session();
  c->dev->use_context(c->id);
  proto::GuestSession::Payload user_indices;
  if (info->index_size && info->has_user_indices) {
    if (!s.put_payload(info->index.user, user_index_bytes, user_indices)) return;
    r.flags |= proto::kDrawUserIndices;
    r.user_indices = user_indices.ref;
  } else if (info->index_size) {
    r.index_buffer = id_of(info->index.resource);
  }
  // Split very long multi-draws into records of at most kMaxDraws ranges.
  for (unsigned first = 0; first < num_draws || (first == 0 && num_draws == 0); first += proto::Draw::kMaxDraws) {
    const unsigned n = std::min<unsigned>(num_draws - first, proto::Draw::kMaxDraws);
    c->draw_ranges.resize(n);
    for (unsigned i = 0; i < n; ++i) {
      c->draw_ranges[i] = {draws[first + i].start, draws[first + i].count, draws[first + i].index_bias};
    }
    r.drawid_offset = drawid_offset + first;
    r.draws = view(c->draw_ranges);
    s.send(r);
    if (num_draws == 0) break;
  }
  s.payload_done(user_indices);
  if (BufferArena* arena = c->screen->arena.get()) arena->mark_if_wanted(s);
  if (info->take_index_buffer_ownership && info->index_size && !info->has_user_indices) {
    pipe_resource* ib = info->index.resource;
    pipe_resource_reference(&ib, nullptr);
  }
}

void launch_grid(pipe_context* ctx, const pipe_grid_info* info) {
  proto::LaunchGrid r;
  for (int i = 0; i < 3; ++i) {
    r.block[i] = info->block[i];
    r.last_block[i] = info->last_block[i];
    r.grid[i] = info->grid[i];
    r.grid_base[i] = info->grid_base[i];
  }
  r.work_dim = info->work_dim;
  r.pc = info->pc;
  r.indirect = id_of(info->indirect);
  r.indirect_offset = info->indirect_offset;
  emit(remote(ctx), r);
}

// --- clears, copies, blits ---

void clear(pipe_context* ctx, unsigned buffers, const pipe_scissor_state* scissor, const pipe_color_union* color,
           double depth, unsigned stencil) {
  proto::Clear r;
  r.buffers = buffers;
  if (scissor) {
    r.scissor_enable = 1;
    r.scissor = {scissor->minx, scissor->miny, scissor->maxx, scissor->maxy};
  }
  if (color) std::memcpy(r.color.data(), color->ui, sizeof color->ui);
  r.depth = depth;
  r.stencil = stencil;
  emit(remote(ctx), r);
}

void clear_render_target(pipe_context* ctx, pipe_surface* dst, const pipe_color_union* color, unsigned x, unsigned y,
                         unsigned w, unsigned h, bool render_condition_enabled) {
  proto::ClearRenderTarget r;
  r.surface = id_of(dst);
  std::memcpy(r.color.data(), color->ui, sizeof color->ui);
  r.x = x;
  r.y = y;
  r.width = w;
  r.height = h;
  r.render_condition_enabled = render_condition_enabled;
  mark_all_written(dst->texture);
  emit(remote(ctx), r);
}

void clear_depth_stencil(pipe_context* ctx, pipe_surface* dst, unsigned flags, double depth, unsigned stencil,
                         unsigned x, unsigned y, unsigned w, unsigned h, bool render_condition_enabled) {
  proto::ClearDepthStencil r;
  r.surface = id_of(dst);
  r.clear_flags = flags;
  r.depth = depth;
  r.stencil = stencil;
  r.x = x;
  r.y = y;
  r.width = w;
  r.height = h;
  r.render_condition_enabled = render_condition_enabled;
  mark_all_written(dst->texture);
  emit(remote(ctx), r);
}

void clear_texture(pipe_context* ctx, pipe_resource* res, unsigned level, const pipe_box* box, const void* data) {
  proto::ClearTexture r;
  r.resource = id_of(res);
  r.level = level;
  r.box = wire_box(*box);
  r.data = bytes(data, util_format_get_blocksize(res->format));
  mark_all_written(res);
  emit(remote(ctx), r);
}

void clear_buffer(pipe_context* ctx, pipe_resource* res, unsigned offset, unsigned size, const void* value,
                  int value_size) {
  proto::ClearBuffer r;
  r.resource = id_of(res);
  r.offset = offset;
  r.size = size;
  r.value = bytes(value, std::clamp(value_size, 0, 16));
  mark_written(res, offset, size);
  emit(remote(ctx), r);
}

void resource_copy_region(pipe_context* ctx, pipe_resource* dst, unsigned dst_level, unsigned dstx, unsigned dsty,
                          unsigned dstz, pipe_resource* src, unsigned src_level, const pipe_box* src_box) {
  proto::ResourceCopyRegion r;
  r.dst = id_of(dst);
  r.dst_level = dst_level;
  r.dstx = dstx;
  r.dsty = dsty;
  r.dstz = dstz;
  r.src = id_of(src);
  r.src_level = src_level;
  r.src_box = wire_box(*src_box);
  mark_written(dst, dstx, src_box->width);
  emit(remote(ctx), r);
}

void blit(pipe_context* ctx, const pipe_blit_info* info) {
  proto::Blit r;
  auto side = [](proto::BlitSide& w, const auto& s) {
    w.resource = id_of(s.resource);
    w.level = s.level;
    w.box = wire_box(s.box);
    w.format = uint16_t(s.format);
  };
  side(r.dst, info->dst);
  side(r.src, info->src);
  r.mask = info->mask;
  r.filter = uint8_t(info->filter);
  r.scissor_enable = info->scissor_enable;
  r.render_condition_enable = info->render_condition_enable;
  r.alpha_blend = info->alpha_blend;
  r.sample0_only = info->sample0_only;
  r.dst_sample = info->dst_sample;
  r.scissor = {info->scissor.minx, info->scissor.miny, info->scissor.maxx, info->scissor.maxy};
  mark_all_written(info->dst.resource);
  emit(remote(ctx), r);
}

bool generate_mipmap(pipe_context* ctx, pipe_resource* res, enum pipe_format format, unsigned base_level,
                     unsigned last_level, unsigned first_layer, unsigned last_layer) {
  // The host falls back to blits when its driver has no generate_mipmap, so
  // this succeeds whenever the format can be sampled and rendered.
  pipe_screen* s = ctx->screen;
  if (!s->is_format_supported(s, format, res->target, res->nr_samples, res->nr_storage_samples,
                              PIPE_BIND_SAMPLER_VIEW | PIPE_BIND_RENDER_TARGET)) {
    return false;
  }
  proto::GenerateMipmap r;
  r.resource = id_of(res);
  r.format = uint16_t(format);
  r.base_level = uint16_t(base_level);
  r.last_level = uint16_t(last_level);
  r.first_layer = uint16_t(first_layer);
  r.last_layer = uint16_t(last_layer);
  mark_all_written(res);
  return emit(remote(ctx), r);
}

void invalidate_resource(pipe_context* ctx, pipe_resource* res) {
  emit_field(ctx, &proto::InvalidateResource::resource, id_of(res));
}

// From the table the screen fetched once: 1, 2, 4, 8 and 16 samples start at 0, 1, 3, 7 and 15.
void get_sample_position(pipe_context* ctx, unsigned sample_count, unsigned sample_index, float* out) {
  out[0] = out[1] = 0.5f;
  if (!sample_count || sample_count > 16 || (sample_count & (sample_count - 1)) || sample_index >= sample_count) return;
  const auto& pos = remote(ctx->screen)->sample_positions[sample_count - 1 + sample_index];
  out[0] = pos[0];
  out[1] = pos[1];
}

void texture_barrier(pipe_context* ctx, unsigned flags) {
  emit_field(ctx, &proto::TextureBarrier::flags, flags);
}

void memory_barrier(pipe_context* ctx, unsigned flags) {
  emit_field(ctx, &proto::MemoryBarrier::flags, flags);
}

void flush_resource(pipe_context*, pipe_resource*) {}

// --- queries ---

pipe_query* create_query(pipe_context* ctx, unsigned type, unsigned index) {
  RemoteContext* c = remote(ctx);
  auto* q = new (std::nothrow) RemoteQuery{c->dev->new_id(), type};
  if (!q) return nullptr;
  proto::QueryCreate r;
  r.id = q->id;
  r.type = uint16_t(type);
  r.index = uint16_t(index);
  emit(c, r);
  return reinterpret_cast<pipe_query*>(q);
}

RemoteQuery* query(pipe_query* q) { return reinterpret_cast<RemoteQuery*>(q); }

void destroy_query(pipe_context* ctx, pipe_query* q) {
  destroy_object(remote(ctx), query(q)->id, ObjectKind::Query);
  delete query(q);
}

bool begin_query(pipe_context* ctx, pipe_query* q) {
  return emit_field(ctx, &proto::QueryBegin::id, query(q)->id);
}

bool end_query(pipe_context* ctx, pipe_query* q) {
  return emit_field(ctx, &proto::QueryEnd::id, query(q)->id);
}

bool get_query_result(pipe_context* ctx, pipe_query* q, bool wait, pipe_query_result* result) {
  static_assert(sizeof(pipe_query_result) <= sizeof(proto::QueryValue::value));
  RemoteContext* c = remote(ctx);
  proto::QueryResult r;
  r.id = query(q)->id;
  r.wait = wait;
  std::lock_guard<DeviceMutex> g(c->dev->lock());
  if (c->dev->lost()) {
    std::memset(result, 0, sizeof *result);
    return true;  // a lost context reports zeroes rather than spinning the app forever
  }
  c->dev->use_context(c->id);
  proto::QueryValue v;
  if (!c->dev->session().call(r, v)) return true;
  std::memcpy(result, v.value.data(), sizeof *result);
  return v.ready;
}

void get_query_result_resource(pipe_context* ctx, pipe_query* q, enum pipe_query_flags flags,
                               enum pipe_query_value_type result_type, int index, pipe_resource* res,
                               unsigned offset) {
  proto::QueryResultResource r;
  r.query = query(q)->id;
  r.flags = uint8_t(flags);
  r.result_type = uint8_t(result_type);
  r.index = index;
  r.resource = id_of(res);
  r.offset = offset;
  mark_written(res, offset, 8);
  emit(remote(ctx), r);
}

void render_condition(pipe_context* ctx, pipe_query* q, bool condition, enum pipe_render_cond_flag mode) {
  proto::RenderCondition r;
  r.query = q ? query(q)->id : 0;
  r.condition = condition;
  r.mode = uint8_t(mode);
  emit(remote(ctx), r);
}

void set_active_query_state(pipe_context* ctx, bool enable) {
  emit_field(ctx, &proto::SetActiveQueryState::enable, enable);
}

// --- flush, robustness, teardown ---

void flush(pipe_context* ctx, pipe_fence_handle** fence, unsigned flags) {
  RemoteContext* c = remote(ctx);
  proto::Flush r;
  r.flags = flags;
  RemoteFence* f = nullptr;
  if (fence) {
    f = new RemoteFence{};
    pipe_reference_init(&f->reference, 1);
    f->id = c->dev->new_id();
    r.fence = f->id;
  }
  {
    std::lock_guard<DeviceMutex> g(c->dev->lock());
    if (!c->dev->lost()) {
      c->dev->use_context(c->id);
      c->dev->session().send(r);
      c->dev->session().flush();
    } else if (f) {
      f->signalled = true;
    }
  }
  if (fence) {
    c->screen->base.fence_reference(&c->screen->base, fence, nullptr);
    *fence = reinterpret_cast<pipe_fence_handle*>(f);
  }
}

pipe_reset_status get_device_reset_status(pipe_context* ctx) {
  RemoteContext* c = remote(ctx);
  std::lock_guard<DeviceMutex> g(c->dev->lock());
  if (!c->dev->lost() || c->reset_reported) return PIPE_NO_RESET;
  c->reset_reported = true;
  // The host rejects only what this process sent: we are the guilty party.
  return PIPE_GUILTY_CONTEXT_RESET;
}

void set_device_reset_callback(pipe_context* ctx, const pipe_device_reset_callback* cb) {
  if (cb) remote(ctx)->reset_callback = *cb;
  else remote(ctx)->reset_callback = {};
}

void context_destroy(pipe_context* ctx) {
  RemoteContext* c = remote(ctx);
  destroy_object(c, c->id, ObjectKind::Context);
  {
    std::lock_guard<DeviceMutex> g(c->dev->lock());
    c->dev->context_destroyed(c->id);
    if (!c->dev->lost()) c->dev->session().flush();
  }
  for (auto& stage : c->uploaded_constants) {
    for (auto*& b : stage) pipe_resource_reference(&b, nullptr);
  }
  if (ctx->stream_uploader) u_upload_destroy(ctx->stream_uploader);
  delete c;
}

}  // namespace

pipe_context* remote_context_create(pipe_screen* screen, void* priv, unsigned flags) {
  RemoteScreen* scr = remote(screen);
  auto* c = new (std::nothrow) RemoteContext{};
  if (!c) return nullptr;
  c->screen = scr;
  c->dev = scr->dev.get();
  c->id = c->dev->new_id();
  pipe_context* p = &c->base;
  p->screen = screen;
  p->priv = priv;
  p->destroy = context_destroy;

  p->create_blend_state = create_blend_state;
  p->bind_blend_state = bind_blend_state;
  p->delete_blend_state = delete_blend_state;
  p->create_depth_stencil_alpha_state = create_dsa_state;
  p->bind_depth_stencil_alpha_state = bind_dsa_state;
  p->delete_depth_stencil_alpha_state = delete_dsa_state;
  p->create_rasterizer_state = create_rasterizer_state;
  p->bind_rasterizer_state = bind_rasterizer_state;
  p->delete_rasterizer_state = delete_rasterizer_state;
  p->create_sampler_state = create_sampler_state;
  p->bind_sampler_states = bind_sampler_states;
  p->delete_sampler_state = delete_sampler_state;
  p->create_vertex_elements_state = create_vertex_elements_state;
  p->bind_vertex_elements_state = bind_vertex_elements_state;
  p->delete_vertex_elements_state = delete_vertex_elements_state;

  p->create_vs_state = create_shader_state<PIPE_SHADER_VERTEX>;
  p->bind_vs_state = bind_shader_state<PIPE_SHADER_VERTEX>;
  p->delete_vs_state = delete_shader_state;
  p->create_fs_state = create_shader_state<PIPE_SHADER_FRAGMENT>;
  p->bind_fs_state = bind_shader_state<PIPE_SHADER_FRAGMENT>;
  p->delete_fs_state = delete_shader_state;
  p->create_gs_state = create_shader_state<PIPE_SHADER_GEOMETRY>;
  p->bind_gs_state = bind_shader_state<PIPE_SHADER_GEOMETRY>;
  p->delete_gs_state = delete_shader_state;
  p->create_tcs_state = create_shader_state<PIPE_SHADER_TESS_CTRL>;
  p->bind_tcs_state = bind_shader_state<PIPE_SHADER_TESS_CTRL>;
  p->delete_tcs_state = delete_shader_state;
  p->create_tes_state = create_shader_state<PIPE_SHADER_TESS_EVAL>;
  p->bind_tes_state = bind_shader_state<PIPE_SHADER_TESS_EVAL>;
  p->delete_tes_state = delete_shader_state;
  p->create_compute_state = create_compute_state;
  p->bind_compute_state = bind_shader_state<PIPE_SHADER_COMPUTE>;
  p->delete_compute_state = delete_shader_state;

  p->set_blend_color = set_blend_color;
  p->set_stencil_ref = set_stencil_ref;
  p->set_sample_mask = set_sample_mask;
  p->set_min_samples = set_min_samples;
  p->set_clip_state = set_clip_state;
  p->set_polygon_stipple = set_polygon_stipple;
  p->set_tess_state = set_tess_state;
  p->set_patch_vertices = set_patch_vertices;
  p->set_scissor_states = set_scissor_states;
  p->set_viewport_states = set_viewport_states;
  p->set_framebuffer_state = set_framebuffer_state;
  p->set_constant_buffer = set_constant_buffer;
  p->set_vertex_buffers = set_vertex_buffers;
  p->set_sampler_views = set_sampler_views;
  p->set_shader_images = set_shader_images;
  p->set_shader_buffers = set_shader_buffers;

  p->create_sampler_view = create_sampler_view;
  p->sampler_view_destroy = sampler_view_destroy;
  p->create_surface = create_surface;
  p->surface_destroy = surface_destroy;
  p->create_stream_output_target = create_stream_output_target;
  p->stream_output_target_destroy = stream_output_target_destroy;
  p->set_stream_output_targets = set_stream_output_targets;

  p->draw_vbo = draw_vbo;
  p->launch_grid = launch_grid;
  p->clear = clear;
  p->clear_render_target = clear_render_target;
  p->clear_depth_stencil = clear_depth_stencil;
  p->clear_texture = clear_texture;
  p->clear_buffer = clear_buffer;
  p->resource_copy_region = resource_copy_region;
  p->blit = blit;
  p->generate_mipmap = generate_mipmap;
  p->invalidate_resource = invalidate_resource;
  p->flush_resource = flush_resource;
  p->texture_barrier = texture_barrier;
  p->get_sample_position = get_sample_position;
  p->memory_barrier = memory_barrier;

  p->create_query = create_query;
  p->destroy_query = destroy_query;
  p->begin_query = begin_query;
  p->end_query = end_query;
  p->get_query_result = get_query_result;
  p->get_query_result_resource = get_query_result_resource;
  p->render_condition = render_condition;
  p->set_active_query_state = set_active_query_state;

  p->flush = flush;
  p->get_device_reset_status = get_device_reset_status;
  p->set_device_reset_callback = set_device_reset_callback;
  remote_init_transfer_functions(p);

  // st/mesa streams vertices and constants through this; it maps/unmaps our buffers.
  p->stream_uploader = u_upload_create_default(p);
  p->const_uploader = p->stream_uploader;
  // On a copying arena's host a persistent buffer costs a compare at every
  // draw: the uploader maps and unmaps ordinary buffers instead.
  if (p->stream_uploader && c->screen->arena && c->screen->arena->copies()) u_upload_disable_persistent(p->stream_uploader);

  proto::ContextCreate r;
  r.id = c->id;
  r.flags = flags;
  {
    std::lock_guard<DeviceMutex> g(c->dev->lock());
    c->dev->session().send(r);
  }
  return p;
}

}  // namespace xen3d::guest
