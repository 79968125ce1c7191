// One VM's desktop on the host: its 2D framebuffer with its GL windows'
// latest frames placed at their window positions and cut by their clip
// lists, composited on the host's Gallium driver. Redrawn on damage only.
//
// Threads: the guest's window-system connection moves windows and reports
// framebuffer damage; its GL connections present frames; the registry's
// composition thread composes. GPU objects are touched only with the
// registry's GPU lock held (DesktopRegistry::GpuLock); window and damage
// bookkeeping has a mutex of its own.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "host/desktop/desktop_control.h"
#include "host/desktop/desktop_input.h"
#include "host/desktop/framebuffer_source.h"
#include "host/desktop/shared_surface.h"
#include "host/validate/guest_memory_account.h"

struct pipe_context;
struct pipe_resource;
struct pipe_screen;

namespace xen3d::host {

struct WindowPlacement {
  uint32_t window = 0;
  int32_t x = 0, y = 0;
  uint32_t width = 0, height = 0;
  bool mapped = false;
  std::vector<DesktopRect> clip;  // screen coordinates, inside the window, disjoint (window_clip.h)
};

class Desktop {
 public:
  Desktop(uint32_t id, std::string name, uint64_t token, std::unique_ptr<FramebufferSource> fb);
  ~Desktop();
  Desktop(const Desktop&) = delete;
  Desktop& operator=(const Desktop&) = delete;

  uint32_t id() const { return id_; }
  const std::string& name() const { return name_; }
  uint64_t token() const { return token_; }

  // --- the window system (its connection's thread) ---
  // False with `error` when the desktop's windows would hold more clip rects
  // than composition may blit (kMaxClipRectsPerDesktop).
  bool place_window(WindowPlacement w, std::string& error);
  void forget_window(uint32_t window);
  bool has_window(uint32_t window) const;
  // A window system that attached to a desktop it did not open (a Xen
  // domain's X server on its PV display's desktop): one at a time. Leaving
  // drops its windows and its input; the desktop stays.
  bool attach_window_system();
  void detach_window_system();
  // Takes the framebuffer's queued update events. False: the guest broke its page.
  bool framebuffer_updated(std::string& error);
  bool resize(uint32_t width, uint32_t height, uint32_t stride, std::string& error);

  // --- GL connections (their threads, GPU lock held) ---
  // Copies `frame` into the window's surface with the guest's own context
  // and waits for it, so the composition context may read it at once. The
  // surface is charged to the presenting connection's memory account.
  bool present(pipe_context* guest, pipe_resource* frame, unsigned level, unsigned layer, uint32_t window,
               uint32_t connection, std::string& error);
  // A render worker's GL connection presents through shared memory
  // (shared_surface.h): a new surface for `window` at this size, charged
  // like the one present() makes. Returns its memfd (the desktop keeps it;
  // the caller sends a copy) and its `size`, or -1 with `error`.
  int share_surface(pipe_screen* screen, uint32_t window, uint32_t connection, uint32_t width, uint32_t height,
                    uint64_t& size, std::string& error);
  // A worker published a new frame of `window` (any thread); taking it
  // cost the worker `copy_ms` (the desktop's present_ms_avg).
  void shared_presented(uint32_t window, double copy_ms);
  // A GL connection joined: its window surfaces are charged to `memory`.
  // It left: its windows' frames go (the app is gone).
  void connection_joined(uint32_t connection, std::shared_ptr<GuestMemoryAccount> memory);
  void connection_left(uint32_t connection);

  // --- composition (GPU lock held) ---
  bool dirty() const;
  // Brings the composed image up to date; `damage` gets what changed (empty: all).
  bool compose(pipe_context* ctx, std::vector<DesktopRect>& damage, std::string& error);
  // The composed image; read only with image_mutex() held.
  const DesktopImage& image() const { return image_; }
  std::mutex& image_mutex() { return image_mutex_; }
  // What changed in the image since the outputs last took it (any
  // composition counts, a screenshot's too). With image_mutex() held; false
  // when nothing did; `damage` empty: everything.
  bool take_unshown_locked(std::vector<DesktopRect>& damage);
  bool has_unshown() const { return has_unshown_.load(std::memory_order_acquire); }
  // Frees every GPU object (GPU lock held): the desktop is closing; later
  // presents into it are dropped.
  void release_gpu();
  bool closed() const { return closed_; }
  // Another peer's Xen domain took the desktop's name: the window system is
  // told why on its next record (its thread reads this, the registry writes it).
  void evict(std::string why) {
    std::lock_guard<std::mutex> g(mutex_);
    evicted_ = std::move(why);
  }
  std::string evicted() const {
    std::lock_guard<std::mutex> g(mutex_);
    return evicted_;
  }

  // Where the outputs' input for this desktop goes (nullptr: nowhere); set
  // by whoever drives the guest's screen, read from the outputs' threads.
  void set_input_sink(std::shared_ptr<InputSink> sink) {
    std::lock_guard<std::mutex> g(mutex_);
    input_sink_ = std::move(sink);
  }
  std::shared_ptr<InputSink> input_sink() const {
    std::lock_guard<std::mutex> g(mutex_);
    return input_sink_;
  }

  VmSummary summary() const;

 private:
  struct Surface {
    pipe_resource* texture = nullptr;         // presented in this process, or
    std::unique_ptr<SharedSurface> shared;    // by a render worker
    uint32_t connection = 0;  // who presented it
    std::shared_ptr<GuestMemoryAccount> charged;  // whose quota holds `bytes`
    uint64_t bytes = 0;
  };
  static void free_surface(Surface& s);
  // The window's surface for `connection` at w x h: kept, or made anew and
  // charged to the connection (always anew when `shared`). nullptr with `error`.
  Surface* surface_for(pipe_screen* screen, uint32_t window, uint32_t connection, uint32_t w, uint32_t h, bool shared,
                       std::string& error);
  void presented_locked(uint32_t window, uint32_t w, uint32_t h, double ms);
  void damage_locked(const DesktopRect& r, bool from_framebuffer);
  void damage_window_locked(const WindowPlacement& w);
  static void coalesce(std::vector<DesktopRect>& rects);

  const uint32_t id_;
  const std::string name_;
  const uint64_t token_;
  std::shared_ptr<InputSink> input_sink_;  // mutex_
  bool window_system_attached_ = false;     // mutex_

  mutable std::mutex mutex_;  // everything below except GPU objects and image_
  std::unique_ptr<FramebufferSource> fb_;
  std::map<uint32_t, WindowPlacement> windows_;
  std::vector<DesktopRect> fb_damage_;      // needs the framebuffer uploaded, then windows on top
  std::vector<DesktopRect> window_damage_;  // inside GL windows' visible parts: blits only
  bool full_damage_ = true;
  uint64_t presents_ = 0, fb_updates_ = 0, readback_bytes_saved_ = 0, compositions_ = 0;
  double compose_ms_total_ = 0, present_ms_total_ = 0;
  uint32_t connections_ = 0;
  std::map<uint32_t, std::shared_ptr<GuestMemoryAccount>> memory_;  // of each joined GL connection
  size_t clip_rects_ = 0;  // over every window in windows_
  std::string evicted_;    // why the desktop was taken away ("" while it is not)

  // GPU lock
  std::map<uint32_t, Surface> surfaces_;  // by X window id
  pipe_resource* composed_ = nullptr;
  bool closed_ = false;
  bool warned_overlap_ = false;

  std::mutex image_mutex_;
  DesktopImage image_;
  std::vector<DesktopRect> unshown_;  // image_mutex_
  bool unshown_all_ = false;           // image_mutex_
  std::atomic<bool> has_unshown_{false};
};

}  // namespace xen3d::host
