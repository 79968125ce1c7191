#include "host/gpu/frame_memory_winsys.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <new>

#include "frontend/sw_winsys.h"
#include "frontend/winsys_handle.h"
#include "util/format/u_format.h"
#include "util/u_math.h"

namespace xen3d::host {
namespace {

struct FrameMemory {
  int fd = -1;
  void* map = nullptr;
  size_t size = 0;
  unsigned stride = 0;
};

FrameMemory* frame(sw_displaytarget* dt) { return reinterpret_cast<FrameMemory*>(dt); }

// What an X server can show from shared memory: one pixel per 2 or 4 bytes.
bool format_supported(sw_winsys*, unsigned, pipe_format format) {
  const struct util_format_description* d = util_format_description(format);
  return d && d->layout == UTIL_FORMAT_LAYOUT_PLAIN && d->block.width == 1 && d->block.height == 1 &&
         (d->block.bits == 16 || d->block.bits == 32) && !util_format_is_depth_or_stencil(format) &&
         !util_format_is_pure_integer(format);
}

void destroy_frame(sw_winsys*, sw_displaytarget* dt) {
  FrameMemory* f = frame(dt);
  if (f->map) munmap(f->map, f->size);
  if (f->fd >= 0) close(f->fd);
  delete f;
}

sw_displaytarget* create_frame(sw_winsys* ws, unsigned usage, pipe_format format, unsigned width, unsigned height,
                               unsigned alignment, const void*, unsigned* stride) {
  if (!format_supported(ws, usage, format) || !width || !height) return nullptr;
  const uint64_t row = align64(uint64_t{width} * util_format_get_blocksize(format), alignment ? alignment : 64);
  const uint64_t bytes = align64(row * height, uint64_t(sysconf(_SC_PAGESIZE)));
  if (row > UINT32_MAX || bytes > (uint64_t{1} << 32)) return nullptr;
  auto* f = new (std::nothrow) FrameMemory;
  if (!f) return nullptr;
  f->size = bytes;
  f->stride = unsigned(row);
  // Sealed before anyone else sees it: the guest's X server maps it too,
  // and a shorter file would fault the driver's rendering (SIGBUS); and
  // nobody but this mapping may write it, so the guest cannot scribble on a
  // frame while the driver renders it.
  f->fd = memfd_create("xen3d-frame", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (f->fd >= 0 && ftruncate(f->fd, off_t(bytes)) == 0) {
    f->map = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
    if (f->map == MAP_FAILED) f->map = nullptr;
  }
  if (!f->map || fcntl(f->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) != 0) {
    destroy_frame(ws, reinterpret_cast<sw_displaytarget*>(f));
    return nullptr;
  }
  *stride = f->stride;
  return reinterpret_cast<sw_displaytarget*>(f);
}

bool get_handle(sw_winsys*, sw_displaytarget* dt, winsys_handle* h) {
  if (h->type != WINSYS_HANDLE_TYPE_FD) return false;
  const int copy = fcntl(frame(dt)->fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return false;
  h->handle = unsigned(copy);
  h->stride = frame(dt)->stride;
  h->offset = 0;
  return true;
}

void* map_frame(sw_winsys*, sw_displaytarget* dt, unsigned) { return frame(dt)->map; }
void unmap_frame(sw_winsys*, sw_displaytarget*) {}
// The guest shows its frames; the host has no window system here.
void display_frame(sw_winsys*, sw_displaytarget*, void*, pipe_box*) {}
sw_displaytarget* from_handle(sw_winsys*, const pipe_resource*, winsys_handle*, unsigned*) { return nullptr; }
void destroy_winsys(sw_winsys* ws) { delete ws; }

}  // namespace

sw_winsys* frame_memory_winsys_create() {
  auto* ws = new (std::nothrow) sw_winsys{};
  if (!ws) return nullptr;
  ws->destroy = destroy_winsys;
  ws->is_displaytarget_format_supported = format_supported;
  ws->displaytarget_create = create_frame;
  ws->displaytarget_from_handle = from_handle;
  ws->displaytarget_get_handle = get_handle;
  ws->displaytarget_map = map_frame;
  ws->displaytarget_unmap = unmap_frame;
  ws->displaytarget_display = display_frame;
  ws->displaytarget_destroy = destroy_frame;
  return ws;
}

}  // namespace xen3d::host
