#include "host/desktop/framebuffer_source.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "proto/xenfb_page.h"

namespace xen3d::host {

bool take_xenfb_updates(void* page_mem, uint32_t fb_width, uint32_t fb_height, std::vector<DesktopRect>& out,
                        std::string& error) {
  auto* page = static_cast<proto::XenfbPage*>(page_mem);
  std::atomic_ref<uint32_t> prod_ref(page->out_prod), cons_ref(page->out_cons);
  const uint32_t prod = prod_ref.load(std::memory_order_acquire);
  uint32_t cons = cons_ref.load(std::memory_order_relaxed);
  if (prod - cons > proto::kXenfbOutRingLen) {
    // Only the guest writes out_prod: a distance past the ring is a lie.
    cons_ref.store(prod, std::memory_order_release);
    error = "framebuffer page: out_prod " + std::to_string(prod) + " is " + std::to_string(prod - cons) +
            " events ahead of out_cons (the ring holds " + std::to_string(proto::kXenfbOutRingLen) + ")";
    return false;
  }
  for (; cons != prod; ++cons) {
    // Copy the event out of shared memory before looking at it.
    proto::XenfbOutEvent ev;
    std::memcpy(&ev, &proto::xenfb_out_ring(page)[cons % proto::kXenfbOutRingLen], sizeof ev);
    if (ev.type != proto::kXenfbTypeUpdate) continue;  // other events carry nothing for us
    const int64_t x0 = std::clamp<int64_t>(ev.update.x, 0, fb_width);
    const int64_t y0 = std::clamp<int64_t>(ev.update.y, 0, fb_height);
    const int64_t x1 = std::clamp<int64_t>(int64_t{ev.update.x} + ev.update.width, 0, fb_width);
    const int64_t y1 = std::clamp<int64_t>(int64_t{ev.update.y} + ev.update.height, 0, fb_height);
    if (x1 <= x0 || y1 <= y0) continue;
    out.push_back({static_cast<int32_t>(x0), static_cast<int32_t>(y0), static_cast<uint32_t>(x1 - x0),
                   static_cast<uint32_t>(y1 - y0)});
  }
  cons_ref.store(cons, std::memory_order_release);
  return true;
}

const uint8_t* LocalFramebuffer::pixels() const { return region_ + proto::kXenfbPixelsOffset; }

bool LocalFramebuffer::take_updates(std::vector<DesktopRect>& out, std::string& error) {
  if (region_size_ < proto::kXenfbPageSize) {
    error = "the connection has no framebuffer page";
    return false;
  }
  return take_xenfb_updates(region_, width_, height_, out, error);
}

bool LocalFramebuffer::resize(uint32_t width, uint32_t height, uint32_t stride, std::string& error) {
  if (!width || !height || width > 16384 || height > 16384) {
    error = "framebuffer size " + std::to_string(width) + "x" + std::to_string(height) + " is out of range";
    return false;
  }
  if (stride < uint64_t{width} * 4 || stride % 4 != 0) {
    error = "framebuffer stride " + std::to_string(stride) + " is too small or unaligned for width " +
            std::to_string(width);
    return false;
  }
  const uint64_t need = proto::kXenfbPixelsOffset + uint64_t{stride} * height;
  if (need > region_size_) {
    error = "a " + std::to_string(width) + "x" + std::to_string(height) + " framebuffer needs " +
            std::to_string(need) + " bytes; the shared region has " + std::to_string(region_size_);
    return false;
  }
  width_ = width;
  height_ = height;
  stride_ = stride;
  return true;
}

}  // namespace xen3d::host
