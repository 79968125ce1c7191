// libFuzzer harness: raw bytes as a guest's command ring.
//
// The input is copied into the command ring as it is and published at once,
// so the fuzzer plays a guest that writes anything at all: record headers,
// sizes, padding, opcodes, fields. The bulk heap holds the same bytes again
// (all of it published), so bulk spans named by the input resolve to bytes
// the fuzzer controls too. Seeds: guest command streams (tests/fuzz/seeds/raw).
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "tests/fuzz/fuzz_host.h"

using xen3d::fuzz::Connections;
using xen3d::fuzz::FuzzHost;
using xen3d::fuzz::GuestRings;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  FuzzHost::get(Connections::Reused);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzHost::get(Connections::Reused).run([&] {
    return FuzzHost::Feed([&, fed = false](GuestRings& g, bool poisoned) mutable {
      if (fed || poisoned) return false;
      fed = true;
      const size_t n = std::min<size_t>(size, g.command_size);
      const size_t padded = (n + 7) & ~size_t(7);
      std::memcpy(g.command_data, data, n);
      std::memset(g.command_data + n, 0, padded - n);
      // Bulk: the input repeated over the first 64 KiB of the heap.
      const size_t heap = std::min<size_t>(g.bulk_size, 64 * 1024);
      for (size_t at = 0; at < heap && size; at += size) {
        std::memcpy(g.bulk_data + at, data, std::min(size, heap - at));
      }
      g.bulk_counters->head.store(heap);
      g.command_counters->head.store(padded);
      return true;
    });
  });
  return 0;
}
