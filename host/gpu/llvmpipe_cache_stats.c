/* llvmpipe counts its disk-cache hits and misses only for LP_DEBUG=cache_stats
 * to print at exit; the counters themselves are always kept. This reads them
 * from llvmpipe's own screen struct (lp_screen.h, Mesa 22.3.6): they have no
 * Gallium interface. */
#include "llvmpipe/lp_context.h"
#include "llvmpipe/lp_screen.h"
#include "util/u_atomic.h"

#include "host/gpu/llvmpipe_cache_stats.h"

bool xen3d_llvmpipe_cache_stats(struct pipe_screen *screen, unsigned *hits, unsigned *misses)
{
   /* llvmpipe's screens are the ones that make llvmpipe's contexts. */
   if (screen->context_create != llvmpipe_create_context)
      return false;
   struct llvmpipe_screen *lp = llvmpipe_screen(screen);
   *hits = p_atomic_read(&lp->num_disk_shader_cache_hits);
   *misses = p_atomic_read(&lp->num_disk_shader_cache_misses);
   return true;
}
