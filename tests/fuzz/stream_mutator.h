// Structure-aware mutation of recorded guest command streams (the
// xen3d-compositor --record format, proto/command_recording.h).
//
// Records are changed field by field using the generated record shapes
// (proto/commands_testing.gen.h): ids are mostly swapped for ids the stream
// already uses (so a mutated record still names live objects and reaches the
// executor's deeper checks), limited fields get values around their limit,
// floats get NaN, infinities and huge values. Whole records are dropped,
// duplicated, moved, or new ones of any type made; bulk spans (shader tokens,
// pixels, vertices) are changed word by word. A record keeps its bulk spans.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "proto/command_recording.h"

namespace xen3d::fuzz {

// One record and the bulk spans its execution read.
struct Step {
  std::vector<uint8_t> record;
  std::vector<std::vector<uint8_t>> spans;  // each: u64 recorded pos, then the bytes
};

struct Stream {
  std::string client = "fuzz";
  std::vector<Step> steps;
};

bool stream_from_recording(const std::vector<proto::RecordingEntry>& entries, Stream& out);
std::vector<proto::RecordingEntry> stream_to_recording(const Stream& s);

// Byte-level mutation of a buffer in place (libFuzzer's LLVMFuzzerMutate in
// the fuzzer; a plain random one elsewhere). Returns the new size.
using ByteMutator = size_t (*)(uint8_t* data, size_t size, size_t max_size);

// Applies one to a few mutations; `max_bytes` bounds the serialized size.
void mutate_stream(Stream& s, std::mt19937& rng, ByteMutator bytes, size_t max_bytes);
// A child of two streams: a's first steps, then b's last ones.
Stream cross_streams(const Stream& a, const Stream& b, std::mt19937& rng);
size_t stream_bytes(const Stream& s);

}  // namespace xen3d::fuzz
