// The remoting pipe_context: every entry point becomes a record in the
// device's command ring. Nothing here waits for the host except the calls
// that must return host data (query results, fences, read maps).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "guest/pipe-remote/remote_device.h"
#include "guest/pipe-remote/remote_screen.h"
#include "pipe/p_context.h"
#include "pipe/p_state.h"
#include "proto/commands.gen.h"

namespace xen3d::guest {

struct RemoteContext {
  pipe_context base;
  RemoteScreen* screen;
  RemoteDevice* dev;
  uint32_t id;
  pipe_device_reset_callback reset_callback;
  bool reset_reported;
  std::vector<proto::DrawRange> draw_ranges;  // reused encode buffers
  std::vector<uint32_t> ids;
  // Constants too big for a record, uploaded into a buffer that must live
  // while bound (st/mesa handed us user memory and keeps no buffer itself).
  std::array<std::array<pipe_resource*, PIPE_MAX_CONSTANT_BUFFERS>, PIPE_SHADER_TYPES> uploaded_constants{};
};

inline RemoteContext* remote(pipe_context* c) { return reinterpret_cast<RemoteContext*>(c); }

// Queues a record on this context's behalf (switching the host's current
// context when another one spoke last). Returns false once the connection is lost.
template <class R>
bool emit(RemoteContext* c, const R& r) {
  std::lock_guard<DeviceMutex> g(c->dev->lock());
  if (c->dev->lost()) return false;
  c->dev->use_context(c->id);
  return c->dev->session().send(r);
}

// remote_transfer.cpp: maps, unmaps and subdata.
void remote_init_transfer_functions(pipe_context* ctx);
// Writes `box` of `res` level `level` from `data` (rows at `stride`, layers at
// `layer_stride`) through the bulk heap, or inline chunks when the heap is held.
// Caller holds the device lock and has made this context current.
void remote_upload(RemoteContext* c, pipe_resource* res, unsigned level, const pipe_box& box, const uint8_t* data,
                   unsigned stride, uintptr_t layer_stride);

}  // namespace xen3d::guest
