// The guest's DRI driver for EGL and OpenGL ES (installed as swrast_dri.so, the
// name Mesa's libEGL loads for software rendering): Mesa's DRI frontend over the
// remoting pipe driver, what Mesa's src/gallium/targets/dri does for softpipe.
//
// The frontend asks the pipe loader for its screen after probing the swrast
// loader's callbacks. Those two calls are renamed in our copy of the frontend
// (meson.build: libdri_remote) to the functions below, which keep the
// callbacks and, when the remote driver is selected, build the remote screen
// whose frames are shown through them (XPutImage / XShm on an X11 EGL window).
#include "GL/internal/dri_interface.h"
#include "guest/winsys-remote/remote_driver_choice.h"
#include "guest/winsys-remote/sw_winsys_present_sink.h"
#include "pipe-loader/pipe_loader.h"
extern "C" {
#include "sw/dri/dri_sw_winsys.h"  // a C header without C++ guards
}

namespace {

// Set by the probe, taken by the screen creation that follows it on the same thread.
thread_local const drisw_loader_funcs* t_probed_loader = nullptr;

class DriPresentSink final : public xen3d::guest::SwWinsysPresentSink {
 public:
  explicit DriPresentSink(const drisw_loader_funcs* lf) : SwWinsysPresentSink(dri_create_sw_winsys(lf)) {}
  // The DRI loader hides which X window a drawable is, so EGL windows are
  // never composited on the host: their frames always come back.
  uint32_t window_id(void*) override { return 0; }
  uint64_t desktop_token(bool) override { return 0; }
  bool composited(void*) override { return false; }
};

}  // namespace

extern "C" {

extern const __DRIextension* galliumsw_driver_extensions[];

bool xen3d_dri_probe_sw(pipe_loader_device** devs, const drisw_loader_funcs* lf);
void xen3d_dri_load_options(pipe_loader_device* dev);  // dri_options.c
pipe_screen* xen3d_dri_create_screen(pipe_loader_device* dev);

bool xen3d_dri_probe_sw(pipe_loader_device** devs, const drisw_loader_funcs* lf) {
  t_probed_loader = lf;
  return pipe_loader_sw_probe_dri(devs, lf);
}

pipe_screen* xen3d_dri_create_screen(pipe_loader_device* dev) {
  const drisw_loader_funcs* lf = t_probed_loader;
  t_probed_loader = nullptr;
  if (!lf || !xen3d::guest::remote_driver_selected()) return pipe_loader_create_screen(dev);
  xen3d_dri_load_options(dev);
  auto remote = xen3d::guest::RemoteDevice::open_for_this_program();
  if (!remote) return nullptr;
  return xen3d::guest::remote_screen_create(std::move(remote), std::make_unique<DriPresentSink>(lf));
}

// The entry point Mesa's DRI loaders (libEGL, libGL) look up in swrast_dri.so.
__attribute__((visibility("default"))) const __DRIextension** __driDriverGetExtensions_swrast(void);
__attribute__((visibility("default"))) const __DRIextension** __driDriverGetExtensions_swrast(void) {
  return galliumsw_driver_extensions;
}

}  // extern "C"
