/* GL windows: which windows clients registered, and where on the screen they
 * can be seen. The screen's window hooks note that the window layout changed
 * (any move, resize, restack, map or unmap, of any window); the BlockHandler
 * then works out each tracked window's state and sends those that differ
 * from what the compositor has, so a burst of changes costs one record per
 * window.
 *
 * The visible part is computed from the window tree rather than taken from
 * the window's clipList: a window with an alpha visual (depth 32, which GLX
 * hands out readily) is redirected by Composite, and a redirected window's
 * clipList is its whole area whatever lies above it.
 *
 * A window stays tracked while at least one client has it registered. Each
 * registration is a resource of the registering client, so a GL client that
 * exits without unregistering stops its window from being composited. */
#include <xorg-server.h>

#include <stdlib.h>

#include "list.h"
#include "privates.h"
#include "regionstr.h"
#include "resource.h"

#include "xen3d_server.h"

/* The protocol's limit on any size in window_state. */
#define MAX_EXTENT 16384

typedef struct {
  struct xorg_list link; /* in tracked_windows */
  WindowPtr window;
  XID id;
  struct xorg_list registrations;
  /* What the compositor was last told (valid when `sent`). */
  Bool sent;
  int32_t x, y;
  uint32_t width, height;
  Bool mapped;
  RegionRec visible;
} TrackedWindow;

typedef struct {
  struct xorg_list link;  /* in TrackedWindow.registrations */
  TrackedWindow *tracked; /* NULL once the window is gone */
  XID resource;           /* owned by the registering client */
} Registration;

static DevPrivateKeyRec tracked_key;
static RESTYPE registration_type;
static struct xorg_list tracked_windows;
static ScreenPtr tracked_screen;
/* Some window moved, resized, restacked, appeared or vanished (or a tracked
 * window is not yet known to the compositor): states must be looked at. */
static Bool layout_changed;

static ClipNotifyProcPtr wrapped_clip_notify;
static PositionWindowProcPtr wrapped_position_window;
static RealizeWindowProcPtr wrapped_realize_window;
static UnrealizeWindowProcPtr wrapped_unrealize_window;
static RestackWindowProcPtr wrapped_restack_window;
static DestroyWindowProcPtr wrapped_destroy_window;

static struct xen3d_rect clip_rects[XEN3D_MAX_CLIP_RECTS];

static TrackedWindow *tracked_of(WindowPtr window) {
  return dixLookupPrivate(&window->devPrivates, &tracked_key);
}

static void note_layout_change(WindowPtr window) {
  if (window->drawable.pScreen == tracked_screen && !xorg_list_is_empty(&tracked_windows)) {
    layout_changed = TRUE;
  }
}

/* The part of the window's inside that shows on the screen: its inside
 * (already cut to its ancestors' insides), less its mapped children and every
 * mapped window stacked above it or above one of its ancestors. `visible`
 * comes in empty. */
static void compute_visible(WindowPtr window, RegionPtr visible) {
  WindowPtr level, other;

  if (!window->realized) return;
  RegionCopy(visible, &window->winSize);
  for (other = window->firstChild; other; other = other->nextSib) {
    if (other->viewable) RegionSubtract(visible, visible, &other->borderSize);
  }
  for (level = window; level->parent; level = level->parent) {
    for (other = level->prevSib; other; other = other->prevSib) {
      if (other->viewable) RegionSubtract(visible, visible, &other->borderSize);
    }
  }
}

static uint32_t clamp_extent(int value) {
  if (value < 0) return 0;
  return value > MAX_EXTENT ? MAX_EXTENT : (uint32_t)value;
}

static struct xen3d_rect rect_of_box(const BoxRec *box) {
  struct xen3d_rect r;
  r.x = box->x1;
  r.y = box->y1;
  r.width = clamp_extent(box->x2 - box->x1);
  r.height = clamp_extent(box->y2 - box->y1);
  return r;
}

/* Sends the window's state unless the compositor already has it. */
static enum xen3d_send_result update(TrackedWindow *tracked) {
  WindowPtr window = tracked->window;
  struct xen3d_window_state state;
  enum xen3d_send_result result;
  RegionRec visible;
  int n;

  RegionNull(&visible);
  compute_visible(window, &visible);
  state.window = tracked->id;
  state.x = window->drawable.x;
  state.y = window->drawable.y;
  state.width = clamp_extent(window->drawable.width);
  state.height = clamp_extent(window->drawable.height);
  state.mapped = window->realized;
  if (tracked->sent && state.x == tracked->x && state.y == tracked->y && state.width == tracked->width &&
      state.height == tracked->height && state.mapped == tracked->mapped &&
      RegionEqual(&visible, &tracked->visible)) {
    RegionUninit(&visible);
    return XEN3D_SEND_OK;
  }

  state.clip = clip_rects;
  n = RegionNumRects(&visible);
  if (n > XEN3D_MAX_CLIP_RECTS) {
    /* Approximation: a visible part this fragmented (a window behind a
     * fine-grained pattern of others) is sent as its bounding box. */
    clip_rects[0] = rect_of_box(RegionExtents(&visible));
    state.clip_count = 1;
  } else {
    const BoxRec *boxes = RegionRects(&visible);
    int i;
    for (i = 0; i < n; i++) clip_rects[i] = rect_of_box(&boxes[i]);
    state.clip_count = (uint32_t)n;
  }
  result = xen3d_link_send_window_state(&state);
  if (result == XEN3D_SEND_OK) {
    tracked->sent = TRUE;
    tracked->x = state.x;
    tracked->y = state.y;
    tracked->width = state.width;
    tracked->height = state.height;
    tracked->mapped = state.mapped;
    RegionCopy(&tracked->visible, &visible);
  }
  RegionUninit(&visible);
  return result;
}

static void untrack(TrackedWindow *tracked) {
  xen3d_link_send_window_gone(tracked->id);
  dixSetPrivate(&tracked->window->devPrivates, &tracked_key, NULL);
  xorg_list_del(&tracked->link);
  RegionUninit(&tracked->visible);
  free(tracked);
}

/* The registering client freed it, unregistered, or went away. */
static int registration_gone(void *value, XID id) {
  Registration *registration = value;
  TrackedWindow *tracked = registration->tracked;
  if (tracked) {
    xorg_list_del(&registration->link);
    if (xorg_list_is_empty(&tracked->registrations)) untrack(tracked);
  }
  free(registration);
  return Success;
}

static Registration *registration_of(TrackedWindow *tracked, ClientPtr client) {
  Registration *registration;
  xorg_list_for_each_entry(registration, &tracked->registrations, link) {
    if (CLIENT_ID(registration->resource) == client->index) return registration;
  }
  return NULL;
}

static TrackedWindow *find_tracked(XID id) {
  TrackedWindow *tracked;
  xorg_list_for_each_entry(tracked, &tracked_windows, link) {
    if (tracked->id == id) return tracked;
  }
  return NULL;
}

int xen3d_windows_register(ClientPtr client, WindowPtr window, Bool *tracked_now) {
  TrackedWindow *tracked;
  Registration *registration;

  *tracked_now = FALSE;
  if (window->drawable.pScreen != tracked_screen) return Success; /* not the desktop's screen */

  tracked = tracked_of(window);
  if (!tracked) {
    tracked = calloc(1, sizeof *tracked);
    if (!tracked) return BadAlloc;
    tracked->window = window;
    tracked->id = window->drawable.id;
    xorg_list_init(&tracked->registrations);
    RegionNull(&tracked->visible);
    xorg_list_append(&tracked->link, &tracked_windows);
    dixSetPrivate(&window->devPrivates, &tracked_key, tracked);
  }
  if (!registration_of(tracked, client)) {
    registration = calloc(1, sizeof *registration);
    if (!registration) {
      if (xorg_list_is_empty(&tracked->registrations)) untrack(tracked);
      return BadAlloc;
    }
    registration->tracked = tracked;
    registration->resource = FakeClientID(client->index);
    xorg_list_append(&registration->link, &tracked->registrations);
    /* On failure AddResource has already run registration_gone. */
    if (!AddResource(registration->resource, registration_type, registration)) return BadAlloc;
  }

  /* Sent at once: the GL client presents into it right after this reply. */
  tracked->sent = FALSE;
  layout_changed = TRUE;
  if (xen3d_link_poll() == XEN3D_LINK_UP) {
    xen3d_windows_send_changes();
    xen3d_link_flush();
  }
  *tracked_now = xen3d_link_poll() == XEN3D_LINK_UP;
  return Success;
}

void xen3d_windows_unregister(ClientPtr client, XID window) {
  TrackedWindow *tracked = find_tracked(window);
  Registration *registration;
  if (!tracked) return; /* already destroyed, or never registered: nothing to undo */
  registration = registration_of(tracked, client);
  if (registration) FreeResource(registration->resource, RT_NONE);
  xen3d_link_flush();
}

void xen3d_windows_forget_sent(void) {
  TrackedWindow *tracked;
  xorg_list_for_each_entry(tracked, &tracked_windows, link) tracked->sent = FALSE;
  layout_changed = TRUE;
}

void xen3d_windows_send_changes(void) {
  TrackedWindow *tracked;
  if (!layout_changed) return;
  xorg_list_for_each_entry(tracked, &tracked_windows, link) {
    /* BUSY: the rest waits for the next block; DOWN: all are resent on reconnect. */
    if (update(tracked) != XEN3D_SEND_OK) return;
  }
  layout_changed = FALSE;
}

/* ---- the screen's window hooks: wrapped, they call down first ---- */

static void xen3d_clip_notify(WindowPtr window, int dx, int dy) {
  ScreenPtr screen = window->drawable.pScreen;
  screen->ClipNotify = wrapped_clip_notify;
  if (screen->ClipNotify) screen->ClipNotify(window, dx, dy);
  wrapped_clip_notify = screen->ClipNotify;
  screen->ClipNotify = xen3d_clip_notify;
  note_layout_change(window);
}

static Bool xen3d_position_window(WindowPtr window, int x, int y) {
  ScreenPtr screen = window->drawable.pScreen;
  Bool ok = TRUE;
  screen->PositionWindow = wrapped_position_window;
  if (screen->PositionWindow) ok = screen->PositionWindow(window, x, y);
  wrapped_position_window = screen->PositionWindow;
  screen->PositionWindow = xen3d_position_window;
  note_layout_change(window);
  return ok;
}

static Bool xen3d_realize_window(WindowPtr window) {
  ScreenPtr screen = window->drawable.pScreen;
  Bool ok = TRUE;
  screen->RealizeWindow = wrapped_realize_window;
  if (screen->RealizeWindow) ok = screen->RealizeWindow(window);
  wrapped_realize_window = screen->RealizeWindow;
  screen->RealizeWindow = xen3d_realize_window;
  note_layout_change(window);
  return ok;
}

static Bool xen3d_unrealize_window(WindowPtr window) {
  ScreenPtr screen = window->drawable.pScreen;
  Bool ok = TRUE;
  screen->UnrealizeWindow = wrapped_unrealize_window;
  if (screen->UnrealizeWindow) ok = screen->UnrealizeWindow(window);
  wrapped_unrealize_window = screen->UnrealizeWindow;
  screen->UnrealizeWindow = xen3d_unrealize_window;
  note_layout_change(window);
  return ok;
}

/* Restacking two redirected windows changes no clip list: only this tells. */
static void xen3d_restack_window(WindowPtr window, WindowPtr old_next_sibling) {
  ScreenPtr screen = window->drawable.pScreen;
  screen->RestackWindow = wrapped_restack_window;
  if (screen->RestackWindow) screen->RestackWindow(window, old_next_sibling);
  wrapped_restack_window = screen->RestackWindow;
  screen->RestackWindow = xen3d_restack_window;
  note_layout_change(window);
}

static Bool xen3d_destroy_window(WindowPtr window) {
  ScreenPtr screen = window->drawable.pScreen;
  TrackedWindow *tracked = screen == tracked_screen ? tracked_of(window) : NULL;
  Bool ok = TRUE;

  if (tracked) {
    Registration *registration, *next;
    xorg_list_for_each_entry_safe(registration, next, &tracked->registrations, link) {
      xorg_list_del(&registration->link);
      registration->tracked = NULL;
      FreeResource(registration->resource, RT_NONE);
    }
    untrack(tracked);
  }
  note_layout_change(window);
  screen->DestroyWindow = wrapped_destroy_window;
  if (screen->DestroyWindow) ok = screen->DestroyWindow(window);
  wrapped_destroy_window = screen->DestroyWindow;
  screen->DestroyWindow = xen3d_destroy_window;
  return ok;
}

Bool xen3d_windows_init(ScreenPtr screen) {
  if (!dixRegisterPrivateKey(&tracked_key, PRIVATE_WINDOW, 0)) return FALSE;
  registration_type = CreateNewResourceType(registration_gone, "Xen3DWindowRegistration");
  if (!registration_type) return FALSE;
  xorg_list_init(&tracked_windows);
  tracked_screen = screen;
  layout_changed = FALSE;

  wrapped_clip_notify = screen->ClipNotify;
  screen->ClipNotify = xen3d_clip_notify;
  wrapped_position_window = screen->PositionWindow;
  screen->PositionWindow = xen3d_position_window;
  wrapped_realize_window = screen->RealizeWindow;
  screen->RealizeWindow = xen3d_realize_window;
  wrapped_unrealize_window = screen->UnrealizeWindow;
  screen->UnrealizeWindow = xen3d_unrealize_window;
  wrapped_restack_window = screen->RestackWindow;
  screen->RestackWindow = xen3d_restack_window;
  wrapped_destroy_window = screen->DestroyWindow;
  screen->DestroyWindow = xen3d_destroy_window;
  return TRUE;
}

void xen3d_windows_close(ScreenPtr screen) {
  TrackedWindow *tracked, *next;
  if (screen != tracked_screen) return;
  screen->ClipNotify = wrapped_clip_notify;
  screen->PositionWindow = wrapped_position_window;
  screen->RealizeWindow = wrapped_realize_window;
  screen->UnrealizeWindow = wrapped_unrealize_window;
  screen->RestackWindow = wrapped_restack_window;
  screen->DestroyWindow = wrapped_destroy_window;
  /* The windows are gone by now (the root window's destruction took them);
   * whatever is left is only memory. */
  xorg_list_for_each_entry_safe(tracked, next, &tracked_windows, link) {
    Registration *registration, *rnext;
    xorg_list_for_each_entry_safe(registration, rnext, &tracked->registrations, link) {
      xorg_list_del(&registration->link);
      registration->tracked = NULL;
    }
    xorg_list_del(&tracked->link);
    RegionUninit(&tracked->visible);
    free(tracked);
  }
  tracked_screen = NULL;
}
