// A GL window's surface in memory shared between the compositor and the
// render worker that presents into it (docs/render-workers.md): the worker
// copies each frame into it, composition samples it, and no pixel is copied
// between the processes.
//
// The compositor makes the memory (a sealed memfd it maps itself, so nothing
// the worker does can shrink or move it) and sends it to the worker. Three
// buffers in a lock-free mailbox (classic triple buffering): the worker
// writes its back buffer, then swaps it with the middle one marked fresh;
// composition swaps its front buffer with a fresh middle one. Neither side
// ever waits for the other, and composition never samples a buffer the
// worker is writing unless the worker breaks the protocol, which only
// scrambles that worker's own window.
//
// Only llvmpipe binds textures to memory this way (resource_bind_backing on
// a plain pointer); on other drivers supported() is false and a worker's
// guest reads its frames back instead.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

struct pipe_resource;
struct pipe_screen;

namespace xen3d::host {

class SharedSurface {
 public:
  static constexpr unsigned kBuffers = 3;

  static bool supported(pipe_screen* screen);
  // The compositor's side: new zeroed memory for a width x height surface.
  static std::unique_ptr<SharedSurface> create(pipe_screen* screen, uint32_t width, uint32_t height,
                                               std::string& error);
  // The worker's side: the compositor's memory (`fd` is taken over), checked
  // against the layout this screen needs.
  static std::unique_ptr<SharedSurface> import(pipe_screen* screen, int fd, uint32_t width, uint32_t height,
                                               std::string& error);
  ~SharedSurface();
  SharedSurface(const SharedSurface&) = delete;
  SharedSurface& operator=(const SharedSurface&) = delete;

  uint32_t width() const { return width_; }
  uint32_t height() const { return height_; }
  uint64_t size() const { return size_; }  // bytes mapped
  int fd() const { return fd_; }           // the compositor's, to send (-1 on the worker's side)

  // --- the writer (worker) ---
  pipe_resource* back() const { return textures_[back_]; }
  // The back buffer holds a finished frame: make it the newest.
  void publish();

  // --- the reader (composition) ---
  // The newest published buffer (the last one again when none is new).
  pipe_resource* latch();

 private:
  SharedSurface() = default;
  bool map_and_bind(pipe_screen* screen, int fd, uint64_t buffer_bytes, std::string& error);
  static bool layout(pipe_screen* screen, uint32_t width, uint32_t height, uint64_t& buffer_bytes,
                     uint64_t& total, std::string& error);

  uint32_t width_ = 0, height_ = 0;
  int fd_ = -1;
  void* map_ = nullptr;
  uint64_t size_ = 0;
  uint32_t* mailbox_ = nullptr;  // in the shared page before the buffers
  pipe_resource* textures_[kBuffers] = {};
  unsigned back_ = 0;   // the writer's
  unsigned front_ = 2;  // the reader's
};

}  // namespace xen3d::host
