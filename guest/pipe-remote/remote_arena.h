// The guest's buffer arena: shared memory in which persistent buffers live:
// on local connections a memfd the host allocated and sent (arena_open), on
// xen grant pages of the guest's own that the host maps (arena_grant).
// The host driver uses a buffer's span of it as the buffer's storage, so a
// persistent or coherent map (ARB_buffer_storage, Mesa's upload managers) is
// a pointer into it and nothing is copied or sent on unmap. (Where the host
// driver cannot, the host copies instead: copies().)
//
// A span freed by resource_destroy is not reused at once: the host may still
// run queued work that reads the old buffer. Freed spans wait in quarantine
// until an allocation finds no room; then one resource_wait (the host
// finishes everything queued) returns them to the free list. A span a buffer
// moved off (resource_rebase) comes back without a wait: the host counts the
// rebases it has finished with in the arena's first bytes, which no buffer uses.
//
// Not thread-safe: callers hold the device lock.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "proto/guest_session.h"

namespace xen3d::guest {

class RemoteDevice;

class BufferArena {
 public:
  // Asks the host for an arena of XEN3D_ARENA_MIB (default 256, on xen 32 and
  // at most half the guest's grant limit; 0: none).
  // nullptr when there is none; `why` says why (for the log).
  static std::unique_ptr<BufferArena> open(RemoteDevice& dev, std::string& why);
  // What to share as the connection is made, for transports that cannot
  // share memory later (xen: grant pages the render worker maps before its
  // sandbox closes): XEN3D_ARENA_MIB, default 32 MiB, no arena under 16.
  static void ask_at_connect(proto::ConnectRequest& req);
  ~BufferArena();
  BufferArena(const BufferArena&) = delete;
  BufferArena& operator=(const BufferArena&) = delete;

  // A span for a buffer of `bytes`: its offset, or false when even after
  // waiting for the host the arena has no room. Buffers that could live on
  // the host instead (`optional`) leave a quarter of the arena to
  // persistent ones, which cannot.
  bool alloc(uint32_t bytes, uint32_t& offset, bool optional = false);
  // Whether a buffer of this usage and size is worth placing in the arena
  // without being persistent: large buffers the CPU keeps writing or
  // reading (PIPE_USAGE_DYNAMIC, STREAM, STAGING), whose big writes and
  // reads then go in place instead of through the bulk heap.
  static bool suits(unsigned usage, uint32_t bytes);
  // Writes and maps of at least this many bytes go in place (after
  // resource_wait) in an arena buffer; smaller ones keep the wait-free
  // ordered path (the host copies them in when it gets there).
  static constexpr uint32_t kInPlaceBytes = 256u << 10;
  void free(uint32_t offset);
  // Frees the span a buffer left with the resource_rebase just queued.
  void free_moved(uint32_t offset);
  uint8_t* data(uint32_t offset) const { return base_ + offset; }

  // In-place writes without waiting (arena_mark, 2.9). After a big write
  // (`want_mark`), the next draw is followed by a mark the host stores once
  // it has carried it out. `host_done` is true when the host has stored the
  // last mark and nothing was sent since: it reads none of the buffers any
  // more. When the host had nothing else queued as the mark reached it, it
  // is worth spinning for up to `spin_us` while it catches up.
  // Either is about as long as a write of that size: copy_us().
  void want_mark(size_t bytes) {
    if (copies_) return;  // a copying host's driver never reads the arena
    mark_wanted_ = true;
    last_write_bytes_ = bytes;
  }
  void mark_if_wanted(proto::GuestSession& s);
  static uint32_t copy_us(size_t bytes) { return uint32_t(std::min<size_t>(bytes >> 14, 250)); }  // 16 GB/s
  bool host_done(const proto::GuestSession& s, uint32_t spin_us);
  uint32_t size() const { return size_; }
  // The host's driver cannot use the arena as buffers (arena_opened.copies,
  // 2.11): the host copies each buffer in before its work and back at the
  // guest's waits (host/resources/arena_copies.cpp). Only persistent buffers
  // belong there then, every read waits, and no buffer moves.
  bool copies() const { return copies_; }

 private:
  BufferArena(RemoteDevice& dev, uint8_t* base, const proto::ArenaOpened& answer, bool shared);
  static std::unique_ptr<BufferArena> open_sent(RemoteDevice& dev, uint32_t mib, std::string& why);
  static std::unique_ptr<BufferArena> open_shared(RemoteDevice& dev, std::string& why);
  static bool wanted_mib(bool shared, uint32_t& mib, bool& given, std::string& why);
  template <typename Ask>
  static bool call_open(proto::GuestSession& s, const Ask& ask, proto::ArenaOpened& answer, std::string& why);
  static bool valid_alignment(const proto::ArenaOpened& answer);
  bool take(uint32_t span, uint32_t& offset);
  void give_back(uint32_t offset, uint32_t span);
  // Returns the moved-off spans the host has finished with to the free list.
  void reclaim_moved();

  RemoteDevice& dev_;
  uint8_t* base_;
  uint32_t size_, alignment_, slack_;
  bool shared_;  // the transport's memory (xen grant pages), not a memfd mapping
  bool copies_;
  std::map<uint32_t, uint32_t> free_;  // offset -> bytes, coalesced
  std::map<uint32_t, uint32_t> used_;  // offset -> bytes (a span, slack included)
  std::vector<uint32_t> quarantine_;   // offsets of freed spans the host may still read
  uint64_t used_bytes_ = 0;         // spans in use or in quarantine
  uint64_t quarantined_bytes_ = 0;
  struct Moved {
    uint32_t offset;
    uint64_t rebase;  // free once the host's count of rebases reaches this
  };
  std::vector<Moved> moved_;
  uint64_t rebases_sent_ = 0;
  bool mark_wanted_ = false;
  size_t last_write_bytes_ = 0;
  uint64_t marks_sent_ = 0;
  uint64_t records_at_mark_ = ~uint64_t{0};  // records_sent() just after the last mark
  bool host_idle_at_mark_ = false;
  // The arena's first bytes are the host's progress words: rebases done, last mark.
  static constexpr uint32_t kHeaderBytes = 16;
};

}  // namespace xen3d::guest
