// Small enumerations the Gallium records use: what an object id names, which
// slot a bind record fills, and the draw record's flag bits. Shared by the
// guest pipe driver and the host executor; the values are part of the wire
// format (docs/protocol.md).
#pragma once

#include <cstdint>

namespace xen3d::proto {

// goodbye.reason: why a guest leaves.
enum GoodbyeReason : uint32_t {
  kGoodbyeDone = 0,
  // The guest's driver gave up on its context (a record it could not send);
  // the host logs it, so a guest that stopped drawing shows in its log too.
  kGoodbyeContextLost = 1,
};

// object_destroy.kind and the host's object tables.
enum class ObjectKind : uint8_t {
  None = 0,
  Context = 1,
  Resource = 2,
  Surface = 3,
  SamplerView = 4,
  SoTarget = 5,
  Blend = 6,
  DepthStencilAlpha = 7,
  Rasterizer = 8,
  Sampler = 9,
  VertexElements = 10,
  Shader = 11,
  Query = 12,
  Fence = 13,
  Count
};

inline const char* object_kind_name(ObjectKind k) {
  static const char* const names[] = {"none",    "context",       "resource",     "surface", "sampler view",
                                      "stream-output target", "blend state",   "depth-stencil-alpha state",
                                      "rasterizer state",  "sampler state", "vertex elements", "shader",
                                      "query",   "fence"};
  const unsigned i = static_cast<unsigned>(k);
  return i < static_cast<unsigned>(ObjectKind::Count) ? names[i] : "unknown";
}

// bind.slot: the CSO kinds, then one slot per shader stage (PIPE_SHADER_* + kBindShaderBase).
enum class BindSlot : uint8_t {
  Blend = 0,
  DepthStencilAlpha = 1,
  Rasterizer = 2,
  VertexElements = 3,
  ShaderBase = 4,  // + pipe_shader_type (vertex 0 … compute 5)
  Last = ShaderBase + 5,
};

// draw.flags
enum DrawFlag : uint8_t {
  kDrawPrimitiveRestart = 1 << 0,
  kDrawUserIndices = 1 << 1,  // indices in draw.user_indices (bulk), not a buffer
  kDrawIndexBoundsValid = 1 << 2,
  kDrawIncrementDrawId = 1 << 3,
};

}  // namespace xen3d::proto
