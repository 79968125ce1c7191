#include "host/desktop/shared_surface.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "host/desktop/surface_copy.h"
#include "pipe/p_context.h"
#include "pipe/p_screen.h"
#include "pipe/p_state.h"
#include "util/u_box.h"
#include "util/u_inlines.h"

namespace xen3d::host {

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint32_t kFresh = 4;  // mailbox bit: the middle buffer holds a frame the reader has not taken
constexpr uint32_t kIndexMask = 3;

uint64_t round_up(uint64_t v) { return (v + kPage - 1) & ~(kPage - 1); }

std::atomic_ref<uint32_t> mailbox(uint32_t* word) { return std::atomic_ref<uint32_t>(*word); }

}  // namespace

bool SharedSurface::binds_memory(pipe_screen* screen) {
  // The pipe_memory_allocation handed to resource_bind_backing is a plain
  // pointer only in llvmpipe (lp_texture.c); other drivers want their own objects.
  return screen->resource_create_unbacked && screen->resource_bind_backing &&
         std::strncmp(screen->get_name(screen), "llvmpipe", 8) == 0;
}

bool SharedSurface::layout(pipe_screen* screen, uint32_t width, uint32_t height, uint64_t& buffer_bytes,
                           uint64_t& total, std::string& error) {
  if (!binds_memory(screen)) {
    buffer_bytes = round_up(uint64_t{width} * 4 * height);
    total = kPage + kBuffers * buffer_bytes;
    return true;
  }
  const pipe_resource templ = surface_template(width, height);
  uint64_t required = 0;
  pipe_resource* probe = screen->resource_create_unbacked(screen, &templ, &required);
  if (!probe) {
    error = "the host driver cannot make a " + std::to_string(width) + "x" + std::to_string(height) + " surface";
    return false;
  }
  pipe_resource_reference(&probe, nullptr);
  buffer_bytes = round_up(required);
  total = kPage + kBuffers * buffer_bytes;
  return true;
}

std::unique_ptr<SharedSurface> SharedSurface::create(pipe_screen* screen, uint32_t width, uint32_t height,
                                                     std::string& error) {
  uint64_t buffer_bytes = 0, total = 0;
  if (!layout(screen, width, height, buffer_bytes, total, error)) return nullptr;
  std::unique_ptr<SharedSurface> s(new SharedSurface);
  s->width_ = width;
  s->height_ = height;
  s->fd_ = memfd_create("xen3d-window-surface", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (s->fd_ < 0 || ftruncate(s->fd_, static_cast<off_t>(total)) != 0 ||
      fcntl(s->fd_, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    error = std::string("cannot make a window surface's shared memory: ") + std::strerror(errno);
    return nullptr;
  }
  s->size_ = total;
  if (!s->map_and_bind(screen, s->fd_, buffer_bytes, error)) return nullptr;
  mailbox(s->mailbox_).store(1, std::memory_order_release);  // back 0, middle 1, front 2
  return s;
}

std::unique_ptr<SharedSurface> SharedSurface::import(pipe_screen* screen, int fd, uint32_t width, uint32_t height,
                                                     std::string& error) {
  std::unique_ptr<SharedSurface> s(new SharedSurface);
  s->width_ = width;
  s->height_ = height;
  uint64_t buffer_bytes = 0, total = 0;
  struct stat st{};
  if (!layout(screen, width, height, buffer_bytes, total, error)) {
    ::close(fd);
    return nullptr;
  }
  if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) != total) {
    error = "the compositor's surface memory is " + std::to_string(st.st_size) + " bytes, not the " +
            std::to_string(total) + " a " + std::to_string(width) + "x" + std::to_string(height) + " surface needs";
    ::close(fd);
    return nullptr;
  }
  s->size_ = total;
  const bool ok = s->map_and_bind(screen, fd, buffer_bytes, error);
  ::close(fd);  // the mapping keeps the memory
  if (!ok) return nullptr;
  return s;
}

bool SharedSurface::map_and_bind(pipe_screen* screen, int fd, uint64_t buffer_bytes, std::string& error) {
  void* map = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    error = std::string("cannot map a window surface: ") + std::strerror(errno);
    return false;
  }
  map_ = map;
  mailbox_ = static_cast<uint32_t*>(map_);
  buffer_bytes_ = buffer_bytes;
  if (!binds_memory(screen)) {
    copied_ = true;
    staging_ = create_surface_texture(screen, width_, height_);
    if (!staging_) error = "the host driver cannot make a " + std::to_string(width_) + "x" + std::to_string(height_) + " surface";
    return staging_ != nullptr;
  }
  const pipe_resource templ = surface_template(width_, height_);
  for (unsigned i = 0; i < kBuffers; ++i) {
    uint64_t required = 0;
    textures_[i] = screen->resource_create_unbacked(screen, &templ, &required);
    if (!textures_[i] || required > buffer_bytes ||
        !screen->resource_bind_backing(screen, textures_[i], static_cast<pipe_memory_allocation*>(map_),
                                       kPage + i * buffer_bytes)) {
      error = "the host driver cannot place a window surface in shared memory";
      return false;
    }
  }
  return true;
}

SharedSurface::~SharedSurface() {
  for (auto*& t : textures_) pipe_resource_reference(&t, nullptr);
  pipe_resource_reference(&staging_, nullptr);
  if (map_ && map_ != MAP_FAILED) munmap(map_, size_);
  if (fd_ >= 0) ::close(fd_);
}

uint8_t* SharedSurface::pixels(unsigned buffer) const {
  return static_cast<uint8_t*>(map_) + kPage + buffer * buffer_bytes_;
}

bool SharedSurface::publish(pipe_context* ctx) {
  if (copied_) {
    pipe_box box;
    u_box_2d(0, 0, static_cast<int>(width_), static_cast<int>(height_), &box);
    pipe_transfer* xfer = nullptr;
    auto* src = static_cast<const uint8_t*>(ctx->texture_map(ctx, staging_, 0, PIPE_MAP_READ, &box, &xfer));
    if (!src) return false;
    uint8_t* dst = pixels(back_);
    for (uint32_t y = 0; y < height_; ++y) std::memcpy(dst + uint64_t{y} * stride(), src + uint64_t{y} * xfer->stride, stride());
    ctx->texture_unmap(ctx, xfer);
  }
  const uint32_t old = mailbox(mailbox_).exchange(back_ | kFresh, std::memory_order_acq_rel);
  back_ = old & kIndexMask;
  if (back_ >= kBuffers) back_ = 0;  // only a broken peer writes this
  return true;
}

pipe_resource* SharedSurface::latch(pipe_context* ctx) {
  bool fresh = false;
  if (mailbox(mailbox_).load(std::memory_order_acquire) & kFresh) {
    const uint32_t old = mailbox(mailbox_).exchange(front_, std::memory_order_acq_rel);
    // The worker writes this word too: take only what names a buffer.
    if ((old & kIndexMask) < kBuffers) {
      front_ = old & kIndexMask;
      fresh = true;
    }
  }
  if (!copied_) return textures_[front_];
  // Before the first frame: the front buffer's zeroes (the texture's
  // contents are undefined on most drivers).
  if (fresh || !uploaded_) {
    pipe_box box;
    u_box_2d(0, 0, static_cast<int>(width_), static_cast<int>(height_), &box);
    ctx->texture_subdata(ctx, staging_, 0, PIPE_MAP_WRITE | PIPE_MAP_DISCARD_WHOLE_RESOURCE, &box, pixels(front_),
                         stride(), 0);
    uploaded_ = true;
  }
  return staging_;
}

}  // namespace xen3d::host
