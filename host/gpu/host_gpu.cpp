#include "host/gpu/host_gpu.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "frontend/sw_winsys.h"
#include "common/log.h"
#include "host/gpu/frame_memory_winsys.h"
#include "host/gpu/gpu_discovery.h"
#include "pipe-loader/pipe_loader.h"
#include "pipe/p_screen.h"

extern "C" pipe_screen* xen3d_sw_screen_create(sw_winsys* ws, const char* driver);  // pipe_loader_target.c
extern "C" pipe_screen* xen3d_zink_screen_create(void);                           // pipe_loader_target.c

namespace xen3d::host {

namespace {
bool is_software(const std::string& d) { return d == "llvmpipe" || d == "softpipe"; }

// zink takes the best Vulkan device, but a CPU one (lavapipe) only when
// LIBGL_ALWAYS_SOFTWARE says so (zink_screen.c choose_pdev): say so when
// the CPU is all there is, as Mesa's users must by hand.
pipe_screen* open_zink(std::string& error) {
  const auto devices = list_vulkan_devices(error);
  if (devices.empty()) {
    error = "zink needs a Vulkan device: " + error;
    return nullptr;
  }
  const bool gpu = std::any_of(devices.begin(), devices.end(), [](const VulkanDevice& d) { return d.is_gpu; });
  const char* forced = std::getenv("LIBGL_ALWAYS_SOFTWARE");
  const std::string saved = forced ? forced : "";
  if (!gpu) setenv("LIBGL_ALWAYS_SOFTWARE", "1", 1);
  pipe_screen* screen = xen3d_zink_screen_create();
  if (!gpu) forced ? setenv("LIBGL_ALWAYS_SOFTWARE", saved.c_str(), 1) : unsetenv("LIBGL_ALWAYS_SOFTWARE");
  if (!screen) {
    std::string names;
    for (const auto& d : devices) names += (names.empty() ? "" : ", ") + d.name + " (" + d.type + ")";
    error = "zink could not make a screen on the Vulkan devices here (" + names +
            "); MESA_DEBUG=1 shows why";
  }
  return screen;
}
}  // namespace

std::vector<HostGpu::Driver> HostGpu::available_drivers() {
  std::vector<Driver> drivers = {{"llvmpipe", "CPU (LLVM)"}, {"softpipe", "CPU (reference rasterizer)"}};
  std::string error;
  std::string vk;
  for (const auto& d : list_vulkan_devices(error)) vk += (vk.empty() ? "" : ", ") + d.name + " (" + d.type + ")";
  drivers.push_back({"zink", vk.empty() ? "unavailable: " + error : "Vulkan: " + vk});
  int n = pipe_loader_probe(nullptr, 0);
  if (n > 0) {
    std::vector<pipe_loader_device*> devs(static_cast<size_t>(n));
    n = pipe_loader_probe(devs.data(), n);
    for (int i = 0; i < n; ++i) {
      if (devs[i]->type != PIPE_LOADER_DEVICE_SOFTWARE) drivers.push_back({devs[i]->driver_name, "DRM render node"});
    }
    pipe_loader_release(devs.data(), n);
  }
  return drivers;
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
  } else if (driver == "zink") {
    gpu->screen_ = open_zink(error);
    if (!gpu->screen_) return nullptr;
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
      for (const auto& d : available_drivers()) known += (known.empty() ? "" : ", ") + d.name;
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
