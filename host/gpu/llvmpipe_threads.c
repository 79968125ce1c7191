/* How many rasterizer threads an llvmpipe screen starts: llvmpipe reads
 * LP_NUM_THREADS when the screen is created, but starts its threads only at
 * the first context (llvmpipe_screen_late_init). A render worker opens its
 * screen before it knows how many guests share the host's cores (the spare
 * worker, docs/render-workers.md), and sets the count here once it does.
 * This reads llvmpipe's own screen struct (lp_screen.h, Mesa 22.3.6): the
 * count has no Gallium interface. */
#include <stdbool.h>

#include "llvmpipe/lp_context.h"
#include "llvmpipe/lp_screen.h"
#include "llvmpipe/lp_limits.h"

#include "host/gpu/llvmpipe_threads.h"

bool xen3d_llvmpipe_set_threads(struct pipe_screen *screen, unsigned threads)
{
   /* llvmpipe's screens are the ones that make llvmpipe's contexts. */
   if (screen->context_create != llvmpipe_create_context)
      return false;
   struct llvmpipe_screen *lp = llvmpipe_screen(screen);
   bool done = false;
   mtx_lock(&lp->late_mutex);
   if (!lp->late_init_done) {
      lp->num_threads = threads < LP_MAX_THREADS ? threads : LP_MAX_THREADS;
      done = true;
   }
   mtx_unlock(&lp->late_mutex);
   return done;
}
