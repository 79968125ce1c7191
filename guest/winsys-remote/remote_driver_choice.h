// Which Gallium driver a guest frontend target creates its screen on.
// GALLIUM_DRIVER is Mesa's own switch between its software drivers; these
// targets add "xen3d" (the remote driver), their default, and hand any other
// name to Mesa's pipe loader (softpipe, for comparisons in the guest).
#pragma once

#include <cstdlib>
#include <cstring>

namespace xen3d::guest {

inline bool remote_driver_selected() {
  const char* d = std::getenv("GALLIUM_DRIVER");
  return !d || !*d || !std::strcmp(d, "xen3d");
}

}  // namespace xen3d::guest
