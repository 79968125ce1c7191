// What `xen3d-compositor --print-xl-config` prints: the domU config lines and
// the guest-side setup for the xen transport (like SharedGL's sglrenderer -v).
#pragma once

#include <string>

namespace xen3d::host {

std::string xen_guest_setup_text();

}  // namespace xen3d::host
