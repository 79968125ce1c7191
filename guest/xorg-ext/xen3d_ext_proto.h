/* The XEN3D X extension: how a guest libGL registers its GL windows with the
 * Xorg module (guest/xorg-ext), which then reports their geometry and clip
 * lists to the compositor. C, because the X server side is C.
 *
 * Requests (major opcode from QueryExtension "XEN3D", minor below):
 *   QueryDesktop   -> reply: whether the compositor composites this desktop,
 *                     and the token GL connections join it with.
 *   RegisterWindow -> reply: whether the window is now tracked (composited).
 *   UnregisterWindow (no reply): stop tracking (the GL drawable went away).
 * Every request is 4-byte-unit sized, X byte order rules apply (the module
 * swaps for clients of the other byte order). */
#ifndef XEN3D_EXT_PROTO_H
#define XEN3D_EXT_PROTO_H

#include <stdint.h>

#define XEN3D_EXTENSION_NAME "XEN3D"
#define XEN3D_EXT_MAJOR 1
#define XEN3D_EXT_MINOR 0

#define X_Xen3DQueryDesktop 0
#define X_Xen3DRegisterWindow 1
#define X_Xen3DUnregisterWindow 2

typedef struct {
  uint8_t reqType; /* the extension's major opcode */
  uint8_t xen3dReqType;
  uint16_t length; /* 1 */
} xXen3DQueryDesktopReq;

typedef struct {
  uint8_t type; /* X_Reply */
  uint8_t composited;
  uint16_t sequenceNumber;
  uint32_t length; /* 0 */
  uint16_t majorVersion;
  uint16_t minorVersion;
  uint32_t tokenLo;
  uint32_t tokenHi;
  uint32_t desktopId;
  uint32_t pad0;
  uint32_t pad1;
} xXen3DQueryDesktopReply;

typedef struct {
  uint8_t reqType;
  uint8_t xen3dReqType;
  uint16_t length; /* 2 */
  uint32_t window;
} xXen3DRegisterWindowReq, xXen3DUnregisterWindowReq;

typedef struct {
  uint8_t type; /* X_Reply */
  uint8_t tracked;
  uint16_t sequenceNumber;
  uint32_t length; /* 0 */
  uint32_t pad[6];
} xXen3DRegisterWindowReply;

#define sz_xXen3DQueryDesktopReq 4
#define sz_xXen3DRegisterWindowReq 8
#define sz_xXen3DQueryDesktopReply 32
#define sz_xXen3DRegisterWindowReply 32

#endif
