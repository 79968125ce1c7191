// GalliumExecutor: the buffer arena. A guest may ask for one block of shared
// memory (local: a sealed memfd the host allocates and sends it; xen: grant
// pages of the guest's own that the host maps) and place buffers in it: the
// host driver uses those bytes as the buffer's storage
// (resource_from_user_memory), so the guest's persistent and coherent maps
// (ARB_buffer_storage, Mesa's upload managers) write straight into what the
// driver reads. Drivers that cannot do that get copies (arena_copies.cpp).
//
// What that memory is allowed to hold: anything. The guest can change it at
// any moment, also while the driver reads it, so nothing on the host reads it
// to decide what is safe: the driver bounds-checks every vertex fetch, index
// and shader access against the buffer's size (read per access), and
// util_draw_indirect reads each indirect parameter once into its own
// variables. The arena is never resized (F_SEAL_SHRINK, F_SEAL_GROW; a
// guest's grant pages stay mapped in dom0 until dom0 unmaps them, whatever
// the guest does), so the host's mapping of it can never fault, and a buffer's span plus the bytes
// past its end the driver may read (MesaInternal::kBufferReadSlack) lie
// inside it.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <iterator>

#include "common/log.h"
#include "host/executor/gallium_executor.h"
#include "host/validate/resource_layout.h"
#include "host/validate/caps_snapshot.h"
#include "pipe/p_context.h"
#include "pipe/p_defines.h"
#include "pipe/p_screen.h"
#include "util/u_inlines.h"

namespace xen3d::host {

using proto::ObjectKind;

namespace {
constexpr uint32_t kPage = 4096;
}

// Why this connection gets no arena of `bytes`, whoever's memory it is; "" when it may.
std::string GalliumExecutor::no_arena_reason(uint64_t bytes) const {
  if (!config_.no_arena_reason.empty()) return config_.no_arena_reason;
  if (!config_.max_arena_bytes) return "the compositor gives guests no buffer arena (--max-arena-mib 0)";
  if (!bytes) return "an arena of no page";
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::ArenaOpen& r) {
  const char* rec = "arena_open";
  if (arena_.base) return reject_("%s: this connection's arena is already open", rec);
  const uint64_t asked = uint64_t(r.kib) * 1024u;
  const uint64_t size = std::min<uint64_t>(std::min<uint64_t>(asked, config_.max_arena_bytes), 0x80000000u) / kPage * kPage;
  const uint64_t held = objects_.bytes();
  std::string why = no_arena_reason(size);
  if (why.empty() && !session_.transport().carries_fds()) {
    why = "a " + session_.transport().name() + " connection cannot carry shared memory (arena_grant shares the guest's)";
  } else if (why.empty() && (size > config_.max_resource_bytes || held > config_.max_resource_bytes - size)) {
    why = "an arena of " + std::to_string(size) + " bytes would pass the guest's memory quota of " +
          std::to_string(config_.max_resource_bytes) + " bytes (" + std::to_string(held) + " in use)";
  }
  if (why.empty()) {
    const int fd = memfd_create("xen3d-arena", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    void* m = MAP_FAILED;
    if (fd >= 0 && ftruncate(fd, off_t(size)) == 0 &&
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0) {
      m = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    }
    if (m == MAP_FAILED) {
      why = std::string("the host could not allocate the arena: ") + std::strerror(errno);
      if (fd >= 0) close(fd);
    } else {
      arena_.fd = fd;
      place_arena(static_cast<uint8_t*>(m), size);
      objects_.hold_bytes(size);
    }
  }
  answer_arena(rec, why);
  if (why.empty() && !session_.transport().send_fd(arena_.fd, why)) {
    XLOG_WARN("guest %u: %s: %s", config_.connection_id, rec, why.c_str());
  }
  return {};
}

// The guest's own pages (xen): the host maps them and allocates nothing, so
// the quota does not count them; --max-arena-mib still bounds the mapping.
proto::DecodeError GalliumExecutor::handle(const proto::ArenaGrant& r) {
  const char* rec = "arena_grant";
  if (arena_.base) return reject_("%s: this connection's arena is already open", rec);
  const uint64_t size = uint64_t(r.pages) * kPage;
  std::string why = no_arena_reason(size);
  if (why.empty() && size > std::min<uint64_t>(config_.max_arena_bytes, 0x80000000u)) {
    why = "an arena of " + std::to_string(size >> 20) + " MiB is more than the compositor allows (" +
          std::to_string(config_.max_arena_bytes >> 20) + " MiB, --max-arena-mib)";
  }
  if (why.empty()) {
    std::vector<uint32_t> index(r.index_refs.size());
    for (size_t i = 0; i < index.size(); ++i) index[i] = r.index_refs[i];
    if (uint8_t* m = session_.transport().map_memory(r.pages, index, why)) place_arena(m, size);
  }
  answer_arena(rec, why);
  return {};
}

void GalliumExecutor::place_arena(uint8_t* base, uint64_t size) {
  arena_.base = base;
  arena_.size = uint32_t(size);
  arena_.alignment = std::max(64u, cap(PIPE_CAP_MIN_MAP_BUFFER_ALIGNMENT));
  // A driver that cannot use the memory as buffers gets copies of it
  // (arena_copies.cpp): it then reads no byte of the arena itself.
  arena_.copies = !screen_->resource_from_user_memory || !cap(PIPE_CAP_RESOURCE_FROM_USER_MEMORY);
  arena_.slack = arena_.copies ? 0 : MesaInternal::kBufferReadSlack;
  arena_.reads_at_draw = !arena_.copies && draw_module_driver(screen_);
}

void GalliumExecutor::answer_arena(const char* rec, const std::string& why) {
  proto::ArenaOpened answer;
  answer.ok = why.empty();
  answer.copies = answer.ok && arena_.copies;
  answer.size = arena_.size;
  answer.alignment = arena_.alignment;
  answer.slack = arena_.slack;
  answer.reason = why;
  session_.reply(answer);
  if (answer.ok) {
    XLOG_DEBUG("guest %u: buffer arena of %u KiB (%s%s)", config_.connection_id, arena_.size / 1024, rec,
               arena_.copies ? "; the host driver gets copies of its buffers" : "");
  } else {
    XLOG_INFO("guest %u: no buffer arena: %s", config_.connection_id, why.c_str());
  }
}

proto::DecodeError GalliumExecutor::handle(const proto::ResourceCreateInArena& r) {
  const char* rec = "resource_create_in_arena";
  if (!arena_.base) return reject_("%s #%u: this connection has no arena (arena_open)", rec, r.id);
  if (auto e = check_resource_words(rec, r.id, r.format, r.usage, r.bind, r.flags); !e.ok()) return e;
  const auto format = static_cast<pipe_format>(r.format);
  if (!r.width) return reject_("%s #%u: a buffer of 0 bytes", rec, r.id);
  if (auto e = check_buffer_size(rec, r.id, r.width, format); !e.ok()) return e;
  uint64_t end = 0;
  if (auto e = check_arena_span(rec, r.id, r.offset, r.width, end); !e.ok()) return e;
  pipe_resource templ{};
  templ.target = PIPE_BUFFER;
  templ.format = format;
  templ.width0 = r.width;
  templ.height0 = templ.depth0 = templ.array_size = 1;
  templ.usage = r.usage;
  templ.bind = driver_bind_and_flags(r.bind, r.flags, templ.flags);
  if (const std::string why = check_buffer_bind(templ.bind); !why.empty()) {
    return reject_("%s #%u: %s", rec, r.id, why.c_str());
  }
  if (arena_.copies) {
    if (auto e = create_copied_buffer(rec, r.id, templ, r.offset); !e.ok()) return e;
    arena_.spans.emplace(r.offset, uint32_t(end));
    arena_.offsets.emplace(r.id, r.offset);
    return {};
  }
  pipe_resource* res = screen_->resource_from_user_memory(screen_, &templ, arena_.base + r.offset);
  if (!res) return reject_("%s #%u: the host driver could not place a buffer in the arena", rec, r.id);
  // No zero-fill: the bytes are the guest's own, and what it wrote there already.
  HostObject obj;
  obj.kind = ObjectKind::Resource;
  obj.ptr = res;
  obj.bytes = 0;  // the arena was charged whole
  if (auto e = add_object(r.id, obj); !e.ok()) {
    pipe_resource_reference(&res, nullptr);
    return e;
  }
  arena_.spans.emplace(r.offset, uint32_t(end));
  arena_.offsets.emplace(r.id, r.offset);
  return {};
}

proto::DecodeError GalliumExecutor::check_arena_span(const char* rec, uint32_t id, uint32_t offset, uint32_t width,
                                                     uint64_t& end) {
  if (offset % arena_.alignment) {
    return reject_("%s #%u: offset %u is not a multiple of the arena's alignment %u", rec, id, offset, arena_.alignment);
  }
  end = uint64_t(offset) + width + arena_.slack;
  if (end > arena_.size) {
    return reject_("%s #%u: bytes %u..%llu (with the driver's %u-byte slack) pass the arena's %u", rec, id, offset,
                   static_cast<unsigned long long>(end), arena_.slack, arena_.size);
  }
  // The first span starting after this one, and the one before it.
  auto next = arena_.spans.upper_bound(offset);
  const bool overlaps_next = next != arena_.spans.end() && next->first < end;
  const bool overlaps_prev = next != arena_.spans.begin() && std::prev(next)->second > offset;
  if (overlaps_next || overlaps_prev) {
    const auto& other = overlaps_prev ? *std::prev(next) : *next;
    return reject_("%s #%u: bytes %u..%llu overlap a live buffer's %u..%u", rec, id, offset,
                   static_cast<unsigned long long>(end), other.first, other.second);
  }
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::ResourceRebase& r) {
  const char* rec = "resource_rebase";
  auto at = arena_.offsets.find(r.id);
  if (at == arena_.offsets.end()) return reject_("%s #%u: not a buffer in the arena", rec, r.id);
  // The guest moves only buffers it would not have put in a copying arena.
  if (arena_.copies) return reject_("%s #%u: buffers in a copying arena do not move", rec, r.id);
  HostObject* o = objects_.find(r.id);
  if (!o || o->kind != ObjectKind::Resource) return reject_("%s #%u: not a live buffer", rec, r.id);
  auto* old = static_cast<pipe_resource*>(o->ptr);
  // The old span stops counting as live while the new one is checked (a
  // buffer may move onto part of its own bytes).
  const uint32_t old_offset = at->second;
  const uint32_t old_end = arena_.spans.at(old_offset);
  arena_.spans.erase(old_offset);
  uint64_t end = 0;
  pipe_resource* res = nullptr;
  if (auto e = check_arena_span(rec, r.id, r.offset, old->width0, end); !e.ok()) {
    arena_.spans.emplace(old_offset, old_end);
    return e;
  }
  pipe_resource templ{};
  templ.target = PIPE_BUFFER;
  templ.format = old->format;
  templ.width0 = old->width0;
  templ.height0 = templ.depth0 = templ.array_size = 1;
  templ.usage = old->usage;
  templ.bind = old->bind;
  templ.flags = old->flags;
  res = screen_->resource_from_user_memory(screen_, &templ, arena_.base + r.offset);
  if (!res) {
    arena_.spans.emplace(old_offset, old_end);
    return reject_("%s #%u: the host driver could not place the buffer at arena offset %u", rec, r.id, r.offset);
  }
  o->ptr = res;
  arena_.spans.emplace(r.offset, uint32_t(end));
  at->second = r.offset;
  // Bound vertex buffers follow the move. Other bindings (views, images,
  // shader and constant buffers, stream-output targets) keep the old bytes:
  // the guest moves only buffers bound as vertex buffers or named per draw.
  for (auto& [id, c] : contexts_) {
    for (unsigned slot = 0; slot < PIPE_MAX_ATTRIBS; ++slot) {
      const proto::VertexBuffer& vb = c->vertex_buffers[slot];
      if (vb.resource != r.id) continue;
      pipe_vertex_buffer bound{};
      bound.stride = vb.stride;
      bound.buffer_offset = vb.offset;
      bound.buffer.resource = res;
      c->pipe->set_vertex_buffers(c->pipe, slot, 1, 0, false, &bound);
    }
  }
  // The guest reuses the old bytes once this count says the host is done
  // with them (its progress word, the arena's first bytes from 2.7): no
  // round trip. Like llvmpipe in-process, the wait is for the last draw.
  if (!wait_for_resource(old)) XLOG_WARN("guest %u: %s #%u: waiting for the old storage failed", config_.connection_id, rec, r.id);
  pipe_resource_reference(&old, nullptr);
  std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(arena_.base)).store(++arena_.rebases, std::memory_order_release);
  return {};
}

proto::DecodeError GalliumExecutor::handle(const proto::ArenaMark& r) {
  if (!arena_.base) return reject_("arena_mark: the connection has no buffer arena");
  // Records run in order, so every one before the mark has been carried out;
  // the draw module has read its vertex, index and indirect buffers by the
  // time a draw returns. Drivers that read them later say nothing.
  if (arena_.reads_at_draw) {
    std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(arena_.base + 8)).store(r.seq, std::memory_order_release);
    // The guest writes its next data meanwhile, then draws and marks again:
    // polling for that costs less than being woken for it.
    session_.transport().stay_awake(proto::RingId::Command, r.awake_us);
  }
  return {};
}

bool GalliumExecutor::wait_for_resource(pipe_resource* res) {
  std::vector<pipe_context*> pipes;
  for (auto& [id, c] : contexts_) pipes.push_back(c->pipe);
  if (utility_) pipes.push_back(utility_);
  // A map that is not unsynchronized waits for the driver's work on the
  // resource, on each context that may have queued some.
  pipe_box box;
  u_box_1d(0, std::max(1u, res->width0), &box);
  bool ok = true;
  for (pipe_context* p : pipes) {
    pipe_transfer* xfer = nullptr;
    const unsigned usage = PIPE_MAP_READ | PIPE_MAP_WRITE;
    void* map = res->target == PIPE_BUFFER ? p->buffer_map(p, res, 0, usage, &box, &xfer)
                                           : p->texture_map(p, res, 0, usage, &box, &xfer);
    if (!map) {
      ok = false;
      continue;
    }
    if (res->target == PIPE_BUFFER) p->buffer_unmap(p, xfer);
    else p->texture_unmap(p, xfer);
  }
  return ok;
}

proto::DecodeError GalliumExecutor::handle(const proto::ResourceWait& r) {
  const char* rec = "resource_wait";
  proto::ResourceIdle idle;
  idle.ok = true;
  if (r.resource) {
    pipe_resource* res = nullptr;
    if (auto e = get_resource(r.resource, res, rec); !e.ok()) return e;
    // A copied buffer's span is the guest's alone: what host work wrote comes
    // back (that read waits for it); nothing waits for work that reads it.
    if (arena_.copied_ids.count(res)) idle.ok = copy_arena_out(res);
    else idle.ok = wait_for_resource(res);
  } else {
    std::vector<pipe_context*> pipes;
    for (auto& [id, c] : contexts_) pipes.push_back(c->pipe);
    if (utility_) pipes.push_back(utility_);
    for (pipe_context* p : pipes) {
      pipe_fence_handle* fence = nullptr;
      p->flush(p, &fence, 0);
      if (fence && !screen_->fence_finish(screen_, p, fence, PIPE_TIMEOUT_INFINITE)) idle.ok = false;
      if (fence) screen_->fence_reference(screen_, &fence, nullptr);
    }
    if (!copy_arena_out(nullptr)) idle.ok = false;
  }
  session_.reply(idle);
  return {};
}

void GalliumExecutor::forget_arena_buffer(uint32_t id) {
  auto it = arena_.offsets.find(id);
  if (it == arena_.offsets.end()) return;
  if (auto c = arena_.copied.find(id); c != arena_.copied.end()) {
    arena_.copied_ids.erase(c->second.res);
    arena_.copied.erase(c);
  }
  arena_.spans.erase(it->second);
  arena_.offsets.erase(it);
}

void GalliumExecutor::close_arena() {
  if (!arena_.base) return;
  if (arena_.fd >= 0) {
    munmap(arena_.base, arena_.size);
    close(arena_.fd);
    objects_.release_bytes(arena_.size);
  } else {
    session_.transport().release_memory(arena_.base);
  }
  arena_ = Arena{};
}

}  // namespace xen3d::host
