// The one table of host limits every guest record is checked against.
//
// Most limits come from the host screen's caps (proto::CapsTable, read once at
// start by caps_snapshot.cpp). A few limits are imposed by Mesa's own code and
// stated by no cap; they are listed in MesaInternal below, each taken from the
// Mesa macro where Mesa has one and naming the file that imposes it. No other
// file of the host validates against a number of its own.
#pragma once

#include <string>

#include "host/validate/shader_path.h"

#include <array>
#include <cstdint>

#include "pipe/p_defines.h"
#include "pipe/p_format.h"
#include "proto/caps_table.h"  // needs p_format.h first

struct pipe_screen;

namespace xen3d::host {

// Limits Mesa 22.3.6 imposes without a cap (values in host_limits.cpp).
struct MesaInternal {
  // auxiliary/translate/translate.h TRANSLATE_MAX_ATTRIBS: the draw module
  // emits each vertex for the rasterizer through one translate key of this
  // many elements (draw_pt_emit.c, draw_vbuf.c); llvmpipe's and softpipe's
  // compute_vertex_info emit position, every fragment input, and back colors,
  // point size, layer, viewport index and face when present.
  static const unsigned kDrawEmitAttribs;
  // gallivm/lp_bld_limits.h LP_MAX_TGSI_CONST_BUFFER_SIZE: llvmpipe copies at
  // most this many bytes of each fragment/compute constant buffer into its
  // scene (lp_setup.c, lp_state_cs.c) and substitutes a 16-byte zero buffer
  // for ranges under 4 bytes; the JIT does not bounds-check direct reads.
  static const unsigned kConstantCopyBytes;
  // gallivm/lp_bld_limits.h LP_MAX_TGSI_ADDRS: ADDR registers gallivm allocates.
  static const unsigned kAddressRegs;
  // gallivm/lp_bld_limits.h LP_MAX_TGSI_IMMEDIATES: immediates gallivm's TGSI
  // translator keeps in a fixed array.
  static const unsigned kImmediates;
  // gallivm/lp_bld_limits.h LP_MAX_TGSI_NESTING: control-flow nesting gallivm tracks.
  static const unsigned kNesting;
  // pipe/p_state.h PIPE_MAX_SHADER_INPUTS/OUTPUTS: tgsi_scan's per-register
  // arrays (input_semantic_name[], ...), the largest register file any TGSI
  // consumer indexes.
  static const unsigned kScanInputs;
  static const unsigned kScanOutputs;
  // tgsi/tgsi_scan.h: images_declared and shader_buffers_declared are 32-bit masks.
  static const unsigned kScanMaskBits;
  // draw/draw_tess.h NUM_TCS_INPUTS: draw's tessellation-control input array
  // (data[32][NUM_TCS_INPUTS][4]); per-vertex inputs past it overflow it.
  static const unsigned kDrawTcsInputs;
  // draw/draw_tess.h: the 32 vertices of that array's first dimension.
  static const unsigned kDrawTcsVertices;
  // tgsi_scan stores semantic indices in bytes (ubyte input_semantic_index[]).
  static const unsigned kSemanticIndex;
  // gallivm/lp_bld_limits.h LP_MAX_INLINED_TEMPS: the AOS translator that
  // llvmpipe's linear fragment path uses for simple shaders
  // (lp_state_fs_linear_llvm.c -> lp_bld_tgsi_aos.c emit_declaration) stores
  // each declared temporary in temps[LP_MAX_INLINED_TEMPS] with only an
  // assert on the index: past it, a compile overwrote its own stack and
  // fragment shaders with 512-544 temporaries killed the rasterizer (found
  // by the TGSI limits generator, tests/tgsi_limit_shaders.cpp). llvmpipe
  // hosts take at most this many.
  static const unsigned kGallivmTemps;
  // llvmpipe/lp_texture.c llvmpipe_resource_create: a buffer's storage runs
  // (LP_RASTER_BLOCK_SIZE - 1) * 4 floats past its size (lp_rast.h: blocks
  // of 4), which the JIT's vector loads may read. A buffer the host places
  // in guest-given memory (the arena) keeps that many bytes inside it.
  static const unsigned kBufferReadSlack;
  // llvmpipe/lp_limits.h LP_MAX_TEXTURE_SIZE: the largest texture llvmpipe
  // lays out (llvmpipe_can_create_resource, llvmpipe_texture_layout). The
  // guest's screen has no can_create_resource: its GL proxy textures are
  // sized by PIPE_CAP_MAX_TEXTURE_MB, which llvmpipe leaves at 0 (st/mesa's
  // default of 1 GiB: a 2 GiB 16384x16384 RGBA16 texture was refused
  // remote and made directly).
  static const uint64_t kLlvmpipeMaxTextureBytes;
  // zink/zink_context.c zink_update_descriptor_refs: every draw reads
  // ctx->vertex_buffers[] one slot past the last enabled one, which is past
  // the array (PIPE_MAX_ATTRIBS) once its last slot is bound (a render
  // worker's SIGSEGV in zink_batch_resource_usage_set, every draw, while the
  // host bound stand-ins to all 32). zink hosts offer and bind this many.
  static const unsigned kZinkVertexBuffers;
};

// What one shader stage may declare and use.
struct StageLimits {
  bool available = false;  // the stage exists on the host and takes TGSI
  unsigned inputs = 0, outputs = 0;  // register files, as TGSI consumers size them
  unsigned temps = 0, consts = 0, const_buffers = 0, immediates = 0, address_regs = 0, system_values = 0;
  unsigned samplers = 0, sampler_views = 0;
  unsigned images = 0, buffers = 0;  // binding slots (a shader declares at most kScanMaskBits)
  unsigned instructions = 0, control_flow_depth = 0;
};

struct HostLimits {
  std::array<StageLimits, PIPE_SHADER_TYPES> stage{};
  // Geometry shaders.
  unsigned gs_max_output_vertices = 0, gs_max_total_components = 0, gs_max_invocations = 0;
  unsigned vertex_streams = 1;
  // Tessellation: vertices per patch (set_patch_vertices).
  unsigned max_patch_vertices = 0;
  // Vertex buffer slots (PIPE_CAP_MAX_VERTEX_BUFFERS): the executor binds
  // stand-ins to each, and set_vertex_buffers and vertex elements stay inside.
  unsigned vertex_buffers = 0;
  // Compute.
  unsigned cs_max_block = 0;                         // largest block dimension
  std::array<uint64_t, 3> cs_max_grid{};             // PIPE_COMPUTE_CAP_MAX_GRID_SIZE
  uint64_t cs_max_local_bytes = 0;                   // PIPE_COMPUTE_CAP_MAX_LOCAL_SIZE
  // Textures.
  unsigned max_texture_2d = 0, max_texture_3d = 0, max_texture_cube = 0, max_array_layers = 0;
  float max_anisotropy = 1.0f;                       // samplers are clamped to it
  // Rasterizer interface: attributes the draw module may emit per vertex
  // (0: the host driver does not go through the draw module).
  unsigned draw_emit_attribs = 0;
  // Bytes of a constant buffer binding the driver copies for fragment and
  // compute shaders (0: it reads the bound resource itself).
  unsigned constant_copy_bytes = 0;
  bool vs_window_space_position = false;
  bool tg4_component_in_swizzle = false;
  bool texture_samples_query = false;  // TXQS (PIPE_CAP_TEXTURE_QUERY_SAMPLES; the NIR shader path only)
  bool draw_module = false;                          // llvmpipe or softpipe
  // zink: mapping a resource for reading waits until the context whose batch
  // last marked it written submits that batch (zink_resource.c
  // zink_image_map, "force multi-context sync"; zink_batch.c
  // batch_usage_wait), as if each context had a thread of its own that
  // flushes in time. Here all of a guest's contexts run on one thread, a
  // flush submits only a batch that recorded a command while binding a
  // framebuffer alone marks it written, and the mark outlives its batch,
  // whose state is reused: a present hung for good (gl-threads, eight
  // contexts). Reads therefore copy on the GPU into a new staging resource,
  // which only the reading context has used, and map that (staged_copy).
  bool maps_wait_for_other_contexts = false;
  // zink: invalidating a buffer the current batch already holds loses the
  // old storage (zink_resource.c invalidate_buffer ignores what
  // zink_batch_reference_resource_move answers, and replaces res->obj
  // without dropping its reference). A guest that orphans buffers it just
  // drew from grew a render worker by ~10 MB/s under OpenArena until
  // lavapipe could not allocate. st/mesa on zink in-process never calls it
  // (its threaded context replaces buffer storage itself). The hint is not
  // passed on for buffers: writes to a busy buffer then go through zink's
  // staging uploads.
  bool buffer_invalidation_leaks = false;
  pipe_screen* screen = nullptr;                     // for format questions
};

// Derived from the caps snapshot (already masked by mask_host_caps) and the
// host screen's name.
HostLimits derive_host_limits(const proto::CapsTable& caps, pipe_screen* screen);

// Masks in the caps what the host accepts less of than its driver states, so
// guests are never told about what the validator will clamp or refuse.
// Some limits belong to the driver's TGSI path only (`path`). Returns a
// short note on what was masked (empty when nothing).
std::string mask_host_caps(proto::CapsTable& caps, pipe_screen* screen, ShaderPath path);

}  // namespace xen3d::host
