// The framebuffer page of a Xen PV framebuffer (xen/include/public/io/fbif.h),
// spelled out with fixed-width types so that both Xen guests (issue: xen/) and
// local guests share one layout. A local desktop's framebuffer region is this
// 4 KiB page followed directly by the pixels (the page directory `pd` is unused
// there: the pixels are contiguous at kXenfbPixelsOffset).
//
// The guest produces update events in the out ring and rings the doorbell
// (desktop_damage locally, the event channel on Xen); the host consumes them.
// Everything in the page is guest-writable: readers validate every field.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace xen3d::proto {

inline constexpr uint8_t kXenfbTypeUpdate = 2;
inline constexpr uint8_t kXenfbTypeResize = 3;
inline constexpr size_t kXenfbEventSize = 40;
inline constexpr size_t kXenfbInRingOffset = 1024;
inline constexpr size_t kXenfbInRingSize = 1024;
inline constexpr size_t kXenfbOutRingOffset = kXenfbInRingOffset + kXenfbInRingSize;  // 2048
inline constexpr size_t kXenfbOutRingSize = 2048;
inline constexpr uint32_t kXenfbOutRingLen = kXenfbOutRingSize / kXenfbEventSize;  // 51
inline constexpr size_t kXenfbPageSize = 4096;
inline constexpr size_t kXenfbPixelsOffset = kXenfbPageSize;  // local guests only

struct XenfbUpdate {  // struct xenfb_update
  uint8_t type;
  int32_t x, y, width, height;
};

union XenfbOutEvent {  // union xenfb_out_event
  uint8_t type;
  XenfbUpdate update;
  char pad[kXenfbEventSize];
};
static_assert(sizeof(XenfbOutEvent) == kXenfbEventSize);
static_assert(offsetof(XenfbUpdate, x) == 4);

struct XenfbPage {  // struct xenfb_page (x86-64 layout)
  uint32_t in_cons, in_prod;
  uint32_t out_cons, out_prod;
  int32_t width;
  int32_t height;
  uint32_t line_length;
  uint32_t mem_length;
  uint8_t depth;
  uint64_t pd[256];  // page directory (Xen only); the rings overlap its unused tail
};
static_assert(offsetof(XenfbPage, width) == 16);
static_assert(offsetof(XenfbPage, depth) == 32);
static_assert(offsetof(XenfbPage, pd) == 40);

inline XenfbOutEvent* xenfb_out_ring(void* page) {
  return reinterpret_cast<XenfbOutEvent*>(static_cast<uint8_t*>(page) + kXenfbOutRingOffset);
}

// Guest side: queues one update event. False when the ring is full (the
// consumer is behind): the caller then reports the whole screen at once later.
inline bool xenfb_push_update(void* page_mem, int32_t x, int32_t y, int32_t w, int32_t h) {
  auto* page = static_cast<XenfbPage*>(page_mem);
  std::atomic_ref<uint32_t> prod(page->out_prod), cons(page->out_cons);
  const uint32_t p = prod.load(std::memory_order_relaxed);
  if (p - cons.load(std::memory_order_acquire) >= kXenfbOutRingLen) return false;
  XenfbOutEvent& ev = xenfb_out_ring(page)[p % kXenfbOutRingLen];
  ev = {};
  ev.update = {kXenfbTypeUpdate, x, y, w, h};
  prod.store(p + 1, std::memory_order_release);
  return true;
}

}  // namespace xen3d::proto
