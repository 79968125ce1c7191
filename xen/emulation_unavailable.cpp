#include "xen/xen_api.h"

namespace xen3d::xen {
std::unique_ptr<XenPlatform> open_xen_emulation(const std::string&, std::string& error) {
  error = "this build has no Xen emulation (xen/emulation)";
  return nullptr;
}
}  // namespace xen3d::xen
