// GalliumExecutor: object lifetimes, contexts, lookups and screen-level
// records. The other record families live in executor_*.cpp.
#include "host/executor/gallium_executor.h"

#include <cstring>

#include "host/executor/context_pool.h"
#include "host/executor/executor_util.h"
#include "host/executor/host_data_writer.h"
#include "host/validate/resource_layout.h"
#include "common/log.h"
#include "pipe/p_context.h"
#include "pipe/p_defines.h"
#include "pipe/p_screen.h"
#include "util/format/u_format.h"
#include "util/u_inlines.h"

namespace xen3d::host {

using proto::ObjectKind;

GalliumExecutor::GalliumExecutor(proto::HostSession& session, Config config)
    : session_(session), config_(std::move(config)), caps_(*config_.caps), screen_(config_.screen),
      limits_(derive_host_limits(caps_, screen_)) {
  grid_input_.reserve(proto::LaunchGrid::kMaxInput);
  objects_.set_max_objects(config_.max_objects);
  GlobalObjectStats::guests += 1;
}

GalliumExecutor::~GalliumExecutor() { teardown(); }

unsigned GalliumExecutor::cap(unsigned param) const {
  return param < PIPE_CAP_LAST && caps_.param[param] > 0 ? static_cast<unsigned>(caps_.param[param]) : 0u;
}

unsigned GalliumExecutor::shader_cap(unsigned stage, unsigned c) const {
  if (stage >= PIPE_SHADER_TYPES || c >= proto::kCapsShaderParams) return 0;
  const int v = caps_.shader[stage][c];
  return v > 0 ? static_cast<unsigned>(v) : 0u;
}

// --- lookups -----------------------------------------------------------------

proto::DecodeError GalliumExecutor::need_context(ContextState*& ctx, const char* record) {
  ctx = current_;
  if (!ctx) return reject_("%s needs a current context (context_create + context_use first)", record);
  return {};
}

proto::DecodeError GalliumExecutor::work_context(pipe_context*& pipe, const char* record) {
  pipe = current_ ? current_->pipe : utility_context();
  if (!pipe) return reject_("%s: the host driver could not create a context", record);
  return {};
}

proto::DecodeError GalliumExecutor::get_resource(uint32_t id, pipe_resource*& res, const IdRole& role) {
  HostObject* o = nullptr;
  if (auto e = objects_.get(id, ObjectKind::Resource, o, role); !e.ok()) return e;
  res = static_cast<pipe_resource*>(o->ptr);
  return {};
}

proto::DecodeError GalliumExecutor::get_buffer(uint32_t id, pipe_resource*& res, const IdRole& role) {
  if (auto e = get_resource(id, res, role); !e.ok()) return e;
  if (res->target != PIPE_BUFFER) {
    return reject_("%s: resource #%u is a %s, not a buffer", role.str().c_str(), id, target_name(res->target));
  }
  return {};
}

proto::DecodeError GalliumExecutor::get_owned(uint32_t id, ObjectKind kind, const ContextState& ctx,
                                               HostObject*& obj, const IdRole& role) {
  if (auto e = objects_.get(id, kind, obj, role); !e.ok()) return e;
  if (obj->owner != ctx.id) {
    return reject_("%s: %s #%u belongs to context #%u, not the current context #%u", role.str().c_str(),
                   proto::object_kind_name(kind), id, obj->owner, ctx.id);
  }
  return {};
}

proto::DecodeError GalliumExecutor::check_range(const pipe_resource& buf, uint64_t offset, uint64_t size,
                                                 const char* what, uint32_t id) {
  if (offset > buf.width0 || size > buf.width0 - offset) {
    return reject_("%s: bytes %llu..+%llu pass the end of buffer #%u (%u bytes)", what,
                   static_cast<unsigned long long>(offset), static_cast<unsigned long long>(size), id, buf.width0);
  }
  return {};
}

proto::DecodeError GalliumExecutor::check_level(const pipe_resource& r, uint32_t level, const char* record,
                                                 uint32_t id) {
  if (level > r.last_level) {
    return reject_("%s: level %u of resource #%u does not exist (last level %u)", record, level, id,
                   unsigned(r.last_level));
  }
  return {};
}

proto::DecodeError GalliumExecutor::check_view_format(const pipe_resource& r, uint32_t format, const char* record,
                                                       uint32_t id, pipe_format& out) {
  const auto f = static_cast<pipe_format>(format);
  if (format >= PIPE_FORMAT_COUNT || f == PIPE_FORMAT_NONE || !util_format_description(f)) {
    return reject_("%s: format %u is not a pipe_format", record, format);
  }
  // Views reinterpret the resource's memory: a larger texel or another block
  // shape would make the driver address past the resource's storage.
  const auto rf = static_cast<pipe_format>(r.format);
  if (util_format_get_blocksize(f) != util_format_get_blocksize(rf) ||
      util_format_get_blockwidth(f) != util_format_get_blockwidth(rf) ||
      util_format_get_blockheight(f) != util_format_get_blockheight(rf)) {
    return reject_("%s: format %s does not have the block size of resource #%u's %s", record,
                   util_format_short_name(f), id, util_format_short_name(rf));
  }
  out = f;
  return {};
}

// --- contexts ------------------------------------------------------------------

pipe_context* GalliumExecutor::utility_context() {
  if (!utility_) utility_ = create_pipe(0);
  return utility_;
}

pipe_context* GalliumExecutor::create_pipe(unsigned flags) {
  if (config_.context_pool) return config_.context_pool->take(flags);
  return screen_->context_create(screen_, nullptr, flags);
}

void GalliumExecutor::retire_pipe(pipe_context* pipe, unsigned flags) {
  if (config_.context_pool) {
    config_.context_pool->give(pipe, flags);
  } else {
    pipe->destroy(pipe);
  }
}

bool GalliumExecutor::empty_vertex_buffers(pipe_vertex_buffer* vbs, unsigned n) {
  for (unsigned i = 0; i < n; ++i) {
    if (vbs[i].buffer.resource || vbs[i].is_user_buffer) continue;
    if (!empty_vertex_buffer_) {
      pipe_resource templ{};
      templ.target = PIPE_BUFFER;
      templ.format = PIPE_FORMAT_R8_UNORM;
      templ.width0 = 4096;  // past any vertex element's src_offset plus its format
      templ.height0 = templ.depth0 = templ.array_size = 1;
      templ.bind = PIPE_BIND_VERTEX_BUFFER;
      empty_vertex_buffer_ = screen_->resource_create(screen_, &templ);
      if (!empty_vertex_buffer_) return false;
      if (!zero_fill(empty_vertex_buffer_)) {
        pipe_resource_reference(&empty_vertex_buffer_, nullptr);
        return false;
      }
    }
    vbs[i].buffer.resource = empty_vertex_buffer_;
    vbs[i].stride = 0;
    vbs[i].buffer_offset = 0;
  }
  return true;
}

void GalliumExecutor::settle_other_contexts(pipe_context* except) {
  std::vector<std::pair<pipe_context*, pipe_fence_handle*>> fences;
  for (auto& [id, c] : contexts_) {
    if (c->pipe == except) continue;
    pipe_fence_handle* fence = nullptr;
    c->pipe->flush(c->pipe, &fence, 0);
    if (fence) fences.emplace_back(c->pipe, fence);
  }
  wait_for_fences(fences);
}

void GalliumExecutor::wait_for_fences(std::vector<std::pair<pipe_context*, pipe_fence_handle*>>& fences) {
  if (fences.empty()) return;
  // This guest's own work, however long it runs, must not hold the driver
  // lock from every other guest and from composition meanwhile.
  session_.wait_unlocked([&] {
    for (auto& [pipe, f] : fences) screen_->fence_finish(screen_, pipe, f, PIPE_TIMEOUT_INFINITE);
  });
  for (auto& [pipe, f] : fences) screen_->fence_reference(screen_, &f, nullptr);
  fences.clear();
}

proto::DecodeError GalliumExecutor::handle(const proto::ContextCreate& r) {
  constexpr unsigned kMaxContexts = 16;  // each host context costs megabytes and a JIT
  constexpr uint32_t kKnownFlags = PIPE_CONTEXT_COMPUTE_ONLY | PIPE_CONTEXT_DEBUG | PIPE_CONTEXT_ROBUST_BUFFER_ACCESS |
                                   PIPE_CONTEXT_PREFER_THREADED | PIPE_CONTEXT_HIGH_PRIORITY |
                                   PIPE_CONTEXT_LOW_PRIORITY | PIPE_CONTEXT_LOSE_CONTEXT_ON_RESET;
  if (auto e = objects_.check_free(r.id, ObjectKind::Context); !e.ok()) return e;
  if (r.flags & ~kKnownFlags) return reject_("context_create: flags 0x%x include unknown or unsupported bits", r.flags);
  if (contexts_.size() >= kMaxContexts) return reject_("context_create: a guest may hold at most %u contexts", kMaxContexts);
  // The host never runs a threaded context (records already arrive on their own
  // thread), nor a compute-only one: some drivers leave its graphics entry points unset.
  const unsigned flags = r.flags & ~(PIPE_CONTEXT_PREFER_THREADED | PIPE_CONTEXT_COMPUTE_ONLY);
  pipe_context* pipe = create_pipe(flags);
  if (!pipe) return reject_("context_create: the host driver could not create context #%u", r.id);
  auto ctx = std::make_unique<ContextState>();
  ctx->id = r.id;
  ctx->pipe = pipe;
  ctx->flags = flags;
  pipe_sampler_state plain{};
  plain.min_mip_filter = PIPE_TEX_MIPFILTER_NONE;
  ctx->default_sampler = pipe->create_sampler_state(pipe, &plain);
  for (unsigned s = 0; s < PIPE_SHADER_TYPES; ++s) rebind_samplers(*ctx, s);
  // No slot is ever empty: a vertex element may name any of them.
  std::array<pipe_vertex_buffer, PIPE_MAX_ATTRIBS> empty{};
  if (!empty_vertex_buffers(empty.data(), limits_.vertex_buffers)) {
    forget_default_sampler(*ctx);
    retire_pipe(pipe, flags);
    return reject_("context_create: the host driver could not create a vertex buffer");
  }
  pipe->set_vertex_buffers(pipe, 0, limits_.vertex_buffers, 0, false, empty.data());
  HostObject obj;
  obj.kind = ObjectKind::Context;
  obj.ptr = ctx.get();
  obj.ctx = pipe;
  obj.owner = r.id;
  if (auto e = add_object(r.id, obj); !e.ok()) {
    // The empty vertex buffers stay bound: unbind them as a destroyed context would be.
    pipe->set_vertex_buffers(pipe, 0, 0, PIPE_MAX_ATTRIBS, false, nullptr);
    forget_default_sampler(*ctx);
    retire_pipe(pipe, flags);
    return e;
  }
  contexts_[r.id] = std::move(ctx);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::ContextUse& r) {
  HostObject* o = nullptr;
  if (auto e = objects_.get(r.id, ObjectKind::Context, o, "context_use"); !e.ok()) return e;
  current_ = static_cast<ContextState*>(o->ptr);
  return {};
}

void GalliumExecutor::unbind_everything(ContextState& c) {
  pipe_context* p = c.pipe;
  if (c.render_condition && p->render_condition) p->render_condition(p, nullptr, false, PIPE_RENDER_COND_WAIT);
  c.render_condition = 0;
  // Queries still running are ended: the driver keeps active queries in lists.
  for (uint32_t qid : objects_.ids_where([&](uint32_t, const HostObject& o) {
         return o.kind == ObjectKind::Query && o.owner == c.id && o.query_active && !o.orphaned;
       })) {
    HostObject* q = objects_.find(qid);
    p->end_query(p, static_cast<pipe_query*>(q->ptr));
    q->query_active = false;
  }
  c.active_queries = 0;

  pipe_framebuffer_state fb{};
  p->set_framebuffer_state(p, &fb);
  c.fb_cbuf_mask = 0;
  c.fb_zs = false;
  c.fb_layers = ~0u;
  if (c.bound[unsigned(proto::BindSlot::Blend)]) p->bind_blend_state(p, nullptr);
  if (c.bound[unsigned(proto::BindSlot::DepthStencilAlpha)]) p->bind_depth_stencil_alpha_state(p, nullptr);
  if (c.bound[unsigned(proto::BindSlot::Rasterizer)]) p->bind_rasterizer_state(p, nullptr);
  if (c.bound[unsigned(proto::BindSlot::VertexElements)]) p->bind_vertex_elements_state(p, nullptr);
  for (unsigned s = 0; s < PIPE_SHADER_TYPES; ++s) {
    if (c.bound[unsigned(proto::BindSlot::ShaderBase) + s]) bind_shader(p, s, nullptr);
  }
  c.bound.fill(0);
  for (unsigned s = 0; s < PIPE_SHADER_TYPES; ++s) {
    bool any = false;
    for (uint32_t id : c.samplers[s]) any |= id != 0;
    c.samplers[s].fill(0);
    if (any) rebind_samplers(c, s);
    const auto stage = static_cast<pipe_shader_type>(s);
    if (const unsigned n = limits_.stage[s].sampler_views) {
      std::array<pipe_sampler_view*, PIPE_MAX_SHADER_SAMPLER_VIEWS> none{};
      set_sampler_views(p, s, 0, n, none.data());
    }
    if (s == PIPE_SHADER_FRAGMENT) c.fragment_views.reset();
    if (const unsigned n = limits_.stage[s].images;
        n && p->set_shader_images)
      p->set_shader_images(p, stage, 0, 0, n, nullptr);
    if (const unsigned n = limits_.stage[s].buffers;
        n && p->set_shader_buffers)
      p->set_shader_buffers(p, stage, 0, n, nullptr, 0);
    const unsigned ncb = limits_.stage[s].const_buffers;
    for (unsigned i = 0; i < ncb; ++i) p->set_constant_buffer(p, stage, i, false, nullptr);
    for (auto& v : c.user_constants[s]) std::vector<uint8_t>().swap(v);
    c.constant_bytes[s].fill(0);
    c.constant_source[s].fill({});
  }
  p->set_vertex_buffers(p, 0, 0, PIPE_MAX_ATTRIBS, false, nullptr);
  if (p->set_stream_output_targets) p->set_stream_output_targets(p, 0, nullptr, nullptr);
}

void GalliumExecutor::rebind_samplers(ContextState& c, unsigned stage) {
  const unsigned n = std::min(shader_cap(stage, PIPE_SHADER_CAP_MAX_TEXTURE_SAMPLERS), unsigned(PIPE_MAX_SAMPLERS));
  if (!n) return;
  std::array<void*, PIPE_MAX_SAMPLERS> handles{};
  for (unsigned i = 0; i < n; ++i) {
    const HostObject* o = c.samplers[stage][i] ? objects_.find(c.samplers[stage][i]) : nullptr;
    handles[i] = o && o->ptr ? o->ptr : c.default_sampler;
  }
  c.pipe->bind_sampler_states(c.pipe, static_cast<pipe_shader_type>(stage), 0, n, handles.data());
}

void GalliumExecutor::release(uint32_t id, HostObject& o) {
  if (o.orphaned || !o.ptr) return;
  ContextState* owner = nullptr;
  if (o.owner) {
    auto it = contexts_.find(o.owner);
    owner = it == contexts_.end() ? nullptr : it->second.get();
  }
  pipe_context* p = o.ctx;
  switch (o.kind) {
    case ObjectKind::Resource: {
      auto* res = static_cast<pipe_resource*>(o.ptr);
      pipe_resource_reference(&res, nullptr);
      forget_arena_buffer(id);
      break;
    }
    case ObjectKind::Surface: {
      auto* s = static_cast<pipe_surface*>(o.ptr);
      pipe_surface_reference(&s, nullptr);
      break;
    }
    case ObjectKind::SamplerView: {
      auto* v = static_cast<pipe_sampler_view*>(o.ptr);
      pipe_sampler_view_reference(&v, nullptr);
      break;
    }
    case ObjectKind::SoTarget: {
      auto* t = static_cast<pipe_stream_output_target*>(o.ptr);
      pipe_so_target_reference(&t, nullptr);
      break;
    }
    case ObjectKind::Blend:
    case ObjectKind::DepthStencilAlpha:
    case ObjectKind::Rasterizer:
    case ObjectKind::VertexElements:
    case ObjectKind::Shader: {
      // Gallium forbids deleting bound state: unbind it first.
      const unsigned slot = o.kind == ObjectKind::Shader ? unsigned(proto::BindSlot::ShaderBase) + o.stage
                            : o.kind == ObjectKind::Blend ? unsigned(proto::BindSlot::Blend)
                            : o.kind == ObjectKind::DepthStencilAlpha ? unsigned(proto::BindSlot::DepthStencilAlpha)
                            : o.kind == ObjectKind::Rasterizer ? unsigned(proto::BindSlot::Rasterizer)
                                                               : unsigned(proto::BindSlot::VertexElements);
      if (owner && owner->bound[slot] == id) {
        bind_slot(p, slot, nullptr);
        owner->bound[slot] = 0;
      }
      delete_slot_object(p, slot, o.ptr);
      break;
    }
    case ObjectKind::Sampler: {
      if (owner) {
        for (unsigned s = 0; s < PIPE_SHADER_TYPES; ++s) {
          bool bound = false;
          for (uint32_t& sid : owner->samplers[s]) {
            if (sid == id) sid = 0, bound = true;
          }
          if (bound) rebind_samplers(*owner, s);
        }
      }
      p->delete_sampler_state(p, o.ptr);
      break;
    }
    case ObjectKind::Query: {
      auto* q = static_cast<pipe_query*>(o.ptr);
      if (o.query_active) {
        p->end_query(p, q);
        o.query_active = false;
        if (owner && owner->active_queries) owner->active_queries--;
      }
      if (owner && owner->render_condition == id) {
        p->render_condition(p, nullptr, false, PIPE_RENDER_COND_WAIT);
        owner->render_condition = 0;
      }
      p->destroy_query(p, q);
      break;
    }
    case ObjectKind::Fence: {
      auto* f = static_cast<pipe_fence_handle*>(o.ptr);
      screen_->fence_reference(screen_, &f, nullptr);
      break;
    }
    case ObjectKind::Context:
    case ObjectKind::None:
    case ObjectKind::Count:
      break;
  }
  o.ptr = nullptr;
}

namespace {
// Order in which a context's (or a guest's) objects are freed: views that
// reference resources first, then state objects, queries, fences, resources.
constexpr ObjectKind kReleaseOrder[] = {
    ObjectKind::Surface,    ObjectKind::SamplerView,    ObjectKind::SoTarget,
    ObjectKind::Blend,      ObjectKind::DepthStencilAlpha, ObjectKind::Rasterizer,
    ObjectKind::Sampler,    ObjectKind::VertexElements, ObjectKind::Shader,
    ObjectKind::Query,      ObjectKind::Fence,          ObjectKind::Resource,
};
}  // namespace

void GalliumExecutor::destroy_context(uint32_t id, ContextState& c) {
  unbind_everything(c);
  // A copying arena's buffers forget the context (its queue is flushed as it goes).
  for (auto& [bid, b] : arena_.copied) {
    if (b.uploaded_on == c.pipe) {
      c.pipe->flush(c.pipe, nullptr, 0);
      b.uploaded_on = nullptr;
    }
    if (b.writer == c.pipe) b.writer = nullptr;
  }
  // The context's objects die with it; their ids stay reserved (orphaned)
  // until the guest destroys them, so a late use gets a clear rejection.
  // Fences and resources belong to the screen and live on.
  for (ObjectKind kind : kReleaseOrder) {
    if (kind == ObjectKind::Fence || kind == ObjectKind::Resource) continue;
    for (uint32_t oid : objects_.ids_where([&](uint32_t, const HostObject& o) {
           return o.kind == kind && o.owner == id && !o.orphaned;
         })) {
      HostObject* o = objects_.find(oid);
      release(oid, *o);
      o->orphaned = true;
    }
  }
  forget_default_sampler(c);
  retire_pipe(c.pipe, c.flags);
  c.pipe = nullptr;
  if (current_ == &c) current_ = nullptr;
}

void GalliumExecutor::forget_default_sampler(ContextState& c) {
  if (!c.default_sampler) return;
  std::array<void*, PIPE_MAX_SAMPLERS> none{};
  for (unsigned s = 0; s < PIPE_SHADER_TYPES; ++s) {
    const unsigned n = std::min(shader_cap(s, PIPE_SHADER_CAP_MAX_TEXTURE_SAMPLERS), unsigned(PIPE_MAX_SAMPLERS));
    if (n) c.pipe->bind_sampler_states(c.pipe, static_cast<pipe_shader_type>(s), 0, n, none.data());
  }
  c.pipe->delete_sampler_state(c.pipe, c.default_sampler);
  c.default_sampler = nullptr;
}

proto::DecodeError GalliumExecutor::handle(const proto::ObjectDestroy& r) {
  const auto kind = static_cast<ObjectKind>(r.kind);
  if (kind == ObjectKind::None || kind >= ObjectKind::Count) {
    return reject_("object_destroy: kind %u is not an object kind", unsigned(r.kind));
  }
  HostObject* o = objects_.find(r.id);
  if (!o) return reject_("object_destroy: unknown id #%u (expected a %s)", r.id, proto::object_kind_name(kind));
  if (o->kind != kind) {
    return reject_("object_destroy: %s #%u is a %s", proto::object_kind_name(kind), r.id,
                   proto::object_kind_name(o->kind));
  }
  if (kind == ObjectKind::Context) {
    auto it = contexts_.find(r.id);
    destroy_context(r.id, *it->second);
    objects_.erase(r.id);
    contexts_.erase(it);
    return {};
  }
  release(r.id, *o);
  objects_.erase(r.id);
  return {};
}

void GalliumExecutor::teardown() {
  if (torn_down_) return;
  torn_down_ = true;
  const size_t count = objects_.count();
  const uint64_t bytes = objects_.bytes();
  for (auto& [id, c] : contexts_) unbind_everything(*c);
  for (ObjectKind kind : kReleaseOrder) {
    for (uint32_t id : objects_.ids_where([&](uint32_t, const HostObject& o) { return o.kind == kind; })) {
      release(id, *objects_.find(id));
      objects_.erase(id);
    }
  }
  for (auto& [id, c] : contexts_) {
    forget_default_sampler(*c);
    retire_pipe(c->pipe, c->flags);
    objects_.erase(id);
  }
  contexts_.clear();
  current_ = nullptr;
  pipe_resource_reference(&present_resolve_, nullptr);
  pipe_resource_reference(&empty_vertex_buffer_, nullptr);
  if (utility_) retire_pipe(utility_, 0);
  utility_ = nullptr;
  // Last: every buffer in it is gone, and no context is left to read it.
  close_arena();
  GlobalObjectStats::guests -= 1;
  uint64_t presented = 0;
  for (const auto& [window, n] : presents_) presented += n;
  // Connections that only asked questions (stats, caps) have nothing worth a line.
  log(count ? LogLevel::Info : LogLevel::Debug, "guest %u: freed %zu objects (%llu bytes); presented %llu frames",
          config_.connection_id, count, static_cast<unsigned long long>(bytes),
          static_cast<unsigned long long>(presented));
}

// --- screen records ------------------------------------------------------------

proto::DecodeError GalliumExecutor::handle(const proto::GetCaps&) {
  send_host_data(session_, &caps_, sizeof caps_);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::GetTimestamp&) {
  proto::Timestamp t;
  t.ns = screen_->get_timestamp ? screen_->get_timestamp(screen_) : 0;
  session_.reply(t);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::GetSamplePositions&) {
  std::array<proto::SamplePosition, 31> positions;
  pipe_context* p = utility_context();
  size_t n = 0;
  for (unsigned count = 1; count <= 16; count *= 2) {
    for (unsigned i = 0; i < count; ++i, ++n) {
      // llvmpipe names only 4x positions and leaves the rest alone.
      float v[2] = {0.5f, 0.5f};
      if (p && p->get_sample_position) p->get_sample_position(p, count, i, v);
      positions[n].x = std::clamp(v[0], 0.0f, 1.0f);
      positions[n].y = std::clamp(v[1], 0.0f, 1.0f);
    }
  }
  proto::SamplePositions answer;
  answer.positions = proto::TailView<proto::SamplePosition>(std::span<const proto::SamplePosition>(positions));
  session_.reply(answer);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::HostStats&) {
  proto::Stats s;
  s.guests = GlobalObjectStats::guests.load();
  s.connection_objects = static_cast<uint32_t>(objects_.count());
  s.total_objects = GlobalObjectStats::objects.load();
  s.connection_bytes = objects_.bytes();
  s.total_bytes = GlobalObjectStats::bytes.load();
  session_.reply(s);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::FenceFinish& r) {
  HostObject* o = nullptr;
  if (auto e = objects_.get(r.fence, ObjectKind::Fence, o, "fence_finish"); !e.ok()) return e;
  constexpr uint64_t kMaxWaitNs = 10ull * 1000 * 1000 * 1000;  // a guest cannot park its thread for longer
  proto::FenceStatus st;
  st.signalled = true;
  if (o->ptr) {
    // Pass the creating context while it lives: deferred flushes need it.
    pipe_context* ctx = nullptr;
    if (auto it = contexts_.find(o->owner); it != contexts_.end()) ctx = it->second->pipe;
    st.signalled = screen_->fence_finish(screen_, ctx, static_cast<pipe_fence_handle*>(o->ptr),
                                         std::min(r.timeout_ns, kMaxWaitNs));
  }
  // A copying arena: what host work wrote into its buffers is the guest's
  // to read once a fence it waits for has signalled (coherent maps).
  if (st.signalled) copy_arena_out(nullptr);
  session_.reply(st);
  return {};
}

}  // namespace xen3d::host
