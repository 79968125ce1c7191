#include "host/validate/host_limits.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "draw/draw_tess.h"
#include "gallivm/lp_bld_limits.h"
#include "llvmpipe/lp_limits.h"
#include "host/validate/caps_snapshot.h"
#include "pipe/p_screen.h"
#include "pipe/p_state.h"
#include "translate/translate.h"

namespace xen3d::host {

const unsigned MesaInternal::kDrawEmitAttribs = TRANSLATE_MAX_ATTRIBS;
const unsigned MesaInternal::kConstantCopyBytes = LP_MAX_TGSI_CONST_BUFFER_SIZE;
const unsigned MesaInternal::kAddressRegs = LP_MAX_TGSI_ADDRS;
const unsigned MesaInternal::kImmediates = LP_MAX_TGSI_IMMEDIATES;
const unsigned MesaInternal::kNesting = LP_MAX_TGSI_NESTING;
const unsigned MesaInternal::kScanInputs = PIPE_MAX_SHADER_INPUTS;
const unsigned MesaInternal::kScanOutputs = PIPE_MAX_SHADER_OUTPUTS;
const unsigned MesaInternal::kScanMaskBits = 32;
const unsigned MesaInternal::kDrawTcsInputs = NUM_TCS_INPUTS;
const unsigned MesaInternal::kDrawTcsVertices = 32;
const unsigned MesaInternal::kSemanticIndex = 256;
const unsigned MesaInternal::kGallivmTemps = LP_MAX_INLINED_TEMPS;
const unsigned MesaInternal::kBufferReadSlack = (4 - 1) * 4 * sizeof(float);
const uint64_t MesaInternal::kLlvmpipeMaxTextureBytes = LP_MAX_TEXTURE_SIZE;
const unsigned MesaInternal::kZinkVertexBuffers = PIPE_MAX_ATTRIBS - 1;

namespace {

bool is_llvmpipe(pipe_screen* screen) {
  const char* name = screen ? screen->get_name(screen) : nullptr;
  return name && std::string(name).rfind("llvmpipe", 0) == 0;
}

bool is_zink(pipe_screen* screen) {
  const char* name = screen ? screen->get_name(screen) : nullptr;
  return name && std::string(name).rfind("zink", 0) == 0;
}

unsigned positive(int v) { return v > 0 ? static_cast<unsigned>(v) : 0u; }

template <class T, size_t N>
bool compute_cap(const proto::CapsTable& caps, pipe_compute_cap cap, std::array<T, N>& out) {
  if (caps.compute_size[cap] != sizeof(T) * N) return false;
  std::memcpy(out.data(), caps.compute[cap], sizeof(T) * N);
  return true;
}

}  // namespace

std::string mask_host_caps(proto::CapsTable& caps, pipe_screen* screen, ShaderPath path) {
  std::string note;
  auto say = [&](const char* what) { note += note.empty() ? what : std::string(", ") + what; };
  // llvmpipe makes only the first kConstantCopyBytes of a fragment or
  // compute constant buffer readable, and reports exactly that as the
  // buffer's size; st/mesa then appends its state parameters after a full
  // set of uniforms, past the copy (piglit's glsl-uniform-interstage-limits:
  // 65552 bytes), which the executor must refuse. Guests are offered
  // kStateParamHeadroom less, so GL's uniforms and those parameters fit.
  if (is_llvmpipe(screen) && !caps.param[PIPE_CAP_MAX_TEXTURE_MB]) {
    caps.param[PIPE_CAP_MAX_TEXTURE_MB] = int(MesaInternal::kLlvmpipeMaxTextureBytes >> 20);
  }
  if (is_llvmpipe(screen)) {
    for (unsigned s = 0; s < PIPE_SHADER_TYPES; ++s) {
      int& temps = caps.shader[s][PIPE_SHADER_CAP_MAX_TEMPS];
      temps = std::min(temps, int(MesaInternal::kGallivmTemps));
    }
    constexpr int kStateParamHeadroom = 4096;  // 256 vec4 of state parameters
    for (unsigned s : {unsigned(PIPE_SHADER_FRAGMENT), unsigned(PIPE_SHADER_COMPUTE)}) {
      int& size = caps.shader[s][PIPE_SHADER_CAP_MAX_CONST_BUFFER0_SIZE];
      size = std::min(size, int(MesaInternal::kConstantCopyBytes) - kStateParamHeadroom);
    }
    say("at most 256 temporaries");
    say("fragment/compute constant buffer 0 offered 4 KiB short of the 64 KiB llvmpipe copies");
  }
  // The draw module runs TGSI geometry shaders through draw_llvm, which
  // keeps emitted-vertex counts for one vertex stream: a shader emitting to
  // stream 1 left garbage counts that draw_gs.c's llvm_fetch_gs_outputs
  // memmoved by (a 3.5 GB read; piglit's
  // arb_enhanced_layouts-gs-stream-location-aliasing on the sanitized
  // compositor). softpipe reports one stream itself when it uses LLVM
  // (sp_screen.c); llvmpipe reports its NIR path's four, which draw's NIR
  // code generator counts per stream (the host translator gives it NIR).
  if (path == ShaderPath::Tgsi && draw_module_driver(screen)) {
    caps.param[PIPE_CAP_MAX_VERTEX_STREAMS] = std::min(caps.param[PIPE_CAP_MAX_VERTEX_STREAMS], 1);
    say("one vertex stream");
  }
  if (is_zink(screen) && caps.param[PIPE_CAP_MAX_VERTEX_BUFFERS] > int(MesaInternal::kZinkVertexBuffers)) {
    caps.param[PIPE_CAP_MAX_VERTEX_BUFFERS] = int(MesaInternal::kZinkVertexBuffers);
    say("31 vertex buffers");
  }
  // The translator samples rectangle textures as 2D ones where the driver
  // has none (zink); st/mesa's own lowering for a TGSI screen without them
  // reads its scale from a NULL register.
  if (path == ShaderPath::Nir && !caps.param[PIPE_CAP_TEXRECT]) {
    caps.param[PIPE_CAP_TEXRECT] = 1;
    say("rectangle textures sampled as 2D");
  }
  // The translator fetches colour buffers only (host/shader: FBFETCH).
  if (caps.param[PIPE_CAP_FBFETCH_ZS]) {
    caps.param[PIPE_CAP_FBFETCH_ZS] = 0;
    say("no depth/stencil framebuffer fetch");
  }
  if (path == ShaderPath::Tgsi && draw_module_driver(screen)) {
    // The draw module runs vertex, geometry (and softpipe's) shaders from
    // TGSI through gallivm's TGSI translator, which never builds the
    // anisotropic filter table its NIR path passes (lp_build_tgsi_soa:
    // aniso_filter_table = NULL): a sampler with max_anisotropy > 1 in a
    // vertex shader killed a softpipe worker (SIGSEGV; llvmpipe's whole TGSI
    // path did the same with neverball before it was removed). Guests see
    // no anisotropic filtering; samplers asking for it are clamped
    // (host/state/state.cpp).
    caps.param[PIPE_CAP_ANISOTROPIC_FILTER] = 0;
    caps.paramf[PIPE_CAPF_MAX_TEXTURE_ANISOTROPY] = 1.0f;
    say("anisotropic filtering masked");
  }
  if (path == ShaderPath::Tgsi) {
    // Framebuffer fetch (and advanced blending, which st/mesa builds on it)
    // exists in gallivm's NIR path only.
    if (caps.param[PIPE_CAP_FBFETCH]) {
      caps.param[PIPE_CAP_FBFETCH] = 0;
      caps.param[PIPE_CAP_FBFETCH_COHERENT] = 0;
      say("no framebuffer fetch");
    }
    // textureSamples (TXQS) exists in gallivm's NIR path only.
    if (caps.param[PIPE_CAP_TEXTURE_QUERY_SAMPLES]) {
      caps.param[PIPE_CAP_TEXTURE_QUERY_SAMPLES] = 0;
      say("no texture sample-count queries");
    }
  }
  if (!note.empty()) note += " (host_limits.cpp says why)";
  return note;
}

HostLimits derive_host_limits(const proto::CapsTable& caps, pipe_screen* screen) {
  HostLimits l;
  l.screen = screen;
  l.draw_module = screen && draw_module_driver(screen);
  l.maps_wait_for_other_contexts = is_zink(screen);
  l.buffer_invalidation_leaks = is_zink(screen);
  for (unsigned s = 0; s < PIPE_SHADER_TYPES; ++s) {
    auto cap = [&](pipe_shader_cap c) { return positive(caps.shader[s][c]); };
    StageLimits& st = l.stage[s];
    st.available = cap(PIPE_SHADER_CAP_MAX_INSTRUCTIONS) > 0;
    if (!st.available) continue;
    // Register files: st/mesa declares inputs and outputs of its own (position,
    // point size, clip vertex) beyond what the caps let GL expose, and every
    // TGSI consumer sizes its arrays by tgsi_scan's; what a linked pipeline
    // may really use is checked per draw (draw_emit_attribs).
    st.inputs = MesaInternal::kScanInputs;
    st.outputs = MesaInternal::kScanOutputs;
    if (s == PIPE_SHADER_TESS_CTRL && l.draw_module) st.inputs = std::min(st.inputs, MesaInternal::kDrawTcsInputs);
    st.system_values = MesaInternal::kScanInputs;
    st.temps = std::min(cap(PIPE_SHADER_CAP_MAX_TEMPS), unsigned(LP_MAX_TGSI_TEMPS));
    st.consts = cap(PIPE_SHADER_CAP_MAX_CONST_BUFFER0_SIZE) / 16;
    st.const_buffers = std::min(cap(PIPE_SHADER_CAP_MAX_CONST_BUFFERS), unsigned(PIPE_MAX_CONSTANT_BUFFERS));
    st.immediates = MesaInternal::kImmediates;
    st.address_regs = MesaInternal::kAddressRegs;
    st.samplers = std::min(cap(PIPE_SHADER_CAP_MAX_TEXTURE_SAMPLERS), unsigned(PIPE_MAX_SAMPLERS));
    st.sampler_views = std::min(cap(PIPE_SHADER_CAP_MAX_SAMPLER_VIEWS), unsigned(PIPE_MAX_SHADER_SAMPLER_VIEWS));
    st.images = std::min(cap(PIPE_SHADER_CAP_MAX_SHADER_IMAGES), unsigned(PIPE_MAX_SHADER_IMAGES));
    st.buffers = std::min(cap(PIPE_SHADER_CAP_MAX_SHADER_BUFFERS), unsigned(PIPE_MAX_SHADER_BUFFERS));
    st.instructions = cap(PIPE_SHADER_CAP_MAX_INSTRUCTIONS);
    st.control_flow_depth = std::min(cap(PIPE_SHADER_CAP_MAX_CONTROL_FLOW_DEPTH), MesaInternal::kNesting);
  }
  auto cap = [&](pipe_cap c) { return positive(caps.param[c]); };
  l.gs_max_output_vertices = cap(PIPE_CAP_MAX_GEOMETRY_OUTPUT_VERTICES);
  l.gs_max_total_components = cap(PIPE_CAP_MAX_GEOMETRY_TOTAL_OUTPUT_COMPONENTS);
  l.gs_max_invocations = cap(PIPE_CAP_MAX_GS_INVOCATIONS);
  // The draw module copies each patch's vertices into arrays of 32
  // (draw_tess.c); GL's own maximum (main/config.h MAX_PATCH_VERTICES) is
  // the same, and other drivers state none.
  l.max_patch_vertices = MesaInternal::kDrawTcsVertices;
  l.vertex_buffers = std::min<unsigned>(positive(caps.param[PIPE_CAP_MAX_VERTEX_BUFFERS]), PIPE_MAX_ATTRIBS);
  l.vertex_streams = std::max(1u, std::min(cap(PIPE_CAP_MAX_VERTEX_STREAMS), unsigned(PIPE_MAX_VERTEX_STREAMS)));
  l.vs_window_space_position = cap(PIPE_CAP_VS_WINDOW_SPACE_POSITION) != 0;
  l.tg4_component_in_swizzle = cap(PIPE_CAP_TGSI_TG4_COMPONENT_IN_SWIZZLE) != 0;
  l.texture_samples_query = cap(PIPE_CAP_TEXTURE_QUERY_SAMPLES) != 0;
  std::array<uint64_t, 3> block{};
  if (compute_cap(caps, PIPE_COMPUTE_CAP_MAX_BLOCK_SIZE, block)) {
    l.cs_max_block = static_cast<unsigned>(std::min<uint64_t>(std::max({block[0], block[1], block[2]}), 1u << 16));
  }
  compute_cap(caps, PIPE_COMPUTE_CAP_MAX_GRID_SIZE, l.cs_max_grid);
  std::array<uint64_t, 1> local{};
  if (compute_cap(caps, PIPE_COMPUTE_CAP_MAX_LOCAL_SIZE, local)) l.cs_max_local_bytes = local[0];
  l.max_texture_2d = cap(PIPE_CAP_MAX_TEXTURE_2D_SIZE);
  l.max_texture_3d = cap(PIPE_CAP_MAX_TEXTURE_3D_LEVELS) ? 1u << (cap(PIPE_CAP_MAX_TEXTURE_3D_LEVELS) - 1) : 0u;
  l.max_texture_cube = cap(PIPE_CAP_MAX_TEXTURE_CUBE_LEVELS) ? 1u << (cap(PIPE_CAP_MAX_TEXTURE_CUBE_LEVELS) - 1) : 0u;
  l.max_array_layers = cap(PIPE_CAP_MAX_TEXTURE_ARRAY_LAYERS);
  l.max_anisotropy = std::max(1.0f, caps.paramf[PIPE_CAPF_MAX_TEXTURE_ANISOTROPY]);
  if (l.draw_module) l.draw_emit_attribs = MesaInternal::kDrawEmitAttribs;
  if (is_llvmpipe(screen)) l.constant_copy_bytes = MesaInternal::kConstantCopyBytes;
  return l;
}

}  // namespace xen3d::host
