/* Mesa's static pipe-loader expects the linking target to provide the
 * driver constructors (sw_screen_create_vk, the drm descriptors); Mesa's own
 * targets do it the same way. */
#include "target-helpers/drm_helper.h"
#include "target-helpers/sw_helper.h"
