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
// Two ways to put pixels there, the same on both sides (both open the same
// driver):
// - bound: llvmpipe binds its textures to the shared memory itself
//   (resource_bind_backing on a plain pointer). The worker's copy of the
//   frame lands in the compositor's texture; nothing else is copied.
// - copied: every other driver (zink, GPUs). The memory holds linear pixels;
//   the worker reads its copy of the frame back into the back buffer
//   (publish), and composition uploads a fresh buffer into a texture of its
//   own once (latch). Two copies over the CPU per new frame; the worker
//   reports its part as the present's copy time.
// A GPU-memory handle (dma-buf) would save both where the driver can export
// one; zink over lavapipe cannot (docs/gpu-hosts.md).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

struct pipe_context;
struct pipe_resource;
struct pipe_screen;

namespace xen3d::host {

class SharedSurface {
 public:
  static constexpr unsigned kBuffers = 3;

  // Whether `screen` binds surfaces to the shared memory (else: copied).
  static bool binds_memory(pipe_screen* screen);
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
  // Where to copy the next frame (and wait for the copy).
  pipe_resource* back() const { return copied_ ? staging_ : textures_[back_]; }
  // back() holds a finished frame: make it the newest. False when a copied
  // surface's texture cannot be read (nothing is published).
  bool publish(pipe_context* ctx);

  // --- the reader (composition) ---
  // The newest published frame (the last one again when none is new), as a
  // texture of the reader's screen.
  pipe_resource* latch(pipe_context* ctx);

 private:
  SharedSurface() = default;
  bool map_and_bind(pipe_screen* screen, int fd, uint64_t buffer_bytes, std::string& error);
  static bool layout(pipe_screen* screen, uint32_t width, uint32_t height, uint64_t& buffer_bytes,
                     uint64_t& total, std::string& error);
  uint8_t* pixels(unsigned buffer) const;
  uint32_t stride() const { return width_ * 4; }  // kDesktopFormat, copied surfaces

  uint32_t width_ = 0, height_ = 0;
  int fd_ = -1;
  void* map_ = nullptr;
  uint64_t size_ = 0;
  uint32_t* mailbox_ = nullptr;  // in the shared page before the buffers
  pipe_resource* textures_[kBuffers] = {};  // bound
  bool copied_ = false;
  uint64_t buffer_bytes_ = 0;
  pipe_resource* staging_ = nullptr;  // copied: the writer's copy of the frame, the reader's upload
  bool uploaded_ = false;             // copied, reader: staging_ holds the front buffer
  unsigned back_ = 0;   // the writer's
  unsigned front_ = 2;  // the reader's
};

}  // namespace xen3d::host
