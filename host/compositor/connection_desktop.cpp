// A guest connection's desktop records: the window system's (desktop_open,
// desktop_resize, desktop_damage, window_state, window_gone) and a GL
// connection's desktop_join. Everything here comes from the guest and is
// checked before it reaches a Desktop.
#include <mutex>

#include "host/desktop/desktop_registry.h"
#include "host/desktop/present_target.h"
#include "host/desktop/framebuffer_source.h"
#include "host/compositor/guest_connection.h"
#include "host/compositor/connection_input.h"
#include "common/log.h"
#include "host/desktop/window_clip.h"

namespace xen3d::host {

using proto::DecodeError;

namespace {
constexpr size_t kMaxWindowsPerDesktop = 256;
// Disjoint rects kept per window: X's clip lists are far shorter; a longer
// one becomes its bounding box, as the guest's own module does.
constexpr size_t kMaxClipRectsPerWindow = 1024;
}

DecodeError GuestConnection::owned_desktop(const char* record) {
  if (!owned_desktop_) {
    return reject_("%s: this connection has not opened a desktop", record);
  }
  if (const std::string why = owned_desktop_->evicted(); !why.empty()) {
    return reject_("%s: desktop '%s' was closed: %s", record, owned_desktop_->name().c_str(), why.c_str());
  }
  return {};
}

DecodeError GuestConnection::refuse_desktop(const std::string& what, const std::string& why, bool expected) {
  log(expected ? LogLevel::Info : LogLevel::Warn, "%s: %s refused: %s", label_.c_str(), what.c_str(), why.c_str());
  proto::DesktopOpened answer;
  answer.ok = false;
  answer.reason = why;
  session_->reply(answer);
  return {};
}

DecodeError GuestConnection::take_desktop(std::shared_ptr<Desktop> desktop, bool attached) {
  owned_desktop_ = std::move(desktop);
  attached_ = attached;
  start_input(*owned_desktop_);
  proto::DesktopOpened answer;
  answer.ok = true;
  answer.desktop_id = owned_desktop_->id();
  answer.token = owned_desktop_->token();
  session_->reply(answer);
  options_.desktops->damaged(*owned_desktop_);
  return {};
}

DecodeError GuestConnection::operator()(const proto::DesktopOpen& r) {
  const std::string what = "desktop '" + std::string(r.name) + "'";
  auto refuse = [&](const std::string& why) { return refuse_desktop(what, why); };
  if (owned_desktop_ || joined_desktop_) return DecodeError::rejected("desktop_open: this connection already has a desktop");
  if (!options_.desktops) return refuse("this compositor composites no desktops (started without a host GPU)");
  auto& transport = session_->transport();
  if (!transport.framebuffer()) return refuse("the connection has no framebuffer region (ask for framebuffer_kib)");
  auto fb = std::make_unique<LocalFramebuffer>(transport.framebuffer(), transport.framebuffer_size());
  std::string error;
  if (!fb->resize(r.width, r.height, r.stride, error)) return refuse(error);
  // A Xen domain's desktop is named as the domain is in xenstore (set by
  // the host's toolstack, unique among domains), whatever the guest asked.
  const auto& info = session_->info();
  const bool xen = info.peer_domid != 0 && !info.peer_vm.empty();
  const std::string name = xen ? info.peer_vm : std::string(r.name);
  if (xen && name != std::string_view(r.name)) {
    XLOG_INFO("%s: desktop '%.*s' is named '%s' after its Xen domain", label_.c_str(), int(r.name.size()),
              r.name.data(), name.c_str());
  }
  auto desktop = options_.desktops->open(name, {info.peer_id, xen}, std::move(fb), error);
  if (!desktop) return refuse(error);
  return take_desktop(std::move(desktop), false);
}

DecodeError GuestConnection::operator()(const proto::DesktopAttach&) {
  // Refusals are expected: a window system asks before opening a desktop of its own.
  auto refuse = [&](const std::string& why) { return refuse_desktop("desktop_attach", why, true); };
  if (owned_desktop_ || joined_desktop_) return DecodeError::rejected("desktop_attach: this connection already has a desktop");
  if (!options_.desktops) return refuse("this compositor composites no desktops (started without a host GPU)");
  const auto& info = session_->info();
  if (info.peer_domid == 0 || info.peer_vm.empty()) return refuse("only a Xen domain's window system has a PV display");
  std::string error;
  auto desktop = options_.desktops->attach_window_system(info.peer_vm, info.peer_id, error);
  if (!desktop) return refuse(error);
  return take_desktop(std::move(desktop), true);
}

DecodeError GuestConnection::operator()(const proto::DesktopResize& r) {
  if (auto e = owned_desktop("desktop_resize"); !e.ok()) return e;
  if (attached_) return DecodeError::rejected("desktop_resize: the PV display's scanout is this desktop's size");
  std::string error;
  if (!owned_desktop_->resize(r.width, r.height, r.stride, error)) return reject_("desktop_resize: %s", error.c_str());
  options_.desktops->damaged(*owned_desktop_);
  return {};
}

DecodeError GuestConnection::operator()(const proto::DesktopDamage&) {
  if (auto e = owned_desktop("desktop_damage"); !e.ok()) return e;
  if (attached_) return DecodeError::rejected("desktop_damage: the PV display's scanout is this desktop's 2D picture");
  std::string error;
  if (!owned_desktop_->framebuffer_updated(error)) return reject_("desktop_damage: %s", error.c_str());
  options_.desktops->damaged(*owned_desktop_);
  return {};
}

DecodeError GuestConnection::operator()(const proto::WindowState& r) {
  if (auto e = owned_desktop("window_state"); !e.ok()) return e;
  if (r.window == 0) return DecodeError::rejected("window_state: window 0 is not a window");
  if (owned_desktop_->summary().gl_windows >= kMaxWindowsPerDesktop && !owned_desktop_->has_window(r.window)) {
    return reject_("window_state: more than %zu GL windows", kMaxWindowsPerDesktop);
  }
  WindowPlacement w;
  w.window = r.window;
  w.x = r.x;
  w.y = r.y;
  w.width = r.width;
  w.height = r.height;
  w.mapped = r.mapped != 0;
  std::vector<DesktopRect> clip;
  clip.reserve(r.clip.size());
  for (size_t i = 0; i < r.clip.size(); ++i) {
    const proto::Rect c = r.clip[i];
    clip.push_back({c.x, c.y, c.width, c.height});
  }
  // Composition trusts the list to be inside the window and disjoint: make it so.
  NormalizedClip normalized = normalize_clip(clip, DesktopRect{r.x, r.y, r.width, r.height}, kMaxClipRectsPerWindow);
  if (normalized.coarsened) {
    XLOG_DEBUG("%s: window 0x%x: %zu clip rects taken as their bounding box", label_.c_str(), r.window, r.clip.size());
  }
  w.clip = std::move(normalized.rects);
  std::string error;
  if (!owned_desktop_->place_window(std::move(w), error)) return reject_("window_state: %s", error.c_str());
  options_.desktops->damaged(*owned_desktop_);
  return {};
}

DecodeError GuestConnection::operator()(const proto::WindowGone& r) {
  if (auto e = owned_desktop("window_gone"); !e.ok()) return e;
  owned_desktop_->forget_window(r.window);
  options_.desktops->damaged(*owned_desktop_);
  return {};
}

DecodeError GuestConnection::operator()(const proto::DesktopJoin& r) {
  proto::DesktopJoined answer;
  if (owned_desktop_) return DecodeError::rejected("desktop_join: a window-system connection presents no GL frames");
  if (!executor_ || (!options_.desktops && !options_.worker_desktop)) {
    answer.ok = false;
    answer.reason = "this compositor composites no desktops";
    session_->reply(answer);
    return {};
  }
  std::string reason;
  if (options_.worker_desktop) {
    // In a render worker: the compositor joins on our behalf (worker_desktop.h).
    auto joined = options_.worker_desktop->join(r.token, memory_);
    if (joined.rejected) return reject_("%s", joined.reason.c_str());
    answer.ok = joined.ok;
    answer.desktop_id = joined.desktop_id;
    reason = joined.reason;
    if (joined.ok) executor_->present_into(joined.target);
  } else {
    // Records run with the driver lock held (dispatch).
    auto joined = options_.desktops->join_gl(r.token, id(), memory_, joined_desktop_, true);
    if (joined.rejected) return reject_("%s", joined.reason.c_str());
    answer.ok = joined.ok;
    answer.desktop_id = joined.desktop_id;
    reason = joined.reason;
    if (joined.ok) executor_->present_into(std::make_shared<LocalPresentTarget>(joined_desktop_, *options_.desktops, id()));
  }
  answer.reason = reason;
  session_->reply(answer);
  return {};
}

void GuestConnection::start_input(Desktop& desktop) {
  input_ = std::make_shared<ConnectionInput>(session_->transport(), label_);
  session_->set_attention(input_->attention());
  desktop.set_input_sink(input_);
}

void GuestConnection::leave_desktops() {
  if (owned_desktop_ && attached_) {
    // The PV display's desktop stays; our windows and input leave it.
    owned_desktop_->detach_window_system();
    options_.desktops->damaged(*owned_desktop_);
    owned_desktop_.reset();
  } else if (owned_desktop_) {
    owned_desktop_->set_input_sink(nullptr);
    options_.desktops->close(owned_desktop_);
    owned_desktop_.reset();
  }
  if (input_) {
    input_->detach();
    session_->set_attention(nullptr);
    input_.reset();
  }
  if (executor_) executor_->present_into(nullptr);
  if (options_.worker_desktop) options_.worker_desktop->leave();
  if (joined_desktop_) options_.desktops->leave_gl(joined_desktop_, id(), false);
}

}  // namespace xen3d::host
