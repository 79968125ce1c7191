// The guest-side shadows of Gallium objects: each is the Gallium struct Mesa
// expects plus the id the host knows it by. CSOs and shaders need no shadow:
// the void* Mesa holds for them *is* the id.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "pipe/p_state.h"
#include "proto/gallium_ids.h"
#include "proto/ring.h"
#include "util/u_range.h"

namespace xen3d::guest {

class RemoteDevice;

struct RemoteResource {
  pipe_resource base;
  uint32_t id;
  // Buffers: bytes that may hold non-zero data on the host. A write map that
  // does not overlap it needs no readback (the host zero-fills new resources).
  util_range valid;
  // Textures: anything may have written it (uploads, rendering, copies).
  bool written;
  // Window buffers: whether the guest's X server shows this resource's host
  // memory directly (frame_share), not asked yet, or refused.
  enum class Frame : uint8_t { Unasked, Shared, Refused } frame;
  // Persistent buffers: their storage in the arena (null: on the host only).
  uint8_t* arena_data;
  uint32_t arena_offset;
  // Arena buffers: whether something the host keeps holds the storage itself
  // (a view, surface or stream-output target, an image, shader or constant
  // buffer binding), and how many maps are open in place. Either keeps a
  // whole-buffer discard from moving the buffer to fresh bytes (resource_rebase).
  bool storage_pinned;
  uint16_t arena_maps;
};

struct RemoteSurface {
  pipe_surface base;
  uint32_t id;
};

struct RemoteSamplerView {
  pipe_sampler_view base;
  uint32_t id;
};

struct RemoteSoTarget {
  pipe_stream_output_target base;
  uint32_t id;
};

struct RemoteQuery {
  uint32_t id;
  unsigned type;
};

struct RemoteFence {
  pipe_reference reference;
  uint32_t id;
  bool signalled;
};

// A mapping handed to Mesa. Write maps point straight into the shared bulk
// heap (`span`) whenever it can hold them; otherwise into `staging`.
struct RemoteTransfer {
  pipe_transfer base;
  proto::BulkSpan span;
  std::unique_ptr<uint8_t[]> staging;  // not zero-filled: map() fills what may be read
  uint8_t* data;
  size_t size;
  // Where `data` starts in `span` or `staging`: buffer maps keep GL's
  // GL_MIN_MAP_BUFFER_ALIGNMENT (the pointer to byte x is x modulo it).
  uint32_t skew;
  bool in_arena;  // the map is the buffer's own bytes in the arena: nothing to send
  // PIPE_MAP_FLUSH_EXPLICIT: only these byte ranges (of the mapping) go back.
  std::vector<std::pair<uint32_t, uint32_t>> flushed;
};

inline RemoteResource* remote(pipe_resource* r) { return reinterpret_cast<RemoteResource*>(r); }
inline uint32_t id_of(pipe_resource* r) { return r ? remote(r)->id : 0; }
inline uint32_t id_of(pipe_surface* s) { return s ? reinterpret_cast<RemoteSurface*>(s)->id : 0; }
inline uint32_t id_of(pipe_sampler_view* v) { return v ? reinterpret_cast<RemoteSamplerView*>(v)->id : 0; }
inline uint32_t id_of(pipe_stream_output_target* t) { return t ? reinterpret_cast<RemoteSoTarget*>(t)->id : 0; }
// CSOs and shaders: Mesa's handle is the id itself.
inline void* handle_of(uint32_t id) { return reinterpret_cast<void*>(static_cast<uintptr_t>(id)); }
inline uint32_t id_of_handle(void* h) { return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(h)); }

// Marks what the host side of a resource may now contain.
inline void mark_written(pipe_resource* r, unsigned offset, unsigned size) {
  if (!r) return;
  RemoteResource* rr = remote(r);
  if (r->target == PIPE_BUFFER) util_range_add(r, &rr->valid, offset, offset + size);
  else rr->written = true;
}
inline void mark_all_written(pipe_resource* r) {
  if (r) mark_written(r, 0, r->width0);
}
inline void pin_storage(pipe_resource* r) {
  if (r) remote(r)->storage_pinned = true;
}

}  // namespace xen3d::guest
