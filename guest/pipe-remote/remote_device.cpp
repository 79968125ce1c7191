#include "guest/pipe-remote/remote_device.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

namespace xen3d::guest {

void guest_log(bool is_error, const char* fmt, ...) {
  const char* dbg = std::getenv("XEN3D_DEBUG");
  if (!is_error && !(dbg && *dbg && *dbg != '0')) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "xen3d: %s\n", msg);
}

std::unique_ptr<RemoteDevice> RemoteDevice::open(const std::string& client_name) {
  proto::ConnectRequest req;
  req.client_name = client_name;
  std::string error;
  auto session = proto::GuestSession::connect("", req, error);
  if (!session) {
    guest_log(true, "%s", error.c_str());
    return nullptr;
  }
  guest_log(false, "connected to %s (guest %u), host renderer: %s", session->info().endpoint.c_str(),
            session->info().connection_id, session->info().host_renderer.c_str());
  std::unique_ptr<RemoteDevice> dev(new RemoteDevice);
  dev->session_ = std::move(session);
  return dev;
}

std::string RemoteDevice::renderer() const {
  return "xen3d (" + session_->info().host_renderer + ")";
}

}  // namespace xen3d::guest
