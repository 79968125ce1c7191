#include "host/gpu/host_gpu.h"

#include <cstdlib>
#include <cstring>

#include "frontend/sw_winsys.h"
#include "host/gpu/frame_memory_winsys.h"
#include "pipe-loader/pipe_loader.h"
#include "pipe/p_screen.h"

extern "C" pipe_screen* xen3d_sw_screen_create(sw_winsys* ws, const char* driver);  // pipe_loader_target.c

namespace xen3d::host {

namespace {
bool is_software(const std::string& d) { return d == "llvmpipe" || d == "softpipe"; }
}  // namespace

std::vector<std::string> HostGpu::available_drivers() {
  std::vector<std::string> names = {"llvmpipe", "softpipe"};
  int n = pipe_loader_probe(nullptr, 0);
  if (n > 0) {
    std::vector<pipe_loader_device*> devs(static_cast<size_t>(n));
    n = pipe_loader_probe(devs.data(), n);
    for (int i = 0; i < n; ++i) {
      if (devs[i]->type != PIPE_LOADER_DEVICE_SOFTWARE) names.emplace_back(devs[i]->driver_name);
    }
    pipe_loader_release(devs.data(), n);
  }
  return names;
}

std::unique_ptr<HostGpu> HostGpu::open(const std::string& driver, std::string& error) {
  std::unique_ptr<HostGpu> gpu(new HostGpu);
  // No on-disk shader cache here: Mesa's (~/.cache) would be one cache for
  // every guest. A render worker opens its VM's own once it knows the VM
  // (host/worker/shader_cache.h).
  setenv("MESA_SHADER_CACHE_DISABLE", "true", 1);
  if (is_software(driver)) {
    // The software pipe-loader device picks its rasterizer from GALLIUM_DRIVER.
    setenv("GALLIUM_DRIVER", driver.c_str(), 1);
    if (driver == "softpipe") {
      // softpipe's draw module fetches vertices with translate_sse unless
      // told to use LLVM, and translate clamps only a linear run's first
      // vertex (then steps by the stride) and never an instanced one:
      // a draw past the end of a vertex buffer read host memory beyond it
      // (found by fuzzing on instrumented Mesa). draw_llvm, llvmpipe's
      // fetch, checks every vertex against the buffer's size.
      const char* old = std::getenv("SOFTPIPE_DEBUG");
      std::string flags = old && *old ? old : "";
      if (flags.find("use_llvm") == std::string::npos) flags += flags.empty() ? "use_llvm" : ",use_llvm";
      setenv("SOFTPIPE_DEBUG", flags.c_str(), 1);
    }
    // Window buffers in memory the guest's X server can map (frame_memory_winsys.h).
    sw_winsys* ws = frame_memory_winsys_create();
    gpu->screen_ = ws ? xen3d_sw_screen_create(ws, driver.c_str()) : nullptr;
    if (!gpu->screen_) {
      if (ws) ws->destroy(ws);
      error = "driver '" + driver + "' failed to create a screen";
      return nullptr;
    }
    gpu->shares_frames_ = true;
  } else {
    int n = pipe_loader_probe(nullptr, 0);
    std::vector<pipe_loader_device*> devs(static_cast<size_t>(n > 0 ? n : 0));
    if (n > 0) n = pipe_loader_probe(devs.data(), n);
    for (int i = 0; i < n; ++i) {
      if (!gpu->dev_ && devs[i]->type != PIPE_LOADER_DEVICE_SOFTWARE &&
          driver == devs[i]->driver_name) {
        gpu->dev_ = devs[i];
        devs[i] = nullptr;
      }
    }
    for (auto* d : devs) {
      if (d) pipe_loader_release(&d, 1);
    }
    if (!gpu->dev_) {
      std::string known;
      for (const auto& d : available_drivers()) known += (known.empty() ? "" : ", ") + d;
      error = "no device for driver '" + driver + "' (available: " + known + ")";
      return nullptr;
    }
  }
  if (!gpu->screen_) gpu->screen_ = pipe_loader_create_screen(gpu->dev_);
  if (!gpu->screen_) {
    error = "driver '" + driver + "' failed to create a screen";
    return nullptr;
  }
  if (is_software(driver) && gpu->renderer().rfind(driver, 0) != 0) {
    error = "asked for " + driver + " but got " + gpu->renderer() + " (not built in?)";
    return nullptr;
  }
  gpu->serialize_contexts_ = gpu->renderer().rfind("llvmpipe", 0) == 0;
  return gpu;
}

HostGpu::~HostGpu() {
  if (screen_) screen_->destroy(screen_);
  if (dev_) pipe_loader_release(&dev_, 1);
}

std::string HostGpu::renderer() const {
  const char* name = screen_->get_name(screen_);
  return name ? name : "unknown";
}

}  // namespace xen3d::host
