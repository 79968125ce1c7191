#include "host/desktop/desktop.h"
#include "host/desktop/desktop_rect.h"
#include "host/desktop/shared_surface.h"
#include "host/desktop/surface_copy.h"
#include "common/log.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "pipe/p_context.h"
#include "pipe/p_screen.h"
#include "pipe/p_state.h"
#include "util/format/u_format.h"
#include "util/u_box.h"
#include "util/u_inlines.h"

namespace xen3d::host {

namespace {

constexpr size_t kMaxDamageRects = 32;  // beyond this one bounding box is cheaper than many blits
constexpr size_t kMaxSurfaces = 64;     // GL windows per desktop
// Clip rects over all of a desktop's windows: each is intersected with every
// damage rect on every composition, under the driver lock.
constexpr size_t kMaxClipRectsPerDesktop = 8192;
// Clip lists of different windows may still overlap (a hostile guest, or a
// restack caught half-way): no composition blits more than this many times
// the desktop's area, or more than this many rects.
constexpr uint64_t kMaxBlitAreaPerScreen = 4;
constexpr size_t kMaxBlitsPerComposition = 65536;

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%x", v);
  return buf;
}

}  // namespace

Desktop::Desktop(uint32_t id, std::string name, uint64_t token, std::unique_ptr<FramebufferSource> fb)
    : id_(id), name_(std::move(name)), token_(token), fb_(std::move(fb)) {}

Desktop::~Desktop() = default;  // release_gpu() ran first (DesktopRegistry)

void Desktop::coalesce(std::vector<DesktopRect>& rects) {
  if (rects.size() > kMaxDamageRects) rects = {bounding_box(rects)};
}

void Desktop::damage_locked(const DesktopRect& r, bool from_framebuffer) {
  if (!r.width || !r.height) return;
  auto& list = from_framebuffer ? fb_damage_ : window_damage_;
  list.push_back(r);
  coalesce(list);
}

void Desktop::damage_window_locked(const WindowPlacement& w) {
  // What the window covered shows the framebuffer again (or its new self).
  for (const auto& r : w.clip) damage_locked(r, true);
}

bool Desktop::place_window(WindowPlacement w, std::string& error) {
  std::lock_guard<std::mutex> g(mutex_);
  if (!w.mapped) w.clip.clear();
  auto it = windows_.find(w.window);
  const size_t replaced = it != windows_.end() ? it->second.clip.size() : 0;
  if (clip_rects_ - replaced + w.clip.size() > kMaxClipRectsPerDesktop) {
    error = "window 0x" + hex(w.window) + " would bring desktop '" + name_ + "' to " +
            std::to_string(clip_rects_ - replaced + w.clip.size()) + " clip rects, more than " +
            std::to_string(kMaxClipRectsPerDesktop);
    return false;
  }
  clip_rects_ = clip_rects_ - replaced + w.clip.size();
  if (it != windows_.end()) damage_window_locked(it->second);
  damage_window_locked(w);
  windows_[w.window] = std::move(w);
  return true;
}

void Desktop::forget_window(uint32_t window) {
  std::lock_guard<std::mutex> g(mutex_);
  auto it = windows_.find(window);
  if (it == windows_.end()) return;
  damage_window_locked(it->second);
  clip_rects_ -= it->second.clip.size();
  windows_.erase(it);
}

bool Desktop::attach_window_system() {
  std::lock_guard<std::mutex> g(mutex_);
  if (window_system_attached_) return false;
  window_system_attached_ = true;
  return true;
}

void Desktop::detach_window_system() {
  std::lock_guard<std::mutex> g(mutex_);
  for (const auto& [id, w] : windows_) damage_window_locked(w);
  windows_.clear();
  clip_rects_ = 0;
  input_sink_.reset();
  window_system_attached_ = false;
}

bool Desktop::has_window(uint32_t window) const {
  std::lock_guard<std::mutex> g(mutex_);
  return windows_.count(window) != 0;
}

bool Desktop::framebuffer_updated(std::string& error) {
  std::lock_guard<std::mutex> g(mutex_);
  std::vector<DesktopRect> rects;
  const bool ok = fb_->take_updates(rects, error);
  fb_updates_ += rects.size();
  for (const auto& r : rects) damage_locked(r, true);
  return ok;
}

bool Desktop::resize(uint32_t width, uint32_t height, uint32_t stride, std::string& error) {
  std::lock_guard<std::mutex> g(mutex_);
  if (!fb_->resize(width, height, stride, error)) return false;
  full_damage_ = true;
  return true;
}

void Desktop::connection_joined(uint32_t connection, std::shared_ptr<GuestMemoryAccount> memory) {
  std::lock_guard<std::mutex> g(mutex_);
  ++connections_;
  memory_[connection] = std::move(memory);
}

void Desktop::free_surface(Surface& s) {
  pipe_resource_reference(&s.texture, nullptr);
  s.shared.reset();
  if (s.charged) s.charged->release(s.bytes);
  s.charged.reset();
  s.bytes = 0;
}

Desktop::Surface* Desktop::surface_for(pipe_screen* screen, uint32_t window, uint32_t connection, uint32_t w,
                                       uint32_t h, bool shared, std::string& error) {
  auto it = surfaces_.find(window);
  if (it == surfaces_.end()) {
    if (surfaces_.size() >= kMaxSurfaces) {
      error = "desktop '" + name_ + "' already composites " + std::to_string(kMaxSurfaces) + " GL windows";
      return nullptr;
    }
    it = surfaces_.emplace(window, Surface{}).first;
  }
  Surface& s = it->second;
  const uint32_t have_w = s.shared ? s.shared->width() : s.texture ? s.texture->width0 : 0;
  const uint32_t have_h = s.shared ? s.shared->height() : s.texture ? s.texture->height0 : 0;
  // A worker asks for a surface only when it needs a new one; an in-process present reuses its own.
  if (!shared && !s.shared && have_w == w && have_h == h && s.connection == connection) return &s;
  free_surface(s);
  s.connection = connection;
  // The frame is a resource the guest made, so within the host's limits
  // already; the surface is checked again as it is a second copy.
  const uint32_t max_size = static_cast<uint32_t>(screen->get_param(screen, PIPE_CAP_MAX_TEXTURE_2D_SIZE));
  const std::string what = "window 0x" + hex(window) + "'s " + std::to_string(w) + "x" + std::to_string(h) + " surface";
  auto fail = [&](std::string why) -> Surface* {
    free_surface(s);
    surfaces_.erase(it);
    error = std::move(why);
    return nullptr;
  };
  if (w == 0 || h == 0 || w > max_size || h > max_size) {
    return fail(what + " is not within the host's " + std::to_string(max_size) + "x" + std::to_string(max_size) +
                " textures");
  }
  std::shared_ptr<GuestMemoryAccount> memory;
  {
    std::lock_guard<std::mutex> g(mutex_);
    if (auto m = memory_.find(connection); m != memory_.end()) memory = m->second;
  }
  if (!memory) return fail("connection " + std::to_string(connection) + " presents into desktop '" + name_ + "' without joining it");
  // A shared surface holds three frames (shared_surface.h).
  const uint64_t bytes = uint64_t{w} * h * util_format_get_blocksize(kDesktopFormat) * (shared ? SharedSurface::kBuffers : 1);
  std::string why;
  if (!memory->charge(bytes, what, why)) return fail(why);
  s.charged = std::move(memory);
  s.bytes = bytes;
  if (shared) {
    s.shared = SharedSurface::create(screen, w, h, why);
  } else {
    s.texture = create_surface_texture(screen, w, h);
    if (!s.texture) why = "the host could not allocate " + what;
  }
  if (!s.texture && !s.shared) return fail(why);
  return &s;
}

void Desktop::presented_locked(uint32_t window, uint32_t w, uint32_t h, double ms) {
  ++presents_;
  present_ms_total_ += ms;
  readback_bytes_saved_ += uint64_t{w} * h * 4;
  auto win = windows_.find(window);
  if (win != windows_.end()) {
    for (const auto& r : win->second.clip) damage_locked(r, false);
  }
}

bool Desktop::present(pipe_context* guest, pipe_resource* frame, unsigned level, unsigned layer, uint32_t window,
                      uint32_t connection, std::string& error) {
  if (closed_) return true;  // its window system left; the guest asks for the new token
  const auto t0 = std::chrono::steady_clock::now();
  const uint32_t w = u_minify(frame->width0, level), h = u_minify(frame->height0, level);
  Surface* s = surface_for(guest->screen, window, connection, w, h, false, error);
  if (!s) return false;
  // The composition context reads the surface next: the copy must be done.
  copy_frame_and_wait(guest, frame, level, layer, s->texture, w, h);
  std::lock_guard<std::mutex> g(mutex_);
  presented_locked(window, w, h, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  return true;
}

int Desktop::share_surface(pipe_screen* screen, uint32_t window, uint32_t connection, uint32_t width,
                           uint32_t height, uint64_t& size, std::string& error) {
  if (closed_) {
    error = "desktop '" + name_ + "' is closed";
    return -1;
  }
  Surface* s = surface_for(screen, window, connection, width, height, true, error);
  if (!s) return -1;
  size = s->shared->size();
  return s->shared->fd();
}

void Desktop::shared_presented(uint32_t window, double copy_ms) {
  std::lock_guard<std::mutex> g(mutex_);
  // Any joined worker may name any window (surfaces_ is the GPU lock's): a
  // false one costs a redraw of that window's visible part, no more.
  auto win = windows_.find(window);
  if (win == windows_.end()) return;
  presented_locked(window, win->second.width, win->second.height, copy_ms);
}

void Desktop::connection_left(uint32_t connection) {
  for (auto it = surfaces_.begin(); it != surfaces_.end();) {
    if (it->second.connection == connection) {
      free_surface(it->second);
      std::lock_guard<std::mutex> g(mutex_);
      auto win = windows_.find(it->first);
      if (win != windows_.end()) damage_window_locked(win->second);
      it = surfaces_.erase(it);
    } else {
      ++it;
    }
  }
  std::lock_guard<std::mutex> g(mutex_);
  if (connections_) --connections_;
  memory_.erase(connection);
}

bool Desktop::dirty() const {
  std::lock_guard<std::mutex> g(mutex_);
  return full_damage_ || !fb_damage_.empty() || !window_damage_.empty();
}

bool Desktop::compose(pipe_context* ctx, std::vector<DesktopRect>& damage, std::string& error) {
  const auto t0 = std::chrono::steady_clock::now();
  damage.clear();
  // The composition thread may still hold a desktop whose window system just
  // left: release_gpu() ran (under the same GPU lock), and a texture made now
  // would outlive it (found by LeakSanitizer).
  if (closed_) return true;
  std::unique_lock<std::mutex> g(mutex_);
  const uint32_t fw = fb_->width(), fh = fb_->height();
  if (!fw || !fh) return true;
  bool full = full_damage_;
  if (!composed_ || composed_->width0 != fw || composed_->height0 != fh) {
    pipe_resource_reference(&composed_, nullptr);
    composed_ = create_surface_texture(ctx->screen, fw, fh);
    if (!composed_) {
      error = "the host could not allocate a " + std::to_string(fw) + "x" + std::to_string(fh) + " desktop";
      return false;
    }
    full = true;
  }
  const DesktopRect screen{0, 0, fw, fh};
  std::vector<DesktopRect> upload, blits;
  if (full) {
    upload = {screen};
  } else {
    for (const auto& r : fb_damage_) {
      DesktopRect c;
      if (rect_intersect(r, screen, c)) upload.push_back(c);
    }
    for (const auto& r : window_damage_) {
      DesktopRect c;
      if (rect_intersect(r, screen, c)) blits.push_back(c);
    }
  }
  full_damage_ = false;
  fb_damage_.clear();
  window_damage_.clear();

  // 2D first: the framebuffer is the whole desktop under the GL windows.
  const uint8_t* fb = fb_->pixels();
  const uint32_t stride = fb_->stride();
  for (const auto& r : upload) {
    pipe_box box;
    u_box_2d(r.x, r.y, r.width, r.height, &box);
    ctx->texture_subdata(ctx, composed_, 0, PIPE_MAP_WRITE, &box, fb + size_t(r.y) * stride + size_t(r.x) * 4,
                         stride, 0);
  }
  // Then each GL window's frame inside its visible part. Clip lists of
  // different windows are disjoint when the guest is honest, so the order
  // does not matter; when it is not, the work stays bounded.
  std::vector<DesktopRect> changed = upload;
  changed.insert(changed.end(), blits.begin(), blits.end());
  const uint64_t max_blit_area = uint64_t{fw} * fh * kMaxBlitAreaPerScreen;
  uint64_t blit_area = 0;
  size_t blit_count = 0;
  bool over_budget = false;
  for (const auto& [id, win] : windows_) {
    if (over_budget) break;
    auto s = surfaces_.find(id);
    if (!win.mapped || s == surfaces_.end()) continue;
    // A render worker's window: its newest finished frame (shared_surface.h).
    pipe_resource* tex = s->second.shared ? s->second.shared->latch(ctx) : s->second.texture;
    if (!tex) continue;
    const DesktopRect frame{win.x, win.y, tex->width0, tex->height0};
    for (const auto& clip : win.clip) {
      if (over_budget) break;
      DesktopRect visible;
      if (!rect_intersect(clip, frame, visible) || !rect_intersect(visible, screen, visible)) continue;
      for (const auto& d : changed) {
        DesktopRect r;
        if (!rect_intersect(visible, d, r)) continue;
        blit_area += uint64_t{r.width} * r.height;
        if (++blit_count > kMaxBlitsPerComposition || blit_area > max_blit_area) {
          over_budget = true;
          break;
        }
        blit_rect(ctx, tex, tex->format, 0, 0, r.x - win.x, r.y - win.y, composed_, r.x,
                  r.y, r.width, r.height);
      }
    }
  }
  g.unlock();
  if (over_budget && !warned_overlap_) {
    warned_overlap_ = true;
    XLOG_WARN("desktop '%s': its windows' clip lists overlap past %llu times its area; the rest of this "
              "composition's GL frames were left out", name_.c_str(), static_cast<unsigned long long>(kMaxBlitAreaPerScreen));
  }

  // Read the changed part back for the outputs.
  if (!changed.empty()) {
    const DesktopRect b = bounding_box(changed);
    pipe_box box;
    u_box_2d(b.x, b.y, b.width, b.height, &box);
    pipe_transfer* xfer = nullptr;
    const auto* map = static_cast<const uint8_t*>(ctx->texture_map(ctx, composed_, 0, PIPE_MAP_READ, &box, &xfer));
    if (!map) {
      error = "the host could not read the composed desktop back";
      return false;
    }
    std::lock_guard<std::mutex> ig(image_mutex_);
    if (image_.width != fw || image_.height != fh) {
      image_.width = fw;
      image_.height = fh;
      image_.stride = fw * 4;
      image_.pixels.assign(size_t(image_.stride) * fh, 0);
      full = true;
    }
    for (uint32_t row = 0; row < b.height; ++row) {
      std::memcpy(image_.pixels.data() + size_t(b.y + row) * image_.stride + size_t(b.x) * 4,
                  map + size_t(row) * xfer->stride, size_t(b.width) * 4);
    }
    ctx->texture_unmap(ctx, xfer);
    if (full) {
      unshown_all_ = true;
    } else {
      unshown_.insert(unshown_.end(), changed.begin(), changed.end());
      coalesce(unshown_);
    }
    has_unshown_.store(true, std::memory_order_release);
  }
  if (!full) damage = changed;
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::lock_guard<std::mutex> g2(mutex_);
  ++compositions_;
  compose_ms_total_ += ms;
  return true;
}

bool Desktop::take_unshown_locked(std::vector<DesktopRect>& damage) {
  damage.clear();
  if (!has_unshown_.load(std::memory_order_acquire)) return false;
  if (!unshown_all_) damage.swap(unshown_);
  unshown_.clear();
  unshown_all_ = false;
  has_unshown_.store(false, std::memory_order_release);
  return true;
}

void Desktop::release_gpu() {
  closed_ = true;
  for (auto& [id, s] : surfaces_) free_surface(s);
  surfaces_.clear();
  pipe_resource_reference(&composed_, nullptr);
}

VmSummary Desktop::summary() const {
  std::lock_guard<std::mutex> g(mutex_);
  VmSummary s;
  s.name = name_;
  s.id = id_;
  s.width = fb_->width();
  s.height = fb_->height();
  s.gl_windows = static_cast<uint32_t>(windows_.size());
  s.gl_connections = connections_;
  s.compositions = compositions_;
  s.compose_ms_avg = compositions_ ? compose_ms_total_ / compositions_ : 0;
  s.presents = presents_;
  s.present_ms_avg = presents_ ? present_ms_total_ / presents_ : 0;
  s.readback_bytes_saved = readback_bytes_saved_;
  s.fb_updates = fb_updates_;
  return s;
}

}  // namespace xen3d::host
