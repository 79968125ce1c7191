// libFuzzer harness: recorded guest command streams, mutated record by
// record (stream_input.h), on one connection reused for every input: the
// fast one, for everything a guest's records reach.
//
// An input is a recording (xen3d-compositor --record; seeds in
// tests/fuzz/seeds/stream).
#include "tests/fuzz/stream_input.h"

using namespace xen3d::fuzz;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  FuzzHost::get(Connections::Reused);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return run_stream_input(FuzzHost::get(Connections::Reused), data, size);
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  return mutate_stream_input(data, size, max_size, seed);
}

extern "C" size_t LLVMFuzzerCustomCrossOver(const uint8_t* d1, size_t s1, const uint8_t* d2, size_t s2, uint8_t* out,
                                            size_t max_out, unsigned int seed) {
  return cross_stream_inputs(d1, s1, d2, s2, out, max_out, seed);
}
