// Layout of a connection's shared memory: a control block with the counters of
// three single-producer/single-consumer rings, then the rings' data areas.
//
//   [ControlBlock 4 KiB][command ring][reply ring][bulk heap][framebuffer]
//
// The framebuffer region exists only for a desktop's window-system connection
// (ConnectRequest::framebuffer_kib): a Xen PV framebuffer page and the pixels
// behind it (proto/xenfb_page.h).
//
// The host allocates and sizes it (a guest never gets to shrink what the host
// maps); both sides only ever exchange positions, never pointers.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace xen3d::proto {

// Counters of one ring. Positions are byte counts since the connection began
// (monotonic, never wrap in practice); the data offset is position % size.
struct RingCounters {
  alignas(64) std::atomic<uint64_t> head;  // written by the producer only
  alignas(64) std::atomic<uint64_t> tail;  // written by the consumer only
  // Doorbell avoidance: a side sets its flag before sleeping and the other
  // side rings the doorbell only if the flag is set.
  alignas(64) std::atomic<uint32_t> consumer_sleeping;
  alignas(64) std::atomic<uint32_t> producer_sleeping;
};
static_assert(std::atomic<uint64_t>::is_always_lock_free, "rings need lock-free 64-bit atomics");
static_assert(sizeof(RingCounters) == 256);

enum class RingId : uint8_t { Command = 0, Reply = 1, Bulk = 2 };
inline constexpr int kRingCount = 3;

inline constexpr uint32_t kShmMagic = 0x4d485358;  // "XSHM"

struct ControlBlock {
  uint32_t magic;
  uint32_t version;
  uint32_t reserved[14];
  RingCounters rings[kRingCount];
};
inline constexpr size_t kControlBlockSize = 4096;
static_assert(sizeof(ControlBlock) <= kControlBlockSize);

// Where each ring's data lives inside the shared memory.
struct ShmLayout {
  uint32_t total_size = 0;
  uint32_t offset[kRingCount] = {};
  uint32_t size[kRingCount] = {};
  uint32_t fb_offset = 0;  // 0 with fb_size 0: no framebuffer region
  uint32_t fb_size = 0;

  // Ring sizes must be powers of two and multiples of 4 KiB; fb_size a multiple of 4 KiB.
  static ShmLayout make(uint32_t cmd_size, uint32_t reply_size, uint32_t bulk_size, uint32_t fb_size = 0) {
    ShmLayout l;
    uint32_t off = kControlBlockSize;
    const uint32_t sizes[kRingCount] = {cmd_size, reply_size, bulk_size};
    for (int i = 0; i < kRingCount; ++i) {
      l.offset[i] = off;
      l.size[i] = sizes[i];
      off += sizes[i];
    }
    if (fb_size) {
      l.fb_offset = off;
      l.fb_size = fb_size;
      off += fb_size;
    }
    l.total_size = off;
    return l;
  }
  // A layout received from the other side: everything inside total_size, no overlap.
  bool valid() const {
    uint64_t expect = kControlBlockSize;
    for (int i = 0; i < kRingCount; ++i) {
      if (size[i] < 4096 || (size[i] & (size[i] - 1)) != 0) return false;
      if (offset[i] != expect) return false;
      expect += size[i];
    }
    if (fb_size) {
      if (fb_size % 4096 != 0 || fb_offset != expect) return false;
      expect += fb_size;
    } else if (fb_offset != 0) {
      return false;
    }
    return expect == total_size;
  }
};

inline constexpr bool is_pow2(uint64_t v) { return v && (v & (v - 1)) == 0; }

}  // namespace xen3d::proto
