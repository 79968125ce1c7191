// GalliumExecutor: presents, into a desktop, read back to the guest or
// finished in memory its X server shows (frame_share), and their PNG snapshots.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "common/log.h"
#include "host/desktop/present_target.h"
#include "host/executor/executor_util.h"
#include "host/executor/gallium_executor.h"
#include "host/executor/present_snapshot.h"
#include "host/validate/resource_layout.h"
#include "frontend/winsys_handle.h"
#include "pipe/p_context.h"
#include "pipe/p_defines.h"
#include "pipe/p_screen.h"
#include "util/format/u_format.h"
#include "util/u_box.h"
#include "util/u_inlines.h"

namespace xen3d::host {

void GalliumExecutor::snapshot(pipe_context* p, pipe_resource* res, unsigned level, unsigned layer, uint32_t window) {
  const auto format = static_cast<pipe_format>(res->format);
  const unsigned w = level_width(*res, level), h = level_height(*res, level);
  if (!snapshot_format_supported(format) || uint64_t{w} * h > (uint64_t{1} << 26)) {
    if (!snapshot_warned_) XLOG_WARN("guest %u: cannot snapshot %ux%u %s frames", config_.connection_id, w, h, util_format_short_name(format));
    snapshot_warned_ = true;
    return;
  }
  // PNG encoding costs milliseconds: refresh a window's latest-frame file at
  // most once a second (first frame included) so snapshots never set the frame rate.
  const uint64_t n = presents_[window];
  const auto now = std::chrono::steady_clock::now();
  auto& last = last_snapshot_[window];
  const bool refresh_latest = n == 1 || now - last >= std::chrono::seconds(1);
  if (!refresh_latest && !config_.snapshot_frames.count(n)) return;
  pipe_box box;
  u_box_2d_zslice(0, 0, layer, w, h, &box);
  pipe_transfer* xfer = nullptr;
  const auto* map = static_cast<const uint8_t*>(p->texture_map(p, res, level, PIPE_MAP_READ, &box, &xfer));
  if (!map) return;
  char name[96];
  std::vector<std::string> paths;
  if (refresh_latest) {
    last = now;
    std::snprintf(name, sizeof name, "/guest%u-win%x.png", config_.connection_id, window);
    paths.push_back(config_.snapshot_dir + name);
  }
  if (config_.snapshot_frames.count(n)) {
    std::snprintf(name, sizeof name, "/guest%u-win%x-frame%llu.png", config_.connection_id, window,
                  static_cast<unsigned long long>(n));
    paths.push_back(config_.snapshot_dir + name);
  }
  for (const auto& path : paths) {
    std::string error;
    if (!write_snapshot_png(path, format, map, xfer->stride, w, h, error)) XLOG_WARN("guest %u: %s", config_.connection_id, error.c_str());
  }
  p->texture_unmap(p, xfer);
}

pipe_resource* GalliumExecutor::resolve_for_present(pipe_context* p, pipe_resource* res, unsigned layer) {
  pipe_resource*& dst = present_resolve_;
  if (!dst || dst->format != res->format || dst->width0 != res->width0 || dst->height0 != res->height0) {
    pipe_resource_reference(&dst, nullptr);
    pipe_resource templ{};
    templ.target = PIPE_TEXTURE_2D;
    templ.format = res->format;
    templ.width0 = res->width0;
    templ.height0 = res->height0;
    templ.depth0 = templ.array_size = 1;
    templ.bind = PIPE_BIND_RENDER_TARGET | PIPE_BIND_SAMPLER_VIEW;
    dst = screen_->resource_create(screen_, &templ);
    if (!dst) return nullptr;
  }
  pipe_blit_info blit{};
  blit.src.resource = res;
  blit.src.format = res->format;
  u_box_2d_zslice(0, 0, layer, res->width0, res->height0, &blit.src.box);
  blit.dst.resource = dst;
  blit.dst.format = dst->format;
  u_box_2d_zslice(0, 0, 0, dst->width0, dst->height0, &blit.dst.box);
  blit.mask = util_format_get_mask(res->format);
  blit.filter = PIPE_TEX_FILTER_NEAREST;
  this->blit(p, blit);
  return dst;
}

proto::DecodeError GalliumExecutor::present(const char* rec, uint32_t id, uint32_t level, uint32_t layer,
                                            uint32_t window, const proto::Box& damage, PresentAnswer answer) {
  pipe_resource* res = nullptr;
  if (auto e = get_resource(id, res, rec); !e.ok()) return e;
  if (res->target != PIPE_TEXTURE_2D && res->target != PIPE_TEXTURE_RECT) {
    return reject_("%s: resource #%u is a %s, not a 2D texture", rec, id, target_name(res->target));
  }
  if (auto e = check_level(*res, level, rec, id); !e.ok()) return e;
  if (layer >= level_slices(*res, level)) return reject_("%s: layer %u of resource #%u does not exist", rec, layer, id);
  // The damage box is only validated for now: the whole level is taken.
  const bool whole = !damage.width && !damage.height;
  if (!whole) {
    if (damage.z != 0 || damage.depth > 1) return reject_("%s: damage z=%d depth=%d must be 0 and 1", rec, damage.z, damage.depth);
    const WireBox wb{damage.x, damage.y, 0, damage.width, damage.height, 1};
    if (auto why = check_box(*res, level, wb); !why.empty()) return reject_("%s: damage %s of resource #%u", rec, why.c_str(), id);
  }
  pipe_context* p = nullptr;
  if (auto e = work_context(p, rec); !e.ok()) return e;
  // Everything the guest rendered, on any of its contexts, belongs in the frame.
  settle_other_contexts(p);
  if (res->nr_samples > 1) {
    // A multisampled window (GLX visual with samples): present its resolve.
    if (level != 0) return reject_("%s: multisampled resource #%u has no level %u", rec, id, level);
    res = resolve_for_present(p, res, layer);
    if (!res) return reject_("%s: the host could not resolve multisampled resource #%u", rec, id);
    layer = 0;
  }
  presents_[window] += 1;
  if (!config_.snapshot_dir.empty()) snapshot(p, res, level, layer, window);
  if (present_target_ && answer != PresentAnswer::Pixels) {
    // Composited on the host: the frame goes into the desktop, nothing back to the guest.
    std::string why;
    if (!present_target_->present(p, res, level, layer, window, why)) return reject_("%s: %s", rec, why.c_str());
  }
  if (answer == PresentAnswer::Done) {
    // The guest's X server reads the frame from the resource's own memory
    // (frame_share) as soon as this answer arrives: every draw into it must
    // have landed.
    pipe_fence_handle* fence = nullptr;
    p->flush(p, &fence, 0);
    proto::PresentDone done;
    done.ok = !fence || screen_->fence_finish(screen_, p, fence, PIPE_TIMEOUT_INFINITE);
    if (fence) screen_->fence_reference(screen_, &fence, nullptr);
    session_.reply(done);
    return {};
  }
  if (answer == PresentAnswer::None) return {};
  pipe_box box;
  u_box_2d_zslice(0, 0, layer, level_width(*res, level), level_height(*res, level), &box);
  return read_box(rec, p, res, level, box);
}

proto::DecodeError GalliumExecutor::handle(const proto::Present& r) {
  return present("present", r.resource, r.level, r.layer, r.window, r.damage, PresentAnswer::None);
}

proto::DecodeError GalliumExecutor::handle(const proto::PresentReadback& r) {
  return present("present_readback", r.resource, r.level, r.layer, r.window, r.damage, PresentAnswer::Pixels);
}

proto::DecodeError GalliumExecutor::handle(const proto::PresentShared& r) {
  return present("present_shared", r.resource, r.level, r.layer, r.window, r.damage, PresentAnswer::Done);
}

proto::DecodeError GalliumExecutor::handle(const proto::FrameShare& r) {
  const char* rec = "frame_share";
  pipe_resource* res = nullptr;
  if (auto e = get_resource(r.resource, res, rec); !e.ok()) return e;
  proto::FrameShared answer;
  winsys_handle handle{};
  handle.type = WINSYS_HANDLE_TYPE_FD;
  int fd = -1;
  struct stat st{};
  std::string why;
  if (!config_.shares_frames) {
    why = "the host driver keeps window buffers in memory of its own";
  } else if (!session_.transport().carries_fds()) {
    why = "a " + session_.transport().name() + " connection cannot carry the memory";
  } else if (!(res->bind & PIPE_BIND_DISPLAY_TARGET)) {
    why = "resource #" + std::to_string(r.resource) + " is not a window buffer";
  } else if (!screen_->resource_get_handle || !screen_->resource_get_handle(screen_, nullptr, res, &handle, 0)) {
    why = "the host driver could not export resource #" + std::to_string(r.resource);
  } else {
    fd = int(handle.handle);
    if (fstat(fd, &st) != 0 || !handle.stride || uint64_t(st.st_size) / handle.stride < res->height0) {
      why = "the host driver exported memory too small for resource #" + std::to_string(r.resource);
    }
  }
  answer.ok = why.empty();
  if (answer.ok) {
    answer.stride = handle.stride;
    answer.rows = uint32_t(std::min<uint64_t>(uint64_t(st.st_size) / handle.stride, UINT32_MAX));
  }
  answer.reason = why;
  session_.reply(answer);
  if (answer.ok && !session_.transport().send_fd(fd, why)) {
    XLOG_WARN("guest %u: %s", config_.connection_id, why.c_str());
  }
  if (fd >= 0) close(fd);
  return {};
}

}  // namespace xen3d::host
