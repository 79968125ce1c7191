// GalliumExecutor: queries, conditional rendering and query state.
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
  copy_arena_in(ctx->pipe);
  ctx->pipe->get_query_result_resource(ctx->pipe, static_cast<pipe_query*>(o->ptr),
                                       static_cast<pipe_query_flags>(r.flags),
                                       static_cast<pipe_query_value_type>(r.result_type), r.index, res, r.offset);
  arena_written(res, ctx->pipe);
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

}  // namespace xen3d::host
