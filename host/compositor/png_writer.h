// Writes RGBA8 pixels as a PNG file (snapshots, self-test evidence).
#pragma once

#include <cstdint>
#include <string>

namespace xen3d::host {

// rgba: height rows of width*4 bytes, `stride` bytes apart, top row first.
bool write_png(const std::string& path, const uint8_t* rgba, uint32_t width, uint32_t height,
               uint32_t stride, std::string& error);

}  // namespace xen3d::host
