// The compositor as the backend of Xen's PV keyboard and pointer (kbdif,
// xen/io/kbdif.h: the protocol of Linux's xen-kbdfront). A domain created with
//   vkb = [ "backend=Domain-0,backend-type=linux,feature-abs-pointer=1,width=1024,height=768" ]
// gets a keyboard and an absolute pointer (/dev/input/event*) whose events
// this backend writes into the one page the guest grants: what the host's
// outputs send to the VM's desktop (docs/desktops.md). backend-type=linux
// makes the toolstack leave the device to a dom0 process (no QEMU), as vdispl
// does, filing it as backend/vinput (QEMU's are backend/vkbd; the guest's
// side is device/vkbd either way); width and height should be the PV
// display's connector size (the pointer is scaled to whatever the device says).
//
// The guest is hostile: its page's consumer index is checked on every event
// (one that claims more than was produced cuts the device off, alone), its
// xenstore nodes are checked at connect, and a guest that stops reading loses
// input, never memory or the backend's time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "xen/xen_api.h"

namespace xen3d::xen {

struct PvKeyboardConfig {
  DomId domid = 0;
  std::string vm;  // the domain's name: the desktop its input is for
  uint32_t device = 0;
};

// A connected PV keyboard. Any thread; calls after the device went are dropped.
class PvKeyboard {
 public:
  virtual ~PvKeyboard() = default;
  // A key (KEY_*) or button (BTN_LEFT ...) by its Linux input code.
  virtual void key(uint16_t code, bool down) = 0;
  // The pointer at pixel (x, y) of a width x height desktop: scaled to the
  // device's absolute range. Dropped when the guest asked for no absolute pointer.
  virtual void pointer(int32_t x, int32_t y, uint32_t width, uint32_t height) = 0;
  // Wheel notches: vertical + up, horizontal + right (kbdif carries only vertical).
  virtual void wheel(int32_t vertical, int32_t horizontal) = 0;
};

// A device connected (keyboard set) or went (keyboard null). Called on the
// backend's thread.
using PvKeyboardAttach = std::function<void(const PvKeyboardConfig&, std::shared_ptr<PvKeyboard> keyboard)>;

class VkbdBackend {
 public:
  // Serves every vkbd device whose backend is this domain, now and later, on
  // a thread of its own. nullptr with `error` when Xen is not reachable.
  static std::unique_ptr<VkbdBackend> start(PvKeyboardAttach attach, std::string& error);
  virtual ~VkbdBackend() = default;  // stops; every device is closed and unmapped
};

}  // namespace xen3d::xen
