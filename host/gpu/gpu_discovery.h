// What GPUs this machine has, for choosing the host driver: render nodes
// (/dev/dri/renderD*) with their kernel drivers, and the Vulkan devices the
// Vulkan loader offers (a GPU's driver, or lavapipe on the CPU) — zink runs
// on those.
#pragma once

#include <string>
#include <vector>

namespace xen3d::host {

struct RenderNode {
  std::string path;           // /dev/dri/renderD128
  std::string kernel_driver;  // amdgpu, i915, nvidia-drm, ... ("" when unknown)
};

struct VulkanDevice {
  std::string name;  // the device's own name, e.g. "NVIDIA H100 80GB HBM3", "llvmpipe (LLVM 15.0.6, 256 bits)"
  std::string type;  // "discrete GPU", "integrated GPU", "virtual GPU", "CPU", "other"
  bool is_gpu = false;
};

std::vector<RenderNode> find_render_nodes();
// Whether NVIDIA's own kernel driver is loaded (it has no render node
// without nvidia-drm, but its Vulkan driver works headless).
bool has_nvidia_device();
// The loader's physical devices. Empty with `error` set when there is no
// Vulkan loader (libvulkan1) or no driver. The first call creates one
// instance, kept for the process's life; later calls repeat its answer.
std::vector<VulkanDevice> list_vulkan_devices(std::string& error);

// The driver a compositor runs on when none is named: zink when a GPU's
// Vulkan driver is there; else llvmpipe. `why` says what was found, for the log.
std::string choose_default_driver(std::string& why);

}  // namespace xen3d::host
