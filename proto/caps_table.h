// The host screen's capabilities as one flat table: what get_caps answers and
// what the guest pipe_screen answers get_param/get_shader_param/
// is_format_supported from. The host fills it once at start-up
// (host/validate/caps_snapshot.cpp); the guest masks what remoting changes
// (guest/pipe-remote/remote_caps.cpp). Both sides are built from the same Mesa
// headers, so the enum counts agree; `magic` and `size` catch a mismatch.
#pragma once

#include <cstdint>

#include "pipe/p_defines.h"
#include "pipe/p_format.h"

namespace xen3d::proto {

inline constexpr uint32_t kCapsMagic = 0x53504143;  // "CAPS"
inline constexpr unsigned kCapsSampleCounts = 5;    // 0/1, 2, 4, 8, 16
inline constexpr unsigned kCapsComputeParamBytes = 32;
inline constexpr unsigned kCapsComputeParams = PIPE_COMPUTE_CAP_MAX_VARIABLE_THREADS_PER_BLOCK + 1;
inline constexpr unsigned kCapsFloatParams = PIPE_CAPF_CONSERVATIVE_RASTER_DILATE_GRANULARITY + 1;
inline constexpr unsigned kCapsShaderParams = PIPE_SHADER_CAP_MAX_HW_ATOMIC_COUNTER_BUFFERS + 1;
// Bit 32 of a format entry: supported with no bind flags at all.
inline constexpr uint64_t kCapsFormatExists = uint64_t(1) << 32;

struct CapsTable {
  uint32_t magic = kCapsMagic;
  uint32_t size = sizeof(CapsTable);
  int32_t param[PIPE_CAP_LAST];
  float paramf[kCapsFloatParams];
  int32_t shader[PIPE_SHADER_TYPES][kCapsShaderParams];
  uint32_t compute_size[kCapsComputeParams];
  uint8_t compute[kCapsComputeParams][kCapsComputeParamBytes];
  // Per format, target and sample count: bit n set = supported with PIPE_BIND bit n alone.
  uint64_t format[PIPE_FORMAT_COUNT][PIPE_MAX_TEXTURE_TYPES][kCapsSampleCounts];
  char name[128];
  char vendor[64];
  char device_vendor[64];
};

// Index into CapsTable::format's sample dimension, or -1 when unsupported.
inline int caps_sample_index(unsigned samples) {
  switch (samples) {
    case 0: case 1: return 0;
    case 2: return 1;
    case 4: return 2;
    case 8: return 3;
    case 16: return 4;
    default: return -1;
  }
}

}  // namespace xen3d::proto
