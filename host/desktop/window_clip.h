// A GL window's clip list as composition may use it. The guest's X server
// sends the visible part of each window as rectangles; composition blits the
// window's frame once per rectangle and damage rect, under the driver lock,
// so the list it keeps must be inside the window, disjoint and short, whatever
// the guest sent (4,093 identical rects would otherwise mean 4,093 blits of
// the same pixels for every damage rect).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "host/desktop/desktop_control.h"

namespace xen3d::host {

struct NormalizedClip {
  std::vector<DesktopRect> rects;  // inside the window, disjoint, sorted top to bottom, left to right
  bool coarsened = false;          // too many rects (or too much work): the bounding box of the visible part
};

// `clip` cut to `window`, split and merged into disjoint rectangles (bands of
// equal rows merged vertically). More than `max_rects` of them, or an input
// that would take more than a bounded amount of work, yields the bounding box
// of what was inside the window instead, as the guest itself sends clip lists
// longer than a record holds.
NormalizedClip normalize_clip(std::span<const DesktopRect> clip, const DesktopRect& window, size_t max_rects);

}  // namespace xen3d::host
