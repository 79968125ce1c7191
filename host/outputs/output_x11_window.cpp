// Window output: an Xlib window on the host display showing the selected VM's
// desktop, with hotkeys to switch VMs and a picker overlay listing them.
//
// Threading: one event thread owns the Display and makes every Xlib call, so
// Xlib never sees two threads. show() (composition thread) copies damaged
// rects into the staged desktop under `mutex_` and wakes the event thread through an
// eventfd; the event thread copies them into its XImage (shared memory when
// MIT-SHM works) and puts them, waiting for the X server to have read the
// shared memory before the next copy. So show() costs a memcpy of the damage
// and never waits for the X server. The event thread calls DesktopControl
// (list/select) only without `mutex_` held, so a registry that calls show()
// under its own lock cannot deadlock with it.
//
// Keys, buttons, the wheel and the pointer's place in the window go to the
// selected VM (DesktopControl::send_input), except the hotkeys and what the
// open picker takes. Keys travel by where they are on the keyboard (X's
// evdev keycodes), so the guest's own layout applies; an X server without
// evdev keycodes gets the US key of each keysym instead.
//
// Closing the window (WM_DELETE_WINDOW) iconifies it instead: the window lives
// as long as the compositor (the output's destructor closes it). Losing the X
// server stops this output only; the compositor carries on.
#include <X11/XKBlib.h>
#include <X11/Xatom.h>
#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <X11/extensions/XShm.h>
#include <X11/keysym.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "common/log.h"
#include "host/desktop/desktop_rect.h"
#include "host/outputs/input_codes.h"
#include "host/outputs/outputs.h"
#include "host/outputs/staged_desktop.h"

namespace xen3d::host {
namespace {

constexpr uint32_t kPlaceholderWidth = 640, kPlaceholderHeight = 480;

// Colours as pixels of the 24-bit TrueColor visual the window uses (0xRRGGBB).
constexpr unsigned long kBlack = 0x000000, kText = 0xf0f0f0, kDimText = 0xa0a8b0;
constexpr unsigned long kPickerBackground = 0x20262e, kPickerBorder = 0x8090a0, kPickerCursor = 0x3a5f9a;
constexpr int kPickerPadding = 10;

// X protocol errors arrive through a process-wide handler; the event thread is
// the only Xlib user, so one flag serves the MIT-SHM probe.
std::atomic<bool> g_x_error_seen = false;
std::atomic<bool> g_x_error_expected = false;

// Xlib's default I/O error handler exits the process; returning lets the
// per-display exit handler (lost_display) decide, and Xlib calls on the broken
// Display then return at once.
int ignore_io_error(Display*) { return 0; }

int note_x_error(Display* display, XErrorEvent* event) {
  g_x_error_seen = true;
  if (!g_x_error_expected) {
    char text[256];
    XGetErrorText(display, event->error_code, text, sizeof text);
    XLOG_WARN("window: X error: %s (request %d.%d)", text, event->request_code, event->minor_code);
  }
  return 0;
}

// The parts of `r` outside `hole`: the picker is opaque, so desktop pixels
// under it are not put (they would flicker over it).
void subtract(const DesktopRect& r, const DesktopRect& hole, std::vector<DesktopRect>& out) {
  if (!rects_overlap(r, hole)) {
    out.push_back(r);
    return;
  }
  int64_t rx1 = int64_t{r.x} + r.width, ry1 = int64_t{r.y} + r.height;
  int64_t hx1 = int64_t{hole.x} + hole.width, hy1 = int64_t{hole.y} + hole.height;
  int64_t top = std::max<int64_t>(r.y, hole.y), bottom = std::min(ry1, hy1);
  auto add = [&](int64_t x0, int64_t y0, int64_t x1, int64_t y1) {
    if (x1 > x0 && y1 > y0)
      out.push_back({static_cast<int32_t>(x0), static_cast<int32_t>(y0), static_cast<uint32_t>(x1 - x0),
                     static_cast<uint32_t>(y1 - y0)});
  };
  add(r.x, r.y, rx1, top);
  add(r.x, bottom, rx1, ry1);
  add(r.x, top, std::max<int64_t>(r.x, hole.x), bottom);
  add(std::min(rx1, hx1), top, rx1, bottom);
}

class WindowOutput final : public Output {
 public:
  WindowOutput(DesktopControl& control, std::string display_name)
      : control_(control), display_name_(std::move(display_name)) {}

  ~WindowOutput() override {
    if (thread_.joinable()) {
      stopping_ = true;
      wake();
      thread_.join();
    }
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  bool start(std::string& error) {
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) {
      error = std::string("window output: cannot create an eventfd: ") + std::strerror(errno);
      return false;
    }
    std::promise<std::string> setup_result;
    std::future<std::string> setup_done = setup_result.get_future();
    thread_ = std::thread([this, &setup_result] { run(setup_result); });
    error = setup_done.get();
    if (!error.empty()) {
      thread_.join();
      return false;
    }
    return true;
  }

  std::string describe() const override {
    return "window on X display " + (display_name_.empty() ? std::string("$DISPLAY") : display_name_);
  }

  void show(const std::string& vm, const DesktopImage& image, const std::vector<DesktopRect>& damage) override {
    if (dead_) return;
    {
      std::lock_guard lock(mutex_);
      if (!staged_.stage(vm, image, damage)) return;
      changed_ = true;
    }
    wake();
  }

  void show_nothing() override {
    {
      std::lock_guard lock(mutex_);
      staged_.show_nothing();
      changed_ = true;
    }
    wake();
  }

 private:
  struct Picker {
    bool open = false;
    std::vector<VmSummary> vms;
    size_t cursor = 0;
    DesktopRect box{};  // where it is drawn; empty when closed
  };

  void wake() {
    uint64_t one = 1;
    if (write(wake_fd_, &one, sizeof one) < 0) {
      // EAGAIN: the counter is already non-zero, so the thread wakes anyway.
    }
  }

  // ---- event thread ----

  void run(std::promise<std::string>& setup_result) {
    setup_result_ = &setup_result;
    std::string error;
    if (!set_up(error)) {
      tear_down();
      report_setup(error);
      return;
    }
    report_setup("");
    while (!stopping_ && !dead_) {
      apply_staged();
      while (!stopping_ && !dead_ && XPending(display_) > 0) {
        XEvent event;
        XNextEvent(display_, &event);
        handle_event(event);
      }
      XFlush(display_);
      if (stopping_ || dead_) break;
      pollfd fds[2] = {{ConnectionNumber(display_), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      if (poll(fds, 2, -1) < 0 && errno != EINTR) {
        XLOG_ERROR("window: poll failed: %s; the window output stops", std::strerror(errno));
        break;
      }
      uint64_t count;
      while (read(wake_fd_, &count, sizeof count) > 0) {
      }
    }
    tear_down();
  }

  // start() waits for this; the promise lives on start()'s stack until then.
  void report_setup(const std::string& error) {
    if (!setup_result_) return;
    setup_result_->set_value(error);
    setup_result_ = nullptr;
  }

  // Xlib's default here exits the process. Instead the event loop ends; the
  // other outputs and the control socket carry on.
  static void lost_display(Display*, void* self) {
    auto* output = static_cast<WindowOutput*>(self);
    output->dead_ = true;
    std::string what = "lost the connection to X display " + output->display_label();
    if (output->setup_result_) {
      output->report_setup(what + " while opening the window");
    } else {
      XLOG_ERROR("window: %s; the window output stops (other outputs and the control socket carry on)",
                 what.c_str());
    }
  }

  std::string display_label() const {
    if (!display_name_.empty()) return display_name_;
    const char* env = std::getenv("DISPLAY");
    return env ? env : "(unset $DISPLAY)";
  }

  bool set_up(std::string& error) {
    display_ = XOpenDisplay(display_name_.empty() ? nullptr : display_name_.c_str());
    if (!display_) {
      error = "cannot open X display " + display_label() + " for the window output";
      return false;
    }
    XSetIOErrorHandler(ignore_io_error);
    XSetIOErrorExitHandler(display_, &WindowOutput::lost_display, this);
    XSetErrorHandler(note_x_error);
    int screen = DefaultScreen(display_);

    // Desktop pixels are B,G,R,X bytes: a 24-bit TrueColor visual with these
    // masks takes them as they are.
    XVisualInfo visual_info;
    if (!XMatchVisualInfo(display_, screen, 24, TrueColor, &visual_info) || visual_info.red_mask != 0xff0000 ||
        visual_info.green_mask != 0x00ff00 || visual_info.blue_mask != 0x0000ff) {
      error = "X display " + display_label() +
              " has no 24-bit TrueColor visual with RGB888 masks for the window output";
      return false;
    }
    visual_ = visual_info.visual;
    depth_ = visual_info.depth;
    Window root = RootWindow(display_, screen);
    bool default_visual = visual_ == DefaultVisual(display_, screen);
    colormap_ = default_visual ? DefaultColormap(display_, screen)
                               : XCreateColormap(display_, root, visual_, AllocNone);
    own_colormap_ = !default_visual;

    XSetWindowAttributes attributes{};
    attributes.background_pixel = kBlack;
    attributes.border_pixel = kBlack;
    attributes.colormap = colormap_;
    attributes.event_mask = ExposureMask | KeyPressMask | KeyReleaseMask | ButtonPressMask | ButtonReleaseMask |
                            PointerMotionMask | FocusChangeMask | StructureNotifyMask;
    window_ = XCreateWindow(display_, root, 0, 0, kPlaceholderWidth, kPlaceholderHeight, 0, depth_, InputOutput,
                            visual_, CWBackPixel | CWBorderPixel | CWColormap | CWEventMask, &attributes);
    window_width_ = kPlaceholderWidth, window_height_ = kPlaceholderHeight;

    wm_protocols_ = XInternAtom(display_, "WM_PROTOCOLS", False);
    wm_delete_window_ = XInternAtom(display_, "WM_DELETE_WINDOW", False);
    net_wm_name_ = XInternAtom(display_, "_NET_WM_NAME", False);
    utf8_string_ = XInternAtom(display_, "UTF8_STRING", False);
    XSetWMProtocols(display_, window_, &wm_delete_window_, 1);
    XClassHint class_hint{const_cast<char*>("xen3d-compositor"), const_cast<char*>("Xen3D")};
    XSetClassHint(display_, window_, &class_hint);
    XWMHints wm_hints{};
    wm_hints.flags = InputHint | StateHint;
    wm_hints.input = True;
    wm_hints.initial_state = NormalState;
    XSetWMHints(display_, window_, &wm_hints);
    set_title("no VM desktops");

    gc_ = XCreateGC(display_, window_, 0, nullptr);
    XSetGraphicsExposures(display_, gc_, False);
    font_ = XLoadQueryFont(display_, "fixed");
    if (font_) {
      XSetFont(display_, gc_, font_->fid);
    } else {
      font_ = XQueryFont(display_, XGContextFromGC(gc_));  // the server's default font
      font_is_loaded_ = false;
    }
    if (!font_) {
      error = "X display " + display_label() + " offers no font for the window output's text";
      return false;
    }

    evdev_keycodes_ = has_evdev_keycodes();
    int major, minor;
    Bool shared_pixmaps;
    shm_usable_ = XShmQueryVersion(display_, &major, &minor, &shared_pixmaps);
    XMapWindow(display_, window_);
    XSync(display_, False);
    if (!create_image(kPlaceholderWidth, kPlaceholderHeight, error)) return false;
    XLOG_INFO("window: on X display %s (%s); Ctrl+Alt+Left/Right switch VMs, Ctrl+Alt+Space or F12 pick one",
              display_label().c_str(), shm_usable_ ? "MIT-SHM" : "XPutImage, no MIT-SHM");
    return true;
  }

  // After a lost connection these calls only free client-side memory.
  void tear_down() {
    if (!display_) return;
    destroy_image();
    if (font_) font_is_loaded_ ? XFreeFont(display_, font_) : XFreeFontInfo(nullptr, font_, 1);
    if (gc_) XFreeGC(display_, gc_);
    if (window_) XDestroyWindow(display_, window_);
    if (own_colormap_) XFreeColormap(display_, colormap_);
    XCloseDisplay(display_);
    display_ = nullptr;
  }

  bool create_image(uint32_t width, uint32_t height, std::string& error) {
    destroy_image();
    if (shm_usable_) {
      image_ = XShmCreateImage(display_, visual_, depth_, ZPixmap, nullptr, &shm_, width, height);
      if (image_) {
        std::string problem;
        shm_.shmaddr = reinterpret_cast<char*>(-1);
        shm_.shmid = shmget(IPC_PRIVATE, size_t(image_->bytes_per_line) * height, IPC_CREAT | 0600);
        if (shm_.shmid < 0) {
          problem = std::string("shmget: ") + std::strerror(errno);
        } else {
          shm_.shmaddr = static_cast<char*>(shmat(shm_.shmid, nullptr, 0));
          if (shm_.shmaddr == reinterpret_cast<char*>(-1)) problem = std::string("shmat: ") + std::strerror(errno);
        }
        if (problem.empty()) {
          image_->data = shm_.shmaddr;
          shm_.readOnly = False;
          // A remote display (ssh -X) refuses the attach with an X error.
          g_x_error_seen = false;
          g_x_error_expected = true;
          XShmAttach(display_, &shm_);
          XSync(display_, False);
          g_x_error_expected = false;
          if (g_x_error_seen) problem = "the X server refused to attach it (a remote display?)";
        }
        if (shm_.shmid >= 0) shmctl(shm_.shmid, IPC_RMID, nullptr);  // freed once both sides detach
        if (problem.empty()) {
          image_is_shm_ = true;
        } else {
          XLOG_INFO("window: MIT-SHM unusable (%s); using XPutImage", problem.c_str());
          if (shm_.shmaddr != reinterpret_cast<char*>(-1)) shmdt(shm_.shmaddr);
          image_->data = nullptr;
          XDestroyImage(image_);
          image_ = nullptr;
          shm_usable_ = false;
        }
      }
    }
    if (!image_) {
      image_ = XCreateImage(display_, visual_, depth_, ZPixmap, 0, nullptr, width, height, 32, 0);
      if (image_) {
        image_->data = static_cast<char*>(std::calloc(size_t(image_->bytes_per_line), height));
        if (!image_->data) {
          XDestroyImage(image_);
          image_ = nullptr;
        }
      }
    }
    if (!image_ || image_->bits_per_pixel != 32) {
      error = "window output cannot create a " + std::to_string(width) + "x" + std::to_string(height) +
              " 32-bit image on X display " + display_label();
      destroy_image();
      return false;
    }
    // Host-order 0x00RRGGBB pixels: Xlib converts for a server of the other order.
    if (!image_is_shm_) image_->byte_order = LSBFirst;
    image_width_ = width, image_height_ = height;
    return true;
  }

  void destroy_image() {
    if (!image_) return;
    if (image_is_shm_) {
      XShmDetach(display_, &shm_);
      XSync(display_, False);
      shmdt(shm_.shmaddr);
      image_->data = nullptr;  // not XDestroyImage's to free
    }
    XDestroyImage(image_);
    image_ = nullptr;
    image_is_shm_ = false;
    image_width_ = image_height_ = 0;
  }

  void set_title(const std::string& what) {
    std::string utf8 = "Xen3D \u2014 " + what;
    XChangeProperty(display_, window_, net_wm_name_, utf8_string_, 8, PropModeReplace,
                    reinterpret_cast<const unsigned char*>(utf8.data()), static_cast<int>(utf8.size()));
    std::string latin = "Xen3D - " + what;  // WM_NAME is Latin-1: no em dash
    XStoreName(display_, window_, latin.c_str());
  }

  void resize_window(uint32_t width, uint32_t height) {
    // One desktop pixel per screen pixel: the window is as big as the desktop.
    XSizeHints hints{};
    hints.flags = PMinSize | PMaxSize;
    hints.min_width = hints.max_width = static_cast<int>(width);
    hints.min_height = hints.max_height = static_cast<int>(height);
    XSetWMNormalHints(display_, window_, &hints);
    XResizeWindow(display_, window_, width, height);
  }

  // Brings the window up to date with what show()/show_nothing() staged.
  void apply_staged() {
    std::vector<DesktopRect> rects;
    std::string vm;
    bool nothing;
    bool resized = false;
    for (;;) {
      std::unique_lock lock(mutex_);
      if (!changed_) return;
      nothing = staged_.nothing;
      if (!nothing && (staged_.width != image_width_ || staged_.height != image_height_)) {
        uint32_t width = staged_.width, height = staged_.height;
        lock.unlock();  // X round trips below; show() may go on staging meanwhile
        std::string error;
        if (!create_image(width, height, error)) {
          XLOG_ERROR("%s; the window is not updated", error.c_str());
          std::lock_guard relock(mutex_);
          changed_ = false;
          staged_.pending.clear();
          return;
        }
        resized = true;
        continue;
      }
      changed_ = false;
      vm = staged_.vm;
      if (!nothing) {
        for (const DesktopRect& r : staged_.pending)
          copy_rect(staged_.pixels.data(), size_t{staged_.width} * 4, reinterpret_cast<uint8_t*>(image_->data),
                    size_t(image_->bytes_per_line), r);
        rects.swap(staged_.pending);
      }
      break;
    }

    if (nothing) {
      if (!showing_nothing_) {
        showing_nothing_ = true;
        shown_vm_.clear();
        set_title("no VM desktops");
        XClearWindow(display_, window_);
        draw_placeholder();
        if (picker_.open) refresh_picker();
        XLOG_DEBUG("window: no VM desktops to show");
      }
      return;
    }
    if (resized) resize_window(image_width_, image_height_);
    if (showing_nothing_ || vm != shown_vm_) {
      if (showing_nothing_) XClearWindow(display_, window_);
      showing_nothing_ = false;
      shown_vm_ = vm;
      set_title(vm);
      XLOG_DEBUG("window: showing VM %s (%ux%u)", vm.c_str(), image_width_, image_height_);
      if (picker_.open) refresh_picker();
    }
    put_rects(rects);
  }

  void put_rects(const std::vector<DesktopRect>& rects) {
    if (!image_ || showing_nothing_) return;
    std::vector<DesktopRect> pieces;
    for (const DesktopRect& r : rects) {
      DesktopRect c = rect_clip(r, image_width_, image_height_);
      if (c.width == 0) continue;
      if (picker_.open) {
        subtract(c, picker_.box, pieces);
      } else {
        pieces.push_back(c);
      }
    }
    for (const DesktopRect& p : pieces) {
      if (image_is_shm_) {
        XShmPutImage(display_, window_, gc_, image_, p.x, p.y, p.x, p.y, p.width, p.height, False);
      } else {
        XPutImage(display_, window_, gc_, image_, p.x, p.y, p.x, p.y, p.width, p.height);
      }
    }
    // The server reads shared memory after the request: the next copy into
    // the image must wait until it has.
    if (image_is_shm_ && !pieces.empty()) XSync(display_, False);
  }

  void draw_text(int x, int y, unsigned long colour, const std::string& text) {
    XSetForeground(display_, gc_, colour);
    XDrawString(display_, window_, gc_, x, y, text.data(), static_cast<int>(text.size()));
  }

  int text_width(const std::string& text) const {
    return XTextWidth(font_, text.data(), static_cast<int>(text.size()));
  }

  int line_height() const { return font_->ascent + font_->descent + 4; }

  void draw_placeholder() {
    std::string lines[] = {"no VM desktops", "waiting for a guest to connect"};
    int y = static_cast<int>(window_height_) / 2 - line_height();
    for (const std::string& line : lines) {
      draw_text((static_cast<int>(window_width_) - text_width(line)) / 2, y, line == lines[0] ? kText : kDimText, line);
      y += line_height() + 4;
    }
  }

  std::string picker_line(const VmSummary& vm) const {
    return std::string(vm.selected ? "* " : "  ") + vm.name + "  (" + std::to_string(vm.width) + "x" +
           std::to_string(vm.height) + ", " + std::to_string(vm.gl_windows) + " GL windows)";
  }

  static constexpr const char* kPickerTitle = "Switch VM: Up/Down, Enter; Esc closes";

  DesktopRect picker_geometry() const {
    int width = text_width(kPickerTitle);
    for (const VmSummary& vm : picker_.vms) width = std::max(width, text_width(picker_line(vm)));
    if (picker_.vms.empty()) width = std::max(width, text_width("(no VM desktops)"));
    size_t rows = std::max<size_t>(picker_.vms.size(), 1) + 1;
    width += 2 * kPickerPadding;
    int height = static_cast<int>(rows) * line_height() + 2 * kPickerPadding + 4;
    int x = std::max(0, (static_cast<int>(window_width_) - width) / 2);
    int y = std::max(0, (static_cast<int>(window_height_) - height) / 2);
    return {x, y, static_cast<uint32_t>(width), static_cast<uint32_t>(height)};
  }

  // Redraws the picker (opening it, or after its list or the window changed).
  void draw_picker() {
    DesktopRect old_box = picker_.box;
    picker_.box = picker_geometry();
    const DesktopRect& box = picker_.box;
    if (old_box.width > 0 && (old_box.x != box.x || old_box.y != box.y || old_box.width != box.width ||
                              old_box.height != box.height))
      uncover(old_box);
    XSetForeground(display_, gc_, kPickerBackground);
    XFillRectangle(display_, window_, gc_, box.x, box.y, box.width, box.height);
    XSetForeground(display_, gc_, kPickerBorder);
    XDrawRectangle(display_, window_, gc_, box.x, box.y, box.width - 1, box.height - 1);
    int x = box.x + kPickerPadding;
    int y = box.y + kPickerPadding + font_->ascent;
    draw_text(x, y, kDimText, kPickerTitle);
    y += line_height() + 4;
    if (picker_.vms.empty()) draw_text(x, y, kText, "(no VM desktops)");
    for (size_t i = 0; i < picker_.vms.size(); ++i, y += line_height()) {
      if (i == picker_.cursor) {
        XSetForeground(display_, gc_, kPickerCursor);
        XFillRectangle(display_, window_, gc_, box.x + 2, y - font_->ascent - 2, box.width - 4,
                       static_cast<unsigned>(line_height()));
      }
      draw_text(x, y, kText, picker_line(picker_.vms[i]));
    }
  }

  // Repaints what lies under `area` (the picker's old place): clearing it
  // with exposures makes the server send Expose, which repaints the desktop.
  void uncover(const DesktopRect& area) {
    XClearArea(display_, window_, area.x, area.y, area.width, area.height, True);
  }

  // Calls DesktopControl: never with mutex_ held.
  void refresh_picker() {
    std::string current = picker_.cursor < picker_.vms.size() ? picker_.vms[picker_.cursor].name : "";
    picker_.vms = control_.list();
    picker_.cursor = 0;
    bool found_current = false;
    for (size_t i = 0; i < picker_.vms.size(); ++i) {
      if (!current.empty() && picker_.vms[i].name == current) {
        picker_.cursor = i;
        found_current = true;
      }
      if (!found_current && picker_.vms[i].selected) picker_.cursor = i;
    }
    draw_picker();
  }

  void open_picker() {
    picker_.open = true;
    picker_.vms.clear();
    picker_.cursor = 0;
    picker_.box = {};
    refresh_picker();
  }

  void close_picker() {
    picker_.open = false;
    DesktopRect box = picker_.box;
    picker_.box = {};
    if (box.width > 0) uncover(box);
  }

  void select_vm(const std::string& name) {
    std::string error;
    if (control_.select(name, error)) {
      XLOG_DEBUG("window: switching to VM %s (hotkey or picker)", name.c_str());
    } else {
      XLOG_WARN("window: cannot switch to VM %s: %s", name.c_str(), error.c_str());
    }
  }

  // Ctrl+Alt+Right (+1) / Left (-1): the next or previous VM in list order.
  void step_vm(int direction) {
    std::vector<VmSummary> vms = control_.list();
    if (vms.empty()) return;
    size_t current = 0;
    for (size_t i = 0; i < vms.size(); ++i)
      if (vms[i].selected) current = i;
    size_t next = (current + vms.size() + static_cast<size_t>(direction)) % vms.size();
    if (vms.size() > 1) select_vm(vms[next].name);
    if (picker_.open) refresh_picker();
  }

  // Whether the server numbers keys as evdev does (keycode = Linux code + 8):
  // Xorg and Xvfb on Linux do, with XKB's default rules.
  bool has_evdev_keycodes() {
    XkbDescPtr keyboard = XkbGetKeyboard(display_, XkbNamesMask, XkbUseCoreKbd);
    if (!keyboard) return false;
    bool evdev = false;
    if (keyboard->names && keyboard->names->keycodes) {
      if (char* name = XGetAtomName(display_, keyboard->names->keycodes)) {
        evdev = std::strncmp(name, "evdev", 5) == 0;
        XFree(name);
      }
    }
    XkbFreeKeyboard(keyboard, 0, True);
    XLOG_DEBUG("window: %s", evdev ? "evdev keycodes: keys go to VMs by position"
                                   : "no evdev keycodes: keys go to VMs as the US key of their keysym");
    return evdev;
  }

  uint16_t linux_key(XKeyEvent& key) {
    if (evdev_keycodes_) return key.keycode >= 8 && key.keycode < 8 + 0x300 ? static_cast<uint16_t>(key.keycode - 8) : 0;
    return linux_key_from_keysym(static_cast<uint32_t>(XLookupKeysym(&key, 0)));
  }

  void forward(const InputEvent& event) {
    if (event.kind == InputEvent::Kind::Key) {
      if (event.down) {
        forwarded_down_.insert(event.code);
      } else if (!forwarded_down_.erase(event.code)) {
        return;  // its press went elsewhere (a hotkey, the picker, another window)
      }
    }
    control_.send_input(event, "window");
  }

  // Keys held when the window loses the keyboard would stay down in the VM:
  // their releases go to another window.
  void release_forwarded() {
    std::set<uint16_t> held = std::exchange(forwarded_down_, {});
    for (uint16_t code : held) control_.send_input(InputEvent::key(code, false), "window");
  }

  void handle_key_release(XKeyEvent& key) {
    if (uint16_t code = linux_key(key)) forward(InputEvent::key(code, false));
  }

  void handle_button(XButtonEvent& button, bool down) {
    if (picker_.open) return;
    forward(InputEvent::pointer(button.x, button.y));
    PointerButton b = pointer_button(button.button);
    if (b.code) {
      forward(InputEvent::key(b.code, down));
    } else if (down && (b.wheel_vertical || b.wheel_horizontal)) {
      forward(InputEvent::wheel(b.wheel_vertical, b.wheel_horizontal));
    }
  }

  void handle_key(XKeyEvent& key) {
    KeySym symbol = XLookupKeysym(&key, 0);
    bool ctrl_alt = (key.state & (ControlMask | Mod1Mask)) == (ControlMask | Mod1Mask);
    const bool hotkey = (ctrl_alt && (symbol == XK_space || symbol == XK_Right || symbol == XK_KP_Right ||
                                      symbol == XK_Left || symbol == XK_KP_Left)) ||
                        symbol == XK_F12;
    if (!hotkey && !picker_.open) {
      if (uint16_t code = linux_key(key)) forward(InputEvent::key(code, true));
      return;
    }
    if ((ctrl_alt && symbol == XK_space) || symbol == XK_F12) {
      picker_.open ? close_picker() : open_picker();
    } else if (ctrl_alt && (symbol == XK_Right || symbol == XK_KP_Right)) {
      step_vm(+1);
    } else if (ctrl_alt && (symbol == XK_Left || symbol == XK_KP_Left)) {
      step_vm(-1);
    } else if (picker_.open) {
      if ((symbol == XK_Up || symbol == XK_KP_Up) && picker_.cursor > 0) {
        --picker_.cursor;
        draw_picker();
      } else if ((symbol == XK_Down || symbol == XK_KP_Down) && picker_.cursor + 1 < picker_.vms.size()) {
        ++picker_.cursor;
        draw_picker();
      } else if (symbol == XK_Return || symbol == XK_KP_Enter) {
        std::string name = picker_.cursor < picker_.vms.size() ? picker_.vms[picker_.cursor].name : "";
        close_picker();
        if (!name.empty()) select_vm(name);
      } else if (symbol == XK_Escape) {
        close_picker();
      }
    }
  }

  void handle_event(XEvent& event) {
    switch (event.type) {
      case Expose: {
        const XExposeEvent& e = event.xexpose;
        if (showing_nothing_) {
          if (e.count == 0) draw_placeholder();
        } else {
          put_rects({{e.x, e.y, static_cast<uint32_t>(e.width), static_cast<uint32_t>(e.height)}});
        }
        if (e.count == 0 && picker_.open) draw_picker();
        break;
      }
      case ConfigureNotify: {
        uint32_t width = static_cast<uint32_t>(event.xconfigure.width);
        uint32_t height = static_cast<uint32_t>(event.xconfigure.height);
        if (width != window_width_ || height != window_height_) {
          window_width_ = width, window_height_ = height;
          if (showing_nothing_) {
            XClearWindow(display_, window_);
            draw_placeholder();
          }
          if (picker_.open) draw_picker();  // centred anew
        }
        break;
      }
      case KeyPress:
        handle_key(event.xkey);
        break;
      case KeyRelease:
        handle_key_release(event.xkey);
        break;
      case ButtonPress:
      case ButtonRelease:
        handle_button(event.xbutton, event.type == ButtonPress);
        break;
      case MotionNotify: {
        // Only the newest place matters: skip motions already queued behind it.
        XEvent newer;
        while (XCheckTypedWindowEvent(display_, window_, MotionNotify, &newer)) event = newer;
        if (!picker_.open) forward(InputEvent::pointer(event.xmotion.x, event.xmotion.y));
        break;
      }
      case FocusOut:
        release_forwarded();
        break;
      case ClientMessage:
        if (event.xclient.message_type == wm_protocols_ &&
            static_cast<Atom>(event.xclient.data.l[0]) == wm_delete_window_) {
          XLOG_INFO("window: close asked; iconifying instead (the window closes with the compositor)");
          XIconifyWindow(display_, window_, DefaultScreen(display_));
        }
        break;
      default:
        break;
    }
  }

  DesktopControl& control_;
  const std::string display_name_;
  std::thread thread_;
  int wake_fd_ = -1;
  std::promise<std::string>* setup_result_ = nullptr;  // event thread, until set_up is over
  std::atomic<bool> stopping_ = false;
  std::atomic<bool> dead_ = false;  // the X connection broke

  std::mutex mutex_;  // guards what show() hands over
  StagedDesktop staged_;
  bool changed_ = false;

  // Event thread only.
  Display* display_ = nullptr;
  Visual* visual_ = nullptr;
  int depth_ = 0;
  Colormap colormap_ = 0;
  bool own_colormap_ = false;
  Window window_ = 0;
  uint32_t window_width_ = 0, window_height_ = 0;
  GC gc_ = nullptr;
  XFontStruct* font_ = nullptr;
  bool font_is_loaded_ = true;
  Atom wm_protocols_ = 0, wm_delete_window_ = 0, net_wm_name_ = 0, utf8_string_ = 0;
  bool shm_usable_ = false;
  XShmSegmentInfo shm_{};
  XImage* image_ = nullptr;
  bool image_is_shm_ = false;
  uint32_t image_width_ = 0, image_height_ = 0;
  bool showing_nothing_ = true;
  std::string shown_vm_;
  Picker picker_;
  bool evdev_keycodes_ = false;
  std::set<uint16_t> forwarded_down_;  // keys and buttons the selected VM got a press of
};

}  // namespace

std::unique_ptr<Output> make_window_output(DesktopControl& control, const std::string& display, std::string& error) {
  auto output = std::make_unique<WindowOutput>(control, display);
  if (!output->start(error)) return nullptr;
  return output;
}

}  // namespace xen3d::host
