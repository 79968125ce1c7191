#include "host/gpu/gpu_discovery.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#define VK_NO_PROTOTYPES
#include "vulkan/vulkan_core.h"

namespace xen3d::host {

namespace {

std::string type_name(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
  }
}

std::string kernel_driver_of(const std::string& node_name) {
  const std::string link = "/sys/class/drm/" + node_name + "/device/driver";
  char target[PATH_MAX];
  const ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
  if (n <= 0) return "";
  target[n] = 0;
  const char* slash = std::strrchr(target, '/');
  return slash ? slash + 1 : target;
}

}  // namespace

std::vector<RenderNode> find_render_nodes() {
  std::vector<RenderNode> nodes;
  DIR* dir = opendir("/dev/dri");
  if (!dir) return nodes;
  while (dirent* e = readdir(dir)) {
    if (std::strncmp(e->d_name, "renderD", 7) != 0) continue;
    nodes.push_back({std::string("/dev/dri/") + e->d_name, kernel_driver_of(e->d_name)});
  }
  closedir(dir);
  std::sort(nodes.begin(), nodes.end(), [](const RenderNode& a, const RenderNode& b) { return a.path < b.path; });
  return nodes;
}

bool has_nvidia_device() { return access("/dev/nvidiactl", F_OK) == 0; }

namespace {

std::vector<VulkanDevice> probe_vulkan_devices(std::string& error) {
  std::vector<VulkanDevice> out;
  // Mesa's device-select layer (on by default) only reorders devices, and
  // without a desktop session it complains on stderr each time; it stays
  // when asked for by name.
  if (!std::getenv("MESA_VK_DEVICE_SELECT")) setenv("NODEVICE_SELECT", "1", 0);
  // The loader stays loaded: zink opens it again, and unloading it under
  // a driver's threads is not safe.
  void* lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    error = "no Vulkan loader (Debian: libvulkan1)";
    return out;
  }
  auto gipa = reinterpret_cast<PFN_vkGetInstanceProcAddr>(dlsym(lib, "vkGetInstanceProcAddr"));
  auto create = gipa ? reinterpret_cast<PFN_vkCreateInstance>(gipa(nullptr, "vkCreateInstance")) : nullptr;
  if (!create) {
    error = "the Vulkan loader has no vkCreateInstance";
    return out;
  }
  VkApplicationInfo app{};
  app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
  app.pApplicationName = "xen3d-compositor";
  app.apiVersion = VK_API_VERSION_1_0;
  VkInstanceCreateInfo info{};
  info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
  info.pApplicationInfo = &app;
  VkInstance instance = VK_NULL_HANDLE;
  if (const VkResult r = create(&info, nullptr, &instance); r != VK_SUCCESS) {
    error = r == VK_ERROR_INCOMPATIBLE_DRIVER ? "no Vulkan driver is installed (Debian: mesa-vulkan-drivers for lavapipe, "
                                                "AMD and Intel GPUs; NVIDIA's own for NVIDIA)"
                                              : "vkCreateInstance failed (VkResult " + std::to_string(int(r)) + ")";
    return out;
  }
  // The instance is never destroyed: that unloads the drivers, and
  // lavapipe leaves two allocations behind in the unloaded module (LSan,
  // the sanitized compositor); zink loads the same drivers again anyway.
  auto enumerate = reinterpret_cast<PFN_vkEnumeratePhysicalDevices>(gipa(instance, "vkEnumeratePhysicalDevices"));
  auto props = reinterpret_cast<PFN_vkGetPhysicalDeviceProperties>(gipa(instance, "vkGetPhysicalDeviceProperties"));
  uint32_t count = 0;
  if (enumerate && props && enumerate(instance, &count, nullptr) == VK_SUCCESS && count) {
    std::vector<VkPhysicalDevice> devs(count);
    if (enumerate(instance, &count, devs.data()) >= VK_SUCCESS) {
      devs.resize(count);
      for (VkPhysicalDevice d : devs) {
        VkPhysicalDeviceProperties p{};
        props(d, &p);
        const bool gpu = p.deviceType == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU ||
                         p.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU ||
                         p.deviceType == VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU;
        out.push_back({p.deviceName, type_name(p.deviceType), gpu});
      }
    }
  }
  if (out.empty()) error = "the Vulkan loader found no device";
  return out;
}

}  // namespace

std::vector<VulkanDevice> list_vulkan_devices(std::string& error) {
  // Asked once per process: the devices do not change under it.
  static std::string probe_error;
  static const std::vector<VulkanDevice> devices = probe_vulkan_devices(probe_error);
  error = probe_error;
  return devices;
}

std::string choose_default_driver(std::string& why) {
  const auto nodes = find_render_nodes();
  const bool nvidia = has_nvidia_device();
  if (nodes.empty() && !nvidia) {
    why = "no GPU here (no render node in /dev/dri, no NVIDIA device)";
    return "llvmpipe";
  }
  std::string found;
  for (const auto& n : nodes) {
    found += (found.empty() ? "" : ", ") + n.path + (n.kernel_driver.empty() ? "" : " (" + n.kernel_driver + ")");
  }
  if (nvidia) found += std::string(found.empty() ? "" : ", ") + "/dev/nvidiactl";
  std::string error;
  for (const auto& d : list_vulkan_devices(error)) {
    if (d.is_gpu) {
      why = "GPU found (" + found + "); its Vulkan driver offers " + d.name + " (" + d.type + ")";
      return "zink";
    }
  }
  why = "GPU found (" + found + ") but no Vulkan driver for it" + (error.empty() ? "" : " (" + error + ")") +
        ", and zink needs one: install the GPU's Vulkan driver (Debian: mesa-vulkan-drivers for AMD and Intel)";
  return "llvmpipe";
}

}  // namespace xen3d::host
