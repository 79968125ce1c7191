// Writes pixels as PNG: to a file (snapshots, self-test evidence, the PNG
// output) or into memory (screenshots over the control socket).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace xen3d {

// rgba: height rows of width*4 bytes, `stride` bytes apart, top row first.
bool write_png(const std::string& path, const uint8_t* rgba, uint32_t width, uint32_t height,
               uint32_t stride, std::string& error);

// bgrx: B8G8R8X8 rows as in DesktopImage (bytes B, G, R, X); written as an
// RGB PNG: the X byte is padding, not alpha, so it is dropped.
bool write_png_bgrx(const std::string& path, const uint8_t* bgrx, uint32_t width, uint32_t height,
                    uint32_t stride, std::string& error);
bool encode_png(const uint8_t* rgba, uint32_t width, uint32_t height, uint32_t stride, std::vector<uint8_t>& png,
                std::string& error);
bool encode_png_bgrx(const uint8_t* bgrx, uint32_t width, uint32_t height, uint32_t stride,
                     std::vector<uint8_t>& png, std::string& error);

}  // namespace xen3d
