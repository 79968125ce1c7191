// The host's Gallium screen: llvmpipe or softpipe on the CPU, zink on a
// Vulkan device (a GPU's driver, or lavapipe), or any DRM driver the
// pipe-loader finds (docs/gpu-hosts.md).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

struct pipe_screen;
struct pipe_loader_device;

namespace xen3d::host {

class HostGpu {
 public:
  // driver: "llvmpipe", "softpipe", "zink", or a pipe-loader DRM driver's name.
  static std::unique_ptr<HostGpu> open(const std::string& driver, std::string& error);
  struct Driver {
    std::string name;
    std::string what;  // what it runs on here, e.g. "Vulkan: NVIDIA H100 (discrete GPU)"
  };
  // The drivers this build can open on this machine, for --list-drivers and error messages.
  static std::vector<Driver> available_drivers();
  ~HostGpu();

  pipe_screen* screen() const { return screen_; }
  // The driver's own description, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)".
  std::string renderer() const;
  // Gallium lets each thread drive its own context on a shared screen, and
  // every guest runs on its own thread. llvmpipe breaks that promise:
  // llvmpipe_flush_resource reads every context's in-flight scenes while their
  // own threads reset and free them (a compositor segfault in
  // lp_scene_is_resource_referenced, found by piglit with two guests). For
  // such a driver all guests' Gallium work takes this lock; null otherwise.
  std::mutex* context_lock() { return serialize_contexts_ ? &context_lock_ : nullptr; }
  // Whether window buffers (PIPE_BIND_DISPLAY_TARGET resources) live in
  // memfds that resource_get_handle(WINSYS_HANDLE_TYPE_FD) exports, for the
  // guest's X server to show (host/gpu/frame_memory_winsys.h).
  bool shares_frames() const { return shares_frames_; }

 private:
  HostGpu() = default;
  pipe_loader_device* dev_ = nullptr;
  pipe_screen* screen_ = nullptr;
  bool serialize_contexts_ = false;
  bool shares_frames_ = false;
  std::mutex context_lock_;
};

}  // namespace xen3d::host
