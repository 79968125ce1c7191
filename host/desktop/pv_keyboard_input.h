// A Xen domain's PV keyboard (xen/vkbd_backend.h) as the input of the VM's
// desktop: what the outputs send to the selected desktop goes into the
// guest's xen-kbdfront, the pointer scaled to the device's range.
#pragma once

#include <memory>

#include "xen/vkbd_backend.h"

namespace xen3d::host {

class DesktopRegistry;

// The PvKeyboardAttach for VkbdBackend::start: binds each connected device to
// the desktop named after its domain, and unbinds it when it goes.
xen::PvKeyboardAttach pv_keyboard_attach(DesktopRegistry& desktops);

}  // namespace xen3d::host
