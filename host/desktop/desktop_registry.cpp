#include "host/desktop/desktop_registry.h"

#include <chrono>
#include <random>
#include <utility>

#include "common/log.h"
#include "pipe/p_context.h"
#include "pipe/p_screen.h"

namespace xen3d::host {

namespace {

constexpr size_t kMaxRememberedNames = 4096;

uint64_t new_token() {
  std::random_device rd;  // /dev/urandom: tokens must not be guessable by other guests
  uint64_t t = 0;
  while (!t) t = (uint64_t{rd()} << 32) ^ rd();
  return t;
}

}  // namespace

DesktopRegistry::DesktopRegistry(pipe_screen* screen, std::mutex* driver_lock, int max_fps)
    : screen_(screen), driver_lock_(driver_lock), max_fps_(max_fps > 0 ? max_fps : 60) {}

DesktopRegistry::~DesktopRegistry() {
  stop();
  auto dl = driver_lock_unless(false);
  std::lock_guard<std::mutex> g(gpu_mutex_);
  for (auto& [id, d] : desktops_) d->release_gpu();
  for (auto& d : evicted_) d->release_gpu();
  desktops_.clear();
  evicted_.clear();
  if (ctx_) ctx_->destroy(ctx_);
  ctx_ = nullptr;
}

void DesktopRegistry::start(std::vector<std::unique_ptr<Output>> outputs) {
  outputs_ = std::move(outputs);
  thread_ = std::thread([this] { compose_loop(); });
}

void DesktopRegistry::stop() {
  {
    std::lock_guard<std::mutex> g(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  outputs_.clear();
}

std::shared_ptr<Desktop> DesktopRegistry::find_locked(const std::string& name) const {
  for (const auto& [id, d] : desktops_) {
    if (d->name() == name) return d;
  }
  return nullptr;
}

std::shared_ptr<Desktop> DesktopRegistry::open(const std::string& name, const NameOwner& owner,
                                               std::unique_ptr<FramebufferSource> fb, std::string& error) {
  if (name.empty()) {
    error = "a desktop needs a name";
    return nullptr;
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f || c == '\t') {
      error = "desktop names are printable text";
      return nullptr;
    }
  }
  std::shared_ptr<Desktop> evicted;
  std::shared_ptr<Desktop> d;
  {
    std::lock_guard<std::mutex> g(mutex_);
    auto claim = name_owners_.find(name);
    const bool someone_elses = claim != name_owners_.end() && claim->second.peer != owner.peer;
    if (someone_elses && !owner.xen_domain_name) {
      error = "the desktop name '" + name + "' belongs to " + claim->second.peer;
      return nullptr;
    }
    if (auto open = find_locked(name)) {
      if (!someone_elses) {
        error = "a desktop named '" + name + "' is already open";
        return nullptr;
      }
      // The Xen domain of that name wins over whoever took its name first.
      evicted = open;
      evicted->evict("the name '" + name + "' belongs to Xen domain " + owner.peer);
      desktops_.erase(open->id());
      // Its GPU objects go on the composition thread, which takes the GPU
      // lock (callers of open() may hold the driver lock or not).
      evicted_.push_back(open);
    }
    // Names are remembered for the compositor's life; a peer cycling through
    // names must not grow the map without bound.
    if (name_owners_.size() >= kMaxRememberedNames) {
      for (auto it = name_owners_.begin(); it != name_owners_.end();) {
        it = find_locked(it->first) ? std::next(it) : name_owners_.erase(it);
      }
    }
    name_owners_[name] = owner;
    d = std::make_shared<Desktop>(next_id_++, name, new_token(), std::move(fb));
    desktops_[d->id()] = d;
    if (selected_.empty()) {
      selected_ = name;
      switched_ = true;
    }
    if (evicted && selected_ == name) switched_ = true;
    XLOG_INFO("desktop %u '%s' opened by %s%s", d->id(), name.c_str(), owner.peer.c_str(),
              selected_ == name ? " (selected)" : "");
  }
  if (evicted) {
    XLOG_WARN("desktop %u '%s' of another peer closed: the name belongs to Xen domain %s", evicted->id(),
              name.c_str(), owner.peer.c_str());
  }
  wake_.notify_all();
  return d;
}

std::shared_ptr<Desktop> DesktopRegistry::attach_window_system(const std::string& name, const std::string& peer,
                                                               std::string& error) {
  std::lock_guard<std::mutex> g(mutex_);
  auto d = find_locked(name);
  auto owner = name_owners_.find(name);
  if (!d || owner == name_owners_.end() || owner->second.peer != peer || !owner->second.xen_domain_name) {
    error = "no PV display desktop '" + name + "' of " + peer;
    return nullptr;
  }
  if (!d->attach_window_system()) {
    error = "another window system has desktop '" + name + "'";
    return nullptr;
  }
  XLOG_INFO("desktop %u '%s': %s's window system attached (its GL windows are composited over the PV display)",
            d->id(), name.c_str(), peer.c_str());
  return d;
}

void DesktopRegistry::close(const std::shared_ptr<Desktop>& desktop) {
  // A window system attached to it (a PV display's desktop) learns on its
  // next record, and attaches again to the desktop that replaces it.
  desktop->evict("the desktop closed (its PV display went)");
  {
    std::lock_guard<std::mutex> g(mutex_);
    // An evicted desktop left the map already; its name may be another's now.
    if (!desktops_.erase(desktop->id())) {
      // fall through to free its GPU objects (again: release_gpu is idempotent)
    } else if (selected_ == desktop->name()) {
      selected_ = desktops_.empty() ? std::string() : desktops_.begin()->second->name();
      switched_ = true;
    }
  }
  {
    auto dl = driver_lock_unless(false);
    std::lock_guard<std::mutex> g(gpu_mutex_);
    desktop->release_gpu();
  }
  XLOG_INFO("desktop %u '%s' closed", desktop->id(), desktop->name().c_str());
  wake_.notify_all();
}

std::shared_ptr<Desktop> DesktopRegistry::join(uint64_t token) {
  std::lock_guard<std::mutex> g(mutex_);
  for (const auto& [id, d] : desktops_) {
    if (d->token() == token) return d;
  }
  return nullptr;
}

DesktopRegistry::JoinOutcome DesktopRegistry::join_gl(uint64_t token, uint32_t connection,
                                                      const std::shared_ptr<GuestMemoryAccount>& memory,
                                                      std::shared_ptr<Desktop>& joined, bool driver_lock_held) {
  JoinOutcome out;
  std::shared_ptr<Desktop> d = join(token);
  if (!d) {
    out.reason = "no open desktop has this token";
    return out;
  }
  if (joined && joined != d) {
    bool closed;
    {
      auto dl = driver_lock_unless(driver_lock_held);
      std::lock_guard<std::mutex> g(gpu_mutex_);
      closed = joined->closed();
      if (closed) joined->connection_left(connection);
    }
    if (!closed) {
      out.rejected = true;
      out.reason = "desktop_join: this connection already presents into another open desktop";
      return out;
    }
    joined.reset();
  }
  if (!joined) {
    joined = d;
    d->connection_joined(connection, memory);
    XLOG_INFO("connection %u joined desktop %u '%s'", connection, d->id(), d->name().c_str());
  }
  out.ok = true;
  out.desktop_id = d->id();
  return out;
}

void DesktopRegistry::leave_gl(std::shared_ptr<Desktop>& joined, uint32_t connection, bool driver_lock_held) {
  if (!joined) return;
  {
    auto dl = driver_lock_unless(driver_lock_held);
    std::lock_guard<std::mutex> g(gpu_mutex_);
    joined->connection_left(connection);
  }
  damaged(*joined);
  joined.reset();
}

int DesktopRegistry::share_surface(Desktop& desktop, uint32_t window, uint32_t connection, uint32_t width,
                                   uint32_t height, uint64_t& size, std::string& error) {
  auto dl = driver_lock_unless(false);
  std::lock_guard<std::mutex> g(gpu_mutex_);
  return desktop.share_surface(screen_, window, connection, width, height, size, error);
}

void DesktopRegistry::damaged(const Desktop& desktop) {
  std::lock_guard<std::mutex> g(mutex_);
  if (desktop.name() == selected_) wake_.notify_all();
}

std::vector<VmSummary> DesktopRegistry::list() {
  std::lock_guard<std::mutex> g(mutex_);
  std::vector<VmSummary> out;
  for (const auto& [id, d] : desktops_) {
    out.push_back(d->summary());
    out.back().selected = d->name() == selected_;
  }
  return out;
}

bool DesktopRegistry::select(const std::string& name, std::string& error) {
  HeldInput left_behind;
  {
    std::lock_guard<std::mutex> g(mutex_);
    if (!find_locked(name)) {
      error = "no VM desktop named '" + name + "'";
      return false;
    }
    if (selected_ != name) {
      selected_ = name;
      switched_ = true;
      left_behind = std::exchange(held_, {});
      XLOG_INFO("switched to desktop '%s'", name.c_str());
    }
  }
  wake_.notify_all();
  left_behind.release();
  return true;
}

void DesktopRegistry::HeldInput::release() {
  auto target = sink.lock();
  if (!target) return;
  for (uint16_t code : codes) target->deliver(InputEvent::key(code, false));
  codes.clear();
}

void DesktopRegistry::send_input(const InputEvent& event, const char* source) {
  HeldInput left_behind;
  std::shared_ptr<InputSink> target;
  std::shared_ptr<Desktop> sized;  // whose size a pointer position is in
  {
    std::lock_guard<std::mutex> g(mutex_);
    auto d = find_locked(selected_);
    if (!d) return;
    // A Xen domain's PV keyboard is its own device (its X server reads it
    // like any keyboard); the module's devices serve where it has none.
    auto vm = vm_inputs_.find(d->name());
    target = vm != vm_inputs_.end() ? vm->second : d->input_sink();
    if (!target) {
      if (no_input_logged_.insert(d->id()).second) {
        XLOG_INFO("%s: desktop '%s' takes no input (its guest has no input channel: an Xorg module or "
                  "PV keyboard of this version)", source, d->name().c_str());
      }
      return;
    }
    // The selection moved without select() (the selected VM left): what is
    // held belongs to a desktop that no longer gets input.
    if (held_.desktop != d->id()) left_behind = std::exchange(held_, {});
    held_.desktop = d->id();
    held_.sink = target;
    sized = d;
    if (event.kind == InputEvent::Kind::Key) {
      if (event.down) {
        held_.codes.insert(event.code);
      } else {
        held_.codes.erase(event.code);
      }
    }
  }
  left_behind.release();
  if (event.kind == InputEvent::Kind::Pointer) {
    const VmSummary size = sized->summary();
    InputEvent sized_event = event;
    sized_event.width = size.width;
    sized_event.height = size.height;
    target->deliver(sized_event);
    return;
  }
  target->deliver(event);
}

void DesktopRegistry::set_vm_input(const std::string& name, std::shared_ptr<InputSink> sink) {
  std::lock_guard<std::mutex> g(mutex_);
  vm_inputs_[name] = std::move(sink);
}

void DesktopRegistry::clear_vm_input(const std::string& name, const std::shared_ptr<InputSink>& sink) {
  std::lock_guard<std::mutex> g(mutex_);
  auto it = vm_inputs_.find(name);
  if (it != vm_inputs_.end() && it->second == sink) vm_inputs_.erase(it);
}

std::string DesktopRegistry::selected() {
  std::lock_guard<std::mutex> g(mutex_);
  return selected_;
}

bool DesktopRegistry::compose_now(Desktop& d, std::vector<DesktopRect>& damage, std::string& error) {
  auto dl = driver_lock_unless(false);
  std::lock_guard<std::mutex> g(gpu_mutex_);
  if (!ctx_) {
    ctx_ = screen_->context_create(screen_, nullptr, 0);
    if (!ctx_) {
      error = "the host driver could not create the composition context";
      return false;
    }
  }
  return d.compose(ctx_, damage, error);
}

bool DesktopRegistry::capture(const std::string& name, DesktopImage& out, std::string& error) {
  std::shared_ptr<Desktop> d;
  {
    std::lock_guard<std::mutex> g(mutex_);
    d = find_locked(name);
  }
  if (!d) {
    error = "no VM desktop named '" + name + "'";
    return false;
  }
  std::vector<DesktopRect> damage;
  if (!compose_now(*d, damage, error)) return false;
  std::lock_guard<std::mutex> ig(d->image_mutex());
  out = d->image();
  if (!out.width) {
    error = "desktop '" + name + "' has no framebuffer yet";
    return false;
  }
  return true;
}

void DesktopRegistry::release_evicted() {
  std::vector<std::shared_ptr<Desktop>> evicted;
  {
    std::lock_guard<std::mutex> g(mutex_);
    evicted.swap(evicted_);
  }
  if (evicted.empty()) return;
  auto dl = driver_lock_unless(false);
  std::lock_guard<std::mutex> g(gpu_mutex_);
  for (auto& d : evicted) d->release_gpu();
}

void DesktopRegistry::compose_loop() {
  const auto min_interval = std::chrono::microseconds(1000000 / max_fps_);
  auto last = std::chrono::steady_clock::now() - min_interval;
  bool showed_nothing = false;
  for (;;) {
    release_evicted();
    std::shared_ptr<Desktop> d;
    bool whole = false;
    {
      std::unique_lock<std::mutex> g(mutex_);
      wake_.wait_for(g, std::chrono::milliseconds(250), [&] {
        if (stop_ || !evicted_.empty()) return true;
        auto sel = find_locked(selected_);
        return switched_ || (sel && (sel->dirty() || sel->has_unshown()));
      });
      if (stop_) return;
      d = find_locked(selected_);
      whole = switched_;
      switched_ = false;
      if (!d) {
        if (whole && !showed_nothing) {
          for (auto& o : outputs_) o->show_nothing();
          showed_nothing = true;
        }
        continue;
      }
      if (!whole && !d->dirty() && !d->has_unshown()) continue;
    }
    showed_nothing = false;
    // The outputs need no more than max_fps pictures a second; damage keeps
    // piling up in the desktop meanwhile.
    const auto now = std::chrono::steady_clock::now();
    if (now - last < min_interval) std::this_thread::sleep_for(min_interval - (now - last));
    last = std::chrono::steady_clock::now();
    std::vector<DesktopRect> damage;
    std::string error;
    if (!compose_now(*d, damage, error)) {
      XLOG_WARN("desktop '%s': %s", d->name().c_str(), error.c_str());
      continue;
    }
    // Everything composed since the outputs last looked, screenshots' compositions included.
    std::lock_guard<std::mutex> ig(d->image_mutex());
    if (!d->take_unshown_locked(damage) && !whole) continue;
    if (whole) damage.clear();
    if (!d->image().width) continue;
    for (auto& o : outputs_) o->show(d->name(), d->image(), damage);
  }
}

}  // namespace xen3d::host
