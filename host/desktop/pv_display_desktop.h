// A Xen PV display connector (xen/displif_backend.h) shown as a VM desktop:
// the desktop's 2D framebuffer is whatever the guest scans out, read straight
// from its mapped grant pages. The guest never says what it drew (Xorg's
// modesetting draws into the front buffer), so each refresh compares the
// buffer with a host copy of what was last taken and damages the rows that
// changed: the cost of a real display's continuous scanout, paid as a
// memcmp, and only changed rows are uploaded.
#pragma once

#include <memory>
#include <string>

#include "xen/displif_backend.h"

namespace xen3d::host {

class DesktopRegistry;

// nullptr with `error` when the desktop cannot be opened (a name in use).
std::unique_ptr<xen::PvDisplay> open_pv_display_desktop(DesktopRegistry& desktops, const xen::PvDisplayConfig& config,
                                                        std::string& error);

}  // namespace xen3d::host
