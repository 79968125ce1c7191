// Resources: created and destroyed by id. Their storage lives only on the
// host; the guest keeps the template and what it knows about their contents.
#include <new>

#include "guest/pipe-remote/remote_objects.h"
#include "guest/pipe-remote/remote_screen.h"
#include "util/u_inlines.h"

namespace xen3d::guest {
namespace {

pipe_resource* resource_create(pipe_screen* s, const pipe_resource* templ) {
  RemoteDevice& dev = *remote(s)->dev;
  auto* r = new (std::nothrow) RemoteResource{};
  if (!r) return nullptr;
  r->base = *templ;
  pipe_reference_init(&r->base.reference, 1);
  r->base.screen = s;
  r->base.next = nullptr;
  r->id = dev.new_id();
  util_range_init(&r->valid);
  r->written = false;

  BufferArena* arena = remote(s)->arena.get();
  const bool persistent = templ->flags & PIPE_RESOURCE_FLAG_MAP_PERSISTENT;
  std::unique_lock<DeviceMutex> g(dev.lock());
  // A lost device leaves the arena alone: a re-entered lock may have cut into its bookkeeping.
  if (dev.lost()) arena = nullptr;
  if (templ->target == PIPE_BUFFER && arena && !persistent && !arena->copies() &&
      BufferArena::suits(templ->usage, templ->width0) &&
      arena->alloc(templ->width0, r->arena_offset, true)) {
    r->arena_data = arena->data(r->arena_offset);
  }
  if (templ->target == PIPE_BUFFER && persistent) {
    // st/mesa asks for persistent buffers only when the arena exists (PIPE_CAP_BUFFER_MAP_PERSISTENT_COHERENT).
    if (!arena || !arena->alloc(templ->width0, r->arena_offset)) {
      if (!dev.lost()) {
        guest_log(true, "no room for a persistent buffer of %u bytes in the %u MiB arena (XEN3D_ARENA_MIB)",
                  templ->width0, arena ? arena->size() >> 20 : 0);
      }
      util_range_destroy(&r->valid);
      delete r;
      return nullptr;
    }
    r->arena_data = arena->data(r->arena_offset);
  }
  if (r->arena_data) {
    proto::ResourceCreateInArena rec;
    rec.id = r->id;
    rec.width = templ->width0;
    rec.offset = r->arena_offset;
    rec.format = templ->format;
    rec.usage = templ->usage;
    rec.bind = templ->bind;
    rec.flags = templ->flags;
    dev.session().send(rec);
    return &r->base;
  }
  proto::ResourceCreate rec;
  rec.id = r->id;
  rec.width = templ->width0;
  rec.height = templ->height0;
  rec.depth = templ->depth0;
  rec.array_size = templ->array_size;
  rec.format = templ->format;
  rec.target = templ->target;
  rec.last_level = templ->last_level;
  rec.nr_samples = templ->nr_samples;
  rec.nr_storage_samples = templ->nr_storage_samples;
  rec.usage = templ->usage;
  rec.bind = templ->bind;
  rec.flags = templ->flags;
  dev.session().send(rec);
  return &r->base;
}

void resource_destroy(pipe_screen* s, pipe_resource* res) {
  RemoteDevice& dev = *remote(s)->dev;
  RemoteResource* r = remote(res);
  if (r->frame == RemoteResource::Frame::Shared) remote(s)->sink->forget_shared(r->id);
  {
    proto::ObjectDestroy rec;
    rec.id = r->id;
    rec.kind = uint8_t(proto::ObjectKind::Resource);
    std::lock_guard<DeviceMutex> g(dev.lock());
    if (!dev.lost()) {
      dev.session().send(rec);
      if (r->arena_data) remote(s)->arena->free(r->arena_offset);
    }
  }
  util_range_destroy(&r->valid);
  delete r;
}

bool resource_get_handle(pipe_screen*, pipe_context*, pipe_resource*, winsys_handle*, unsigned) {
  return false;  // host storage cannot be shared with other guest processes
}

}  // namespace

void remote_init_resource_functions(pipe_screen* s) {
  s->resource_create = resource_create;
  s->resource_destroy = resource_destroy;
  s->resource_get_handle = resource_get_handle;
}

}  // namespace xen3d::guest
