// Where a desktop's input goes: whoever drives the VM's screen takes it (the
// Xorg module's connection, host/compositor/connection_input.h; a Xen PV
// keyboard backend). Set on the Desktop by its owner; called from the
// outputs' threads, so deliver() must not block.
#pragma once

#include "host/desktop/desktop_control.h"

namespace xen3d::host {

class InputSink {
 public:
  virtual ~InputSink() = default;
  virtual void deliver(const InputEvent& event) = 0;
};

}  // namespace xen3d::host
