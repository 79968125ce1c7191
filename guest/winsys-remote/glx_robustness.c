// GLX_ARB_create_context_robustness for Mesa's xlib GLX, which refuses its
// attributes although the context underneath supports robustness: the
// state tracker asks our driver for the reset status
// (pipe_context::get_device_reset_status), and the host reports a lost
// context (a rejected record, a render worker killed by the GPU-time
// watchdog) as a guilty reset. glx_spec_fixes.cpp strips the attributes,
// has Mesa create the context, then calls this to make it what the app asked
// for, as st_api_create_context does for ST_CONTEXT_FLAG_ROBUST_ACCESS and
// ST_CONTEXT_FLAG_RESET_NOTIFICATION_ENABLED.
//
// This reads two structs private to Mesa 22.3.6's xlib frontend, by their
// leading members (the subproject is that release, checksum-verified by
// scripts/fetch-mesa.sh): glx_api.c's __GLXcontextRec and xm_api.h's
// xmesa_context. A Mesa update must check them again.
#include <GL/glx.h>
#include <X11/Xlib.h>

#include "main/mtypes.h"
#include "state_tracker/st_cb_flush.h"
#include "state_tracker/st_context.h"

struct xen3d_glx_context {  // glx_api.c: struct __GLXcontextRec
  Display *currentDpy;
  GLboolean isDirect;
  GLXDrawable currentDrawable;
  GLXDrawable currentReadable;
  XID xid;
  struct xen3d_xmesa_context *xmesaContext;
};

struct xen3d_xmesa_context {  // xm_api.h: struct xmesa_context, first member
  struct st_context_iface *st;
};

void xen3d_glx_make_robust(GLXContext context, int robust_access, int lose_context_on_reset);

void xen3d_glx_make_robust(GLXContext context, int robust_access, int lose_context_on_reset) {
  struct xen3d_glx_context *glx = (struct xen3d_glx_context *)context;
  if (!glx || !glx->xmesaContext || !glx->xmesaContext->st) return;
  // st_context begins with its st_context_iface (st_context.h).
  struct st_context *st = (struct st_context *)glx->xmesaContext->st;
  struct gl_context *ctx = st->ctx;
  if (robust_access) {
    ctx->Const.ContextFlags |= GL_CONTEXT_FLAG_ROBUST_ACCESS_BIT_ARB;
    ctx->Const.RobustAccess = GL_TRUE;
  }
  if (lose_context_on_reset) {
    ctx->Const.ResetStrategy = GL_LOSE_CONTEXT_ON_RESET_ARB;
    st_install_device_reset_callback(st);
  }
}
