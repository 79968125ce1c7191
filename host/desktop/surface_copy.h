// Pixels between a guest's frames, window surfaces and the composed desktop:
// the surfaces' format and the copies, shared by the desktop (composition,
// in-process presents) and render workers (presents into shared surfaces).
#pragma once

#include <cstdint>

#include "pipe/p_format.h"
#include "pipe/p_state.h"

struct pipe_context;
struct pipe_resource;
struct pipe_screen;

namespace xen3d::host {

// The framebuffer page's pixels, and so every surface composition reads.
constexpr pipe_format kDesktopFormat = PIPE_FORMAT_B8G8R8X8_UNORM;

// A w x h texture in kDesktopFormat that can be drawn into and sampled: its template, and one.
pipe_resource surface_template(uint32_t width, uint32_t height);
pipe_resource* create_surface_texture(pipe_screen* screen, uint32_t width, uint32_t height);

void blit_rect(pipe_context* ctx, pipe_resource* src, pipe_format src_format, unsigned level, unsigned layer, int sx,
               int sy, pipe_resource* dst, int dx, int dy, int w, int h);

// Copies the frame's (level, layer) into `surface` at (0, 0) with `ctx`, and
// waits until the copy is done: another context (or process) reads it next.
void copy_frame_and_wait(pipe_context* ctx, pipe_resource* frame, unsigned level, unsigned layer,
                         pipe_resource* surface, uint32_t width, uint32_t height);

}  // namespace xen3d::host
