/* The screen's 2D contents, exported to the compositor: a Damage object on
 * the screen pixmap collects what was drawn; each BlockHandler copies those
 * pixels into the shared framebuffer, queues an update event per rectangle
 * in the Xen framebuffer page and rings the doorbell once.
 *
 * Pixels are read with the screen's GetImage, which works whatever the
 * driver keeps its pixmaps in (system memory, a GPU through glamor). */
#include <xorg-server.h>

#include <stdlib.h>
#include <string.h>

#include "xf86.h"

#include "damage.h"
#include "pixmapstr.h"
#include "randrstr.h"
#include "regionstr.h"

#include "xen3d_server.h"

/* More damaged rectangles than this are sent as their bounding box: one
 * bigger copy is cheaper than many small ones and their events. */
#define MAX_DAMAGE_RECTS 32
/* GetImage reads through a bounce buffer of about this size. */
#define BOUNCE_BYTES (256 * 1024)
/* The framebuffer region is made big enough for the largest screen RandR
 * allows, up to this many bytes (3840x2160 fits), so that growing the screen
 * does not need a new desktop. Its memory is only touched where the screen
 * really is. */
#define MAX_RESERVED_PIXEL_BYTES (32u * 1024 * 1024)

static DamagePtr screen_damage;
static PixmapPtr damaged_pixmap;
static uint8_t *bounce;
static size_t bounce_size;
static Bool unsupported_logged;

static void damage_destroyed(DamagePtr damage, void *closure) {
  /* Also when the screen pixmap goes away (a RandR resize replaces it). */
  if (damage == screen_damage) {
    screen_damage = NULL;
    damaged_pixmap = NULL;
  }
}

static Bool screen_is_bgrx(ScreenPtr screen, PixmapPtr pixmap) {
  int i;
  if (pixmap->drawable.bitsPerPixel != 32 || pixmap->drawable.depth < 24) return FALSE;
  for (i = 0; i < screen->numVisuals; i++) {
    VisualPtr visual = &screen->visuals[i];
    if (visual->vid == screen->rootVisual) {
      return visual->redMask == 0xff0000 && visual->greenMask == 0xff00 && visual->blueMask == 0xff;
    }
  }
  return FALSE;
}

Bool xen3d_export_supported(ScreenPtr screen) {
  PixmapPtr pixmap = screen->GetScreenPixmap ? screen->GetScreenPixmap(screen) : NULL;
  if (!pixmap) return FALSE;
  if (screen_is_bgrx(screen, pixmap)) return TRUE;
  if (!unsupported_logged) {
    unsupported_logged = TRUE;
    xf86Msg(X_ERROR,
            "xen3d: the screen has depth %d at %d bpp; only depth 24/32 at 32 bpp (B8G8R8X8) can be "
            "composited: running uncomposited\n",
            pixmap->drawable.depth, pixmap->drawable.bitsPerPixel);
  }
  return FALSE;
}

void xen3d_export_geometry(ScreenPtr screen, struct xen3d_desktop_geometry *geometry) {
  PixmapPtr pixmap = screen->GetScreenPixmap(screen);
  uint64_t largest;

  geometry->width = pixmap->drawable.width;
  geometry->height = pixmap->drawable.height;
  geometry->stride = geometry->width * 4;
  geometry->region_pixel_bytes = (uint64_t)geometry->stride * geometry->height;
  if (dixPrivateKeyRegistered(rrPrivKey)) {
    rrScrPrivPtr randr = rrGetScrPriv(screen);
    if (randr) {
      largest = (uint64_t)randr->maxWidth * 4 * randr->maxHeight;
      if (largest > MAX_RESERVED_PIXEL_BYTES) largest = MAX_RESERVED_PIXEL_BYTES;
      if (largest > geometry->region_pixel_bytes) geometry->region_pixel_bytes = largest;
    }
  }
}

static Bool watch(ScreenPtr screen, PixmapPtr pixmap) {
  screen_damage = DamageCreate(NULL, damage_destroyed, DamageReportNone, TRUE, screen, NULL);
  if (!screen_damage) {
    xf86Msg(X_ERROR, "xen3d: cannot create a Damage object for the screen (out of memory)\n");
    return FALSE;
  }
  DamageRegister(&pixmap->drawable, screen_damage);
  damaged_pixmap = pixmap;
  return TRUE;
}

void xen3d_export_stop(ScreenPtr screen) {
  if (screen_damage) DamageDestroy(screen_damage); /* damage_destroyed clears both */
  free(bounce);
  bounce = NULL;
  bounce_size = 0;
}

/* The box, clipped to the screen (width x height). FALSE: nothing left. */
static Bool clip_box(BoxRec *box, int width, int height) {
  if (box->x1 < 0) box->x1 = 0;
  if (box->y1 < 0) box->y1 = 0;
  if (box->x2 > width) box->x2 = width;
  if (box->y2 > height) box->y2 = height;
  return box->x1 < box->x2 && box->y1 < box->y2;
}

/* Copies the box from the screen pixmap into the framebuffer and queues its update event. */
static void export_box(ScreenPtr screen, PixmapPtr pixmap, const BoxRec *box, uint8_t *pixels,
                       uint32_t stride) {
  const int width = box->x2 - box->x1;
  const size_t row_bytes = (size_t)width * 4;
  int rows_per_read = BOUNCE_BYTES / row_bytes;
  int y;

  if (rows_per_read < 1) rows_per_read = 1;
  if (bounce_size < row_bytes * rows_per_read) {
    uint8_t *grown = realloc(bounce, row_bytes * rows_per_read);
    if (!grown) return; /* out of memory: this update is lost, the next full one repairs it */
    bounce = grown;
    bounce_size = row_bytes * rows_per_read;
  }
  for (y = box->y1; y < box->y2; y += rows_per_read) {
    const int rows = box->y2 - y < rows_per_read ? box->y2 - y : rows_per_read;
    int i;
    /* ZPixmap rows of a 32 bpp drawable come packed, 4 bytes a pixel. */
    screen->GetImage(&pixmap->drawable, box->x1, y, width, rows, ZPixmap, ~0UL, (char *)bounce);
    for (i = 0; i < rows; i++) {
      memcpy(pixels + (size_t)(y + i) * stride + (size_t)box->x1 * 4, bounce + i * row_bytes, row_bytes);
    }
  }
  xen3d_link_push_update(box->x1, box->y1, width, box->y2 - box->y1);
}

enum xen3d_export_result xen3d_export_service(ScreenPtr screen, Bool whole_screen) {
  PixmapPtr pixmap = screen->GetScreenPixmap(screen);
  uint32_t width, height, stride;
  uint8_t *pixels;

  if (!pixmap) return XEN3D_EXPORT_DONE;
  if (pixmap != damaged_pixmap || !screen_damage) {
    if (screen_damage) DamageDestroy(screen_damage);
    if (!watch(screen, pixmap)) return XEN3D_EXPORT_DONE;
    whole_screen = TRUE;
  }

  xen3d_link_desktop_size(&width, &height, &stride);
  if (width != pixmap->drawable.width || height != pixmap->drawable.height) {
    const uint32_t new_width = pixmap->drawable.width, new_height = pixmap->drawable.height;
    if (!xen3d_link_fits(new_width, new_height, new_width * 4)) {
      xf86Msg(X_INFO,
              "xen3d: the screen grew to %ux%u, beyond the framebuffer region: reopening the desktop with a "
              "bigger one (GL clients must query the new desktop)\n",
              new_width, new_height);
      return XEN3D_EXPORT_NEEDS_BIGGER_REGION;
    }
    if (xen3d_link_resize(new_width, new_height, new_width * 4) != XEN3D_SEND_OK) {
      return XEN3D_EXPORT_DONE; /* busy (tried again soon) or down */
    }
    xf86Msg(X_INFO, "xen3d: the screen is now %ux%u\n", new_width, new_height);
    xen3d_link_desktop_size(&width, &height, &stride);
    whole_screen = TRUE;
  }

  pixels = xen3d_link_pixels();
  if (!pixels) return XEN3D_EXPORT_DONE;
  if (whole_screen) {
    BoxRec all = {0, 0, (short)width, (short)height};
    export_box(screen, pixmap, &all, pixels, stride);
  } else {
    RegionPtr damaged = DamageRegion(screen_damage);
    if (RegionNotEmpty(damaged)) {
      const int n = RegionNumRects(damaged);
      const BoxRec *boxes = n > MAX_DAMAGE_RECTS ? RegionExtents(damaged) : RegionRects(damaged);
      int i;
      for (i = 0; i < (n > MAX_DAMAGE_RECTS ? 1 : n); i++) {
        BoxRec box = boxes[i];
        if (clip_box(&box, width, height)) export_box(screen, pixmap, &box, pixels, stride);
      }
    }
  }
  DamageEmpty(screen_damage);
  xen3d_link_ring_doorbell();
  return XEN3D_EXPORT_DONE;
}
