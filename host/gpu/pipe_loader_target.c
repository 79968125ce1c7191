/* Mesa's static pipe-loader expects the linking target to provide the
 * driver constructors (sw_screen_create_vk, the drm descriptors); Mesa's own
 * targets do it the same way. Every target of ours that links the static
 * pipe-loader compiles this file (the compositor, the guest EGL and OSMesa). */
#include "target-helpers/drm_helper.h"
#include "target-helpers/sw_helper.h"
