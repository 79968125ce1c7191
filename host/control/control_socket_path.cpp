// The control socket's default path, shared by the compositor and xen3dctl
// (which links nothing else of the compositor).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "host/control/control_server.h"

namespace xen3d::host {

std::string default_control_socket_path() {
  if (const char* runtime_dir = std::getenv("XDG_RUNTIME_DIR"); runtime_dir && *runtime_dir)
    return std::string(runtime_dir) + "/xen3d-control.sock";
  // /tmp is shared with every user: a private directory keeps others from
  // connecting or planting a socket (ControlServer::start refuses one that
  // belongs to someone else).
  std::string dir = "/tmp/xen3d-" + std::to_string(getuid());
  mkdir(dir.c_str(), 0700);
  return dir + "/control.sock";
}

}  // namespace xen3d::host
