#include "host/validate/resource_layout.h"

#include <algorithm>
#include <cstdio>

#include "util/format/u_format.h"
#include "util/u_math.h"

namespace xen3d::host {

unsigned level_width(const pipe_resource& r, unsigned level) { return u_minify(r.width0, level); }

unsigned level_height(const pipe_resource& r, unsigned level) {
  return target_has_height(r.target) ? u_minify(r.height0, level) : 1;
}

unsigned level_slices(const pipe_resource& r, unsigned level) {
  return r.target == PIPE_TEXTURE_3D ? u_minify(r.depth0, level) : r.array_size;
}

const char* target_name(unsigned target) {
  static const char* const names[] = {"buffer",   "1D texture",       "2D texture",
                                      "3D texture", "cube texture",     "rectangle texture",
                                      "1D array texture", "2D array texture", "cube array texture"};
  return target < PIPE_MAX_TEXTURE_TYPES ? names[target] : "unknown target";
}

std::string check_buffer_bind(unsigned bind) {
  // What a texture is bound as, never a buffer.
  // (Render targets are not among them: st/mesa binds buffers as render
  // targets for its PBO paths.)
  constexpr unsigned kTextureOnly =
      PIPE_BIND_DEPTH_STENCIL | PIPE_BIND_DISPLAY_TARGET | PIPE_BIND_SCANOUT | PIPE_BIND_SHARED | PIPE_BIND_CURSOR;
  if (bind & kTextureOnly) {
    char what[64];
    std::snprintf(what, sizeof what, "bind 0x%x is a texture's, not a buffer's", bind & kTextureOnly);
    return what;
  }
  return "";
}

bool resource_bytes(const pipe_resource& t, uint64_t& bytes) {
  const auto format = static_cast<pipe_format>(t.format);
  unsigned __int128 total = 0;
  const unsigned samples = t.nr_samples > 1 ? t.nr_samples : 1;
  for (unsigned level = 0; level <= t.last_level; ++level) {
    const unsigned __int128 bx = util_format_get_nblocksx(format, level_width(t, level));
    const unsigned __int128 by = util_format_get_nblocksy(format, level_height(t, level));
    const unsigned __int128 level_bytes =
        bx * by * util_format_get_blocksize(format) * level_slices(t, level) * samples;
    total += level_bytes;
    if (total > (unsigned __int128)(UINT64_MAX >> 1)) return false;
  }
  bytes = static_cast<uint64_t>(total);
  return true;
}

uint64_t packed_box_bytes(pipe_format format, unsigned width, unsigned height, unsigned depth) {
  const uint64_t stride = util_format_get_stride(format, width);
  return stride * util_format_get_nblocksy(format, height) * depth;
}

std::string check_box(const pipe_resource& r, unsigned level, const WireBox& b, BoxRule rule) {
  char msg[256];
  const auto format = static_cast<pipe_format>(r.format);
  const int64_t lw = level_width(r, level), lh = level_height(r, level), ld = level_slices(r, level);
  const char* zname = r.target == PIPE_TEXTURE_3D ? "depth" : "layer count";

  // The covered range on each axis, in 64-bit so x + width cannot wrap.
  int64_t x0 = b.x, x1 = int64_t(b.x) + b.width;
  int64_t y0 = b.y, y1 = int64_t(b.y) + b.height;
  const int64_t z0 = b.z, z1 = int64_t(b.z) + b.depth;
  if (rule == BoxRule::BlitSource) {
    if (x1 < x0) std::swap(x0, x1);
    if (y1 < y0) std::swap(y0, y1);
  } else if (b.width < 0 || b.height < 0) {
    std::snprintf(msg, sizeof msg, "box width=%d height=%d is negative", b.width, b.height);
    return msg;
  }
  if (b.depth < 0) {
    std::snprintf(msg, sizeof msg, "box depth=%d is negative", b.depth);
    return msg;
  }
  if (x0 < 0 || y0 < 0 || z0 < 0) {
    std::snprintf(msg, sizeof msg, "box origin x=%d y=%d z=%d is negative", b.x, b.y, b.z);
    return msg;
  }
  if (x1 > lw) {
    std::snprintf(msg, sizeof msg, "box x=%d width=%d exceeds level %u width %lld", b.x, b.width, level,
                  (long long)lw);
    return msg;
  }
  if (y1 > lh) {
    std::snprintf(msg, sizeof msg, "box y=%d height=%d exceeds level %u height %lld", b.y, b.height, level,
                  (long long)lh);
    return msg;
  }
  if (z1 > ld) {
    std::snprintf(msg, sizeof msg, "box z=%d depth=%d exceeds level %u %s %lld", b.z, b.depth, level, zname,
                  (long long)ld);
    return msg;
  }
  if (r.target == PIPE_BUFFER && (b.y != 0 || b.z != 0 || b.height != 1 || b.depth != 1)) {
    std::snprintf(msg, sizeof msg, "buffer box must have y=0 z=0 height=1 depth=1, not y=%d z=%d height=%d depth=%d",
                  b.y, b.z, b.height, b.depth);
    return msg;
  }
  const unsigned bw = util_format_get_blockwidth(format), bh = util_format_get_blockheight(format);
  if (bw > 1 || bh > 1) {
    // Partial blocks only where the box reaches the level's edge.
    const bool x_ok = x0 % bw == 0 && (x1 % bw == 0 || x1 == lw);
    const bool y_ok = y0 % bh == 0 && (y1 % bh == 0 || y1 == lh);
    if (!x_ok || !y_ok) {
      std::snprintf(msg, sizeof msg, "box x=%d y=%d width=%d height=%d is not aligned to the %ux%u blocks of %s",
                    b.x, b.y, b.width, b.height, bw, bh, util_format_short_name(format));
      return msg;
    }
  }
  return {};
}

pipe_box to_pipe_box(const WireBox& b) {
  pipe_box p{};
  p.x = b.x;
  p.y = static_cast<int16_t>(b.y);
  p.z = static_cast<int16_t>(b.z);
  p.width = b.width;
  p.height = static_cast<int16_t>(b.height);
  p.depth = static_cast<int16_t>(b.depth);
  return p;
}

}  // namespace xen3d::host
