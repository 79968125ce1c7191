// Single-producer/single-consumer rings over shared memory.
//
// RecordWriter/RecordReader move 8-byte-aligned records (the command ring and
// the reply ring). A record never wraps: when it does not fit before the end
// of the data area, the writer fills the rest with a padding record (opcode 0)
// and starts again at offset 0.
//
// BulkWriter/BulkReader manage the bulk-data heap: the guest allocates spans
// in stream order, fills them, and names them in commands by position; the
// host releases them in the same order once the commands that use them ran.
//
// The consumer side treats everything the producer wrote as hostile: counters
// are checked against the ring's geometry, and records are copied out of the
// shared memory before anyone decodes them (the producer may still change it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "proto/shm_layout.h"
#include "proto/wire.h"

namespace xen3d::proto {

class RecordWriter {
 public:
  RecordWriter() = default;
  RecordWriter(RingCounters* counters, uint8_t* data, uint32_t size);

  // Space for a record of `bytes` (multiple of 8, at most size/2), or nullptr
  // when the ring has no room now (wait for the consumer, then retry).
  uint8_t* reserve(size_t bytes);
  // The record written at the last reserve() is complete.
  void commit(size_t bytes) { pending_ += bytes; write_pos_ += bytes; }
  // Makes committed records visible. Returns true when the consumer sleeps and
  // must be woken (doorbell avoidance).
  bool publish();
  // True when `bytes` more would fit right now (including a wrap pad).
  bool has_room(size_t bytes) const;
  uint64_t unpublished() const { return pending_; }
  uint32_t capacity() const { return size_; }
  size_t max_record() const { return size_ / 2; }
  RingCounters* counters() const { return c_; }

 private:
  RingCounters* c_ = nullptr;
  uint8_t* data_ = nullptr;
  uint32_t size_ = 0;
  uint64_t write_pos_ = 0;   // next byte to write (not yet published beyond head)
  uint64_t pending_ = 0;     // committed but not published
  mutable uint64_t tail_cache_ = 0;
};

// Result of RecordReader::next().
enum class ReadStatus { Record, Empty, Corrupt };

class RecordReader {
 public:
  RecordReader() = default;
  RecordReader(RingCounters* counters, uint8_t* data, uint32_t size);

  // Copies the next record into `out` (at least kMaxRecordSize bytes, 8-byte
  // aligned) and sets `size`. Padding records are skipped. Corrupt means the
  // producer broke the ring's rules; `why` then says how.
  ReadStatus next(uint8_t* out, size_t& size, const char*& why);
  // The next record where it lies in the ring, for a consumer that trusts the
  // producer (the guest reading the host's replies): no copy, but `rec` is
  // only valid until release(). The host never reads guest rings this way.
  ReadStatus next_in_place(const uint8_t*& rec, size_t& size, const char*& why);
  // Gives consumed bytes back to the producer. Returns true when the producer
  // sleeps waiting for room and must be woken.
  bool release();
  // True when the producer has published bytes we have not read.
  bool readable() const;
  uint64_t consumed() const { return read_pos_; }
  // How many times the producer's head has been read: every record read
  // since the last of them was published before it (with what the producer
  // wrote to shared memory first), as it is still.
  uint64_t head_loads() const { return head_loads_; }

 private:
  // Finds the next record (checked header copied into `header`) and consumes it.
  ReadStatus locate(const uint8_t*& rec, uint8_t* header, size_t& size, const char*& why);

  RingCounters* c_ = nullptr;
  uint8_t* data_ = nullptr;
  uint32_t size_ = 0;
  uint64_t read_pos_ = 0;
  uint64_t head_cache_ = 0;
  uint64_t head_loads_ = 0;
};

// The bulk_ref position that names the payload staged through payload_chunk
// records instead of a span of the heap (proto/commands.toml).
inline constexpr uint64_t kStagedPayloadPos = ~uint64_t{0};

// A span of the bulk heap, writable by the guest.
struct BulkSpan {
  uint8_t* data = nullptr;
  uint64_t pos = 0;
  uint32_t size = 0;
};

class BulkWriter {
 public:
  static constexpr uint32_t kAlign = 64;
  BulkWriter() = default;
  BulkWriter(RingCounters* counters, uint8_t* data, uint32_t size);
  // A contiguous span of `bytes` (at most max_alloc()), or {nullptr} when the
  // host still uses the space (wait, then retry).
  BulkSpan alloc(uint32_t bytes);
  // True when alloc(bytes) would succeed now.
  bool can_alloc(uint32_t bytes) const;
  bool publish();
  uint32_t max_alloc() const { return size_ / 2; }
  uint64_t unpublished() const { return alloc_pos_ - published_; }
  // Bytes the host has not handed back yet (what the heap holds right now).
  uint64_t in_use() const { return alloc_pos_ - c_->tail.load(std::memory_order_acquire); }
  uint32_t capacity() const { return size_; }
  // Position the next span would start at (the end of everything allocated).
  uint64_t alloc_pos() const { return alloc_pos_; }
  // How far the host must have released for alloc(bytes) to succeed.
  uint64_t tail_needed(uint32_t bytes) const {
    uint64_t start, end;
    place(bytes, start, end);
    return end > size_ ? end - size_ : 0;
  }

 private:
  RingCounters* c_ = nullptr;
  uint8_t* data_ = nullptr;
  uint32_t size_ = 0;
  // Where a span of `bytes` would go: {start, end} positions.
  void place(uint32_t bytes, uint64_t& start, uint64_t& end) const;
  uint64_t alloc_pos_ = 0;
  uint64_t published_ = 0;
  mutable uint64_t tail_cache_ = 0;
};

class BulkReader {
 public:
  BulkReader() = default;
  BulkReader(RingCounters* counters, uint8_t* data, uint32_t size);
  // The bytes a guest named, after checking they were published, are not yet
  // released and do not wrap. nullptr (with `why`) otherwise.
  const uint8_t* resolve(uint64_t pos, uint32_t size, const char*& why);
  // Everything before `end` may be reused by the guest.
  bool release_through(uint64_t end);
  // The guest's bulk_retire: like release_through, after checking `through`
  // is not past the published head. A stale `through` (already released by
  // the host) is a no-op. False (with `why`) otherwise.
  bool retire(uint64_t through, bool& wake, const char*& why);

 private:
  RingCounters* c_ = nullptr;
  uint8_t* data_ = nullptr;
  uint32_t size_ = 0;
  uint64_t released_ = 0;
};

}  // namespace xen3d::proto
