// The page a render worker shares with the compositor's watchdog: when the
// record the worker executes now started. The compositor reads it, never
// trusts it for anything but deciding to kill the worker (a worker that
// lies about being idle can only keep its own guest's work going, which its
// own rlimits and the sandbox still bound).
#pragma once

#include <atomic>
#include <cstdint>

namespace xen3d::host {

struct WatchdogPage {
  // CLOCK_MONOTONIC nanoseconds at which the current record's execution
  // started; 0 while the worker waits for its guest (GuestConnection sets it).
  std::atomic<uint64_t> busy_since_ns{0};
  // The opcode of that record: the kill message names it.
  std::atomic<uint16_t> busy_opcode{0};
};
static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<uint16_t>::is_always_lock_free,
              "the watchdog page is shared between processes");

}  // namespace xen3d::host
