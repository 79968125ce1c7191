#include "host/worker/worker_desktop.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "host/desktop/surface_copy.h"
#include "pipe/p_screen.h"
#include "pipe/p_state.h"
#include "util/format/u_format.h"
#include "util/u_math.h"

namespace xen3d::host {

namespace {

// Presents into one joined desktop: a shared surface per window.
class SharedPresentTarget final : public PresentTarget {
 public:
  SharedPresentTarget(WorkerLinkClient& link, pipe_screen* screen, std::shared_ptr<GuestMemoryAccount> memory)
      : link_(link), screen_(screen), memory_(std::move(memory)) {}
  ~SharedPresentTarget() override {
    for (auto& [window, s] : surfaces_) release(s);
  }

  bool present(pipe_context* pipe, pipe_resource* frame, unsigned level, unsigned layer, uint32_t window,
               std::string& error) override {
    const uint32_t w = u_minify(frame->width0, level), h = u_minify(frame->height0, level);
    auto it = surfaces_.find(window);
    if (it == surfaces_.end() || it->second.surface->width() != w || it->second.surface->height() != h) {
      if (it != surfaces_.end()) {
        release(it->second);
        surfaces_.erase(it);
      } else if (surfaces_.size() >= kMaxWindows) {
        // A guest that made many windows over time: the oldest-numbered one's
        // surface goes (the compositor dropped it when it made the new one).
        release(surfaces_.begin()->second);
        surfaces_.erase(surfaces_.begin());
      }
      Held held;
      if (!make_surface(window, w, h, held, error)) return false;
      it = surfaces_.emplace(window, std::move(held)).first;
    }
    SharedSurface& s = *it->second.surface;
    const auto t0 = std::chrono::steady_clock::now();
    copy_frame_and_wait(pipe, frame, level, layer, s.back(), w, h);
    if (!s.publish(pipe)) {
      char what[96];
      std::snprintf(what, sizeof what, "the host driver could not read back window 0x%x's frame for the compositor", window);
      error = what;
      return false;
    }
    proto::WorkerPresent p;
    p.window = window;
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
    p.copy_us = static_cast<uint32_t>(std::min<int64_t>(us, 60000000));
    link_.link().send(p);
    return true;
  }

 private:
  // A desktop composites at most 64 GL windows (desktop.cpp); a worker keeps
  // no more surfaces than that.
  static constexpr size_t kMaxWindows = 64;
  struct Held {
    std::unique_ptr<SharedSurface> surface;
    uint64_t bytes = 0;
  };
  void release(Held& h) {
    memory_->release(h.bytes);
    h.bytes = 0;
  }
  bool make_surface(uint32_t window, uint32_t w, uint32_t h, Held& out, std::string& error) {
    const uint64_t bytes = uint64_t{w} * h * util_format_get_blocksize(kDesktopFormat) * SharedSurface::kBuffers;
    char what_buf[96];
    std::snprintf(what_buf, sizeof what_buf, "window 0x%x's %ux%u shared surface", window, w, h);
    const std::string what = what_buf;
    if (!memory_->charge(bytes, what, error)) return false;
    proto::WorkerSurfaceRequest req;
    req.window = window;
    req.width = w;
    req.height = h;
    proto::WorkerSurface answer;
    std::vector<uint8_t> storage;
    int fd = -1;
    std::string why;
    if (!link_.request(req, answer, storage, &fd, why)) {
      memory_->release(bytes);
      error = "the compositor gave no surface for " + what + ": " + why;
      return false;
    }
    if (!answer.ok || fd < 0) {
      if (fd >= 0) ::close(fd);
      memory_->release(bytes);
      error = std::string(answer.reason);
      return false;
    }
    out.surface = SharedSurface::import(screen_, fd, w, h, error);
    if (!out.surface) {
      memory_->release(bytes);
      return false;
    }
    out.bytes = bytes;
    return true;
  }

  WorkerLinkClient& link_;
  pipe_screen* screen_;
  std::shared_ptr<GuestMemoryAccount> memory_;
  std::map<uint32_t, Held> surfaces_;
};

}  // namespace

WorkerDesktop::Joined WorkerDesktop::join(uint64_t token, std::shared_ptr<GuestMemoryAccount> memory) {
  Joined out;
  proto::WorkerDesktopJoin req;
  req.token = token;
  proto::WorkerDesktopJoined answer;
  std::vector<uint8_t> storage;
  if (!link_.request(req, answer, storage, nullptr, out.reason)) return out;
  out.ok = answer.ok;
  out.rejected = answer.rejected;
  out.desktop_id = answer.desktop_id;
  out.reason = std::string(answer.reason);
  if (out.ok) {
    joined_ = true;
    out.target = std::make_shared<SharedPresentTarget>(link_, screen_, std::move(memory));
  }
  return out;
}

void WorkerDesktop::leave() {
  if (!joined_) return;
  joined_ = false;
  link_.link().send(proto::WorkerDesktopLeave{});
}

}  // namespace xen3d::host
