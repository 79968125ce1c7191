// The remoting pipe_screen: answers capability queries from the host's caps
// table (fetched once at connect), and creates resources, contexts and fences
// that live on the host.
#pragma once

#include <array>
#include <cstdint>
#include <chrono>
#include <memory>
#include <mutex>

#include "guest/pipe-remote/remote_arena.h"
#include "guest/pipe-remote/remote_device.h"
#include "pipe/p_screen.h"
#include "proto/caps_table.h"

struct disk_cache;

namespace xen3d::guest {

// Where a presented frame goes in the guest: the window system glue (the
// xlib winsys) implements it. The pipe driver itself knows no window system.
class PresentSink {
 public:
  virtual ~PresentSink() = default;
  // The host window id for a frontend drawable handle (an X window id).
  virtual uint32_t window_id(void* drawable) = 0;
  // False when the compositor shows the frame itself and no pixels need to come back.
  virtual bool wants_pixels() const = 0;
  // The token of the composited VM desktop this window system belongs to
  // (the XEN3D X extension), 0 when there is none. `ask_again`: the desktop
  // may have been reopened since (new token).
  virtual uint64_t desktop_token(bool ask_again) = 0;
  // Whether the compositor composites this drawable into the desktop (the
  // guest X server reports its placement): then nothing is read back.
  virtual bool composited(void* drawable) = 0;
  // Memory for the drawable's next frame, rows `stride` apart, where the
  // host's pixels are received directly (the window system's image: no
  // staging copy); null when there is none.
  virtual uint8_t* frame_buffer(void* drawable, pipe_format format, unsigned width, unsigned height,
                                unsigned& stride) = 0;
  // Shows what frame_buffer received (`complete` false: the frame did not
  // arrive; only give the buffer back).
  virtual void show_frame(void* drawable, const pipe_box* damage, bool complete) = 0;

  // Shared frames (frame_share; the local transport): the window system
  // shows a window buffer straight from the host memory it is rendered in,
  // and nothing is copied. Whether `drawable` can show `format` that way;
  // taking a buffer's memory (owns `fd`; false: keep reading its frames
  // back); showing its finished frame; forgetting it when the buffer goes.
  virtual bool shows_shared(void* drawable, pipe_format format) { return false; }
  virtual bool attach_shared(uint32_t resource, int fd, pipe_format format, unsigned stride, unsigned rows);
  virtual void show_shared(void* drawable, uint32_t resource, unsigned width, unsigned height, const pipe_box* damage) {}
  virtual void forget_shared(uint32_t resource) {}
};

struct RemoteScreen {
  pipe_screen base;
  std::unique_ptr<RemoteDevice> dev;
  std::unique_ptr<PresentSink> sink;
  // Held from frame_buffer to show_frame: a sink has one frame buffer, and
  // threads presenting their windows at once (one screen, one X connection)
  // would write into it while another shows it and swap the window system's
  // per-window state under it.
  std::mutex frame_mutex;
  std::unique_ptr<proto::CapsTable> caps;
  // The host driver's sample positions for 1, 2, 4, 8 and 16 samples
  // (get_sample_positions; pixel centres before protocol 2.6).
  std::array<std::array<float, 2>, 31> sample_positions;
  // Where persistent buffers live (null: none, and no persistent maps).
  std::unique_ptr<BufferArena> arena;
  std::string name;
  // The composited desktop this connection joined (token 0: none), and when
  // the window system was last asked for its token.
  uint64_t desktop_token = 0;
  std::chrono::steady_clock::time_point desktop_checked{};
  bool shared_frames_logged = false;  // said once whether frames are shared or why not
  // Mesa's shader cache for what st/mesa makes of the app's GLSL (null where
  // Mesa was built without one); see open_shader_cache in remote_screen.cpp.
  disk_cache* shader_cache = nullptr;
};

inline RemoteScreen* remote(pipe_screen* s) { return reinterpret_cast<RemoteScreen*>(s); }

// Fetches the host's caps and builds the screen; nullptr (with a message) on failure.
pipe_screen* remote_screen_create(std::unique_ptr<RemoteDevice> dev, std::unique_ptr<PresentSink> sink);

// Parts of the screen, one file each.
void remote_init_caps_functions(pipe_screen* screen);      // remote_caps.cpp
void remote_init_resource_functions(pipe_screen* screen);  // remote_resource.cpp
pipe_context* remote_context_create(pipe_screen* screen, void* priv, unsigned flags);  // remote_context.cpp

}  // namespace xen3d::guest
