// Which IR guest shaders reach the host driver in (--shader-path): the
// validated TGSI itself, or the host's NIR translation of it (host/shader,
// docs/shaders.md). What guests may ask for depends on it (the caps table
// masks what the TGSI path cannot run), so it is part of what this room decides.
#pragma once

#include <cstring>

namespace xen3d::host {

enum class ShaderPath { Tgsi, Nir };
// The NIR path: it conforms better (tessellation, interpolateAt*,
// framebuffer fetch, textureSamples), and runs as fast or faster
// (docs/shaders.md). The TGSI path stays selectable until it is removed.
inline constexpr ShaderPath kDefaultShaderPath = ShaderPath::Nir;

inline const char* shader_path_name(ShaderPath path) { return path == ShaderPath::Nir ? "nir" : "tgsi"; }

inline bool parse_shader_path(const char* text, ShaderPath& out) {
  if (!text) return false;
  if (std::strcmp(text, "tgsi") == 0) {
    out = ShaderPath::Tgsi;
  } else if (std::strcmp(text, "nir") == 0) {
    out = ShaderPath::Nir;
  } else {
    return false;
  }
  return true;
}

}  // namespace xen3d::host
