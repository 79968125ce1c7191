// Transfers. A write map hands Mesa memory in the shared bulk heap, so the
// bytes the app writes are already where the host reads them on unmap (no
// extra copy). A read map is one synchronous round trip. A write map that may
// keep bytes the app does not overwrite needs the old contents first, unless
// the guest knows the host holds only zeroes there (nothing ever wrote it).
#include <algorithm>
#include <cstring>
#include <new>

#include "guest/pipe-remote/remote_arena.h"
#include "guest/pipe-remote/remote_context.h"
#include "guest/pipe-remote/remote_objects.h"
#include "util/format/u_format.h"
#include "util/u_inlines.h"

namespace xen3d::guest {
namespace {

proto::Box wire_box(const pipe_box& b) { return {b.x, b.y, b.z, b.width, b.height, b.depth}; }

// Packed layout of `box` in `format`: what transfer_read sends and what our maps use.
struct Layout {
  unsigned stride = 0;
  uintptr_t layer_stride = 0;
  size_t size = 0;
};

Layout packed_layout(const pipe_resource* res, const pipe_box& box) {
  Layout l;
  if (res->target == PIPE_BUFFER) {
    l.stride = box.width;
    l.layer_stride = box.width;
    l.size = box.width;
    return l;
  }
  l.stride = util_format_get_stride(res->format, box.width);
  l.layer_stride = util_format_get_2d_size(res->format, l.stride, box.height);
  l.size = l.layer_stride * box.depth;
  return l;
}

bool may_hold_data(pipe_resource* res, const pipe_box& box) {
  RemoteResource* r = remote(res);
  if (res->target == PIPE_BUFFER) return util_ranges_intersect(&r->valid, box.x, box.x + box.width);
  return r->written;
}

void send_write(RemoteContext* c, pipe_resource* res, unsigned level, const pipe_box& box, unsigned stride,
                uintptr_t layer_stride, const proto::BulkSpan& span, uint32_t offset, uint32_t size) {
  proto::TransferWrite r;
  r.resource = id_of(res);
  r.level = level;
  r.box = wire_box(box);
  r.stride = stride;
  r.layer_stride = uint32_t(layer_stride);
  r.data.pos = span.pos + offset;
  r.data.size = size;
  c->dev->session().send(r);
}

// Calls fn(sub_box, src, src_stride, src_layer_stride) for pieces of `box`
// whose packed bytes each fit `max` (at least one block): whole layers when
// they fit, else bands of block rows, else slices of one row.
template <class Fn>
void for_each_piece(const pipe_resource* res, const pipe_box& box, const uint8_t* data, unsigned stride,
                    uintptr_t layer_stride, size_t max, Fn&& fn) {
  if (res->target == PIPE_BUFFER) {
    for (int off = 0; off < box.width;) {
      const int n = int(std::min<size_t>(size_t(box.width - off), max));
      pipe_box b = box;
      b.x += off;
      b.width = n;
      fn(b, data + off, unsigned(n), uintptr_t(n));
      off += n;
    }
    return;
  }
  const Layout whole = packed_layout(res, box);
  const unsigned bw = util_format_get_blockwidth(res->format), bh = util_format_get_blockheight(res->format);
  const unsigned bsize = util_format_get_blocksize(res->format);
  const unsigned rows = util_format_get_nblocksy(res->format, box.height);
  const unsigned blocks = util_format_get_nblocksx(res->format, box.width);
  if (whole.layer_stride && whole.layer_stride <= max) {
    const int per = int(std::min<uintptr_t>(max / whole.layer_stride, uintptr_t(box.depth)));
    for (int z = 0; z < box.depth; z += per) {
      pipe_box b = box;
      b.z = box.z + z;
      b.depth = std::min(per, box.depth - z);
      fn(b, data + size_t(z) * layer_stride, stride, layer_stride);
    }
    return;
  }
  // `n` block rows from block row `y` of layer `z`.
  auto band = [&](int z, unsigned y, unsigned n) {
    pipe_box b = box;
    b.z = box.z + z;
    b.depth = 1;
    b.y = box.y + int(y * bh);
    b.height = int(std::min<unsigned>(n * bh, unsigned(box.y + box.height - b.y)));
    return b;
  };
  for (int z = 0; z < box.depth; ++z) {
    const uint8_t* layer = data + size_t(z) * layer_stride;
    if (whole.stride <= max) {
      const unsigned per = unsigned(max / whole.stride);
      for (unsigned y = 0; y < rows; y += per) {
        const unsigned n = std::min(per, rows - y);
        fn(band(z, y, n), layer + size_t(y) * stride, stride, uintptr_t(stride) * n);
      }
      continue;
    }
    const unsigned per = std::max(1u, unsigned(max / bsize));
    for (unsigned y = 0; y < rows; ++y) {
      for (unsigned x = 0; x < blocks; x += per) {
        const unsigned n = std::min(per, blocks - x);
        pipe_box b = band(z, y, 1);
        b.x = box.x + int(x * bw);
        b.width = int(std::min<unsigned>(n * bw, unsigned(box.x + box.width - b.x)));
        fn(b, layer + size_t(y) * stride + size_t(x) * bsize, stride, uintptr_t(stride));
      }
    }
  }
}

// Copies `box` from rows `stride` apart (layers `layer_stride` apart) into `dst`, packed.
void pack(const pipe_resource* res, const pipe_box& box, const uint8_t* src, unsigned stride, uintptr_t layer_stride,
          const Layout& l, uint8_t* dst) {
  if (res->target == PIPE_BUFFER || (stride == l.stride && layer_stride == l.layer_stride)) {
    std::memcpy(dst, src, l.size);
    return;
  }
  const unsigned rows = util_format_get_nblocksy(res->format, box.height);
  for (int z = 0; z < box.depth; ++z) {
    for (unsigned y = 0; y < rows; ++y) {
      std::memcpy(dst + z * l.layer_stride + size_t(y) * l.stride, src + z * layer_stride + size_t(y) * stride, l.stride);
    }
  }
}

// Inline chunks when the heap cannot take the bytes: the record carries them.
void upload_inline(RemoteContext* c, pipe_resource* res, unsigned level, const pipe_box& box, const uint8_t* data,
                   unsigned stride, uintptr_t layer_stride) {
  proto::GuestSession& s = c->dev->session();
  proto::TransferWriteInline r;
  r.resource = id_of(res);
  r.level = level;
  std::vector<uint8_t> tmp;
  static_assert(proto::TransferWriteInline::kMaxData == proto::PayloadChunk::kMaxData);
  for_each_piece(res, box, data, stride, layer_stride, s.max_inline_bytes(),
                 [&](const pipe_box& b, const uint8_t* src, unsigned src_stride, uintptr_t src_layer_stride) {
                   const Layout l = packed_layout(res, b);
                   tmp.resize(l.size);
                   pack(res, b, src, src_stride, src_layer_stride, l, tmp.data());
                   r.box = wire_box(b);
                   r.stride = l.stride;
                   r.layer_stride = uint32_t(l.layer_stride);
                   r.data = proto::TailView<uint8_t>(std::span<const uint8_t>(tmp.data(), tmp.size()));
                   s.send(r);
                 });
  s.bulk_stats().inline_bytes += packed_layout(res, box).size;
}

// GL_MIN_MAP_BUFFER_ALIGNMENT, as the host states it (a power of two).
uintptr_t map_alignment(pipe_resource* res) {
  const int a = res->screen->get_param(res->screen, PIPE_CAP_MIN_MAP_BUFFER_ALIGNMENT);
  return a > 0 && !(a & (a - 1)) ? uintptr_t(a) : 1;
}

// Whether a map or write of an arena buffer goes in place: persistent maps
// must; unsynchronized ones and reads cost nothing more there; large writes
// trade a wait for the host for the copy through the bulk heap. Small
// synchronized writes keep that ordered, wait-free path.
bool in_place(pipe_resource* res, unsigned usage, unsigned size) {
  return remote(res)->arena_data &&
         ((usage & (PIPE_MAP_PERSISTENT | PIPE_MAP_UNSYNCHRONIZED | PIPE_MAP_READ)) || size >= BufferArena::kInPlaceBytes);
}

// Has the host finish the work queued on an arena buffer before the guest touches its bytes.
// A copying arena's host copies what its work wrote back only then: reads
// ask even when unsynchronized.
void wait_for_host(RemoteContext* c, RemoteResource* r, unsigned usage) {
  std::lock_guard<DeviceMutex> g(c->dev->lock());
  if (c->dev->lost()) return;
  const BufferArena* arena = c->screen->arena.get();
  if ((usage & PIPE_MAP_UNSYNCHRONIZED) && !(arena && arena->copies() && (usage & PIPE_MAP_READ))) return;
  proto::ResourceWait wait;
  wait.resource = r->id;
  proto::ResourceIdle idle;
  c->dev->session().call(wait, idle);
}

// Whether the host reads none of an arena buffer's bytes any more, so a big
// write or map may go in place with no wait and no move (arena_mark, 2.9):
// the host has carried out everything sent, and its driver read the buffer's
// vertex, index and indirect uses within those draws. A pinned buffer may
// still be read by work the driver queued (views, constant buffers, ...).
bool host_done_with(RemoteContext* c, RemoteResource* r, size_t bytes) {
  if (r->storage_pinned) return false;
  std::lock_guard<DeviceMutex> g(c->dev->lock());
  BufferArena* arena = c->screen->arena.get();
  return arena && !c->dev->lost() && arena->host_done(c->dev->session(), BufferArena::copy_us(bytes));
}

// After a big synchronized write in place, the next draw is followed by an
// arena_mark, so the write after it may find the host done.
void want_mark(RemoteContext* c, size_t bytes) {
  std::lock_guard<DeviceMutex> g(c->dev->lock());
  if (c->dev->lost()) return;
  if (BufferArena* arena = c->screen->arena.get()) arena->want_mark(bytes);
}

// A whole-buffer discard moves an arena buffer to fresh bytes when nothing
// but vertex buffer slots (which the host binds again) and per-draw records
// name it: the write then waits for nothing, where writing the old bytes
// waits for the host's last draw from them. As drivers rename a busy buffer.
bool move_to_fresh_bytes(RemoteContext* c, RemoteResource* r) {
  if (r->storage_pinned || r->arena_maps || (r->base.flags & PIPE_RESOURCE_FLAG_MAP_PERSISTENT)) return false;
  std::lock_guard<DeviceMutex> g(c->dev->lock());
  proto::GuestSession& s = c->dev->session();
  BufferArena* arena = c->screen->arena.get();
  uint32_t offset = 0;
  if (c->dev->lost() || s.info().host_minor < 7 || !arena || !arena->alloc(r->base.width0, offset, true)) return false;
  proto::ResourceRebase rec;
  rec.id = r->id;
  rec.offset = offset;
  s.send(rec);
  s.flush();  // the host finishes with the old bytes while we fill the new ones
  arena->free_moved(r->arena_offset);  // reused once the host has finished with it
  ++c->dev->arena_stats().moves;
  r->arena_offset = offset;
  r->arena_data = arena->data(offset);
  return true;
}

bool discards_whole(pipe_resource* res, unsigned usage, unsigned offset, unsigned size) {
  // As u_default_buffer_subdata: a write of all of it discards it unless PIPE_MAP_DIRECTLY.
  return (usage & PIPE_MAP_DISCARD_WHOLE_RESOURCE) ||
         (!(usage & PIPE_MAP_DIRECTLY) && offset == 0 && size == res->width0);
}

// An arena buffer's map in place: its span of the arena.
void* map_in_arena(RemoteContext* c, RemoteTransfer* t, unsigned usage) {
  RemoteResource* r = remote(t->base.resource);
  const bool synchronized = !(usage & PIPE_MAP_UNSYNCHRONIZED);
  if (synchronized &&
      (host_done_with(c, r, t->size) ||
       ((usage & PIPE_MAP_DISCARD_WHOLE_RESOURCE) && move_to_fresh_bytes(c, r)))) {
    usage |= PIPE_MAP_UNSYNCHRONIZED;
  }
  ++r->arena_maps;
  wait_for_host(c, r, usage);
  if (usage & PIPE_MAP_WRITE) {
    mark_written(t->base.resource, t->base.box.x, t->base.box.width);
    if (synchronized && t->size >= BufferArena::kInPlaceBytes) want_mark(c, t->size);
  }
  t->data = r->arena_data + t->base.box.x;
  return t->data;
}

void* map(pipe_context* ctx, pipe_resource* res, unsigned level, unsigned usage, const pipe_box* box,
          pipe_transfer** out) {
  RemoteContext* c = remote(ctx);
  auto* t = new (std::nothrow) RemoteTransfer{};
  if (!t) return nullptr;
  pipe_resource_reference(&t->base.resource, res);
  t->base.level = level;
  t->base.usage = pipe_map_flags(usage);
  t->base.box = *box;
  const Layout l = packed_layout(res, *box);
  t->base.stride = l.stride;
  t->base.layer_stride = unsigned(l.layer_stride);
  t->size = l.size;
  if (in_place(res, usage, unsigned(l.size))) {
    t->in_arena = true;
    *out = &t->base;
    return map_in_arena(c, t, usage);
  }

  const bool discard = usage & (PIPE_MAP_DISCARD_RANGE | PIPE_MAP_DISCARD_WHOLE_RESOURCE);
  const bool need_read = (usage & PIPE_MAP_READ) ||
                         (!discard && !(usage & PIPE_MAP_FLUSH_EXPLICIT) && may_hold_data(res, *box));

  std::lock_guard<DeviceMutex> g(c->dev->lock());
  proto::GuestSession& s = c->dev->session();
  const bool lost = c->dev->lost();
  // Write maps live in the heap (no copy on unmap) unless they may stay open
  // long (FLUSH_EXPLICIT: upload managers, streaming apps) or are large: an
  // open map holds every later byte of the heap until it is unmapped.
  const bool heap_map = (usage & PIPE_MAP_WRITE) && !(usage & PIPE_MAP_FLUSH_EXPLICIT) && l.size &&
                        l.size <= s.bulk_heap_size() / 4;
  const uintptr_t align = res->target == PIPE_BUFFER ? map_alignment(res) : 1;
  const size_t room = l.size + align - 1;
  if (heap_map && !lost) t->span = s.alloc_bulk(uint32_t(room));
  uint8_t* mem = t->span.data;
  if (!mem) {
    t->staging.reset(new (std::nothrow) uint8_t[std::max<size_t>(room, 1)]);
    if (!t->staging) {
      pipe_resource_reference(&t->base.resource, nullptr);
      delete t;
      return nullptr;
    }
    mem = t->staging.get();
  }
  t->skew = uint32_t((uintptr_t(box->x) - uintptr_t(mem)) & (align - 1));
  t->data = mem + t->skew;
  if (need_read && !lost) {
    c->dev->use_context(c->id);
    proto::TransferRead r;
    r.resource = id_of(res);
    r.level = level;
    r.box = wire_box(*box);
    if (!s.call_data(r, t->data, l.size)) std::memset(t->data, 0, l.size);
  } else if (!discard && !(usage & PIPE_MAP_FLUSH_EXPLICIT)) {
    // The host holds zeroes here; the bytes the app leaves alone must stay zero.
    std::memset(t->data, 0, l.size);
  }
  *out = &t->base;
  return t->data;
}

void flush_region(pipe_context*, pipe_transfer* transfer, const pipe_box* box) {
  auto* t = reinterpret_cast<RemoteTransfer*>(transfer);
  if (transfer->resource->target == PIPE_BUFFER) t->flushed.emplace_back(uint32_t(box->x), uint32_t(box->width));
  else t->flushed.emplace_back(0u, uint32_t(t->size));  // textures: send the whole map
}

void unmap(pipe_context* ctx, pipe_transfer* transfer) {
  RemoteContext* c = remote(ctx);
  auto* t = reinterpret_cast<RemoteTransfer*>(transfer);
  pipe_resource* res = transfer->resource;
  const pipe_box& box = transfer->box;
  if (t->in_arena) --remote(res)->arena_maps;
  if (!t->in_arena) {
    std::lock_guard<DeviceMutex> g(c->dev->lock());
    proto::GuestSession& s = c->dev->session();
    if ((transfer->usage & PIPE_MAP_WRITE) && !c->dev->lost()) {
      c->dev->use_context(c->id);
      std::vector<std::pair<uint32_t, uint32_t>> ranges;
      if (transfer->usage & PIPE_MAP_FLUSH_EXPLICIT) ranges = t->flushed;
      else ranges.emplace_back(0u, uint32_t(t->size));
      for (auto [off, len] : ranges) {
        if (!len || off >= t->size) continue;
        len = std::min<uint32_t>(len, uint32_t(t->size - off));
        pipe_box b = box;
        if (res->target == PIPE_BUFFER) {
          b.x += int(off);
          b.width = int(len);
          mark_written(res, b.x, b.width);
        } else {
          remote(res)->written = true;
        }
        const unsigned stride = res->target == PIPE_BUFFER ? len : transfer->stride;
        const uintptr_t layer = res->target == PIPE_BUFFER ? len : transfer->layer_stride;
        if (t->span.data) send_write(c, res, transfer->level, b, stride, layer, t->span, t->skew + off, len);
        else remote_upload(c, res, transfer->level, b, t->data + off, stride, layer);
      }
    }
    if (t->span.data && !c->dev->lost()) s.bulk_done(t->span);  // a lost device leaves the heap alone
  }
  pipe_resource_reference(&t->base.resource, nullptr);
  delete t;
}

void buffer_subdata(pipe_context* ctx, pipe_resource* res, unsigned usage, unsigned offset, unsigned size,
                    const void* data) {
  RemoteContext* c = remote(ctx);
  pipe_box box;
  u_box_1d(offset, size, &box);
  mark_written(res, offset, size);
  if (in_place(res, usage & ~PIPE_MAP_READ, size)) {
    const bool synchronized = !(usage & PIPE_MAP_UNSYNCHRONIZED);
    if (synchronized &&
        (host_done_with(c, remote(res), size) ||
         (discards_whole(res, usage, offset, size) && move_to_fresh_bytes(c, remote(res))))) {
      usage |= PIPE_MAP_UNSYNCHRONIZED;
    }
    wait_for_host(c, remote(res), usage);
    std::memcpy(remote(res)->arena_data + offset, data, size);
    if (synchronized && size >= BufferArena::kInPlaceBytes) want_mark(c, size);
    return;
  }
  std::lock_guard<DeviceMutex> g(c->dev->lock());
  if (c->dev->lost() || !size) return;
  c->dev->use_context(c->id);
  remote_upload(c, res, 0, box, static_cast<const uint8_t*>(data), size, size);
}

void texture_subdata(pipe_context* ctx, pipe_resource* res, unsigned level, unsigned usage, const pipe_box* box,
                     const void* data, unsigned stride, unsigned layer_stride) {
  RemoteContext* c = remote(ctx);
  remote(res)->written = true;
  std::lock_guard<DeviceMutex> g(c->dev->lock());
  if (c->dev->lost()) return;
  c->dev->use_context(c->id);
  remote_upload(c, res, level, *box, static_cast<const uint8_t*>(data), stride, layer_stride);
}

}  // namespace

void remote_upload(RemoteContext* c, pipe_resource* res, unsigned level, const pipe_box& box, const uint8_t* data,
                   unsigned stride, uintptr_t layer_stride) {
  proto::GuestSession& s = c->dev->session();
  const size_t total = packed_layout(res, box).size;
  if (!total) return;
  s.bulk_stats().largest = std::max<uint64_t>(s.bulk_stats().largest, total);
  // Pieces of at most a quarter of the heap: an upload larger than the heap
  // streams through it while the host consumes the pieces before.
  const size_t piece = std::max<size_t>(s.bulk_heap_size() / 4, 4096);
  for_each_piece(res, box, data, stride, layer_stride, piece,
                 [&](const pipe_box& b, const uint8_t* src, unsigned src_stride, uintptr_t src_layer_stride) {
                   const Layout l = packed_layout(res, b);
                   proto::BulkSpan span;
                   if (l.size <= s.max_bulk()) span = s.alloc_bulk(uint32_t(l.size));
                   if (!span.data) {  // an open map holds the heap (or the session is lost)
                     if (s.alive()) upload_inline(c, res, level, b, src, src_stride, src_layer_stride);
                     return;
                   }
                   pack(res, b, src, src_stride, src_layer_stride, l, span.data);
                   send_write(c, res, level, b, l.stride, l.layer_stride, span, 0, uint32_t(l.size));
                   s.bulk_done(span);
                 });
}

void remote_init_transfer_functions(pipe_context* p) {
  p->buffer_map = map;
  p->texture_map = map;
  p->transfer_flush_region = flush_region;
  p->buffer_unmap = unmap;
  p->texture_unmap = unmap;
  p->buffer_subdata = buffer_subdata;
  p->texture_subdata = texture_subdata;
}

}  // namespace xen3d::guest
