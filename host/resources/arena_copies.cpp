// GalliumExecutor: the copying buffer arena, for host drivers that cannot
// use memory they are given as a buffer (no resource_from_user_memory: zink
// in Mesa 22.3). Guests still get persistent and coherent maps
// (ARB_buffer_storage, and with it GL 4.4 and later): each arena buffer is an
// ordinary host buffer, and the host carries bytes between it and the
// buffer's span of the shared memory at the points where GL lets each side
// see the other's writes:
//   - guest writes reach the host buffer before the next host work that
//     reads or writes buffers (draws, dispatches, copies, clears, transfers):
//     "the server sees client writes in subsequent commands" (coherent maps);
//   - host writes (shader buffers, images, stream output, copies, clears,
//     query results, transfers) reach the span when the guest waits: a fence
//     it waits for (FenceSync/glFinish) or a resource_wait before it maps.
// Neither side knows which bytes the other wrote, so `last` remembers what
// both last agreed on: bytes of the span that differ from it are the
// guest's, bytes of the host buffer that differ from it are the host's. Each
// copy moves only those, so writes of both sides to different bytes of one
// buffer (a ring the GPU reads while the app fills the next part) survive.
//
// The span is the guest's memory, which it may change at any moment: the
// host reads it once into `last` and uploads from there, and writes back
// only the bytes the host work changed.
//
// Cost: a draw compares each copied buffer's span with `last` (memcmp, tens
// of GB/s) when the guest has published records since the last compare
// (within one batch of records it cannot have written), and a wait reads
// back what host work wrote. Only persistent
// buffers live in a copying arena (the guest places nothing else there and
// its upload manager maps without PERSISTENT: guest/pipe-remote/remote_context.cpp).
#include <cstring>

#include "common/log.h"
#include "host/executor/gallium_executor.h"
#include "pipe/p_context.h"
#include "pipe/p_defines.h"
#include "pipe/p_screen.h"
#include "util/u_inlines.h"

namespace xen3d::host {

using proto::ObjectKind;

namespace {

constexpr size_t kBlock = 64;
// Runs of changed blocks closer than this are uploaded as one.
constexpr size_t kJoinGap = 4096;

// The first block at or after `from` where a and b differ (or `size`).
size_t first_changed(const uint8_t* a, const uint8_t* b, size_t from, size_t size) {
  for (size_t i = from; i < size; i += kBlock) {
    if (std::memcmp(a + i, b + i, std::min(kBlock, size - i))) return i;
  }
  return size;
}

}  // namespace

proto::DecodeError GalliumExecutor::create_copied_buffer(const char* rec, uint32_t id, const pipe_resource& templ,
                                                         uint32_t offset) {
  // The host buffer and `last`, on top of the arena charged whole.
  const uint64_t bytes = uint64_t(templ.width0) * 2;
  const uint64_t held = objects_.bytes();
  if (bytes > config_.max_resource_bytes || held > config_.max_resource_bytes - bytes) {
    return reject_("%s #%u: %llu bytes (a host buffer and its copy) would pass the guest's quota of %llu bytes", rec, id,
                   static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(config_.max_resource_bytes));
  }
  std::unique_ptr<uint8_t[]> last(new (std::nothrow) uint8_t[templ.width0]);
  pipe_resource* res = last ? screen_->resource_create(screen_, &templ) : nullptr;
  if (!res) return reject_("%s #%u: the host driver could not allocate a buffer of %u bytes", rec, id, templ.width0);
  // The buffer starts as the span holds it now: both agree from here.
  std::memcpy(last.get(), arena_.base + offset, templ.width0);
  pipe_context* pipe = current_ ? current_->pipe : utility_context();
  if (!pipe) {
    pipe_resource_reference(&res, nullptr);
    return reject_("%s #%u: the host has no context to fill the buffer", rec, id);
  }
  pipe->buffer_subdata(pipe, res, PIPE_MAP_WRITE | PIPE_MAP_DISCARD_WHOLE_RESOURCE, 0, templ.width0, last.get());
  HostObject obj;
  obj.kind = ObjectKind::Resource;
  obj.ptr = res;
  obj.bytes = bytes;
  if (auto e = add_object(id, obj); !e.ok()) {
    pipe_resource_reference(&res, nullptr);
    return e;
  }
  Arena::Copied& b = arena_.copied[id];
  b.res = res;
  b.offset = offset;
  b.width = templ.width0;
  b.last = std::move(last);
  if (contexts_.size() + (utility_ ? 1 : 0) > 1) b.uploaded_on = pipe;  // its fill, as any upload
  arena_.copied_ids[res] = id;
  return {};
}

void GalliumExecutor::upload_arena_changes(pipe_context* pipe) {
  // Uploads go into the queue of the context about to work, but any of the
  // guest's contexts may read the buffer next (each thread's immediate-mode
  // vertices live in a persistent buffer of its own context: four threads
  // drew each other's stale vertices). A context's queue runs in the order
  // it is flushed, so one holding uploads is flushed before another works.
  for (auto& [id, b] : arena_.copied) {
    if (b.uploaded_on && b.uploaded_on != pipe) {
      pipe_context* other = b.uploaded_on;
      other->flush(other, nullptr, 0);
      for (auto& [oid, o] : arena_.copied) {
        if (o.uploaded_on == other) o.uploaded_on = nullptr;
      }
    }
  }
  // The guest writes its spans before it publishes the records that use
  // them: records read since the last look found nothing new to read find
  // the spans as that look did (glxgears: 20 draws of a frame, one compare).
  const uint64_t epoch = session_.command_epoch();
  if (epoch == arena_.copied_in_epoch) return;
  arena_.copied_in_epoch = epoch;
  const bool several = contexts_.size() + (utility_ ? 1 : 0) > 1;
  for (auto& [id, b] : arena_.copied) {
    const uint8_t* span = arena_.base + b.offset;
    uint8_t* last = b.last.get();
    const size_t size = b.width;
    size_t at = first_changed(span, last, 0, size);
    while (at < size) {
      // Extend the run over changed blocks, joining those a short gap apart.
      size_t end = std::min(at + kBlock, size);
      for (size_t next = first_changed(span, last, end, size); next < size && next - end < kJoinGap;
           next = first_changed(span, last, end, size)) {
        end = std::min(next + kBlock, size);
      }
      if (b.gpu_written) {
        // Host work may have written bytes of these blocks the guest did not:
        // only the bytes the guest changed go up, byte by byte.
        for (size_t i = at; i < end;) {
          if (span[i] == last[i]) {
            ++i;
            continue;
          }
          size_t j = i;
          while (j < end && span[j] != last[j]) ++j;
          std::memcpy(last + i, span + i, j - i);
          pipe->buffer_subdata(pipe, b.res, PIPE_MAP_WRITE, unsigned(i), unsigned(j - i), last + i);
          i = j;
        }
      } else {
        std::memcpy(last + at, span + at, end - at);
        pipe->buffer_subdata(pipe, b.res, PIPE_MAP_WRITE, unsigned(at), unsigned(end - at), last + at);
      }
      at = first_changed(span, last, end, size);
      if (several) b.uploaded_on = pipe;
    }
  }
}

void GalliumExecutor::arena_written(pipe_resource* res, pipe_context* pipe) {
  if (arena_.copied.empty() || !res) return;
  auto it = arena_.copied_ids.find(res);
  if (it == arena_.copied_ids.end()) return;
  Arena::Copied& b = arena_.copied.at(it->second);
  b.gpu_written = true;
  b.writer = pipe;
}

void GalliumExecutor::arena_written_by_draw(const ContextState& ctx) {
  if (arena_.copied.empty()) return;
  for (unsigned s = 0; s < PIPE_SHADER_TYPES; ++s) {
    for (pipe_resource* r : ctx.written_buffers[s]) if (r) arena_written(r, ctx.pipe);
    for (pipe_resource* r : ctx.written_images[s]) if (r) arena_written(r, ctx.pipe);
  }
  for (pipe_resource* r : ctx.written_so) if (r) arena_written(r, ctx.pipe);
}

bool GalliumExecutor::copy_arena_out(pipe_resource* res) {
  bool ok = true;
  for (auto& [id, b] : arena_.copied) {
    if (b.gpu_written && (!res || b.res == res)) ok = copy_back(b) && ok;
  }
  return ok;
}

bool GalliumExecutor::copy_back(Arena::Copied& b) {
  // On the context that wrote it, while it lives: its map waits for that work.
  pipe_context* p = nullptr;
  for (auto& [cid, c] : contexts_) {
    if (c->pipe == b.writer) p = c->pipe;
  }
  if (!p) p = utility_context();
  if (!p) return false;
  pipe_box box;
  u_box_1d(0, int(b.width), &box);
  pipe_resource* res = b.res;
  const bool other_contexts = contexts_.size() + (utility_ ? 1 : 0) > 1;
  pipe_resource* staged =
      limits_.maps_wait_for_other_contexts && other_contexts ? staged_copy(p, res, 0, box) : nullptr;
  if (staged) res = staged;
  pipe_transfer* xfer = nullptr;
  const auto* gpu = static_cast<const uint8_t*>(p->buffer_map(p, res, 0, PIPE_MAP_READ, &box, &xfer));
  if (!gpu) {
    pipe_resource_reference(&staged, nullptr);
    XLOG_WARN("guest %u: could not read back a buffer of its copying arena", config_.connection_id);
    return false;
  }
  // Bytes the host work changed go to the span and to `last`; the guest's own
  // changes since the last upload stay in the span for the next one.
  uint8_t* span = arena_.base + b.offset;
  uint8_t* last = b.last.get();
  for (size_t at = first_changed(gpu, last, 0, b.width); at < b.width; at = first_changed(gpu, last, at, b.width)) {
    const size_t end = std::min<size_t>(at + kBlock, b.width);
    for (size_t i = at; i < end; ++i) {
      if (gpu[i] != last[i]) span[i] = last[i] = gpu[i];
    }
    at = end;
  }
  p->buffer_unmap(p, xfer);
  pipe_resource_reference(&staged, nullptr);
  b.gpu_written = false;
  return true;
}

}  // namespace xen3d::host
