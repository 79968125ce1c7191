#include "host/desktop/desktop_rect.h"

#include <algorithm>
#include <cstring>

namespace xen3d::host {

namespace {
DesktopRect from_edges(int64_t x0, int64_t y0, int64_t x1, int64_t y1) {
  if (x1 <= x0 || y1 <= y0) return {};
  return {static_cast<int32_t>(x0), static_cast<int32_t>(y0), static_cast<uint32_t>(x1 - x0),
          static_cast<uint32_t>(y1 - y0)};
}
}  // namespace

bool rect_intersect(const DesktopRect& a, const DesktopRect& b, DesktopRect& out) {
  out = from_edges(std::max<int64_t>(a.x, b.x), std::max<int64_t>(a.y, b.y),
                   std::min<int64_t>(int64_t{a.x} + a.width, int64_t{b.x} + b.width),
                   std::min<int64_t>(int64_t{a.y} + a.height, int64_t{b.y} + b.height));
  return out.width && out.height;
}

DesktopRect rect_clip(const DesktopRect& r, uint32_t width, uint32_t height) {
  DesktopRect out;
  rect_intersect(r, DesktopRect{0, 0, width, height}, out);
  return out;
}

DesktopRect bounding_box(const std::vector<DesktopRect>& rects) {
  if (rects.empty()) return {};
  int64_t x0 = INT64_MAX, y0 = INT64_MAX, x1 = INT64_MIN, y1 = INT64_MIN;
  for (const DesktopRect& r : rects) {
    x0 = std::min<int64_t>(x0, r.x);
    y0 = std::min<int64_t>(y0, r.y);
    x1 = std::max<int64_t>(x1, int64_t{r.x} + r.width);
    y1 = std::max<int64_t>(y1, int64_t{r.y} + r.height);
  }
  return from_edges(x0, y0, x1, y1);
}

void copy_rect(const uint8_t* from, size_t from_stride, uint8_t* to, size_t to_stride, const DesktopRect& r) {
  const size_t x_bytes = static_cast<size_t>(r.x) * 4;
  for (uint32_t row = 0; row < r.height; ++row) {
    const size_t y = size_t{row} + static_cast<size_t>(r.y);
    std::memcpy(to + y * to_stride + x_bytes, from + y * from_stride + x_bytes, size_t{r.width} * 4);
  }
}

}  // namespace xen3d::host
