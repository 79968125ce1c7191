// Host input as the guest's Linux input codes (linux/input-event-codes.h),
// which the Xorg module turns into X keycodes and Xen's PV keyboard carries
// as they are.
#pragma once

#include <cstdint>

namespace xen3d::host {

// A keysym (X11 and RFB share them) as the key that types it on a US
// keyboard: 'A' and 'a' are KEY_A, '!' is KEY_1 (the viewer sends Shift
// itself). 0 for a keysym no US key types.
uint16_t linux_key_from_keysym(uint32_t keysym);

// What an X (and RFB) pointer button is in the guest: a button code
// (BTN_LEFT ...), or wheel notches. Buttons 4-7 are the wheel.
struct PointerButton {
  uint16_t code = 0;  // 0: a wheel button, or one the guest has no code for
  int32_t wheel_vertical = 0, wheel_horizontal = 0;
};
PointerButton pointer_button(unsigned x_button);

}  // namespace xen3d::host
