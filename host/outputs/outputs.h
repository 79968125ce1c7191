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

// A VNC server (libvncserver) on `port` showing the selected VM's desktop.
std::unique_ptr<Output> make_vnc_output(DesktopControl& control, int port, std::string& error);

// DIR/<vm>.png, rewritten at most once a second while the desktop changes.
std::unique_ptr<Output> make_png_output(const std::string& dir, std::string& error);

}  // namespace xen3d::host
