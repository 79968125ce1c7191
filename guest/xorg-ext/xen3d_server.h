/* What the X server side files of the module share. C only: include
 * <xorg-server.h> first, as every X server source file must. */
#ifndef XEN3D_SERVER_H
#define XEN3D_SERVER_H

#include "dixstruct.h"
#include "scrnintstr.h"
#include "windowstr.h"

#include "desktop_link.h"

/* ---- xen3d_module.c: the module, its configuration and the link's pacing ---- */

/* The screen that is the desktop (screen 0); NULL before the extension is up. */
extern ScreenPtr xen3d_desktop_screen;

/* Whether the desktop is composited now, for a client's request: starts a
 * connect when one is due and waits a moment for one that is under way. */
Bool xen3d_desktop_ready(void);

/* ---- xen3d_requests.c: the XEN3D protocol ---- */

Bool xen3d_requests_init(void);

/* ---- window_tracker.c: GL windows and their clip lists ---- */

Bool xen3d_windows_init(ScreenPtr screen);
void xen3d_windows_close(ScreenPtr screen);
/* RegisterWindow from `client`: *tracked says whether the window is now
 * composited. Returns an X status (BadAlloc). */
int xen3d_windows_register(ClientPtr client, WindowPtr window, Bool *tracked);
/* UnregisterWindow: drops the client's registration, if any. */
void xen3d_windows_unregister(ClientPtr client, XID window);
/* After a (re)connect the compositor knows none of them. */
void xen3d_windows_forget_sent(void);
/* Sends the state of every tracked window the compositor does not have yet. */
void xen3d_windows_send_changes(void);

/* ---- screen_export.c: the screen's 2D contents into the framebuffer ---- */

/* Whether the screen's pixels can be exported (B8G8R8X8); logs why not, once. */
Bool xen3d_export_supported(ScreenPtr screen);
/* The desktop a connect should open for the screen as it is now. */
void xen3d_export_geometry(ScreenPtr screen, struct xen3d_desktop_geometry *geometry);

enum xen3d_export_result {
  XEN3D_EXPORT_DONE,
  XEN3D_EXPORT_NEEDS_BIGGER_REGION, /* the screen outgrew the framebuffer region */
};
/* Copies what changed (everything with whole_screen) into the framebuffer
 * and tells the compositor. Link up only. */
enum xen3d_export_result xen3d_export_service(ScreenPtr screen, Bool whole_screen);
/* The link is down: stop watching the screen. */
void xen3d_export_stop(ScreenPtr screen);

/* ---- input_devices.c: the compositor's input as X input devices ---- */

/* At module setup: the input driver the module's devices use. */
void xen3d_input_register_driver(void *module);
/* Posts the input the link has (adding the devices first, once); returns
 * whether any was posted. Main loop only. */
Bool xen3d_input_service(void);
/* Server reset or exit: stop watching the link. */
void xen3d_input_close(void);

#endif
