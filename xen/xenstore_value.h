// Parsing of xenstore values, which are strings the other domain may have
// written: the whole value must be the number, nothing more or less.
#pragma once

#include <cstdint>
#include <string>

namespace xen3d::xen {

// A decimal uint32_t, the whole value and nothing else.
inline bool parse_xs_u32(const std::string& s, uint32_t& v) {
  if (s.empty() || s.size() > 10) return false;
  uint64_t x = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    x = x * 10 + static_cast<uint64_t>(c - '0');
  }
  if (x > UINT32_MAX) return false;
  v = static_cast<uint32_t>(x);
  return true;
}

// "WIDTHxHEIGHT" (displif's resolution node), each 1..max.
inline bool parse_xs_resolution(const std::string& s, uint32_t max, uint32_t& w, uint32_t& h) {
  const auto x = s.find('x');
  return x != std::string::npos && parse_xs_u32(s.substr(0, x), w) && parse_xs_u32(s.substr(x + 1), h) && w &&
         h && w <= max && h <= max;
}

}  // namespace xen3d::xen
