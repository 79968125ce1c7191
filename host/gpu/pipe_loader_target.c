/* Mesa's static pipe-loader expects the linking target to provide the
 * driver constructors (sw_screen_create_vk, the drm descriptors); Mesa's own
 * targets do it the same way. Every target of ours that links the static
 * pipe-loader compiles this file (the compositor, the guest EGL and OSMesa). */
#include "target-helpers/drm_helper.h"
#include "target-helpers/sw_helper.h"

/* The host's software screens on a winsys of their own
 * (host/gpu/frame_memory_winsys.h): what pipe_loader_sw_create_screen does,
 * without a pipe-loader device, whose winsys would be fixed. */
struct pipe_screen *xen3d_sw_screen_create(struct sw_winsys *ws, const char *driver);
struct pipe_screen *xen3d_sw_screen_create(struct sw_winsys *ws, const char *driver)
{
   struct pipe_screen *screen = sw_screen_create_named(ws, NULL, driver);
   return screen ? debug_screen_wrap(screen) : NULL;
}
