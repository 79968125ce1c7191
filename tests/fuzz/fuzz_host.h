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

// How inputs get their connection.
enum class Connections {
  // One connection serves every input: after each, GuestConnection::restart()
  // frees what the input made and starts over on the same rings, and host
  // contexts go back to a pool instead of the driver (context_pool.h).
  // Creating softpipe contexts was nearly all of an execution's time.
  Reused,
  // A new connection per input, destroyed with everything the input left in
  // it, its contexts created and destroyed by the driver: the guest that
  // vanishes mid-stream. Slow; xen3d-fuzz-teardown keeps that path fuzzed.
  Fresh,
};

class FuzzHost {
 public:
  // The process's host; the first call decides how inputs get connections.
  // The host driver comes from XEN3D_FUZZ_DRIVER (default softpipe: no LLVM
  // compile per shader, so far more executions a second; llvmpipe works too).
  // Exits with a message when it cannot be opened.
  //
  // XEN3D_FUZZ_CHECK_RESET=1 (Reused only) runs every input twice, on a new
  // connection with new contexts and on the reused one, and aborts when the
  // answers the guest gets differ (record types, the context_lost text,
  // records executed): a recycled connection must be indistinguishable.
  static FuzzHost& get(Connections connections);

  // One input, from the guest's first record until it "goes away". A feed
  // writes the input: `feed(rings, poisoned)` returns false when the input is
  // over; `poisoned` says the host has already rejected a record. `input()`
  // makes a feed from the start of the input (called twice with
  // XEN3D_FUZZ_CHECK_RESET).
  using Feed = std::function<bool(GuestRings& rings, bool poisoned)>;
  using Input = std::function<Feed()>;
  void run(const Input& input);

 private:
  explicit FuzzHost(Connections connections);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xen3d::fuzz
