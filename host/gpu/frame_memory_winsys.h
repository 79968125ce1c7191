// The software drivers' winsys on the host: window buffers (display
// targets) live in sealed memfds, so a guest on the local transport can hand
// one to its X server (MIT-SHM) and show frames the driver rendered straight
// into it: no copy on the host, none in the guest. Mesa's own xlib winsys
// does the same with SysV shared memory for in-process llvmpipe.
//
// The driver renders into the memfd; displaytarget_display does nothing (the
// guest shows the frame), and resource_get_handle(WINSYS_HANDLE_TYPE_FD)
// returns a duplicate of the memfd (stride and offset 0 in the handle).
#pragma once

struct sw_winsys;

namespace xen3d::host {

// The driver takes ownership (its screen's destroy destroys the winsys).
sw_winsys* frame_memory_winsys_create();

}  // namespace xen3d::host
