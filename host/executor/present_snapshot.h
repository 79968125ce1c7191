// Presented frames as PNG files: converts a mapped level of any unpackable
// format to RGBA8 and writes it so that readers never see a half-written file
// (temp name in the same directory, then rename).
#pragma once

#include <cstdint>
#include <string>

#include "pipe/p_format.h"

namespace xen3d::host {

// A render worker's sandbox lets it write only through the snapshot
// directory's descriptor: from then on, snapshots go into `fd` (which names
// `dir`) by name, with openat/renameat. -1: by path again.
void set_snapshot_directory(const std::string& dir, int fd);

// Whether write_snapshot_png can convert `format`.
bool snapshot_format_supported(pipe_format format);

// `pixels`: height rows (block rows for compressed formats) `stride` bytes
// apart. Written opaque, as the guest's X window shows it.
bool write_snapshot_png(const std::string& path, pipe_format format, const uint8_t* pixels, uint32_t stride,
                        uint32_t width, uint32_t height, std::string& error);

}  // namespace xen3d::host
