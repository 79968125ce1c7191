/* The DRI frontend reads its driconf options from the pipe-loader device
 * after pipe_loader_create_screen() has parsed the option table into it. The
 * remote screen is made without that call (dri_remote_target.cpp), so the
 * same table is parsed here: Gallium's common options, which is all a
 * software device adds (pipe_loader.c: merge_driconf with no driver table). */
#include "pipe-loader/pipe_loader.h"
#include "util/driconf.h"
#include "util/macros.h"
#include "util/xmlconfig.h"

static const driOptionDescription xen3d_gallium_driconf[] = {
#include "pipe-loader/driinfo_gallium.h"
};

void xen3d_dri_load_options(struct pipe_loader_device *dev);

void xen3d_dri_load_options(struct pipe_loader_device *dev)
{
   if (!dev->option_info.info)
      driParseOptionInfo(&dev->option_info, xen3d_gallium_driconf, ARRAY_SIZE(xen3d_gallium_driconf));
}
