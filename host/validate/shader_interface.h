// What a linked pipeline's stages pass each other, as far as the host driver
// sizes arrays by it: the draw module (llvmpipe, softpipe) emits every vertex
// for the rasterizer through one translate key of
// MesaInternal::kDrawEmitAttribs elements (host_limits.h), filled by
// compute_vertex_info (lp_state_derived.c, sp_state_derived.c) from the
// fragment shader's inputs and a few outputs of the last vertex stage.
#pragma once

#include <cstdint>

namespace xen3d::host {

struct ShaderInterface {
  // tgsi_scan's num_inputs (highest INPUT register + 1). Fragment shaders:
  // which inputs are FACE / LAYER / VIEWPORT_INDEX, and a FACE system value.
  uint16_t num_inputs = 0;
  bool input_face = false, input_layer = false, input_viewport_index = false, uses_frontface = false;
  // Vertex shaders: an INPUT with the INSTANCEID semantic, which the draw
  // module's fetch fills itself (draw_pt_fetch_prepare) instead of from a
  // vertex element.
  bool input_instance_id = false;
  // Vertex / geometry shaders: outputs the emit forwards whatever the
  // fragment shader reads (bit i of output_bcolors: BCOLOR[i], i < 2).
  uint8_t output_bcolors = 0;
  bool output_psize = false, output_layer = false, output_viewport_index = false;
};

// Attributes compute_vertex_info emits for this pair, plus one when the
// rasterizer state makes the draw module's smooth-line/point stages add a
// coverage input to the fragment shader (draw_pipe_aaline.c, draw_pipe_aapoint.c).
inline unsigned draw_emit_attribs(const ShaderInterface& last_vertex_stage, const ShaderInterface& fs,
                                  bool fs_rewritten) {
  unsigned n = 1 + fs.num_inputs;  // position, then every fragment input
  n += fs.uses_frontface && !fs.input_face;
  n += __builtin_popcount(last_vertex_stage.output_bcolors & 3u);
  n += last_vertex_stage.output_psize;
  n += last_vertex_stage.output_viewport_index && !fs.input_viewport_index;
  n += last_vertex_stage.output_layer && !fs.input_layer;
  return n + fs_rewritten;
}

}  // namespace xen3d::host
