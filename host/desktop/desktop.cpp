#include "host/desktop/desktop.h"
#include "host/desktop/desktop_rect.h"
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

constexpr pipe_format kDesktopFormat = PIPE_FORMAT_B8G8R8X8_UNORM;  // the framebuffer page's pixels
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

pipe_resource* create_texture(pipe_screen* screen, uint32_t width, uint32_t height) {
  pipe_resource templ{};
  templ.target = PIPE_TEXTURE_2D;
  templ.format = kDesktopFormat;
  templ.width0 = width;
  templ.height0 = height;
  templ.depth0 = templ.array_size = 1;
  templ.bind = PIPE_BIND_RENDER_TARGET | PIPE_BIND_SAMPLER_VIEW;
  return screen->resource_create(screen, &templ);
}

void blit_rect(pipe_context* ctx, pipe_resource* src, pipe_format src_format, unsigned level, unsigned layer,
               int sx, int sy, pipe_resource* dst, int dx, int dy, int w, int h) {
  pipe_blit_info blit{};
  blit.src.resource = src;
  blit.src.format = src_format;
  blit.src.level = level;
  u_box_2d_zslice(sx, sy, layer, w, h, &blit.src.box);
  blit.dst.resource = dst;
  blit.dst.format = dst->format;
  u_box_2d_zslice(dx, dy, 0, w, h, &blit.dst.box);
  blit.mask = PIPE_MASK_RGBA;
  blit.filter = PIPE_TEX_FILTER_NEAREST;
  ctx->blit(ctx, &blit);
}

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
  if (s.charged) s.charged->release(s.bytes);
  s.charged.reset();
  s.bytes = 0;
}

bool Desktop::present(pipe_context* guest, pipe_resource* frame, unsigned level, unsigned layer, uint32_t window,
                      uint32_t connection, std::string& error) {
  if (closed_) return true;  // its window system left; the guest asks for the new token
  const auto t0 = std::chrono::steady_clock::now();
  pipe_screen* screen = guest->screen;
  const uint32_t w = u_minify(frame->width0, level), h = u_minify(frame->height0, level);
  auto it = surfaces_.find(window);
  if (it == surfaces_.end()) {
    if (surfaces_.size() >= kMaxSurfaces) {
      error = "desktop '" + name_ + "' already composites " + std::to_string(kMaxSurfaces) + " GL windows";
      return false;
    }
    it = surfaces_.emplace(window, Surface{}).first;
  }
  Surface& s = it->second;
  if (!s.texture || s.texture->width0 != w || s.texture->height0 != h || s.connection != connection) {
    free_surface(s);
    s.connection = connection;
    // The frame is a resource the guest made, so within the host's limits
    // already; the surface is checked again as it is a second copy.
    const uint32_t max_size = static_cast<uint32_t>(screen->get_param(screen, PIPE_CAP_MAX_TEXTURE_2D_SIZE));
    const std::string what = "window 0x" + hex(window) + "'s " + std::to_string(w) + "x" + std::to_string(h) + " surface";
    if (w > max_size || h > max_size) {
      surfaces_.erase(it);
      error = what + " is larger than the host's " + std::to_string(max_size) + "x" + std::to_string(max_size) +
              " textures";
      return false;
    }
    std::shared_ptr<GuestMemoryAccount> memory;
    {
      std::lock_guard<std::mutex> g(mutex_);
      if (auto m = memory_.find(connection); m != memory_.end()) memory = m->second;
    }
    const uint64_t bytes = uint64_t{w} * h * util_format_get_blocksize(kDesktopFormat);
    if (!memory) {
      surfaces_.erase(it);
      error = "connection " + std::to_string(connection) + " presents into desktop '" + name_ + "' without joining it";
      return false;
    }
    if (!memory->charge(bytes, what, error)) {
      surfaces_.erase(it);
      return false;
    }
    s.charged = std::move(memory);
    s.bytes = bytes;
    s.texture = create_texture(screen, w, h);
    if (!s.texture) {
      free_surface(s);
      surfaces_.erase(it);
      error = "the host could not allocate " + what;
      return false;
    }
  }
  blit_rect(guest, frame, frame->format, level, layer, 0, 0, s.texture, 0, 0, w, h);
  // The composition context reads the surface next: the copy must be done.
  pipe_fence_handle* fence = nullptr;
  guest->flush(guest, &fence, 0);
  if (fence) {
    screen->fence_finish(screen, nullptr, fence, PIPE_TIMEOUT_INFINITE);
    screen->fence_reference(screen, &fence, nullptr);
  }
  std::lock_guard<std::mutex> g(mutex_);
  ++presents_;
  present_ms_total_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  readback_bytes_saved_ += uint64_t{w} * h * 4;
  auto win = windows_.find(window);
  if (win != windows_.end()) {
    for (const auto& r : win->second.clip) damage_locked(r, false);
  }
  return true;
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
    composed_ = create_texture(ctx->screen, fw, fh);
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
    if (!win.mapped || s == surfaces_.end() || !s->second.texture) continue;
    const pipe_resource* tex = s->second.texture;
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
        blit_rect(ctx, s->second.texture, s->second.texture->format, 0, 0, r.x - win.x, r.y - win.y, composed_, r.x,
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
