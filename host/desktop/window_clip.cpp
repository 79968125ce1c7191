#include "host/desktop/window_clip.h"

#include <algorithm>
#include <tuple>

#include "host/desktop/desktop_rect.h"

namespace xen3d::host {

namespace {

// Interval visits allowed per clip list: a banded list (what X sends) costs
// about one visit per rect, a hostile staircase of 4,093 tall rects would
// cost millions.
constexpr size_t kMaxWork = size_t{1} << 18;

struct Span {
  int64_t x0, x1;
  bool operator==(const Span&) const = default;
};

}  // namespace

NormalizedClip normalize_clip(std::span<const DesktopRect> clip, const DesktopRect& window, size_t max_rects) {
  NormalizedClip out;
  std::vector<DesktopRect> inside;
  inside.reserve(clip.size());
  for (const DesktopRect& r : clip) {
    DesktopRect c;
    if (rect_intersect(r, window, c)) inside.push_back(c);
  }
  if (inside.empty()) return out;
  auto key = [](const DesktopRect& r) { return std::tuple(r.y, r.x, r.height, r.width); };
  std::sort(inside.begin(), inside.end(), [&](const DesktopRect& a, const DesktopRect& b) { return key(a) < key(b); });
  inside.erase(std::unique(inside.begin(), inside.end(),
                           [&](const DesktopRect& a, const DesktopRect& b) { return key(a) == key(b); }),
               inside.end());
  auto coarsen = [&] {
    out.rects = {bounding_box(inside)};
    out.coarsened = true;
    return out;
  };

  // Band edges: every row where some rect starts or ends.
  std::vector<int64_t> edges;
  edges.reserve(inside.size() * 2);
  for (const DesktopRect& r : inside) {
    edges.push_back(r.y);
    edges.push_back(int64_t{r.y} + r.height);
  }
  std::sort(edges.begin(), edges.end());
  edges.erase(std::unique(edges.begin(), edges.end()), edges.end());

  size_t work = 0, next = 0;  // `inside` is sorted by y: rects enter the sweep in order
  std::vector<const DesktopRect*> active;
  std::vector<Span> spans, previous;
  size_t previous_first = 0;  // where the previous band's rects start in out.rects
  int64_t previous_end = INT64_MIN;
  for (size_t e = 0; e + 1 < edges.size(); ++e) {
    const int64_t y0 = edges[e], y1 = edges[e + 1];
    std::erase_if(active, [&](const DesktopRect* r) { return int64_t{r->y} + r->height <= y0; });
    while (next < inside.size() && inside[next].y == y0) active.push_back(&inside[next++]);
    work += active.size() + 1;
    if (work > kMaxWork) return coarsen();
    spans.clear();
    for (const DesktopRect* r : active) spans.push_back({r->x, int64_t{r->x} + r->width});
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.x0 < b.x0; });
    size_t merged = 0;
    for (const Span& s : spans) {
      if (merged && s.x0 <= spans[merged - 1].x1) {
        spans[merged - 1].x1 = std::max(spans[merged - 1].x1, s.x1);
      } else {
        spans[merged++] = s;
      }
    }
    spans.resize(merged);
    if (spans.empty()) {
      previous.clear();
      continue;
    }
    if (previous_end == y0 && spans == previous) {
      // The same columns as the band above: that band's rects grow down.
      for (size_t i = previous_first; i < out.rects.size(); ++i) out.rects[i].height += static_cast<uint32_t>(y1 - y0);
    } else {
      previous_first = out.rects.size();
      for (const Span& s : spans) {
        out.rects.push_back({static_cast<int32_t>(s.x0), static_cast<int32_t>(y0), static_cast<uint32_t>(s.x1 - s.x0),
                             static_cast<uint32_t>(y1 - y0)});
      }
      if (out.rects.size() > max_rects) return coarsen();
      previous = spans;
    }
    previous_end = y1;
  }
  return out;
}

}  // namespace xen3d::host
