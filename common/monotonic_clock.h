// CLOCK_MONOTONIC in nanoseconds: the watchdog's clock, shared by the
// render worker that stamps it and the compositor that reads it.
#pragma once

#include <time.h>

#include <cstdint>

namespace xen3d {

inline uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

}  // namespace xen3d
