#include "host/validate/caps_snapshot.h"

#include <chrono>
#include <cstring>
#include <string>

#include "host/validate/host_limits.h"
#include "common/log.h"
#include "pipe/p_defines.h"
#include "pipe/p_screen.h"
#include "util/format/u_format.h"

namespace xen3d::host {

namespace {

void copy_string(char* dst, size_t size, const char* src) {
  std::memset(dst, 0, size);
  if (src) std::strncpy(dst, src, size - 1);
}

// Index 0 of the sample dimension stands for "no multisampling" (0 or 1).
constexpr unsigned kSampleCountOf[proto::kCapsSampleCounts] = {0, 2, 4, 8, 16};

void fill_compute(pipe_screen* screen, proto::CapsTable& t) {
  for (unsigned p = 0; p < proto::kCapsComputeParams; ++p) {
    t.compute_size[p] = 0;
    std::memset(t.compute[p], 0, sizeof t.compute[p]);
    if (!screen->get_compute_param) continue;
    const auto param = static_cast<pipe_compute_cap>(p);
    // The answer's size depends on the IR asked about only for IR-specific
    // caps; ask for TGSI (what guests send) and fall back to NIR.
    pipe_shader_ir ir = PIPE_SHADER_IR_TGSI;
    int size = screen->get_compute_param(screen, ir, param, nullptr);
    if (size <= 0) {
      ir = PIPE_SHADER_IR_NIR;
      size = screen->get_compute_param(screen, ir, param, nullptr);
    }
    if (size <= 0 || size > static_cast<int>(proto::kCapsComputeParamBytes)) continue;
    uint8_t buf[proto::kCapsComputeParamBytes * 2] = {};  // slack: drivers may write a little more
    if (screen->get_compute_param(screen, ir, param, buf) != size) continue;
    t.compute_size[p] = static_cast<uint32_t>(size);
    std::memcpy(t.compute[p], buf, static_cast<size_t>(size));
  }
}

void fill_formats(pipe_screen* screen, proto::CapsTable& t) {
  std::memset(t.format, 0, sizeof t.format);
  for (unsigned f = 0; f < PIPE_FORMAT_COUNT; ++f) {
    const auto format = static_cast<pipe_format>(f);
    // Holes in the enum have no description; drivers dereference it.
    if (!util_format_description(format)) continue;
    // PIPE_FORMAT_NONE stands for a framebuffer without attachments: st/mesa
    // asks for its render-target sample counts (GL_MAX_FRAMEBUFFER_SAMPLES),
    // and nothing else.
    const unsigned only_bind = format == PIPE_FORMAT_NONE ? PIPE_BIND_RENDER_TARGET : 0;
    for (unsigned target = 0; target < PIPE_MAX_TEXTURE_TYPES; ++target) {
      const auto tgt = static_cast<pipe_texture_target>(target);
      for (unsigned s = 0; s < proto::kCapsSampleCounts; ++s) {
        const unsigned samples = kSampleCountOf[s];
        uint64_t bits = 0;
        if (only_bind) {
          if (screen->is_format_supported(screen, format, tgt, samples, samples, only_bind)) bits |= only_bind;
          t.format[f][target][s] = bits;
          continue;
        }
        if (screen->is_format_supported(screen, format, tgt, samples, samples, 0)) bits |= proto::kCapsFormatExists;
        for (unsigned n = 0; n < 32; ++n) {
          if (screen->is_format_supported(screen, format, tgt, samples, samples, 1u << n)) bits |= uint64_t(1) << n;
        }
        t.format[f][target][s] = bits;
      }
    }
  }
}

}  // namespace

bool draw_module_driver(pipe_screen* screen) {
  const char* name = screen->get_name(screen);
  const std::string n = name ? name : "";
  return n.rfind("llvmpipe", 0) == 0 || n.rfind("softpipe", 0) == 0;
}

ShaderPath shader_path_for(pipe_screen* screen) {
  // softpipe states NIR as its preferred IR, yet interprets TGSI: it lowers
  // NIR with Mesa's nir_to_tgsi first (sp_state_shader.c).
  const char* name = screen->get_name(screen);
  if (name && std::string(name).rfind("softpipe", 0) == 0) return ShaderPath::Tgsi;
  const int preferred = screen->get_shader_param(screen, PIPE_SHADER_FRAGMENT, PIPE_SHADER_CAP_PREFERRED_IR);
  return preferred == PIPE_SHADER_IR_NIR ? ShaderPath::Nir : ShaderPath::Tgsi;
}

bool stage_accepts_guest_shaders(pipe_screen* screen, unsigned stage, ShaderPath path) {
  if (stage >= PIPE_SHADER_TYPES) return false;
  const auto type = static_cast<pipe_shader_type>(stage);
  const int irs = screen->get_shader_param(screen, type, PIPE_SHADER_CAP_SUPPORTED_IRS);
  // The NIR path hands the driver host/shader's translation: every stage the
  // driver compiles from NIR.
  if (path == ShaderPath::Nir) return (irs & (1 << PIPE_SHADER_IR_NIR)) != 0;
  if (!(irs & (1 << PIPE_SHADER_IR_TGSI))) return false;
  if (type == PIPE_SHADER_TESS_CTRL || type == PIPE_SHADER_TESS_EVAL) {
    // The draw module's tessellation (draw_tess.c) reads state->ir.nir
    // unconditionally: TGSI tokens there would be dereferenced as a nir_shader.
    // Mesa 22.3.6's tgsi_to_nir is no way out: it hits unreachable() on the
    // tessellation properties (TES_PRIM_MODE), which a guest could use to
    // crash the compositor.
    return false;
  }
  // Drivers outside the draw module (zink, radeonsi, iris) take TGSI through
  // Mesa's tgsi_to_nir, which hits unreachable() on geometry-shader
  // properties as well: only the draw module runs TGSI geometry shaders.
  if (type == PIPE_SHADER_GEOMETRY && !draw_module_driver(screen)) return false;
  return true;
}

std::shared_ptr<const proto::CapsTable> take_caps_snapshot(pipe_screen* screen, ShaderPath path) {
  const auto start = std::chrono::steady_clock::now();
  auto t = std::make_shared<proto::CapsTable>();
  t->magic = proto::kCapsMagic;
  t->size = sizeof(proto::CapsTable);

  for (unsigned p = 0; p < PIPE_CAP_LAST; ++p) t->param[p] = screen->get_param(screen, static_cast<pipe_cap>(p));
  for (unsigned p = 0; p < proto::kCapsFloatParams; ++p) t->paramf[p] = screen->get_paramf(screen, static_cast<pipe_capf>(p));

  unsigned masked_stages = 0;
  for (unsigned s = 0; s < PIPE_SHADER_TYPES; ++s) {
    const bool usable = stage_accepts_guest_shaders(screen, s, path);
    masked_stages += !usable;
    for (unsigned p = 0; p < proto::kCapsShaderParams; ++p) {
      t->shader[s][p] = usable ? screen->get_shader_param(screen, static_cast<pipe_shader_type>(s),
                                                          static_cast<pipe_shader_cap>(p))
                               : 0;
    }
  }
  fill_compute(screen, *t);
  copy_string(t->name, sizeof t->name, screen->get_name(screen));
  copy_string(t->vendor, sizeof t->vendor, screen->get_vendor(screen));
  copy_string(t->device_vendor, sizeof t->device_vendor,
              screen->get_device_vendor ? screen->get_device_vendor(screen) : nullptr);
  fill_formats(screen, *t);
  const std::string masked = mask_host_caps(*t, screen, path);

  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  XLOG_INFO("caps snapshot of %s: %zu bytes in %.1f ms%s%s%s", t->name, sizeof(proto::CapsTable), ms,
            masked_stages ? " (stages that cannot take TGSI reported as absent)" : "", masked.empty() ? "" : "; ",
            masked.c_str());
  return t;
}

}  // namespace xen3d::host
