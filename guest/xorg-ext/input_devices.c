/* The desktop's input from the compositor, as two X input devices of this
 * server ("xen3d keyboard", "xen3d pointer"): an input driver of the
 * module's own, added like a hotplugged device, so clients see real devices
 * (xinput list) and the server's keymap and pointer acceleration rules
 * apply. Events come from the link (desktop_link.h) and are posted on the
 * main thread, under the input lock, as the XTEST extension posts its own:
 * keys as evdev keycodes (Linux code + 8, the default XKB rules' keycodes),
 * the pointer in screen coordinates. */
#include <xorg-server.h>

#include <linux/input-event-codes.h>

#include "exevents.h"
#include "inputstr.h"
#include "mipointer.h"
#include "xf86.h"
#include "xf86Xinput.h"
#include "xserver-properties.h"

#include "xen3d_server.h"

#define ROLE_OPTION "Xen3DRole"
#define POINTER_BUTTONS 9 /* left, middle, right, wheel (4 up, 5 down, 6 left, 7 right), side, extra */
#define EVENTS_PER_TAKE 64

static DeviceIntPtr keyboard_device;
static DeviceIntPtr pointer_device;
static Bool devices_requested;
static int notify_fd = -1;

static int pointer_control(DeviceIntPtr dev, int what) {
  switch (what) {
    case DEVICE_INIT: {
      CARD8 map[POINTER_BUTTONS + 1];
      Atom buttons[POINTER_BUTTONS] = {
          XIGetKnownProperty(BTN_LABEL_PROP_BTN_LEFT),        XIGetKnownProperty(BTN_LABEL_PROP_BTN_MIDDLE),
          XIGetKnownProperty(BTN_LABEL_PROP_BTN_RIGHT),       XIGetKnownProperty(BTN_LABEL_PROP_BTN_WHEEL_UP),
          XIGetKnownProperty(BTN_LABEL_PROP_BTN_WHEEL_DOWN),  XIGetKnownProperty(BTN_LABEL_PROP_BTN_HWHEEL_LEFT),
          XIGetKnownProperty(BTN_LABEL_PROP_BTN_HWHEEL_RIGHT), XIGetKnownProperty(BTN_LABEL_PROP_BTN_SIDE),
          XIGetKnownProperty(BTN_LABEL_PROP_BTN_EXTRA)};
      Atom axes[2] = {XIGetKnownProperty(AXIS_LABEL_PROP_ABS_X), XIGetKnownProperty(AXIS_LABEL_PROP_ABS_Y)};
      int i;
      for (i = 0; i <= POINTER_BUTTONS; i++) map[i] = (CARD8)i;
      /* Axes without limits, as XTEST's pointer: screen coordinates pass unscaled. */
      if (!InitPointerDeviceStruct((DevicePtr)dev, map, POINTER_BUTTONS, buttons, (PtrCtrlProcPtr)NoopDDA,
                                   GetMotionHistorySize(), 2, axes))
        return BadAlloc;
      return Success;
    }
    case DEVICE_ON: dev->public.on = TRUE; return Success;
    case DEVICE_OFF:
    case DEVICE_CLOSE: dev->public.on = FALSE; return Success;
    default: return BadValue;
  }
}

static int keyboard_control(DeviceIntPtr dev, int what) {
  switch (what) {
    case DEVICE_INIT:
      /* The server's default keymap (rules evdev, model pc105, layout us, or
       * what xorg.conf set): keycodes are Linux codes + 8. */
      return InitKeyboardDeviceStruct(dev, NULL, NULL, NULL) ? Success : BadAlloc;
    case DEVICE_ON: dev->public.on = TRUE; return Success;
    case DEVICE_OFF:
    case DEVICE_CLOSE: dev->public.on = FALSE; return Success;
    default: return BadValue;
  }
}

static int xen3d_input_preinit(InputDriverPtr drv, InputInfoPtr info, int flags) {
  char *role = xf86CheckStrOption(info->options, ROLE_OPTION, NULL);
  int ok = Success;
  (void)drv, (void)flags;
  if (role && strcmp(role, "keyboard") == 0) {
    info->type_name = XI_KEYBOARD;
    info->device_control = keyboard_control;
  } else if (role && strcmp(role, "pointer") == 0) {
    info->type_name = XI_MOUSE;
    info->device_control = pointer_control;
  } else {
    xf86IDrvMsg(info, X_ERROR, "xen3d: the xen3d input driver makes only the module's own devices\n");
    ok = BadValue;
  }
  free(role);
  info->read_input = NULL;  /* events come from the link, on the main thread */
  info->fd = -1;
  return ok;
}

static void xen3d_input_uninit(InputDriverPtr drv, InputInfoPtr info, int flags) {
  (void)drv, (void)flags;
  if (info->dev == keyboard_device) keyboard_device = NULL;
  if (info->dev == pointer_device) pointer_device = NULL;
  xf86DeleteInput(info, 0);
}

static InputDriverRec xen3d_input_driver = {
    1, "xen3d", NULL, xen3d_input_preinit, xen3d_input_uninit, NULL, NULL, 0,
};

void xen3d_input_register_driver(void *module) { xf86AddInputDriver(&xen3d_input_driver, module, 0); }

static DeviceIntPtr add_device(const char *name, const char *role) {
  InputOption *options = NULL;
  DeviceIntPtr dev = NULL;
  int rc;
  options = input_option_new(options, "driver", "xen3d");
  options = input_option_new(options, "identifier", name);
  options = input_option_new(options, ROLE_OPTION, role);
  rc = NewInputDeviceRequest(options, NULL, &dev);
  input_option_free_list(&options);
  if (rc != Success) {
    xf86Msg(X_ERROR, "xen3d: cannot add the input device \"%s\" (error %d): the desktop takes no input\n", name, rc);
    return NULL;
  }
  return dev;
}

/* Once per server generation, from the main loop (hotplugged devices are
 * added there, never while the server initializes). */
static void ensure_devices(void) {
  if (devices_requested) return;
  devices_requested = TRUE;
  keyboard_device = add_device("xen3d keyboard", "keyboard");
  pointer_device = add_device("xen3d pointer", "pointer");
  if (keyboard_device && pointer_device)
    xf86Msg(X_INFO, "xen3d: input devices \"xen3d keyboard\" and \"xen3d pointer\" take the compositor's input\n");
}

static int pointer_button_of(uint16_t code) {
  switch (code) {
    case BTN_LEFT: return 1;
    case BTN_MIDDLE: return 2;
    case BTN_RIGHT: return 3;
    case BTN_SIDE: return 8;
    case BTN_EXTRA: return 9;
    default: return 0;
  }
}

static void click(int button, int times) {
  ValuatorMask *none = valuator_mask_new(0);
  int i;
  if (!none) return;
  for (i = 0; i < times; i++) {
    QueuePointerEvents(pointer_device, ButtonPress, button, 0, none);
    QueuePointerEvents(pointer_device, ButtonRelease, button, 0, none);
  }
  valuator_mask_free(&none);
}

/* A notch count from a hostile or confused compositor is not a loop bound. */
static int notches(int32_t n) { return n < 0 ? (n < -16 ? 16 : -n) : (n > 16 ? 16 : n); }

static void post(const struct xen3d_input_event *e, ScreenPtr screen) {
  switch (e->kind) {
    case XEN3D_INPUT_KEY: {
      const int button = pointer_button_of(e->code);
      if (button) {
        ValuatorMask *none;
        if (!pointer_device) return;
        none = valuator_mask_new(0);
        if (!none) return;
        QueuePointerEvents(pointer_device, e->down ? ButtonPress : ButtonRelease, button, 0, none);
        valuator_mask_free(&none);
      } else if (keyboard_device && e->code < 256 - 8) {
        QueueKeyboardEvents(keyboard_device, e->down ? KeyPress : KeyRelease, e->code + 8);
      }
      break;
    }
    case XEN3D_INPUT_POINTER: {
      ValuatorMask *mask;
      int x = e->x, y = e->y;
      if (!pointer_device) return;
      if (x < 0) x = 0;
      if (y < 0) y = 0;
      if (x >= screen->width) x = screen->width - 1;
      if (y >= screen->height) y = screen->height - 1;
      mask = valuator_mask_new(2);
      if (!mask) return;
      valuator_mask_set(mask, 0, x);
      valuator_mask_set(mask, 1, y);
      QueuePointerEvents(pointer_device, MotionNotify, 0, POINTER_ABSOLUTE | POINTER_SCREEN, mask);
      valuator_mask_free(&mask);
      break;
    }
    case XEN3D_INPUT_WHEEL:
      if (!pointer_device) return;
      if (e->y) click(e->y > 0 ? 4 : 5, notches(e->y));
      if (e->x) click(e->x > 0 ? 7 : 6, notches(e->x));
      break;
    default:
      break;
  }
}

Bool xen3d_input_service(void) {
  struct xen3d_input_event events[EVENTS_PER_TAKE];
  Bool posted = FALSE;
  int n, i;
  ensure_devices();
  while ((n = xen3d_link_take_input(events, EVENTS_PER_TAKE)) > 0) {
    if (!xen3d_desktop_screen) continue;
    input_lock();
    for (i = 0; i < n; i++) post(&events[i], xen3d_desktop_screen);
    input_unlock();
    posted = TRUE;
  }
  return posted;
}

static void input_ready(int fd, int ready, void *data) {
  (void)fd, (void)ready, (void)data;
  xen3d_input_service();
}

void xen3d_input_fd_changed(int old_fd, int new_fd) {
  if (old_fd >= 0 && old_fd == notify_fd) RemoveNotifyFd(old_fd);
  notify_fd = -1;
  if (new_fd >= 0 && SetNotifyFd(new_fd, input_ready, X_NOTIFY_READ, NULL)) notify_fd = new_fd;
}

void xen3d_input_close(void) {
  if (notify_fd >= 0) RemoveNotifyFd(notify_fd);
  notify_fd = -1;
  /* The server removes every device at a reset; they are made anew after it. */
  keyboard_device = pointer_device = NULL;
  devices_requested = FALSE;
}
