// libFuzzer harness: the stream inputs of xen3d-fuzz-stream, each on a new
// connection that is then destroyed with everything the input left in it
// (bound state, live queries, contexts made current, desktops joined), its
// host contexts destroyed by the driver: the path of a guest that vanishes
// mid-stream, which the reused connection of xen3d-fuzz-stream never takes.
// Slower (a new driver context costs far more than most inputs).
#include "tests/fuzz/stream_input.h"

using namespace xen3d::fuzz;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  FuzzHost::get(Connections::Fresh);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return run_stream_input(FuzzHost::get(Connections::Fresh), data, size);
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  return mutate_stream_input(data, size, max_size, seed);
}

extern "C" size_t LLVMFuzzerCustomCrossOver(const uint8_t* d1, size_t s1, const uint8_t* d2, size_t s2, uint8_t* out,
                                            size_t max_out, unsigned int seed) {
  return cross_stream_inputs(d1, s1, d2, s2, out, max_out, seed);
}
