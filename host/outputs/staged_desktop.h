// An output's own copy of the selected desktop, filled by show() on the
// composition thread and drained by the output's thread (both under the
// output's mutex): the pixels, the rects not yet put out, and which VM.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "host/desktop/desktop_control.h"

namespace xen3d::host {

struct StagedDesktop {
  std::vector<uint8_t> pixels;  // packed: width * 4 bytes a row
  uint32_t width = 0, height = 0;
  std::string vm;
  std::vector<DesktopRect> pending;  // changed since the output last drained them
  bool nothing = true;               // no VM desktop to show

  // Copies the damaged part of `image` (all of it on a resize, after
  // nothing, or with no damage). False when the image is malformed.
  bool stage(const std::string& vm, const DesktopImage& image, const std::vector<DesktopRect>& damage);
  void show_nothing() {
    nothing = true;
    vm.clear();
    pending.clear();
  }
};

}  // namespace xen3d::host
