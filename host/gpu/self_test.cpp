#include "host/gpu/self_test.h"

#include <cstdio>
#include <cstring>
#include <vector>

#include "common/png_writer.h"
#include "pipe/p_context.h"
#include "pipe/p_defines.h"
#include "pipe/p_screen.h"
#include "pipe/p_state.h"
#include "util/u_inlines.h"
#include "util/u_simple_shaders.h"

namespace xen3d::host {

namespace {
constexpr unsigned kSize = 64;

struct Rgba {
  uint8_t r, g, b, a;
};
}  // namespace

bool run_self_test(pipe_screen* screen, const std::string& png_path, std::string& report) {
  const pipe_format format = PIPE_FORMAT_R8G8B8A8_UNORM;
  if (!screen->is_format_supported(screen, format, PIPE_TEXTURE_2D, 0, 0, PIPE_BIND_RENDER_TARGET)) {
    report = "host driver cannot render to R8G8B8A8_UNORM";
    return false;
  }
  pipe_context* ctx = screen->context_create(screen, nullptr, 0);
  if (!ctx) {
    report = "host driver failed to create a context";
    return false;
  }

  pipe_resource templ{};
  templ.target = PIPE_TEXTURE_2D;
  templ.format = format;
  templ.width0 = kSize;
  templ.height0 = kSize;
  templ.depth0 = 1;
  templ.array_size = 1;
  templ.bind = PIPE_BIND_RENDER_TARGET | PIPE_BIND_SAMPLER_VIEW;
  templ.usage = PIPE_USAGE_DEFAULT;
  pipe_resource* target = screen->resource_create(screen, &templ);

  pipe_surface surf_templ{};
  surf_templ.format = format;
  pipe_surface* surf = ctx->create_surface(ctx, target, &surf_templ);

  pipe_framebuffer_state fb{};
  fb.width = kSize;
  fb.height = kSize;
  fb.layers = 1;
  fb.nr_cbufs = 1;
  fb.cbufs[0] = surf;
  ctx->set_framebuffer_state(ctx, &fb);

  pipe_color_union blue{};
  blue.f[2] = 1.0f;
  blue.f[3] = 1.0f;
  ctx->clear(ctx, PIPE_CLEAR_COLOR0, nullptr, &blue, 0.0, 0);

  pipe_blend_state blend{};
  blend.rt[0].colormask = PIPE_MASK_RGBA;
  void* blend_cso = ctx->create_blend_state(ctx, &blend);
  ctx->bind_blend_state(ctx, blend_cso);

  pipe_rasterizer_state rast{};
  rast.cull_face = PIPE_FACE_NONE;
  rast.half_pixel_center = 1;
  rast.bottom_edge_rule = 1;
  rast.depth_clip_near = 1;
  rast.depth_clip_far = 1;
  void* rast_cso = ctx->create_rasterizer_state(ctx, &rast);
  ctx->bind_rasterizer_state(ctx, rast_cso);

  pipe_depth_stencil_alpha_state dsa{};
  void* dsa_cso = ctx->create_depth_stencil_alpha_state(ctx, &dsa);
  ctx->bind_depth_stencil_alpha_state(ctx, dsa_cso);

  pipe_viewport_state vp{};
  vp.scale[0] = kSize / 2.0f;
  vp.scale[1] = kSize / 2.0f;
  vp.scale[2] = 0.5f;
  vp.translate[0] = kSize / 2.0f;
  vp.translate[1] = kSize / 2.0f;
  vp.translate[2] = 0.5f;
  vp.swizzle_x = PIPE_VIEWPORT_SWIZZLE_POSITIVE_X;
  vp.swizzle_y = PIPE_VIEWPORT_SWIZZLE_POSITIVE_Y;
  vp.swizzle_z = PIPE_VIEWPORT_SWIZZLE_POSITIVE_Z;
  vp.swizzle_w = PIPE_VIEWPORT_SWIZZLE_POSITIVE_W;
  ctx->set_viewport_states(ctx, 0, 1, &vp);

  const tgsi_semantic names[2] = {TGSI_SEMANTIC_POSITION, TGSI_SEMANTIC_COLOR};
  const unsigned indices[2] = {0, 0};
  void* vs = util_make_vertex_passthrough_shader(ctx, 2, names, indices, false);
  void* fs = util_make_fragment_passthrough_shader(ctx, TGSI_SEMANTIC_COLOR, TGSI_INTERPOLATE_PERSPECTIVE, false);
  ctx->bind_vs_state(ctx, vs);
  ctx->bind_fs_state(ctx, fs);

  pipe_vertex_element ve[2] = {};
  for (unsigned i = 0; i < 2; ++i) {
    ve[i].src_offset = i * 16;
    ve[i].src_format = PIPE_FORMAT_R32G32B32A32_FLOAT;
  }
  void* velems = ctx->create_vertex_elements_state(ctx, 2, ve);
  ctx->bind_vertex_elements_state(ctx, velems);

  // A red triangle covering the centre but not the corners.
  const float verts[3][2][4] = {
      {{-0.5f, -0.5f, 0.0f, 1.0f}, {1.0f, 0.0f, 0.0f, 1.0f}},
      {{0.5f, -0.5f, 0.0f, 1.0f}, {1.0f, 0.0f, 0.0f, 1.0f}},
      {{0.0f, 0.6f, 0.0f, 1.0f}, {1.0f, 0.0f, 0.0f, 1.0f}},
  };
  pipe_resource* vbuf = pipe_buffer_create_with_data(ctx, PIPE_BIND_VERTEX_BUFFER, PIPE_USAGE_IMMUTABLE,
                                                     sizeof verts, verts);
  pipe_vertex_buffer vb{};
  vb.stride = 32;
  vb.buffer.resource = vbuf;
  ctx->set_vertex_buffers(ctx, 0, 1, 0, false, &vb);

  pipe_draw_info info{};
  info.mode = PIPE_PRIM_TRIANGLES;
  info.max_index = ~0u;
  info.instance_count = 1;
  pipe_draw_start_count_bias draw{};
  draw.count = 3;
  ctx->draw_vbo(ctx, &info, 0, nullptr, &draw, 1);

  pipe_fence_handle* fence = nullptr;
  ctx->flush(ctx, &fence, 0);
  screen->fence_finish(screen, ctx, fence, PIPE_TIMEOUT_INFINITE);
  screen->fence_reference(screen, &fence, nullptr);

  pipe_transfer* xfer = nullptr;
  pipe_box box;
  u_box_2d(0, 0, kSize, kSize, &box);
  auto* map = static_cast<const uint8_t*>(ctx->texture_map(ctx, target, 0, PIPE_MAP_READ, &box, &xfer));
  bool ok = map != nullptr;
  std::vector<uint8_t> pixels(kSize * kSize * 4);
  if (map) {
    for (unsigned y = 0; y < kSize; ++y) std::memcpy(&pixels[y * kSize * 4], map + y * xfer->stride, kSize * 4);
    ctx->texture_unmap(ctx, xfer);
  }
  auto at = [&](unsigned x, unsigned y) {
    Rgba p;
    std::memcpy(&p, &pixels[(y * kSize + x) * 4], 4);
    return p;
  };
  char buf[256];
  if (ok) {
    // No implicit flip in Gallium: NDC +y lands on larger row numbers here.
    const Rgba centre = at(kSize / 2, kSize / 2), corner = at(1, 1), apex = at(kSize / 2, kSize / 2 - 16);
    const bool centre_red = centre.r == 255 && centre.g == 0 && centre.b == 0;
    const bool corner_blue = corner.r == 0 && corner.g == 0 && corner.b == 255;
    const bool apex_red = apex.r == 255 && apex.b == 0;
    ok = centre_red && corner_blue && apex_red;
    std::snprintf(buf, sizeof buf,
                  "centre (%u,%u,%u) %s, corner (%u,%u,%u) %s, upper (%u,%u,%u) %s", centre.r, centre.g,
                  centre.b, centre_red ? "red ok" : "expected red", corner.r, corner.g, corner.b,
                  corner_blue ? "blue ok" : "expected blue", apex.r, apex.g, apex.b,
                  apex_red ? "red ok" : "expected red");
    report = buf;
  } else {
    report = "could not map the render target for reading";
  }
  if (!png_path.empty() && map) {
    std::string err;
    if (!write_png(png_path, pixels.data(), kSize, kSize, kSize * 4, err)) {
      report += "; " + err;
      ok = false;
    } else {
      report += "; wrote " + png_path;
    }
  }

  ctx->bind_vs_state(ctx, nullptr);
  ctx->bind_fs_state(ctx, nullptr);
  ctx->delete_vs_state(ctx, vs);
  ctx->delete_fs_state(ctx, fs);
  ctx->delete_vertex_elements_state(ctx, velems);
  ctx->delete_blend_state(ctx, blend_cso);
  ctx->delete_rasterizer_state(ctx, rast_cso);
  ctx->delete_depth_stencil_alpha_state(ctx, dsa_cso);
  fb = {};
  ctx->set_framebuffer_state(ctx, &fb);
  pipe_surface_reference(&surf, nullptr);
  pipe_resource_reference(&vbuf, nullptr);
  pipe_resource_reference(&target, nullptr);
  ctx->destroy(ctx);
  return ok;
}

}  // namespace xen3d::host
