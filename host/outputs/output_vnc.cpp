// VNC output: a libvncserver screen showing the selected VM's desktop.
//
// Threading: libvncserver runs single-threaded on a thread of ours
// (rfbProcessEvents), not in its background mode: there, client threads read
// the framebuffer while rfbNewFramebuffer swaps it on a resize. show() only
// copies damaged rects into the staged desktop under a mutex; the VNC thread moves
// them into the framebuffer and marks them modified, so a slow viewer never
// holds up the composition thread.
//
// Listening: 127.0.0.1 (and ::1) by default; --vnc-listen ADDRESS picks
// another IPv4 address, 0.0.0.0 (or "any") all interfaces including IPv6,
// which needs a password (--vnc-password-file): VNC authentication, whose
// DES challenge keeps the password off the wire (not the session: use a
// tunnel across untrusted networks). With a password, viewers' keys and
// pointer go to the selected VM (keysyms as the US keys that type them,
// input_codes.h); without one, or with --vnc-view-only, viewers only watch.
#include <arpa/inet.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <rfb/rfb.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "common/log.h"
#include "host/desktop/desktop_rect.h"
#include "host/outputs/input_codes.h"
#include "host/outputs/outputs.h"
#include "host/outputs/staged_desktop.h"

namespace xen3d::host {
namespace {

constexpr uint32_t kPlaceholderWidth = 640, kPlaceholderHeight = 480;
// More rects than this in one frame are merged into their bounding box.

void forward_vnc_log(LogLevel level, const char* format, va_list args) {
  char line[1024];
  std::vsnprintf(line, sizeof line, format, args);
  size_t length = std::strlen(line);
  while (length > 0 && (line[length - 1] == '\n' || line[length - 1] == '\r')) line[--length] = '\0';
  // Desktops may well be as wide as they like: viewers cope.
  if (std::strstr(line, "is not a multiple of 4")) return;
  log(level, "vnc: %s", line);
}

void vnc_log(const char* format, ...) {
  va_list args;
  va_start(args, format);
  forward_vnc_log(LogLevel::Debug, format, args);
  va_end(args);
}

void vnc_error(const char* format, ...) {
  va_list args;
  va_start(args, format);
  forward_vnc_log(LogLevel::Warn, format, args);
  va_end(args);
}

// B8G8R8X8 bytes read as one 32-bit pixel in host order.
void set_bgrx_format(rfbScreenInfoPtr screen) {
  rfbPixelFormat& format = screen->serverFormat;
  format.bigEndian = std::endian::native == std::endian::big;
  if (std::endian::native == std::endian::little) {
    format.redShift = 16, format.greenShift = 8, format.blueShift = 0;
  } else {
    format.redShift = 8, format.greenShift = 16, format.blueShift = 24;
  }
}

// What one viewer has pressed, so its input can be told as changes and
// released when it leaves.
struct Viewer {
  int buttons = 0;  // RFB button mask last sent
  int x = -1, y = -1;
  std::set<uint16_t> keys_down;
};

class VncOutput final : public Output {
 public:
  VncOutput(DesktopControl& control, const VncOptions& options, in_addr_t listen_v4, const char* listen_v6,
            std::string password, std::string& error)
      : control_(control), port_(options.port), password_(std::move(password)),
        interactive_(!password_.empty() && !options.view_only) {
    const int port = options.port;
    framebuffer_.assign(size_t{kPlaceholderWidth} * kPlaceholderHeight * 4, 0);
    fb_width_ = kPlaceholderWidth, fb_height_ = kPlaceholderHeight;
    screen_ = rfbGetScreen(nullptr, nullptr, static_cast<int>(fb_width_), static_cast<int>(fb_height_), 8, 3, 4);
    if (!screen_) {
      error = "libvncserver could not create a screen";
      return;
    }
    set_bgrx_format(screen_);
    screen_->frameBuffer = reinterpret_cast<char*>(framebuffer_.data());
    name_ = "Xen3D: no VM desktops";
    screen_->desktopName = name_.c_str();
    screen_->port = port;
    screen_->ipv6port = listen_v6 ? port : 0;
    screen_->listenInterface = listen_v4;
    listen6_ = listen_v6 ? listen_v6 : "";
    screen_->listen6Interface = listen_v6 ? listen6_.data() : nullptr;
    screen_->alwaysShared = TRUE;  // a second viewer joins instead of kicking the first
    screen_->cursor = nullptr;     // no pointer of ours to draw into the desktop
    screen_->newClientHook = &VncOutput::client_joined;
    screen_->screenData = this;
    if (!password_.empty()) {
      password_list_[0] = password_.data();
      screen_->authPasswdData = password_list_;
      screen_->passwordCheck = rfbCheckPasswordByList;
    }
    screen_->kbdAddEvent = &VncOutput::key_event;
    screen_->ptrAddEvent = &VncOutput::pointer_event;
    rfbInitServer(screen_);
    if (screen_->listenSock == RFB_INVALID_SOCKET) {
      char address[INET_ADDRSTRLEN] = "?";
      inet_ntop(AF_INET, &listen_v4, address, sizeof address);
      error = "VNC cannot listen on " + std::string(address) + ":" + std::to_string(port) +
              " (port in use? see the vnc: lines above)";
      rfbShutdownServer(screen_, TRUE);
      rfbScreenCleanup(screen_);
      screen_ = nullptr;
      return;
    }
    thread_ = std::thread([this] { run(); });
  }

  ~VncOutput() override {
    if (!screen_) return;
    stopping_ = true;
    thread_.join();
    rfbShutdownServer(screen_, TRUE);
    rfbScreenCleanup(screen_);
  }

  bool ok() const { return screen_ != nullptr; }

  std::string describe() const override { return "VNC on port " + std::to_string(port_); }

  void show(const std::string& vm, const DesktopImage& image, const std::vector<DesktopRect>& damage) override {
    std::lock_guard lock(mutex_);
    staged_.stage(vm, image, damage);
  }

  void show_nothing() override {
    std::lock_guard lock(mutex_);
    staged_.show_nothing();
  }

 private:
  static VncOutput& of(rfbClientPtr client) { return *static_cast<VncOutput*>(client->screen->screenData); }

  // VNC thread, as libvncserver calls back.
  static enum rfbNewClientAction client_joined(rfbClientPtr client) {
    VncOutput& self = of(client);
    XLOG_INFO("vnc: viewer %s connected (%s)", client->host ? client->host : "?",
              self.interactive_ ? "password; keys and pointer go to the selected VM" : "view only");
    client->clientData = new Viewer;
    client->clientGoneHook = [](rfbClientPtr gone) {
      XLOG_INFO("vnc: viewer %s disconnected", gone->host ? gone->host : "?");
      auto* viewer = static_cast<Viewer*>(gone->clientData);
      gone->clientData = nullptr;
      // Whatever it held stays down in the VM otherwise.
      for (uint16_t code : viewer->keys_down) of(gone).control_.send_input(InputEvent::key(code, false), "vnc");
      delete viewer;
    };
    client->viewOnly = self.interactive_ ? FALSE : TRUE;
    return RFB_CLIENT_ACCEPT;
  }

  static void key_event(rfbBool down, rfbKeySym keysym, rfbClientPtr client) {
    auto* viewer = static_cast<Viewer*>(client->clientData);
    if (!viewer || client->viewOnly) return;
    const uint16_t code = linux_key_from_keysym(keysym);
    if (!code) {
      XLOG_DEBUG("vnc: keysym 0x%x has no key on a US keyboard; not sent", static_cast<unsigned>(keysym));
      return;
    }
    if (down) {
      viewer->keys_down.insert(code);
    } else if (!viewer->keys_down.erase(code)) {
      return;
    }
    of(client).control_.send_input(InputEvent::key(code, down != 0), "vnc");
  }

  static void pointer_event(int mask, int x, int y, rfbClientPtr client) {
    auto* viewer = static_cast<Viewer*>(client->clientData);
    if (!viewer || client->viewOnly) return;
    DesktopControl& control = of(client).control_;
    if (x != viewer->x || y != viewer->y) {
      viewer->x = x, viewer->y = y;
      control.send_input(InputEvent::pointer(x, y), "vnc");
    }
    const int changed = mask ^ viewer->buttons;
    viewer->buttons = mask;
    for (unsigned bit = 0; bit < 8; ++bit) {
      if (!(changed & (1 << bit))) continue;
      const bool down = mask & (1 << bit);
      PointerButton b = pointer_button(bit + 1);  // RFB's mask bits are X's buttons 1-8
      if (b.code) {
        if (down) {
          viewer->keys_down.insert(b.code);
        } else {
          viewer->keys_down.erase(b.code);
        }
        control.send_input(InputEvent::key(b.code, down), "vnc");
      } else if (down && (b.wheel_vertical || b.wheel_horizontal)) {
        control.send_input(InputEvent::wheel(b.wheel_vertical, b.wheel_horizontal), "vnc");
      }
    }
  }

  void run() {
    while (!stopping_) {
      apply_staged();
      // Viewers get new frames within ~10 ms; with none, only the listen
      // socket needs watching and select() wakes for it anyway.
      long wait_us = screen_->clientHead ? 10000 : 100000;
      rfbProcessEvents(screen_, wait_us);
    }
  }

  // VNC thread: brings the framebuffer up to date with what show() staged.
  void apply_staged() {
    std::vector<DesktopRect> modified;
    {
      std::lock_guard lock(mutex_);
      std::string wanted_name = staged_.nothing ? "Xen3D: no VM desktops" : "Xen3D: " + staged_.vm;
      if (wanted_name != name_) {
        // Viewers read the name when they connect; ones already connected keep theirs.
        name_ = wanted_name;
        screen_->desktopName = name_.c_str();
        if (!staged_.nothing) XLOG_DEBUG("vnc: showing VM %s", staged_.vm.c_str());
      }
      if (staged_.nothing) {
        if (!blanked_) {
          std::fill(framebuffer_.begin(), framebuffer_.end(), 0);
          modified.push_back({0, 0, fb_width_, fb_height_});
          blanked_ = true;
        }
      } else if (!staged_.pending.empty()) {
        blanked_ = false;
        if (staged_.width != fb_width_ || staged_.height != fb_height_) resize_framebuffer();
        for (const DesktopRect& r : staged_.pending)
          copy_rect(staged_.pixels.data(), fb_width_ * 4, framebuffer_.data(), fb_width_ * 4, r);
        modified = std::move(staged_.pending);
        staged_.pending.clear();
      }
    }
    for (const DesktopRect& r : modified)
      rfbMarkRectAsModified(screen_, r.x, r.y, r.x + static_cast<int>(r.width), r.y + static_cast<int>(r.height));
  }

  void resize_framebuffer() {
    std::vector<uint8_t> replacement(size_t{staged_.width} * staged_.height * 4, 0);
    rfbNewFramebuffer(screen_, reinterpret_cast<char*>(replacement.data()), static_cast<int>(staged_.width),
                      static_cast<int>(staged_.height), 8, 3, 4);
    framebuffer_.swap(replacement);
    fb_width_ = staged_.width, fb_height_ = staged_.height;
    // rfbNewFramebuffer reset the pixel format to its own default and gave
    // viewers translations for that: put ours back and redo them.
    set_bgrx_format(screen_);
    rfbClientIteratorPtr clients = rfbGetClientIterator(screen_);
    while (rfbClientPtr client = rfbClientIteratorNext(clients)) screen_->setTranslateFunction(client);
    rfbReleaseClientIterator(clients);
    staged_.pending = {{0, 0, fb_width_, fb_height_}};
    XLOG_DEBUG("vnc: desktop is now %ux%u", fb_width_, fb_height_);
  }

  DesktopControl& control_;
  const int port_;
  std::string password_;  // not const: libvncserver takes char*
  char* password_list_[2] = {nullptr, nullptr};  // rfbCheckPasswordByList's list
  const bool interactive_;
  rfbScreenInfoPtr screen_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stopping_ = false;
  std::string listen6_;

  // VNC thread only (and the constructor).
  std::vector<uint8_t> framebuffer_;
  uint32_t fb_width_ = 0, fb_height_ = 0;
  std::string name_;
  bool blanked_ = false;

  std::mutex mutex_;  // guards what show() hands over
  StagedDesktop staged_;
};

}  // namespace

namespace {

bool is_loopback(const std::string& listen) { return listen == "127.0.0.1" || listen == "localhost"; }

// The first line of `path`, refused when missing or empty; a file others may
// read is only warned about (the operator's choice).
bool read_password(const std::string& path, std::string& password, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot read the VNC password file " + path + ": " + std::strerror(errno);
    return false;
  }
  std::getline(in, password);
  while (!password.empty() && (password.back() == '\r' || password.back() == ' ')) password.pop_back();
  if (password.empty()) {
    error = "the VNC password file " + path + " has no password on its first line";
    return false;
  }
  struct stat st{};
  if (stat(path.c_str(), &st) == 0 && (st.st_mode & 077)) {
    XLOG_WARN("vnc: the password file %s is readable by other users (chmod 600 it)", path.c_str());
  }
  if (password.size() > 8) {
    XLOG_WARN("vnc: VNC authentication uses only the first 8 characters of the password");
  }
  return true;
}

}  // namespace

std::unique_ptr<Output> make_vnc_output(DesktopControl& control, const VncOptions& options, std::string& error) {
  if (options.port <= 0 || options.port > 65535) {
    error = "VNC port " + std::to_string(options.port) + " is not a TCP port";
    return nullptr;
  }
  rfbLog = vnc_log;
  rfbErr = vnc_error;

  const std::string& listen = options.listen.empty() ? std::string("127.0.0.1") : options.listen;
  in_addr_t listen_v4;
  const char* listen_v6;
  if (listen == "0.0.0.0" || listen == "any" || listen == "*") {
    listen_v4 = htonl(INADDR_ANY);
    listen_v6 = "::";
  } else {
    in_addr address{};
    if (inet_pton(AF_INET, listen == "localhost" ? "127.0.0.1" : listen.c_str(), &address) != 1) {
      error = "VNC listen address '" + listen + "' is not an IPv4 address (or 0.0.0.0 for all interfaces)";
      return nullptr;
    }
    listen_v4 = address.s_addr;
    listen_v6 = is_loopback(listen) ? "::1" : nullptr;
  }
  std::string password;
  if (!options.password_file.empty() && !read_password(options.password_file, password, error)) return nullptr;
  if (password.empty() && !is_loopback(listen)) {
    error = "VNC on " + listen + " needs a password: --vnc-password-file FILE (its first line is the password)";
    return nullptr;
  }

  auto output = std::make_unique<VncOutput>(control, options, listen_v4, listen_v6, password, error);
  if (!output->ok()) return nullptr;
  const char* mode = password.empty() ? "no password, view only (--vnc-password-file makes it interactive)"
                     : options.view_only ? "password, view only"
                                         : "password; keys and pointer go to the selected VM";
  XLOG_INFO("vnc: listening on %s:%d%s (%s)", listen.c_str(), options.port,
            is_loopback(listen) ? " and [::1]" : "", mode);
  return output;
}

}  // namespace xen3d::host
