#include "common/png_writer.h"

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <png.h>

namespace xen3d {
namespace {

enum class SourceLayout { Rgba, Bgrx };

void append_to_vector(png_structp png, png_bytep data, png_size_t length) {
  auto* out = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + length);
}

void flush_nothing(png_structp) {}

// One encoder for every source and sink; `file` null means `memory`.
// `what` names the destination in error messages.
bool encode(FILE* file, std::vector<uint8_t>* memory, const std::string& what, const uint8_t* pixels,
            SourceLayout layout, uint32_t width, uint32_t height, uint32_t stride, std::string& error) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    error = "libpng failed writing " + what;
    return false;
  }
  if (file) {
    png_init_io(png, file);
  } else {
    png_set_write_fn(png, memory, append_to_vector, flush_nothing);
  }
  if (layout == SourceLayout::Bgrx) {
    // Desktops are written every second and on demand: the "sub" filter with
    // light compression encodes a 1080p desktop ~3x faster than libpng's
    // adaptive default (~40 ms instead of ~130) for about the same size.
    png_set_filter(png, 0, PNG_FILTER_SUB);
    png_set_compression_level(png, 3);
    png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    // After png_write_info: libpng swaps B/R and strips the 4th byte per row.
    png_set_bgr(png);
    png_set_filler(png, 0, PNG_FILLER_AFTER);
  } else {
    png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGBA, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
  }
  for (uint32_t y = 0; y < height; ++y) png_write_row(png, const_cast<uint8_t*>(pixels + size_t{y} * stride));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

bool write_file(const std::string& path, const uint8_t* pixels, SourceLayout layout, uint32_t width,
                uint32_t height, uint32_t stride, std::string& error) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) {
    error = "cannot write " + path + ": " + std::strerror(errno);
    return false;
  }
  if (!encode(f, nullptr, path, pixels, layout, width, height, stride, error)) {
    std::fclose(f);
    return false;
  }
  if (std::fclose(f) != 0) {
    error = "cannot finish " + path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace

bool write_png(const std::string& path, const uint8_t* rgba, uint32_t width, uint32_t height,
               uint32_t stride, std::string& error) {
  return write_file(path, rgba, SourceLayout::Rgba, width, height, stride, error);
}

bool write_png_bgrx(const std::string& path, const uint8_t* bgrx, uint32_t width, uint32_t height,
                    uint32_t stride, std::string& error) {
  return write_file(path, bgrx, SourceLayout::Bgrx, width, height, stride, error);
}

bool encode_png(const uint8_t* rgba, uint32_t width, uint32_t height, uint32_t stride, std::vector<uint8_t>& png,
                std::string& error) {
  png.clear();
  return encode(nullptr, &png, "an in-memory PNG", rgba, SourceLayout::Rgba, width, height, stride, error);
}

bool encode_png_bgrx(const uint8_t* bgrx, uint32_t width, uint32_t height, uint32_t stride,
                     std::vector<uint8_t>& png, std::string& error) {
  png.clear();
  return encode(nullptr, &png, "an in-memory PNG", bgrx, SourceLayout::Bgrx, width, height, stride, error);
}

}  // namespace xen3d
