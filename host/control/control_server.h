// The compositor's control socket, spoken by xen3dctl: one request line, one
// answer. See xen3dctl --help for the commands.
#pragma once

#include <memory>
#include <string>

#include "host/desktop/desktop_control.h"

namespace xen3d::host {

// $XDG_RUNTIME_DIR/xen3d-control.sock (or /tmp/xen3d-<uid>/control.sock).
std::string default_control_socket_path();

class ControlServer {
 public:
  explicit ControlServer(DesktopControl& control);
  ~ControlServer();
  // Listens on `path` and serves requests on a thread of its own.
  bool start(const std::string& path, std::string& error);
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xen3d::host
