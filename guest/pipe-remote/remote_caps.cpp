// Capability answers of the remoting screen. Everything comes from the host's
// caps table; the few changes below are where remoting changes what is
// possible, and where the IR we ship (TGSI) needs caps that agree with it.
#include <cstring>

#include "guest/pipe-remote/remote_screen.h"
#include "compiler/nir/nir.h"
extern "C" {
#include "nir/nir_to_tgsi.h"  // a C header without C++ guards
}
#include "util/format/u_format.h"

namespace xen3d::guest {
namespace {

const proto::CapsTable& caps(pipe_screen* s) { return *remote(s)->caps; }

int get_param(pipe_screen* s, enum pipe_cap param) {
  switch (param) {
    // Persistent buffers live in the arena (remote_arena.h), where the host
    // driver reads them in place; without one, maps are copies.
    case PIPE_CAP_BUFFER_MAP_PERSISTENT_COHERENT:
      return remote(s)->arena ? caps(s).param[param] : 0;
    case PIPE_CAP_ALLOW_MAPPED_BUFFERS_DURING_EXECUTION:
    case PIPE_CAP_RESOURCE_FROM_USER_MEMORY:
    case PIPE_CAP_MAP_UNSYNCHRONIZED_THREAD_SAFE:
    // Client pointers cannot cross: st/mesa uploads user arrays into buffers.
    case PIPE_CAP_USER_VERTEX_BUFFERS:
    // Handles, fds and memory objects are host-local.
    case PIPE_CAP_BINDLESS_TEXTURE:
    case PIPE_CAP_MEMOBJ:
    case PIPE_CAP_FENCE_SIGNAL:
    case PIPE_CAP_NATIVE_FENCE_FD:
    case PIPE_CAP_DMABUF:
    case PIPE_CAP_QUERY_MEMORY_INFO:
    case PIPE_CAP_DRAW_VERTEX_STATE:
    case PIPE_CAP_SYSTEM_SVM:
    case PIPE_CAP_SPARSE_BUFFER_PAGE_SIZE:
    case PIPE_CAP_MAX_SPARSE_TEXTURE_SIZE:
    case PIPE_CAP_MAX_SPARSE_3D_TEXTURE_SIZE:
    case PIPE_CAP_MAX_SPARSE_ARRAY_TEXTURE_LAYERS:
    case PIPE_CAP_HARDWARE_GL_SELECT:
    // NIR-only capabilities: we ship TGSI (st/mesa runs nir_to_tgsi for us).
    case PIPE_CAP_PACKED_UNIFORMS:
    case PIPE_CAP_LOAD_CONSTBUF:
    case PIPE_CAP_NIR_COMPACT_ARRAYS:
    case PIPE_CAP_NIR_IMAGES_AS_DEREF:
    case PIPE_CAP_FRONTEND_NOOP:
      return 0;
    // Hosts before protocol 2.4 offered textureSamples without taking TXQS
    // (llvmpipe's TGSI path has none); newer ones say what their shader path takes.
    case PIPE_CAP_TEXTURE_QUERY_SAMPLES:
      return remote(s)->dev->session().info().host_minor < 4 ? 0 : caps(s).param[param];
    // Likewise framebuffer fetch (FBFETCH) before 2.5.
    case PIPE_CAP_FBFETCH:
    case PIPE_CAP_FBFETCH_COHERENT:
    case PIPE_CAP_FBFETCH_ZS:
      return remote(s)->dev->session().info().host_minor < 5 ? 0 : caps(s).param[param];
    // We implement get_device_reset_status: a rejected command is a lost context.
    case PIPE_CAP_DEVICE_RESET_STATUS_QUERY:
      return 1;
    default:
      return param < PIPE_CAP_LAST ? caps(s).param[param] : 0;
  }
}

float get_paramf(pipe_screen* s, enum pipe_capf param) {
  return unsigned(param) < proto::kCapsFloatParams ? caps(s).paramf[param] : 0.0f;
}

int get_shader_param(pipe_screen* s, enum pipe_shader_type shader, enum pipe_shader_cap param) {
  if (unsigned(shader) >= PIPE_SHADER_TYPES || unsigned(param) >= proto::kCapsShaderParams) return 0;
  switch (param) {
    case PIPE_SHADER_CAP_PREFERRED_IR:
      return PIPE_SHADER_IR_TGSI;
    case PIPE_SHADER_CAP_SUPPORTED_IRS:
      return 1 << PIPE_SHADER_IR_TGSI;
    // TGSI has no 16-bit types: with these, st/mesa lowers GLES mediump to
    // f2f16/f2fmp, which nir_to_tgsi cannot translate.
    case PIPE_SHADER_CAP_FP16:
    case PIPE_SHADER_CAP_FP16_DERIVATIVES:
    case PIPE_SHADER_CAP_FP16_CONST_BUFFERS:
    case PIPE_SHADER_CAP_INT16:
    case PIPE_SHADER_CAP_GLSL_16BIT_CONSTS:
      return 0;
    default:
      return caps(s).shader[shader][param];
  }
}

int get_compute_param(pipe_screen* s, enum pipe_shader_ir, enum pipe_compute_cap param, void* ret) {
  if (unsigned(param) >= proto::kCapsComputeParams) return 0;
  const unsigned n = caps(s).compute_size[param];
  if (ret && n) std::memcpy(ret, caps(s).compute[param], n);
  return n;
}

int get_video_param(pipe_screen*, enum pipe_video_profile, enum pipe_video_entrypoint, enum pipe_video_cap) {
  return 0;
}

bool is_video_format_supported(pipe_screen*, enum pipe_format, enum pipe_video_profile,
                               enum pipe_video_entrypoint) {
  return false;
}

bool is_format_supported(pipe_screen* s, enum pipe_format format, enum pipe_texture_target target,
                         unsigned sample_count, unsigned storage_sample_count, unsigned bindings) {
  if (unsigned(format) >= PIPE_FORMAT_COUNT || unsigned(target) >= PIPE_MAX_TEXTURE_TYPES) return false;
  const int si = proto::caps_sample_index(sample_count);
  if (si < 0 || storage_sample_count > (sample_count ? sample_count : 1)) return false;
  const uint64_t entry = caps(s).format[format][target][si];
  // Frames are shown by the guest's window system from pixels read back, or
  // composited by the compositor from the render target: the host never makes
  // a display target (executor_resources.cpp drops the binds), and its null
  // winsys would refuse them, so they ask nothing of the host.
  bindings &= ~unsigned(PIPE_BIND_DISPLAY_TARGET | PIPE_BIND_SCANOUT);
  // Drivers answer "no bindings" on its own terms (llvmpipe rejects some
  // vertex-only formats there), so it only decides queries without bindings.
  if (!bindings) return entry & proto::kCapsFormatExists;
  return (entry & bindings) == bindings;
}

const char* get_name(pipe_screen* s) { return remote(s)->name.c_str(); }
const char* get_vendor(pipe_screen*) { return "Xen3D"; }
const char* get_device_vendor(pipe_screen* s) { return caps(s).device_vendor; }

// nir_to_tgsi's options, plus two that llvmpipe in-process has, so guest
// shaders reach the host as optimized as they would be compiled locally:
// - lower_to_scalar: st/mesa's linker scalarizes varyings, propagates
//   constants and duplicates across stages and packs what is left
//   (gl_nir_link_opts). Without it a fragment shader interpolates and
//   multiplies vec4s that llvmpipe in-process reduces to one float (glmark2's
//   texture scene: 6 varying components against 3). nir_to_tgsi vectorizes
//   ALU and I/O again itself.
// - max_unroll_iterations: loops with known trip counts are unrolled, so
//   their array and constant indices become direct (glmark2's terrain: a
//   light loop of one iteration through ADDR against straight-line code).
const void* get_compiler_options(pipe_screen* s, enum pipe_shader_ir ir, enum pipe_shader_type shader) {
  static const nir_shader_compiler_options options = [&] {
    nir_shader_compiler_options o =
        *static_cast<const nir_shader_compiler_options*>(nir_to_tgsi_get_compiler_options(s, ir, shader));
    o.lower_to_scalar = true;
    o.max_unroll_iterations = 32;  // llvmpipe's own (lp_screen.c)
    return o;
  }();
  return &options;
}

}  // namespace

void remote_init_caps_functions(pipe_screen* s) {
  s->get_name = get_name;
  s->get_vendor = get_vendor;
  s->get_device_vendor = get_device_vendor;
  s->get_param = get_param;
  s->get_paramf = get_paramf;
  s->get_shader_param = get_shader_param;
  s->get_compute_param = get_compute_param;
  s->get_video_param = get_video_param;
  s->is_format_supported = is_format_supported;
  s->is_video_format_supported = is_video_format_supported;
  s->get_compiler_options = get_compiler_options;
}

}  // namespace xen3d::guest
