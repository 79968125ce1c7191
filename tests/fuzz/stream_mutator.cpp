#include "tests/fuzz/stream_mutator.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "proto/commands.gen.h"
#include "proto/commands_testing.gen.h"

namespace xen3d::fuzz {

using proto::testing::FieldSlot;
using proto::testing::RecordShape;
using proto::load_le;
using proto::store_le;

bool stream_from_recording(const std::vector<proto::RecordingEntry>& entries, Stream& out) {
  for (const auto& e : entries) {
    if (e.kind == proto::RecordingEntry::Client) {
      out.client.assign(e.bytes.begin(), e.bytes.end());
    } else if (e.kind == proto::RecordingEntry::Record) {
      out.steps.push_back(Step{e.bytes, {}});
    } else if (e.kind == proto::RecordingEntry::Bulk) {
      if (out.steps.empty()) return false;
      out.steps.back().spans.push_back(e.bytes);
    }
  }
  return true;
}

std::vector<proto::RecordingEntry> stream_to_recording(const Stream& s) {
  std::vector<proto::RecordingEntry> out;
  out.push_back({proto::RecordingEntry::Client, std::vector<uint8_t>(s.client.begin(), s.client.end())});
  for (const auto& st : s.steps) {
    out.push_back({proto::RecordingEntry::Record, st.record});
    for (const auto& b : st.spans) out.push_back({proto::RecordingEntry::Bulk, b});
  }
  return out;
}

size_t stream_bytes(const Stream& s) {
  size_t n = 24 + s.client.size();
  for (const auto& st : s.steps) {
    n += 8 + st.record.size();
    for (const auto& b : st.spans) n += 8 + b.size();
  }
  return n;
}

namespace {

using Rng = std::mt19937;

size_t pick(Rng& rng, size_t n) { return n ? std::uniform_int_distribution<size_t>(0, n - 1)(rng) : 0; }
bool chance(Rng& rng, unsigned percent) { return pick(rng, 100) < percent; }

const RecordShape* shape_of(const Step& st) {
  return st.record.size() >= proto::kHeaderSize ? proto::testing::record_shape(proto::header_opcode(st.record.data())) : nullptr;
}

// Every value the stream puts in an id field: the objects it creates and names.
std::vector<uint32_t> id_pool(const Stream& s) {
  std::set<uint32_t> ids;
  for (const auto& st : s.steps) {
    const RecordShape* sh = shape_of(st);
    if (!sh) continue;
    for (unsigned i = 0; i < sh->field_count; ++i) {
      const FieldSlot& f = sh->fields[i];
      if (f.kind == FieldSlot::Id && f.offset + 4u <= st.record.size()) ids.insert(load_le<uint32_t>(st.record.data() + f.offset));
    }
  }
  return {ids.begin(), ids.end()};
}

uint64_t interesting_int(Rng& rng, uint64_t old, unsigned size) {
  static const uint64_t kValues[] = {0,    1,     2,     3,      4,      7,          8,          15,
                                     16,   31,    32,    63,     64,     127,        128,        255,
                                     256,  1023,  1024,  4095,   4096,   8191,       8192,       16384,
                                     65535, 65536, 1u << 24, 0x7fffffff, 0x80000000, 0xffffffff, ~0ull, 0x8000000000000000ull};
  switch (pick(rng, 6)) {
    case 0: return kValues[pick(rng, std::size(kValues))];
    case 1: return old + 1;
    case 2: return old - 1;
    case 3: return old ^ (uint64_t(1) << pick(rng, size * 8));
    case 4: return old * 2;
    default: return (uint64_t(rng()) << 32) | rng();
  }
}

double interesting_float(Rng& rng) {
  static const double kValues[] = {0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-40, 1e30, -1e30, 65536.0, 16777217.0, 1e300,
                                   std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
                                   -std::numeric_limits<double>::infinity()};
  if (chance(rng, 20)) return (int64_t(rng()) - (1ll << 31)) / 1024.0;
  return kValues[pick(rng, std::size(kValues))];
}

// A new value for one field (element `index` of an array field) at `at`.
void mutate_slot(uint8_t* at, const FieldSlot& f, Rng& rng, const std::vector<uint32_t>& ids) {
  uint64_t old = 0;
  std::memcpy(&old, at, f.size);
  uint64_t v = old;
  switch (f.kind) {
    case FieldSlot::Id:
      if (!ids.empty() && chance(rng, 85)) {
        v = ids[pick(rng, ids.size())];
      } else {
        v = chance(rng, 50) ? pick(rng, 8) : interesting_int(rng, old, 4);
      }
      break;
    case FieldSlot::Limited:
      // Mostly inside the limit (reaching the executor), sometimes one past it.
      v = chance(rng, 90) ? pick(rng, size_t(f.max) + 1) : uint64_t(f.max) + 1;
      break;
    case FieldSlot::Float:
      if (f.size == 4) {
        float x = static_cast<float>(interesting_float(rng));
        std::memcpy(&v, &x, 4);
      } else {
        double x = interesting_float(rng);
        std::memcpy(&v, &x, 8);
      }
      break;
    case FieldSlot::BulkPos:
    case FieldSlot::BulkSize:
      return;  // renamed by the harness; changed only through the spans themselves
    default:
      v = interesting_int(rng, old, f.size);
  }
  std::memcpy(at, &v, f.size);
}

// Changes one field of one record in place (a fixed field or one of a tail element's).
bool mutate_field(Step& st, Rng& rng, const std::vector<uint32_t>& ids) {
  const RecordShape* sh = shape_of(st);
  if (!sh) return false;
  auto& r = st.record;
  const uint32_t tail_count = sh->tail_elem_size && sh->tail_count_offset + 4u <= r.size()
                                  ? load_le<uint32_t>(r.data() + sh->tail_count_offset)
                                  : 0;
  const bool tail = sh->tail_field_count && tail_count && chance(rng, 40);
  if (!tail && !sh->field_count) return false;
  const FieldSlot& f = tail ? sh->tail_fields[pick(rng, sh->tail_field_count)] : sh->fields[pick(rng, sh->field_count)];
  size_t off = f.offset + size_t(pick(rng, f.count)) * f.size;
  if (tail) off += sh->tail_offset + size_t(pick(rng, tail_count)) * sh->tail_elem_size;
  if (off + f.size > r.size()) return false;
  mutate_slot(r.data() + off, f, rng, ids);
  return true;
}

// Grows or shrinks a record's tail by one element (count field and size kept consistent).
bool resize_tail(Step& st, Rng& rng) {
  const RecordShape* sh = shape_of(st);
  if (!sh || !sh->tail_elem_size || sh->tail_count_offset + 4u > st.record.size()) return false;
  auto& r = st.record;
  const uint32_t n = load_le<uint32_t>(r.data() + sh->tail_count_offset);
  const size_t used = sh->tail_offset + size_t(n) * sh->tail_elem_size;
  if (used > r.size()) return false;
  const bool grow = n == 0 || chance(rng, 50);
  const uint32_t m = grow ? n + 1 + (chance(rng, 10) ? sh->tail_max : 0) : n - 1;
  const size_t bytes = proto::align8(sh->tail_offset + size_t(m) * sh->tail_elem_size);
  if (bytes > proto::kMaxRecordSize / 2) return false;
  std::vector<uint8_t> out(r.begin(), r.begin() + std::min(used, r.size()));
  out.resize(bytes, 0);
  if (grow && n) {
    // The new elements copy an existing one (a valid element, slightly wrong count).
    for (uint32_t i = n; i < m; ++i)
      std::memcpy(out.data() + sh->tail_offset + size_t(i) * sh->tail_elem_size,
                  r.data() + sh->tail_offset + size_t(pick(rng, n)) * sh->tail_elem_size, sh->tail_elem_size);
  }
  store_le<uint32_t>(out.data() + sh->tail_count_offset, m);
  store_le<uint32_t>(out.data() + 4, static_cast<uint32_t>(out.size()));
  r = std::move(out);
  return true;
}

// Mutates the bytes of one bulk span: 32-bit words (TGSI tokens, indices,
// vertex data) or, through `bytes`, anything, keeping the span's length.
bool mutate_span(Step& st, Rng& rng, ByteMutator bytes) {
  if (st.spans.empty()) return false;
  auto& b = st.spans[pick(rng, st.spans.size())];
  const size_t n = b.size() - 8;
  if (!n) return false;
  uint8_t* data = b.data() + 8;
  if (chance(rng, 60) && n >= 4) {
    const size_t words = n / 4;
    for (unsigned k = 0, times = 1 + pick(rng, 3); k < times; ++k) {
      uint8_t* w = data + 4 * pick(rng, words);
      uint32_t v = load_le<uint32_t>(w);
      if (chance(rng, 50)) {
        v ^= 1u << pick(rng, 32);
      } else {
        v = static_cast<uint32_t>(interesting_int(rng, v, 4));
      }
      store_le<uint32_t>(w, v);
    }
    return true;
  }
  std::vector<uint8_t> copy(data, data + n);
  const size_t got = bytes(copy.data(), n, n);
  std::memcpy(data, copy.data(), std::min(got, n));
  if (got < n) std::memset(data + got, 0, n - got);
  return true;
}

// A new record of any guest type with random (valid-range) fields and ids from the stream.
bool make_record(Stream& s, Rng& rng, const std::vector<uint32_t>& ids) {
  std::vector<uint8_t> out;
  const size_t want = pick(rng, proto::kAllOpcodes.size());
  size_t i = 0;
  proto::testing::TailStore store;
  proto::testing::for_each_record_type([&]<class R>() {
    if (i++ != want || R::kSender != proto::Sender::Guest) return;
    R r;
    proto::testing::fill(r, rng, store);
    out.resize(proto::wire_size(r));
    if (out.size() > proto::kMaxRecordSize / 2) {
      out.clear();
      return;
    }
    proto::encode(out.data(), r);
  });
  if (out.empty()) return false;
  Step st{std::move(out), {}};
  if (const RecordShape* sh = shape_of(st)) {
    for (unsigned k = 0; k < sh->field_count; ++k)
      if (sh->fields[k].kind == FieldSlot::Id && !ids.empty())
        store_le<uint32_t>(st.record.data() + sh->fields[k].offset, ids[pick(rng, ids.size())]);
  }
  s.steps.insert(s.steps.begin() + pick(rng, s.steps.size() + 1), std::move(st));
  return true;
}

}  // namespace

void mutate_stream(Stream& s, std::mt19937& rng, ByteMutator bytes, size_t max_bytes) {
  const std::vector<uint32_t> ids = id_pool(s);
  const unsigned times = 1 + static_cast<unsigned>(pick(rng, chance(rng, 20) ? 8 : 2));
  for (unsigned t = 0; t < times; ++t) {
    const size_t n = s.steps.size();
    switch (n ? pick(rng, 10) : 9) {
      case 0:
      case 1:
      case 2:
        mutate_field(s.steps[pick(rng, n)], rng, ids);
        break;
      case 3:
        resize_tail(s.steps[pick(rng, n)], rng);
        break;
      case 4:
      case 5: {
        // Spans are where shaders and pixels are: aim at a step that has one.
        std::vector<size_t> with;
        for (size_t k = 0; k < n; ++k)
          if (!s.steps[k].spans.empty()) with.push_back(k);
        if (!with.empty()) mutate_span(s.steps[with[pick(rng, with.size())]], rng, bytes);
        break;
      }
      case 6:
        s.steps.erase(s.steps.begin() + pick(rng, n));
        break;
      case 7: {
        Step copy = s.steps[pick(rng, n)];
        s.steps.insert(s.steps.begin() + pick(rng, n + 1), std::move(copy));
        break;
      }
      case 8: {
        const size_t a = pick(rng, n), b = pick(rng, n);
        std::swap(s.steps[a], s.steps[b]);
        break;
      }
      default:
        make_record(s, rng, ids);
    }
  }
  while (stream_bytes(s) > max_bytes && !s.steps.empty()) s.steps.pop_back();
}

Stream cross_streams(const Stream& a, const Stream& b, std::mt19937& rng) {
  Stream out;
  out.client = a.client;
  const size_t cut_a = pick(rng, a.steps.size() + 1), cut_b = pick(rng, b.steps.size() + 1);
  out.steps.assign(a.steps.begin(), a.steps.begin() + cut_a);
  out.steps.insert(out.steps.end(), b.steps.begin() + cut_b, b.steps.end());
  return out;
}

}  // namespace xen3d::fuzz
