#include "host/outputs/staged_desktop.h"

#include "host/desktop/desktop_rect.h"

namespace xen3d::host {

namespace {
constexpr size_t kMaxPendingRects = 64;  // beyond this, one bounding box
}

bool StagedDesktop::stage(const std::string& name, const DesktopImage& image, const std::vector<DesktopRect>& damage) {
  if (image.width == 0 || image.height == 0 || image.stride < image.width * 4 ||
      image.pixels.size() < size_t{image.stride} * (image.height - 1) + size_t{image.width} * 4)
    return false;
  const bool resized = image.width != width || image.height != height;
  if (resized) {
    width = image.width, height = image.height;
    pixels.assign(size_t{width} * height * 4, 0);
    pending.clear();  // rects of the old size; the whole new one follows
  }
  std::vector<DesktopRect> rects;
  if (resized || damage.empty() || nothing) {
    rects.push_back({0, 0, width, height});
  } else {
    for (const DesktopRect& r : damage)
      if (DesktopRect c = rect_clip(r, width, height); c.width > 0) rects.push_back(c);
  }
  for (const DesktopRect& r : rects) {
    copy_rect(image.pixels.data(), image.stride, pixels.data(), size_t{width} * 4, r);
    pending.push_back(r);
  }
  if (pending.size() > kMaxPendingRects) pending = {bounding_box(pending)};
  vm = name;
  nothing = false;
  return true;
}

}  // namespace xen3d::host
