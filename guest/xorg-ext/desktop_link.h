/* The C ABI between the X server side of the module (C: xen3d_module.c and
 * friends) and its link to the compositor (C++: desktop_link.cpp), which owns
 * the GuestSession, the framebuffer region and the background connect.
 *
 * Every function is called on the X server's main thread only, never fails
 * by throwing, and never blocks for long: connecting runs on a thread of its
 * own, and a record that does not fit the command ring now is refused with
 * XEN3D_SEND_BUSY instead of waiting for a compositor that may be stuck. */
#ifndef XEN3D_DESKTOP_LINK_H
#define XEN3D_DESKTOP_LINK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Implemented by the server side: one line in the X server log, "xen3d: " first. */
void xen3d_log_info(const char *line);
void xen3d_log_error(const char *line);

/* Implemented by the server side: the link's readiness descriptor
 * (xen3d_link_input_fd) changes, -1 for none; called before the old one closes. */
void xen3d_input_fd_changed(int old_fd, int new_fd);

/* endpoint: "local:/path" or "tcp:host:port" (NULL or "": XEN3D_TRANSPORT or
 * the proto library's default). desktop_name: what the compositor calls this
 * desktop (at most 64 bytes are sent). Call before anything else. */
void xen3d_link_configure(const char *endpoint, const char *desktop_name);

enum xen3d_link_state {
  XEN3D_LINK_DOWN,       /* uncomposited; a new attempt may be started */
  XEN3D_LINK_CONNECTING, /* an attempt runs in the background */
  XEN3D_LINK_UP,         /* desktop_open was answered ok */
};

/* Collects a finished background attempt (logging its outcome) and returns the state. */
enum xen3d_link_state xen3d_link_poll(void);

/* Like xen3d_link_poll, but first looks at the connection itself, so that a
 * compositor that went away a moment ago is noticed (costs ~50 us). */
enum xen3d_link_state xen3d_link_check(void);

/* Counts the times the link came up: the server side resends the whole
 * screen and every tracked window when it changes. */
uint32_t xen3d_link_generation(void);

/* What a new desktop looks like: the screen now, and how many pixel bytes
 * the framebuffer region should hold (at least stride * height; more lets
 * the screen grow without reconnecting). */
struct xen3d_desktop_geometry {
  uint32_t width, height, stride;
  uint64_t region_pixel_bytes;
};

/* Starts a background attempt when the link is down and the last attempt
 * began at least the retry interval (5 s) ago, or at once with `now`.
 * Returns 1 when an attempt was started. */
int xen3d_link_try_connect(const struct xen3d_desktop_geometry *geometry, int now);

/* Waits at most timeout_ms for a running attempt to finish, then polls. */
enum xen3d_link_state xen3d_link_wait_attempt(int timeout_ms);

/* Milliseconds until the link wants the server side to call it again
 * (a retry, a stalled ring, a running attempt, a liveness probe); -1: never. */
int xen3d_link_next_wakeup_ms(void);

/* 1 while the link is up on the desktop of this Xen domain's PV display
 * (desktop_attach): the scanout is the 2D picture, so nothing is exported. */
int xen3d_link_attached(void);

/* Valid while the link is up. */
uint64_t xen3d_link_token(void);
uint32_t xen3d_link_desktop_id(void);

/* The desktop's framebuffer as the compositor knows it (all 0 when down). */
uint8_t *xen3d_link_pixels(void);
void xen3d_link_desktop_size(uint32_t *width, uint32_t *height, uint32_t *stride);
/* Whether a width x height screen, rows `stride` bytes apart, fits the region. */
int xen3d_link_fits(uint32_t width, uint32_t height, uint32_t stride);

enum xen3d_send_result {
  XEN3D_SEND_OK,
  XEN3D_SEND_BUSY, /* the compositor is behind: try again later (the link asks for a wakeup) */
  XEN3D_SEND_DOWN, /* the link is down (the failure was logged) */
};

/* Rewrites the framebuffer page header and sends desktop_resize. The caller
 * then copies and reports the whole screen. Must fit (xen3d_link_fits). */
enum xen3d_send_result xen3d_link_resize(uint32_t width, uint32_t height, uint32_t stride);

/* Queues an update event for pixels already copied into the framebuffer.
 * When the page's event ring is full the link remembers to report the whole
 * screen once there is room, so a caller never needs to retry. */
void xen3d_link_push_update(int32_t x, int32_t y, int32_t width, int32_t height);
/* Rings the doorbell (desktop_damage) when update events are waiting. */
enum xen3d_send_result xen3d_link_ring_doorbell(void);

struct xen3d_rect {
  int32_t x, y;
  uint32_t width, height;
};

/* The most clip rects one window_state carries: the protocol allows 4096,
 * but a record may not exceed 64 KiB (proto/wire.h kMaxRecordSize), which
 * leaves room for 4093. A longer clip list is sent as its bounding box. */
#define XEN3D_MAX_CLIP_RECTS 4093

struct xen3d_window_state {
  uint32_t window;
  int32_t x, y;
  uint32_t width, height;
  int mapped;
  const struct xen3d_rect *clip; /* screen coordinates, disjoint */
  uint32_t clip_count;           /* at most XEN3D_MAX_CLIP_RECTS */
};

enum xen3d_send_result xen3d_link_send_window_state(const struct xen3d_window_state *state);
/* Never lost while the link stays up: a window_gone that does not fit now is
 * kept and sent before any later record. */
enum xen3d_send_result xen3d_link_send_window_gone(uint32_t window);

/* Makes everything sent visible to the compositor, and notices (at most
 * every 2 s) a compositor that went away while we had nothing to say. */
void xen3d_link_flush(void);

/* Input from the compositor for this desktop (proto/commands.toml,
 * input_key / input_pointer / input_wheel), checked as it is decoded. */
enum xen3d_input_kind {
  XEN3D_INPUT_KEY,     /* code: a Linux input code (KEY_*, BTN_*), down */
  XEN3D_INPUT_POINTER, /* x, y: absolute, in screen pixels (not yet clamped) */
  XEN3D_INPUT_WHEEL,   /* x: horizontal notches (+ right), y: vertical (+ up) */
};
struct xen3d_input_event {
  int kind;
  uint16_t code;
  int down;
  int32_t x, y;
};

/* A descriptor that becomes readable when the compositor may have sent
 * something (input); -1 while the link is down. It changes when the link
 * comes up again (xen3d_link_generation). */
int xen3d_link_input_fd(void);

/* Takes up to `max` input events, oldest first; reading them also notices
 * a compositor that rejected us. Returns how many. */
int xen3d_link_take_input(struct xen3d_input_event *events, int max);

/* Closes the desktop (server reset or exit). */
void xen3d_link_close(void);

#ifdef __cplusplus
}
#endif

#endif
