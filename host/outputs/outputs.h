// Where composed VM desktops go. Each output follows the selected VM
// (DesktopControl::selected) except PNG files, which are written per VM.
#pragma once

#include <memory>
#include <string>

#include "host/desktop/desktop_control.h"

namespace xen3d::host {

// A window on the host's X display ($DISPLAY): shows the selected VM's
// desktop; Ctrl+Alt+Left/Right switch VMs, Ctrl+Alt+Space (or F12) opens a
// picker overlay listing VM names. nullptr with `error` when there is no display.
std::unique_ptr<Output> make_window_output(DesktopControl& control, const std::string& display, std::string& error);

// A VNC server (libvncserver) showing the selected VM's desktop. With a
// password, viewers authenticate (VNC authentication) and their keys and
// pointer go to the selected VM; without one it listens on localhost only
// and viewers only watch.
struct VncOptions {
  int port = 5900;
  std::string listen = "127.0.0.1";  // an IPv4 address, or 0.0.0.0 / any: every interface (IPv6 too)
  std::string password_file;         // its first line is the password; "": none
  bool view_only = false;            // with a password: viewers still only watch
};
std::unique_ptr<Output> make_vnc_output(DesktopControl& control, const VncOptions& options, std::string& error);

// DIR/<vm>.png, rewritten at most once a second while the desktop changes.
std::unique_ptr<Output> make_png_output(const std::string& dir, std::string& error);

}  // namespace xen3d::host
