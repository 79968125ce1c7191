#include "host/worker/shader_cache.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "host/gpu/llvmpipe_cache_stats.h"
#include "pipe/p_context.h"
#include "pipe/p_screen.h"

namespace xen3d::host {

namespace {

// Everything under `dir`, in bytes (0 where it does not exist).
uint64_t size_of(const std::filesystem::path& dir) {
  std::error_code ec;
  uint64_t total = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const auto n = it->file_size(size_ec);
      if (!size_ec) total += n;
    }
  }
  return total;
}

}  // namespace

std::string shader_cache_vm_name(const proto::SessionInfo& info) {
  // "uid 1000" -> "uid-1000"; a Xen VM by its name (stable across boots,
  // unlike its domain id).
  std::string name = info.peer_vm.empty() ? info.peer_id : "vm-" + info.peer_vm;
  for (char& c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == '_';
    if (!ok) c = '-';
  }
  if (name.empty() || name[0] == '.') name = "peer" + name;
  return name.substr(0, 128);
}

bool open_vm_shader_cache(pipe_screen* screen, const std::string& root, const proto::SessionInfo& info,
                          VmShaderCache& out, std::string& error) {
  unsigned hits = 0, misses = 0;
  if (!xen3d_llvmpipe_cache_stats(screen, &hits, &misses)) {
    error = "only llvmpipe opens its cache after the worker knows its guest's VM";
    return false;
  }
  const std::filesystem::path dir = std::filesystem::path(root) / shader_cache_vm_name(info);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    error = "cannot create " + dir.string() + ": " + ec.message();
    return false;
  }
  // Only the compositor's user (and its workers) read what guests compiled.
  ::chmod(root.c_str(), 0700);
  out.dir = dir.string();
  out.bytes = size_of(dir);
  if (out.bytes >= kShaderCacheMaxBytes / 10 * 9) {
    std::filesystem::remove_all(dir, ec);
    std::filesystem::create_directories(dir, ec);
    out.emptied = true;
    out.bytes = size_of(dir);
  }
  // Read by Mesa's disk_cache_create in llvmpipe's late init, just below.
  setenv("MESA_SHADER_CACHE_DIR", out.dir.c_str(), 1);
  setenv("MESA_DISK_CACHE_SINGLE_FILE", "1", 1);
  unsetenv("MESA_SHADER_CACHE_DISABLE");
  pipe_context* ctx = screen->context_create(screen, nullptr, 0);
  if (ctx) ctx->destroy(ctx);
  setenv("MESA_SHADER_CACHE_DISABLE", "true", 1);
  if (!ctx || !screen->get_disk_shader_cache || !screen->get_disk_shader_cache(screen)) {
    error = "the driver opened no cache in " + out.dir;
    return false;
  }
  return true;
}

}  // namespace xen3d::host
