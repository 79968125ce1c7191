/* The xen3d Xorg module: loader boilerplate, configuration, and the per-block
 * pacing that drives the compositor link (connect, retry, export the screen,
 * send window states).
 *
 * Configuration, first found wins:
 *   desktop name: $XEN3D_VM_NAME, Option "VmName", else "<hostname>:<display>"
 *   compositor:   $XEN3D_TRANSPORT, Option "Transport", else the proto default
 * Options go in Section "Module" as SubSection "xen3d" ... EndSubSection,
 * which loads the module in place of Load "xen3d" (with both, the options of
 * the second load are ignored). */
#define _DEFAULT_SOURCE /* gethostname and strdup under -std=c11 */
#include <xorg-server.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extension.h"
#include "opaque.h"
#include "os.h"
#include "xf86.h"
#include "xf86Module.h"

#include "xen3d_ext_proto.h"
#include "xen3d_server.h"

/* A client asking whether the desktop is composited waits at most this long
 * for a connect that is under way (usually milliseconds). */
#define CLIENT_WAIT_MS 500

ScreenPtr xen3d_desktop_screen;

static char *option_vm_name;
static char *option_transport;
static Bool configured;
static uint32_t generation_sent; /* the link generation the compositor has everything of */
static Bool export_possible;

static CloseScreenProcPtr wrapped_close_screen;
static ScreenBlockHandlerProcPtr wrapped_block_handler;

void xen3d_log_info(const char *line) { xf86Msg(X_INFO, "xen3d: %s\n", line); }
void xen3d_log_error(const char *line) { xf86Msg(X_ERROR, "xen3d: %s\n", line); }

static const char *first_set(const char *a, const char *b) {
  if (a && *a) return a;
  if (b && *b) return b;
  return NULL;
}

static void configure(void) {
  const char *endpoint = first_set(getenv("XEN3D_TRANSPORT"), option_transport);
  const char *name = first_set(getenv("XEN3D_VM_NAME"), option_vm_name);
  char fallback[300];

  if (!name) {
    char host[256];
    if (gethostname(host, sizeof host) != 0) strcpy(host, "guest");
    host[sizeof host - 1] = '\0';
    snprintf(fallback, sizeof fallback, "%s:%s", host, display ? display : "0");
    name = fallback;
  }
  xen3d_link_configure(endpoint, name);
  xf86Msg(X_INFO, "xen3d: desktop \"%s\", compositor at %s\n", name,
          endpoint ? endpoint : "the default endpoint (XEN3D_TRANSPORT unset)");
  configured = TRUE;
}

static void start_connect(ScreenPtr screen, Bool now) {
  struct xen3d_desktop_geometry geometry;
  if (!export_possible) export_possible = xen3d_export_supported(screen);
  if (!export_possible) return;
  xen3d_export_geometry(screen, &geometry);
  xen3d_link_try_connect(&geometry, now);
}

Bool xen3d_desktop_ready(void) {
  enum xen3d_link_state state = xen3d_link_check();
  if (!xen3d_desktop_screen) return FALSE;
  if (state == XEN3D_LINK_DOWN) {
    start_connect(xen3d_desktop_screen, FALSE);
    state = xen3d_link_poll();
  }
  if (state == XEN3D_LINK_CONNECTING) state = xen3d_link_wait_attempt(CLIENT_WAIT_MS);
  return state == XEN3D_LINK_UP;
}

static void serve_compositor(ScreenPtr screen, void *timeout) {
  enum xen3d_link_state state = xen3d_link_poll();
  int wakeup_ms;

  if (state == XEN3D_LINK_DOWN) {
    start_connect(screen, FALSE);
    state = xen3d_link_poll();
  }
  if (state == XEN3D_LINK_UP) {
    const uint32_t generation = xen3d_link_generation();
    const Bool fresh = generation != generation_sent;
    generation_sent = generation;
    if (fresh) xen3d_windows_forget_sent();
    if (!xen3d_link_attached() && xen3d_export_service(screen, fresh) == XEN3D_EXPORT_NEEDS_BIGGER_REGION) {
      xen3d_link_close();
      xen3d_export_stop(screen);
      start_connect(screen, TRUE);
    } else {
      xen3d_windows_send_changes();
      xen3d_link_flush();
      /* The flush may have taken the link's wakeup: look at its input now,
       * and come back at once for what was posted. */
      if (xen3d_input_service()) AdjustWaitForDelay(timeout, 0);
    }
  } else {
    xen3d_export_stop(screen);
    xen3d_input_service(); /* adds the input devices, once */
  }
  wakeup_ms = xen3d_link_next_wakeup_ms();
  if (wakeup_ms >= 0) AdjustWaitForDelay(timeout, wakeup_ms);
}

/* Ours runs after the screen's own handlers, as close to sleeping as we can
 * get: whatever they drew (a software cursor) is in this block's damage. */
static void xen3d_block_handler(ScreenPtr screen, void *timeout) {
  screen->BlockHandler = wrapped_block_handler;
  if (screen->BlockHandler) screen->BlockHandler(screen, timeout);
  wrapped_block_handler = screen->BlockHandler;
  screen->BlockHandler = xen3d_block_handler;
  serve_compositor(screen, timeout);
}

static Bool xen3d_close_screen(ScreenPtr screen) {
  xen3d_input_close();
  xen3d_link_close();
  xen3d_export_stop(screen);
  xen3d_windows_close(screen);
  screen->BlockHandler = wrapped_block_handler;
  screen->CloseScreen = wrapped_close_screen;
  xen3d_desktop_screen = NULL;
  return screen->CloseScreen(screen);
}

/* Runs at every server generation, after the screens exist and before their
 * resources (the screen pixmap, the root window) do. */
static void xen3d_extension_init(void) {
  ScreenPtr screen;

  if (!configured) configure();
  if (screenInfo.numScreens < 1) return;
  screen = screenInfo.screens[0];
  if (screenInfo.numScreens > 1) {
    xf86Msg(X_WARNING, "xen3d: %d screens; only screen 0 is the composited desktop\n", screenInfo.numScreens);
  }
  if (!xen3d_requests_init()) return;
  if (!xen3d_windows_init(screen)) {
    xf86Msg(X_ERROR, "xen3d: cannot set up window tracking: GL windows will not be composited\n");
    return;
  }
  wrapped_close_screen = screen->CloseScreen;
  screen->CloseScreen = xen3d_close_screen;
  wrapped_block_handler = screen->BlockHandler;
  screen->BlockHandler = xen3d_block_handler;
  xen3d_desktop_screen = screen;
  export_possible = FALSE;
  generation_sent = 0;
}

static const ExtensionModule xen3d_extension = {
    xen3d_extension_init,
    XEN3D_EXTENSION_NAME,
    NULL,
};

static void *xen3d_setup(void *module, void *options, int *errmaj, int *errmin) {
  static Bool loaded;
  const char *value;

  if (loaded) {
    if (errmaj) *errmaj = LDR_ONCEONLY;
    return NULL;
  }
  loaded = TRUE;
  if ((value = xf86FindOptionValue(options, "VmName"))) option_vm_name = strdup(value);
  if ((value = xf86FindOptionValue(options, "Transport"))) option_transport = strdup(value);
  LoadExtensionList(&xen3d_extension, 1, FALSE);
  xen3d_input_register_driver(module);
  return (void *)1;
}

static XF86ModuleVersionInfo xen3d_version = {
    "xen3d",
    "Xen3D",
    MODINFOSTRING1,
    MODINFOSTRING2,
    XORG_VERSION_CURRENT,
    XEN3D_EXT_MAJOR,
    XEN3D_EXT_MINOR,
    0,
    ABI_CLASS_EXTENSION,
    ABI_EXTENSION_VERSION,
    MOD_CLASS_EXTENSION,
    {0, 0, 0, 0},
};

_X_EXPORT XF86ModuleData xen3dModuleData = {&xen3d_version, xen3d_setup, NULL};
