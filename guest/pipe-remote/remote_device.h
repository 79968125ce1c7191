// The guest's link to the host compositor, shared by the screen and its
// contexts: one connection per process (per X display), opened on first use.
#pragma once

#include <memory>
#include <string>

#include "proto/guest_session.h"

namespace xen3d::guest {

class RemoteDevice {
 public:
  // Connects to XEN3D_TRANSPORT (default: the local compositor socket).
  // nullptr on failure; the reason is printed to stderr prefixed "xen3d:".
  static std::unique_ptr<RemoteDevice> open(const std::string& client_name);

  proto::GuestSession& session() { return *session_; }
  // "xen3d (<host renderer>)": what glGetString(GL_RENDERER) reports.
  std::string renderer() const;

 private:
  std::unique_ptr<proto::GuestSession> session_;
};

// Prints a guest-side diagnostic ("xen3d: ..."); XEN3D_DEBUG=1 also shows info lines.
void guest_log(bool is_error, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace xen3d::guest
