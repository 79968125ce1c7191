#include "host/executor/present_snapshot.h"

#include <fcntl.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unistd.h>
#include <vector>

#include "common/png_writer.h"
#include "util/format/u_format.h"

namespace xen3d::host {

namespace {

std::string g_dir;
int g_dir_fd = -1;

bool write_in_directory(const std::string& name, const std::vector<uint8_t>& rgba, uint32_t width, uint32_t height,
                        std::string& error) {
  std::vector<uint8_t> png;
  if (!encode_png(rgba.data(), width, height, width * 4, png, error)) return false;
  const std::string tmp = name + ".tmp" + std::to_string(getpid());
  const int fd = openat(g_dir_fd, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = "cannot write " + g_dir + "/" + tmp + ": " + std::strerror(errno);
    return false;
  }
  size_t done = 0;
  while (done < png.size()) {
    const ssize_t n = ::write(fd, png.data() + done, png.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  if (done != png.size() || renameat(g_dir_fd, tmp.c_str(), g_dir_fd, name.c_str()) != 0) {
    error = "cannot write " + g_dir + "/" + name + ": " + std::strerror(errno);
    unlinkat(g_dir_fd, tmp.c_str(), 0);
    return false;
  }
  return true;
}

}  // namespace

void set_snapshot_directory(const std::string& dir, int fd) {
  g_dir = dir;
  g_dir_fd = fd;
}

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
  if (g_dir_fd >= 0 && path.rfind(g_dir + "/", 0) == 0 && path.find('/', g_dir.size() + 1) == std::string::npos) {
    return write_in_directory(path.substr(g_dir.size() + 1), rgba, width, height, error);
  }
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
