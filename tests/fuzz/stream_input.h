// A recorded guest command stream as a libFuzzer input: running it on the
// in-process host, and the structure-aware mutation and crossing of such
// inputs (stream_mutator.h). xen3d-fuzz-stream and xen3d-fuzz-teardown are
// this with reused and with fresh connections (fuzz_host.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_host.h"

namespace xen3d::fuzz {

// libFuzzer's hooks, for any FuzzHost. run_stream_input returns -1 when the
// input is not a recording (libFuzzer keeps it out of the corpus).
int run_stream_input(FuzzHost& host, const uint8_t* data, size_t size);
size_t mutate_stream_input(uint8_t* data, size_t size, size_t max_size, unsigned int seed);
size_t cross_stream_inputs(const uint8_t* d1, size_t s1, const uint8_t* d2, size_t s2, uint8_t* out,
                           size_t max_out, unsigned int seed);

}  // namespace xen3d::fuzz
