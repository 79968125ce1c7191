// What the composed desktops offer to the things that show or steer them:
// outputs (host window, VNC, PNG), the control socket (xen3dctl) and the VM
// picker. Implemented by DesktopRegistry (desktop_registry.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace xen3d::host {

// A composed desktop: B8G8R8X8 pixels (bytes B, G, R, X in memory), `stride` bytes apart.
struct DesktopImage {
  uint32_t width = 0, height = 0, stride = 0;
  std::vector<uint8_t> pixels;
};

struct DesktopRect {
  int32_t x = 0, y = 0;
  uint32_t width = 0, height = 0;
};

struct VmSummary {
  std::string name;
  uint32_t id = 0;
  uint32_t width = 0, height = 0;
  uint32_t gl_windows = 0;         // windows the guest's Xorg module tracks
  uint32_t gl_connections = 0;     // GL connections that joined the desktop
  bool selected = false;
  uint64_t compositions = 0;       // times the desktop was composed
  double compose_ms_avg = 0;       // host time per composition (upload + blits + readout)
  double present_ms_avg = 0;       // host time per GL frame taken into the desktop (copy + wait)
  uint64_t presents = 0;           // GL frames presented into this desktop
  uint64_t readback_bytes_saved = 0;  // pixels the readback fallback would have sent to the guest
  uint64_t fb_updates = 0;         // 2D framebuffer update events consumed
};

// Input for the selected VM, from an output (host window, VNC): a key or
// button by its Linux input code (linux/input-event-codes.h: KEY_*, BTN_LEFT
// ...), the pointer's absolute place in desktop pixels, or wheel notches.
struct InputEvent {
  enum class Kind : uint8_t { Key, Pointer, Wheel } kind = Kind::Key;
  uint16_t code = 0;  // Key
  bool down = false;  // Key
  int32_t x = 0, y = 0;  // Pointer: desktop pixels; Wheel: x horizontal (+ right), y vertical (+ up) notches
  uint32_t width = 0, height = 0;  // Pointer: the desktop's size (set by DesktopControl::send_input)
  static InputEvent key(uint16_t code, bool down) { return {Kind::Key, code, down, 0, 0, 0, 0}; }
  static InputEvent pointer(int32_t x, int32_t y) { return {Kind::Pointer, 0, false, x, y, 0, 0}; }
  static InputEvent wheel(int32_t vertical, int32_t horizontal) {
    return {Kind::Wheel, 0, false, horizontal, vertical, 0, 0};
  }
};

class DesktopControl {
 public:
  virtual ~DesktopControl() = default;
  virtual std::vector<VmSummary> list() = 0;
  // The selected VM is what the window and VNC outputs show.
  virtual bool select(const std::string& name, std::string& error) = 0;
  virtual std::string selected() = 0;  // "" when no VM exists
  // The VM's desktop composed now (any VM, selected or not).
  virtual bool capture(const std::string& name, DesktopImage& out, std::string& error) = 0;
  // Hands input to the selected VM's desktop (dropped when none is selected
  // or its guest takes no input). Keys and buttons still down when the
  // selection moves are released in the VM left behind. `source` names the
  // output in logs ("window", "vnc").
  virtual void send_input(const InputEvent& event, const char* source) = 0;
};

// A place composed desktops are shown. show() is called from the composition
// thread whenever the selected desktop changed; it must not block for long.
class Output {
 public:
  virtual ~Output() = default;
  virtual std::string describe() const = 0;
  // `image` is the whole desktop of `vm`; `damage` the rects that changed
  // since the previous call (empty: everything, e.g. after a switch or resize).
  virtual void show(const std::string& vm, const DesktopImage& image, const std::vector<DesktopRect>& damage) = 0;
  // No VM has a desktop (all left): show a placeholder.
  virtual void show_nothing() {}
};

}  // namespace xen3d::host
