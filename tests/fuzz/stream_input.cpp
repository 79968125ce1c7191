// Each record goes into the command ring the way a guest would send it, its
// recorded bulk spans into the heap (renamed to where they landed), and a
// bulk_retire after them, so every mutation that keeps the stream well
// formed reaches the validator and the executor on a real driver instead of
// dying in the ring checks (fuzz_raw covers those). Byte-level mutation of
// the file itself is left to the raw harness.
#include "tests/fuzz/stream_input.h"

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "proto/commands.gen.h"
#include "tests/fuzz/stream_mutator.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace xen3d::fuzz {
namespace {

bool parse(const uint8_t* data, size_t size, Stream& out) {
  std::vector<proto::RecordingEntry> entries;
  std::string error;
  return proto::parse_recording(data, size, entries, error) && stream_from_recording(entries, out);
}

size_t emit(const Stream& s, uint8_t* data, size_t max_size) {
  const auto bytes = proto::serialize_recording(stream_to_recording(s));
  if (bytes.size() > max_size) return 0;
  std::memcpy(data, bytes.data(), bytes.size());
  return bytes.size();
}

// Writes one step the way GuestSession would; false when it cannot be sent at all.
bool send_step(GuestRings& g, const Step& step) {
  std::vector<uint8_t> rec = step.record;
  if (rec.size() < proto::kHeaderSize || rec.size() % 8 || rec.size() > g.commands.max_record()) return true;
  const uint16_t op = proto::header_opcode(rec.data());
  // The recorded guest's heap bookkeeping is replaced by ours.
  if (op == uint16_t(proto::Opcode::BulkRetire)) return true;
  bool spans = false;
  for (const auto& b : step.spans) {
    const uint64_t old_pos = proto::load_le<uint64_t>(b.data());
    const uint32_t size = static_cast<uint32_t>(b.size() - 8);
    if (size > g.bulk.max_alloc()) continue;
    proto::BulkSpan span = g.bulk.alloc(size);
    if (!span.data) continue;  // the host did not release earlier spans: leave this one out
    std::memcpy(span.data, b.data() + 8, size);
    proto::rename_bulk_span(rec, old_pos, size, span.pos);
    spans = true;
  }
  if (spans) g.bulk.publish();
  uint8_t* p = g.commands.reserve(rec.size());
  if (!p) return false;
  std::memcpy(p, rec.data(), rec.size());
  g.commands.commit(rec.size());
  if (spans) {
    proto::BulkRetire r;
    r.through = g.bulk.alloc_pos();
    const size_t n = proto::wire_size(r);
    if (uint8_t* q = g.commands.reserve(n)) {
      proto::encode(q, r);
      g.commands.commit(n);
    }
  }
  g.commands.publish();
  return true;
}

}  // namespace

int run_stream_input(FuzzHost& host, const uint8_t* data, size_t size) {
  Stream s;
  if (!parse(data, size, s)) return -1;
  host.run([&] {
    return FuzzHost::Feed([&s, next = size_t{0}](GuestRings& g, bool poisoned) mutable {
      if (poisoned || next >= s.steps.size()) return false;
      return send_step(g, s.steps[next++]);
    });
  });
  return 0;
}

size_t mutate_stream_input(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  Stream s;
  if (!parse(data, size, s)) return LLVMFuzzerMutate(data, size, max_size);
  std::mt19937 rng(seed);
  mutate_stream(s, rng, LLVMFuzzerMutate, max_size);
  const size_t n = emit(s, data, max_size);
  return n ? n : size;
}

size_t cross_stream_inputs(const uint8_t* d1, size_t s1, const uint8_t* d2, size_t s2, uint8_t* out,
                           size_t max_out, unsigned int seed) {
  Stream a, b;
  if (!parse(d1, s1, a) || !parse(d2, s2, b)) return 0;
  std::mt19937 rng(seed);
  return emit(cross_streams(a, b, rng), out, max_out);
}

}  // namespace xen3d::fuzz
