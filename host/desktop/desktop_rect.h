// Rectangle arithmetic on desktop pixels, shared by composition and the
// outputs. Coordinates may come from a guest: everything is computed in 64 bits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "host/desktop/desktop_control.h"

namespace xen3d::host {

// The overlap of a and b; false when they do not overlap.
bool rect_intersect(const DesktopRect& a, const DesktopRect& b, DesktopRect& out);
inline bool rects_overlap(const DesktopRect& a, const DesktopRect& b) {
  DesktopRect unused;
  return rect_intersect(a, b, unused);
}
// r cut to [0, width) x [0, height); empty when nothing is left.
DesktopRect rect_clip(const DesktopRect& r, uint32_t width, uint32_t height);
// The smallest rectangle holding all of `rects` (empty for none).
DesktopRect bounding_box(const std::vector<DesktopRect>& rects);
// Copies rectangle r of a 4-byte-per-pixel image to the same place in another.
void copy_rect(const uint8_t* from, size_t from_stride, uint8_t* to, size_t to_stride, const DesktopRect& r);

}  // namespace xen3d::host
