#include "host/worker/present_snapshot.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unistd.h>
#include <vector>

#include "common/png_writer.h"
#include "util/format/u_format.h"

namespace xen3d::host {

bool snapshot_format_supported(pipe_format format) {
  if (format == PIPE_FORMAT_NONE || format >= PIPE_FORMAT_COUNT || !util_format_description(format)) return false;
  const struct util_format_unpack_description* unpack = util_format_unpack_description(format);
  return unpack && (unpack->unpack_rgba_8unorm || unpack->unpack_rgba_8unorm_rect);
}

bool write_snapshot_png(const std::string& path, pipe_format format, const uint8_t* pixels, uint32_t stride,
                        uint32_t width, uint32_t height, std::string& error) {
  if (!snapshot_format_supported(format)) {
    error = std::string("cannot convert ") + util_format_short_name(format) + " to RGBA8";
    return false;
  }
  std::vector<uint8_t> rgba(size_t{width} * height * 4);
  util_format_unpack_rgba_8unorm_rect(format, rgba.data(), width * 4, pixels, stride, width, height);
  // A window frame is opaque: the guest's X visual (depth 24) ignores the
  // alpha GL leaves in the front buffer, so the PNG shows what the X window shows.
  for (size_t i = 3; i < rgba.size(); i += 4) rgba[i] = 0xff;
  const std::string tmp = path + ".tmp" + std::to_string(getpid());
  if (!write_png(tmp, rgba.data(), width, height, width * 4, error)) {
    unlink(tmp.c_str());
    return false;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot rename " + tmp + " to " + path + ": " + std::strerror(errno);
    unlink(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace xen3d::host
