// png-compare: the pixel check behind the GL tests. Compares two PNGs
// (a frame the compositor snapshotted vs the same frame rendered by llvmpipe
// directly) or checks that one PNG is not a blank frame. Files ending in .ppm
// are read as binary PPM (a VNC client's snapshot through djpeg).
//
//   png-compare A.png B.png [--tolerance T] [--max-differing N]
//   png-compare --not-blank A.png
//   png-compare --pixel A.png X Y      prints "R G B" of one pixel
// Exit 0 when the images match within the tolerance (at most N pixels have a
// channel that differs by more than T; defaults 0 and 0: pixel-exact), 1 when not,
// 2 on usage or I/O errors. Alpha is ignored: X visuals have none.
#include <png.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

namespace {

struct Image {
  unsigned width = 0, height = 0;
  std::vector<uint8_t> rgba;
};

// Binary PPM (P6, maxval 255): what djpeg writes from a VNC client's JPEG.
bool load_ppm(const char* path, Image& img) {
  FILE* f = std::fopen(path, "rb");
  unsigned maxval = 0;
  if (!f || std::fscanf(f, "P6 %u %u %u", &img.width, &img.height, &maxval) != 3 || maxval != 255 ||
      std::fgetc(f) == EOF || img.width > 65536 || img.height > 65536) {
    std::fprintf(stderr, "png-compare: %s: not a binary 8-bit PPM\n", path);
    if (f) std::fclose(f);
    return false;
  }
  std::vector<uint8_t> rgb(size_t(img.width) * img.height * 3);
  const bool ok = std::fread(rgb.data(), 1, rgb.size(), f) == rgb.size();
  std::fclose(f);
  if (!ok) {
    std::fprintf(stderr, "png-compare: %s: truncated\n", path);
    return false;
  }
  img.rgba.resize(size_t(img.width) * img.height * 4);
  for (size_t i = 0, j = 0; i < rgb.size(); i += 3, j += 4) {
    std::memcpy(&img.rgba[j], &rgb[i], 3);
    img.rgba[j + 3] = 255;
  }
  return true;
}

bool load(const char* path, Image& img) {
  const std::string name = path;
  if (name.size() > 4 && name.compare(name.size() - 4, 4, ".ppm") == 0) return load_ppm(path, img);
  png_image p;
  std::memset(&p, 0, sizeof p);
  p.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&p, path)) {
    std::fprintf(stderr, "png-compare: %s: %s\n", path, p.message);
    return false;
  }
  p.format = PNG_FORMAT_RGBA;
  img.width = p.width;
  img.height = p.height;
  img.rgba.resize(PNG_IMAGE_SIZE(p));
  if (!png_image_finish_read(&p, nullptr, img.rgba.data(), 0, nullptr)) {
    std::fprintf(stderr, "png-compare: %s: %s\n", path, p.message);
    return false;
  }
  return true;
}

int usage() {
  std::fprintf(stderr,
               "usage: png-compare A.png B.png [--tolerance T] [--max-differing N]\n"
               "       png-compare --not-blank A.png\n"
               "       png-compare --pixel A.png X Y\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> files;
  long tolerance = 0, max_differing = 0;
  bool not_blank = false, pixel = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--tolerance" && i + 1 < argc) tolerance = std::strtol(argv[++i], nullptr, 10);
    else if (a == "--max-differing" && i + 1 < argc) max_differing = std::strtol(argv[++i], nullptr, 10);
    else if (a == "--not-blank") not_blank = true;
    else if (a == "--pixel") pixel = true;
    else if (a == "-h" || a == "--help") return usage();
    else if (!a.empty() && a[0] == '-') return usage();
    else files.push_back(a);
  }
  if (pixel) {
    if (files.size() != 3) return usage();
    Image img;
    if (!load(files[0].c_str(), img)) return 2;
    const unsigned long x = std::strtoul(files[1].c_str(), nullptr, 10), y = std::strtoul(files[2].c_str(), nullptr, 10);
    if (x >= img.width || y >= img.height) {
      std::fprintf(stderr, "png-compare: pixel %lu,%lu is outside the %ux%u image\n", x, y, img.width, img.height);
      return 2;
    }
    const uint8_t* p = &img.rgba[(y * img.width + x) * 4];
    std::printf("%u %u %u\n", p[0], p[1], p[2]);
    return 0;
  }
  if (not_blank) {
    if (files.size() != 1) return usage();
    Image img;
    if (!load(files[0].c_str(), img)) return 2;
    std::set<uint32_t> colors;
    for (size_t i = 0; i + 3 < img.rgba.size() && colors.size() < 1000; i += 4) {
      colors.insert(uint32_t(img.rgba[i]) | uint32_t(img.rgba[i + 1]) << 8 | uint32_t(img.rgba[i + 2]) << 16);
    }
    std::printf("%s: %ux%u, %s%zu distinct colours\n", files[0].c_str(), img.width, img.height,
                colors.size() >= 1000 ? "at least " : "", colors.size());
    return colors.size() > 1 ? 0 : 1;
  }
  if (files.size() != 2) return usage();
  Image a, b;
  if (!load(files[0].c_str(), a) || !load(files[1].c_str(), b)) return 2;
  if (a.width != b.width || a.height != b.height) {
    std::printf("size differs: %ux%u vs %ux%u\n", a.width, a.height, b.width, b.height);
    return 1;
  }
  long differing = 0, beyond = 0, worst = 0;
  for (size_t i = 0; i < a.rgba.size(); i += 4) {
    long d = 0;
    for (int c = 0; c < 3; ++c) d = std::max(d, std::labs(long(a.rgba[i + c]) - long(b.rgba[i + c])));
    if (d) ++differing;
    if (d > tolerance) ++beyond;
    worst = std::max(worst, d);
  }
  std::printf("%ux%u: %ld pixels differ, max channel difference %ld; %ld beyond the tolerance %ld (allowed %ld)\n",
              a.width, a.height, differing, worst, beyond, tolerance, max_differing);
  return beyond <= max_differing ? 0 : 1;
}
