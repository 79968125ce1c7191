/* How often an llvmpipe screen found a shader's machine code in its on-disk
 * cache and how often it compiled one: the render worker reports it when its
 * guest leaves (host/worker/shader_cache.h). False where the screen is not
 * llvmpipe's. */
#pragma once

#include <stdbool.h>

struct pipe_screen;

#ifdef __cplusplus
extern "C" {
#endif

bool xen3d_llvmpipe_cache_stats(struct pipe_screen *screen, unsigned *hits, unsigned *misses);

#ifdef __cplusplus
}
#endif
