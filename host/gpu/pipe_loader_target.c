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

/* zink on the Vulkan device it picks (a GPU's first; a CPU device only
 * when LIBGL_ALWAYS_SOFTWARE is set: zink_screen.c choose_pdev). It keeps
 * no winsys: its window buffers are Vulkan memory. NULL in targets built
 * without zink (the guest's EGL and OSMesa). */
struct pipe_screen *xen3d_zink_screen_create(void);
struct pipe_screen *xen3d_zink_screen_create(void)
{
#ifdef GALLIUM_ZINK
   struct pipe_screen *screen = sw_screen_create_zink(NULL, NULL, false);
   return screen ? debug_screen_wrap(screen) : NULL;
#else
   return NULL;
#endif
}
