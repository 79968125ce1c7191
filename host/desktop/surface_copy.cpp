#include "host/desktop/surface_copy.h"

#include "pipe/p_context.h"
#include "pipe/p_screen.h"
#include "pipe/p_state.h"
#include "util/u_box.h"

namespace xen3d::host {

pipe_resource surface_template(uint32_t width, uint32_t height) {
  pipe_resource templ{};
  templ.target = PIPE_TEXTURE_2D;
  templ.format = kDesktopFormat;
  templ.width0 = width;
  templ.height0 = height;
  templ.depth0 = templ.array_size = 1;
  templ.bind = PIPE_BIND_RENDER_TARGET | PIPE_BIND_SAMPLER_VIEW;
  return templ;
}

pipe_resource* create_surface_texture(pipe_screen* screen, uint32_t width, uint32_t height) {
  const pipe_resource templ = surface_template(width, height);
  return screen->resource_create(screen, &templ);
}

void blit_rect(pipe_context* ctx, pipe_resource* src, pipe_format src_format, unsigned level, unsigned layer,
               int sx, int sy, pipe_resource* dst, int dx, int dy, int w, int h) {
  pipe_blit_info blit{};
  blit.src.resource = src;
  blit.src.format = src_format;
  blit.src.level = level;
  u_box_2d_zslice(sx, sy, layer, w, h, &blit.src.box);
  blit.dst.resource = dst;
  blit.dst.format = dst->format;
  u_box_2d_zslice(dx, dy, 0, w, h, &blit.dst.box);
  blit.mask = PIPE_MASK_RGBA;
  blit.filter = PIPE_TEX_FILTER_NEAREST;
  ctx->blit(ctx, &blit);
}

void copy_frame_and_wait(pipe_context* ctx, pipe_resource* frame, unsigned level, unsigned layer,
                         pipe_resource* surface, uint32_t width, uint32_t height) {
  blit_rect(ctx, frame, frame->format, level, layer, 0, 0, surface, 0, 0, static_cast<int>(width),
            static_cast<int>(height));
  pipe_fence_handle* fence = nullptr;
  ctx->flush(ctx, &fence, 0);
  if (fence) {
    pipe_screen* screen = ctx->screen;
    screen->fence_finish(screen, nullptr, fence, PIPE_TIMEOUT_INFINITE);
    screen->fence_reference(screen, &fence, nullptr);
  }
}

}  // namespace xen3d::host
