// The guest's libOSMesa: Mesa's OSMesa frontend (off-screen GL into a buffer
// the program owns) over the remoting pipe driver; what Mesa's
// src/gallium/targets/osmesa does for softpipe/llvmpipe. OSMesa reads its
// frames back through ordinary transfers, so the screen has no present sink.
#include "guest/pipe-remote/remote_screen.h"
#include "guest/winsys-remote/remote_driver_choice.h"
#include "pipe-loader/pipe_loader.h"

namespace {

// Mesa's OSMesa frontend uses the screen it is given without checking it for
// null. Without a compositor it gets this one instead, on which creating a
// context fails, so OSMesaCreateContext returns NULL as the API promises.
pipe_screen* unavailable_screen() {
  static pipe_screen screen = [] {
    pipe_screen s{};
    s.context_create = [](pipe_screen*, void*, unsigned) -> pipe_context* { return nullptr; };
    s.destroy = [](pipe_screen*) {};
    return s;
  }();
  return &screen;
}

}  // namespace

extern "C" pipe_screen* osmesa_create_screen(void);

extern "C" pipe_screen* osmesa_create_screen(void) {
  if (!xen3d::guest::remote_driver_selected()) {
    // Mesa's own choice; the device lives as long as the process's screen.
    pipe_loader_device* dev = nullptr;
    return pipe_loader_sw_probe_null(&dev) ? pipe_loader_create_screen(dev) : nullptr;
  }
  auto remote = xen3d::guest::RemoteDevice::open_for_this_program();
  pipe_screen* screen = remote ? xen3d::guest::remote_screen_create(std::move(remote), nullptr) : nullptr;
  return screen ? screen : unavailable_screen();
}
