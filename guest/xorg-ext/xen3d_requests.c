/* The XEN3D protocol (xen3d_ext_proto.h): QueryDesktop, RegisterWindow,
 * UnregisterWindow, and their byte-swapped forms. Every request's length is
 * checked before a byte of it is read. */
#include <xorg-server.h>

#include "extnsionst.h"
#include "misc.h"
#include "os.h"
#include "xf86.h"

#include "xen3d_ext_proto.h"
#include "xen3d_server.h"

static int proc_query_desktop(ClientPtr client) {
  xXen3DQueryDesktopReply reply = {0};
  uint64_t token;

  REQUEST_SIZE_MATCH(xXen3DQueryDesktopReq);
  reply.type = X_Reply;
  reply.composited = xen3d_desktop_ready() ? 1 : 0;
  reply.sequenceNumber = client->sequence;
  reply.length = 0;
  reply.majorVersion = XEN3D_EXT_MAJOR;
  reply.minorVersion = XEN3D_EXT_MINOR;
  token = reply.composited ? xen3d_link_token() : 0;
  reply.tokenLo = (uint32_t)token;
  reply.tokenHi = (uint32_t)(token >> 32);
  reply.desktopId = reply.composited ? xen3d_link_desktop_id() : 0;
  if (client->swapped) {
    swaps(&reply.sequenceNumber);
    swapl(&reply.length);
    swaps(&reply.majorVersion);
    swaps(&reply.minorVersion);
    swapl(&reply.tokenLo);
    swapl(&reply.tokenHi);
    swapl(&reply.desktopId);
  }
  WriteToClient(client, sizeof reply, &reply);
  return Success;
}

static int proc_register_window(ClientPtr client) {
  REQUEST(xXen3DRegisterWindowReq);
  xXen3DRegisterWindowReply reply = {0};
  WindowPtr window;
  Bool tracked = FALSE;
  int rc;

  REQUEST_SIZE_MATCH(xXen3DRegisterWindowReq);
  rc = dixLookupWindow(&window, stuff->window, client, DixGetAttrAccess);
  if (rc != Success) {
    client->errorValue = stuff->window;
    return rc;
  }
  xen3d_desktop_ready(); /* a connect may be due; the window is remembered either way */
  rc = xen3d_windows_register(client, window, &tracked);
  if (rc != Success) return rc;

  reply.type = X_Reply;
  reply.tracked = tracked ? 1 : 0;
  reply.sequenceNumber = client->sequence;
  reply.length = 0;
  if (client->swapped) {
    swaps(&reply.sequenceNumber);
    swapl(&reply.length);
  }
  WriteToClient(client, sizeof reply, &reply);
  return Success;
}

/* Lenient by design: a GL client may destroy its window before its drawable,
 * and an error here would kill a client that did nothing wrong. */
static int proc_unregister_window(ClientPtr client) {
  REQUEST(xXen3DUnregisterWindowReq);
  REQUEST_SIZE_MATCH(xXen3DUnregisterWindowReq);
  xen3d_windows_unregister(client, stuff->window);
  return Success;
}

static int proc_dispatch(ClientPtr client) {
  REQUEST(xReq);
  switch (stuff->data) {
    case X_Xen3DQueryDesktop:
      return proc_query_desktop(client);
    case X_Xen3DRegisterWindow:
      return proc_register_window(client);
    case X_Xen3DUnregisterWindow:
      return proc_unregister_window(client);
    default:
      return BadRequest;
  }
}

static int sproc_query_desktop(ClientPtr client) {
  REQUEST(xXen3DQueryDesktopReq);
  swaps(&stuff->length);
  REQUEST_SIZE_MATCH(xXen3DQueryDesktopReq);
  return proc_query_desktop(client);
}

static int sproc_window_request(ClientPtr client, int (*proc)(ClientPtr)) {
  REQUEST(xXen3DRegisterWindowReq);
  swaps(&stuff->length);
  REQUEST_SIZE_MATCH(xXen3DRegisterWindowReq);
  swapl(&stuff->window);
  return proc(client);
}

static int sproc_dispatch(ClientPtr client) {
  REQUEST(xReq);
  switch (stuff->data) {
    case X_Xen3DQueryDesktop:
      return sproc_query_desktop(client);
    case X_Xen3DRegisterWindow:
      return sproc_window_request(client, proc_register_window);
    case X_Xen3DUnregisterWindow:
      return sproc_window_request(client, proc_unregister_window);
    default:
      return BadRequest;
  }
}

Bool xen3d_requests_init(void) {
  ExtensionEntry *extension =
      AddExtension(XEN3D_EXTENSION_NAME, 0, 0, proc_dispatch, sproc_dispatch, NULL, StandardMinorOpcode);
  if (!extension) {
    xf86Msg(X_ERROR, "xen3d: cannot add the %s extension\n", XEN3D_EXTENSION_NAME);
    return FALSE;
  }
  return TRUE;
}
