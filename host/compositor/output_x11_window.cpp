// STUB: to be written (window output).
#include "host/compositor/outputs.h"
namespace xen3d::host {
std::unique_ptr<Output> make_window_output(DesktopControl&, const std::string&, std::string& error) {
  error = "the window output is not built yet";
  return nullptr;
}
}  // namespace xen3d::host
