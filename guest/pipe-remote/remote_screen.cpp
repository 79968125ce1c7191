// The remoting pipe_screen: connection set-up, fences, present.
#include "guest/pipe-remote/remote_screen.h"

#include <unistd.h>

#include <cstring>
#include <new>
#include <string>

#include "guest/pipe-remote/remote_objects.h"
#include "util/disk_cache.h"
#include "util/mesa-sha1.h"
#include "util/format/u_format.h"
#include "util/u_inlines.h"
#include "util/u_math.h"

namespace xen3d::guest {
namespace {

void screen_destroy(pipe_screen* s) {
  if (remote(s)->shader_cache) disk_cache_destroy(remote(s)->shader_cache);
  delete remote(s);
}

// st/mesa keeps the TGSI it makes of the app's GLSL in Mesa's shader cache
// (~/.cache/mesa_shader_cache), as Debian's libGL keeps its own: the next run
// skips compiling. What st/mesa makes depends on this library's build and on
// the host's caps, so both name the cache: another host or build never
// reads it.
disk_cache* open_shader_cache(const proto::CapsTable& caps) {
  mesa_sha1 ctx;
  _mesa_sha1_init(&ctx);
  if (!disk_cache_get_function_identifier(reinterpret_cast<void*>(&remote_screen_create), &ctx)) return nullptr;
  _mesa_sha1_update(&ctx, &caps, sizeof caps);
  uint8_t sha1[20];
  _mesa_sha1_final(&ctx, sha1);
  char id[41];
  disk_cache_format_hex_id(id, sha1, 40);
  return disk_cache_create("xen3d", id, 0);
}

disk_cache* get_disk_shader_cache(pipe_screen* s) { return remote(s)->shader_cache; }

void fence_reference(pipe_screen* s, pipe_fence_handle** dst, pipe_fence_handle* src) {
  auto* old = reinterpret_cast<RemoteFence*>(*dst);
  auto* nu = reinterpret_cast<RemoteFence*>(src);
  if (pipe_reference(old ? &old->reference : nullptr, nu ? &nu->reference : nullptr)) {
    RemoteDevice& dev = *remote(s)->dev;
    proto::ObjectDestroy rec;
    rec.id = old->id;
    rec.kind = uint8_t(proto::ObjectKind::Fence);
    {
      std::lock_guard<DeviceMutex> g(dev.lock());
      dev.session().send(rec);
    }
    delete old;
  }
  *dst = src;
}

bool fence_finish(pipe_screen* s, pipe_context*, pipe_fence_handle* handle, uint64_t timeout) {
  auto* fence = reinterpret_cast<RemoteFence*>(handle);
  if (!fence || fence->signalled) return true;
  RemoteDevice& dev = *remote(s)->dev;
  std::lock_guard<DeviceMutex> g(dev.lock());
  if (dev.lost()) return true;  // nothing will ever run again: do not make the app wait
  proto::FenceFinish rec;
  rec.fence = fence->id;
  rec.timeout_ns = timeout;
  proto::FenceStatus st;
  if (!dev.session().call(rec, st)) {
    dev.lost();  // says why now: a wait that ended so may be the app's last GL call
    return true;
  }
  fence->signalled = st.signalled;
  return st.signalled;
}

uint64_t get_timestamp(pipe_screen* s) {
  RemoteDevice& dev = *remote(s)->dev;
  std::lock_guard<DeviceMutex> g(dev.lock());
  proto::Timestamp ts;
  if (!dev.session().call(proto::GetTimestamp{}, ts)) return 0;
  return ts.ns;
}

// Whether `r`'s frames go to the window system through the memory the host
// renders them in (frame_share), asking the host on its first present.
bool shares_frame(RemoteScreen* scr, RemoteResource* r, void* drawable, unsigned level, unsigned layer) {
  using Frame = RemoteResource::Frame;
  if (r->frame != Frame::Unasked) return r->frame == Frame::Shared;
  RemoteDevice& dev = *scr->dev;
  const pipe_resource& res = r->base;
  r->frame = Frame::Refused;
  std::string why;
  if (level || layer || res.last_level || res.nr_samples > 1 || !(res.bind & PIPE_BIND_DISPLAY_TARGET) ||
      (res.target != PIPE_TEXTURE_2D && res.target != PIPE_TEXTURE_RECT) || !scr->sink->shows_shared(drawable, res.format)) {
    return false;  // not a window buffer the window system can show from shared memory: read back, silently
  }
  if (dev.session().info().host_minor < 3) {
    why = "the compositor is older than shared frames (protocol 2." + std::to_string(dev.session().info().host_minor) + ")";
  } else if (!dev.session().transport().carries_fds()) {
    why = "a " + dev.session().transport().name() + " connection cannot share memory with the X server";
  } else {
    proto::FrameShare ask;
    ask.resource = r->id;
    proto::FrameShared answer;
    if (!dev.session().call(ask, answer)) return false;
    if (!answer.ok) {
      why = std::string(answer.reason);
    } else {
      const int fd = dev.session().transport().receive_fd(proto::kFdAfterAnswerTimeoutMs, why);
      if (fd >= 0 && scr->sink->attach_shared(r->id, fd, res.format, answer.stride, answer.rows)) {
        r->frame = Frame::Shared;
      } else if (fd >= 0) {
        why = "the X server cannot map it (MIT-SHM file descriptors)";
      }
    }
  }
  if (!scr->shared_frames_logged) {
    scr->shared_frames_logged = true;
    guest_log(false, "%s", r->frame == Frame::Shared ? "frames are shown from the memory the host renders them in (no copies)"
                                                  : ("frames are read back: " + why).c_str());
  }
  return r->frame == Frame::Shared;
}

void flush_frontbuffer(pipe_screen* s, pipe_context*, pipe_resource* res, unsigned level, unsigned layer,
                       void* drawable, pipe_box* damage) {
  RemoteScreen* scr = remote(s);
  RemoteDevice& dev = *scr->dev;
  const unsigned w = u_minify(res->width0, level), h = u_minify(res->height0, level);
  pipe_box full;
  u_box_2d(0, 0, w, h, &full);
  const pipe_box& d = damage ? *damage : full;
  const uint32_t window = scr->sink ? scr->sink->window_id(drawable) : 0;

  std::unique_lock<DeviceMutex> g(dev.lock());
  if (dev.lost()) return;
  const auto now = std::chrono::steady_clock::now();
  if (scr->sink && now - scr->desktop_checked >= std::chrono::seconds(2)) {
    // Is the guest's desktop composited on the host, and is it still the one
    // we joined? (Its window system may reopen it with a new token.) One X
    // round trip every two seconds.
    const bool first = scr->desktop_checked == std::chrono::steady_clock::time_point{};
    scr->desktop_checked = now;
    const uint64_t token = scr->sink->desktop_token(!first);
    if (token != scr->desktop_token) {
      scr->desktop_token = 0;
      if (token) {
        proto::DesktopJoin join;
        join.token = token;
        proto::DesktopJoined joined;
        if (dev.session().call(join, joined) && joined.ok) scr->desktop_token = token;
        if (dev.session().alive()) {
          guest_log(!joined.ok, "%s", joined.ok ? "frames are composited on the host (no readback)"
                                     : ("the compositor does not composite this desktop: " + std::string(joined.reason)).c_str());
        }
      }
    }
  }
  const bool composited = scr->desktop_token && scr->sink->composited(drawable);
  const bool want_pixels = scr->sink && scr->sink->wants_pixels() && !composited;
  auto fill = [&](auto& rec) {
    rec.resource = id_of(res);
    rec.level = level;
    rec.layer = layer;
    rec.window = window;
    rec.damage = {d.x, d.y, d.z, d.width, d.height, d.depth};
  };
  if (!want_pixels) {
    proto::Present rec;
    fill(rec);
    dev.session().send(rec);
    dev.session().flush();
    dev.frame_presented(FramePath::Host);
    return;
  }
  if (shares_frame(scr, remote(res), drawable, level, layer)) {
    proto::PresentShared rec;
    fill(rec);
    proto::PresentDone done;
    const bool ok = dev.session().call(rec, done) && done.ok;
    if (ok) dev.frame_presented(FramePath::Shared);
    g.unlock();
    if (ok) scr->sink->show_shared(drawable, id_of(res), w, h, damage);
    return;
  }
  proto::PresentReadback rec;
  fill(rec);
  // Taken under the device lock and kept past it: a thread that waits here
  // holding the device lock waits only for one show_frame, which takes no
  // device lock.
  std::unique_lock<std::mutex> frame(scr->frame_mutex);
  unsigned dst_stride = 0;
  uint8_t* dst = scr->sink->frame_buffer(drawable, res->format, w, h, dst_stride);
  if (!dst) return;
  const unsigned row = util_format_get_stride(res->format, w);
  const bool ok = dev.session().call_data(rec, dst, util_format_get_2d_size(res->format, row, h), dst_stride, row);
  if (ok) dev.frame_presented(FramePath::ReadBack);
  g.unlock();
  scr->sink->show_frame(drawable, damage, ok);
}

}  // namespace

bool PresentSink::attach_shared(uint32_t, int fd, pipe_format, unsigned, unsigned) {
  ::close(fd);
  return false;
}

pipe_screen* remote_screen_create(std::unique_ptr<RemoteDevice> dev, std::unique_ptr<PresentSink> sink) {
  auto caps = std::make_unique<proto::CapsTable>();
  if (!dev->session().call_data(proto::GetCaps{}, caps.get(), sizeof *caps)) {
    guest_log(true, "could not read the host's capabilities: %s", dev->session().error().c_str());
    return nullptr;
  }
  if (caps->magic != proto::kCapsMagic || caps->size != sizeof *caps) {
    guest_log(true, "the compositor was built from different Mesa headers (caps table mismatch)");
    return nullptr;
  }
  caps->name[sizeof caps->name - 1] = caps->vendor[sizeof caps->vendor - 1] = 0;
  caps->device_vendor[sizeof caps->device_vendor - 1] = 0;

  auto* scr = new RemoteScreen{};
  scr->name = dev->renderer();
  scr->dev = std::move(dev);
  scr->sink = std::move(sink);
  scr->caps = std::move(caps);
  scr->shader_cache = open_shader_cache(*scr->caps);
  scr->sample_positions.fill({0.5f, 0.5f});
  proto::SamplePositions positions;
  if (scr->dev->session().info().host_minor >= 6 && scr->dev->session().call(proto::GetSamplePositions{}, positions)) {
    for (size_t i = 0; i < positions.positions.size() && i < scr->sample_positions.size(); ++i) {
      scr->sample_positions[i] = {positions.positions[i].x, positions.positions[i].y};
    }
  }
  std::string no_arena;
  scr->arena = BufferArena::open(*scr->dev, no_arena);
  if (scr->arena) {
    guest_log(false, "persistent buffers live in a %u MiB arena shared with the host%s", scr->arena->size() >> 20,
              scr->arena->copies() ? " (its driver gets copies of them)" : "");
  } else {
    guest_log(false, "no persistent buffers (ARB_buffer_storage): %s", no_arena.c_str());
  }
  pipe_screen* s = &scr->base;
  s->destroy = screen_destroy;
  s->context_create = remote_context_create;
  s->fence_reference = fence_reference;
  s->fence_finish = fence_finish;
  s->get_timestamp = get_timestamp;
  s->flush_frontbuffer = flush_frontbuffer;
  s->get_disk_shader_cache = get_disk_shader_cache;
  remote_init_caps_functions(s);
  remote_init_resource_functions(s);
  guest_log(false, "remote screen ready: %s", scr->name.c_str());
  return s;
}

}  // namespace xen3d::guest
