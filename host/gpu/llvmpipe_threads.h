/* Sets how many rasterizer threads an llvmpipe screen will start (0: it
 * rasterizes on the thread that flushes). False where the screen is not
 * llvmpipe's or has started its threads already (a context exists). */
#pragma once

#include <stdbool.h>

struct pipe_screen;

#ifdef __cplusplus
extern "C" {
#endif

bool xen3d_llvmpipe_set_threads(struct pipe_screen *screen, unsigned threads);

#ifdef __cplusplus
}
#endif
