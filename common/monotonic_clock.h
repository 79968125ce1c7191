// CLOCK_MONOTONIC_COARSE in nanoseconds: the watchdog's clock, shared by the
// render worker that stamps it and the compositor that reads it. The worker
// stamps every record it executes; the coarse clock costs a few nanoseconds
// where the precise one cost 0.7 % of a render worker's time in OpenArena,
// and its resolution (a scheduler tick) is far below any budget.
#pragma once

#include <time.h>

#include <cstdint>

namespace xen3d {

inline uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

}  // namespace xen3d
