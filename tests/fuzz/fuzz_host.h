// An in-process compositor for libFuzzer: the real decoder, validator and
// Gallium executor (one GuestConnection, exactly as a guest thread runs it)
// on a real host driver, fed from memory instead of a guest's shared rings.
//
// The "guest" side is the fuzzer: each time the host has executed everything
// written so far it asks the feed for more; the feed writes records into the
// command ring (and spans into the bulk heap) and says whether the input goes
// on. Answers are thrown away as they come, like a guest that reads along.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "proto/ring.h"
#include "proto/shm_layout.h"

namespace xen3d::fuzz {

// What a feed writes with: guest-side views of the connection's rings.
struct GuestRings {
  proto::RecordWriter commands;
  proto::BulkWriter bulk;
  uint8_t* bulk_data = nullptr;  // the heap itself (raw inputs fill it directly)
  proto::RingCounters* bulk_counters = nullptr;
  uint8_t* command_data = nullptr;
  proto::RingCounters* command_counters = nullptr;
  uint32_t command_size = 0, bulk_size = 0;
};

class FuzzHost {
 public:
  // The host driver comes from XEN3D_FUZZ_DRIVER (default softpipe: no LLVM
  // compile per shader, so far more executions a second; llvmpipe works too).
  // Exits with a message when it cannot be opened.
  static FuzzHost& get();

  // One connection from start to teardown. `feed(rings, poisoned)` returns
  // false when the input is over (the guest then "goes away"); `poisoned`
  // says the host has already rejected a record.
  using Feed = std::function<bool(GuestRings& rings, bool poisoned)>;
  void run(const Feed& feed);

 private:
  FuzzHost();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xen3d::fuzz
