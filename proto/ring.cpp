#include "proto/ring.h"

#include <atomic>

namespace xen3d::proto {

namespace {
// A side about to sleep stores its flag, then re-reads the counter; the other
// side stores the counter, then reads the flag. The seq_cst fences order the
// store before the load on both sides, so one of them always sees the other.
bool peer_sleeping(const std::atomic<uint32_t>& flag) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return flag.load(std::memory_order_relaxed) != 0;
}
}  // namespace

// ---------------------------------------------------------------- records --

RecordWriter::RecordWriter(RingCounters* counters, uint8_t* data, uint32_t size)
    : c_(counters), data_(data), size_(size) {
  write_pos_ = c_->head.load(std::memory_order_relaxed);
  tail_cache_ = c_->tail.load(std::memory_order_acquire);
}

bool RecordWriter::has_room(size_t bytes) const {
  const uint64_t off = write_pos_ % size_;
  const uint64_t need = (off + bytes > size_) ? (size_ - off) + bytes : bytes;
  if (write_pos_ + need - tail_cache_ <= size_) return true;
  tail_cache_ = c_->tail.load(std::memory_order_acquire);
  return write_pos_ + need - tail_cache_ <= size_;
}

uint8_t* RecordWriter::reserve(size_t bytes) {
  if (bytes % 8 || bytes < kHeaderSize || bytes > max_record()) return nullptr;
  if (!has_room(bytes)) return nullptr;
  const uint64_t off = write_pos_ % size_;
  if (off + bytes > size_) {
    // Pad to the end of the data area so the record stays contiguous.
    const uint32_t pad = static_cast<uint32_t>(size_ - off);
    store_header(data_ + off, uint16_t{0}, pad);
    commit(pad);
    return data_;
  }
  return data_ + off;
}

bool RecordWriter::publish() {
  if (!pending_) return false;
  c_->head.store(write_pos_, std::memory_order_release);
  pending_ = 0;
  return peer_sleeping(c_->consumer_sleeping);
}

RecordReader::RecordReader(RingCounters* counters, uint8_t* data, uint32_t size)
    : c_(counters), data_(data), size_(size) {
  read_pos_ = c_->tail.load(std::memory_order_relaxed);
  head_cache_ = read_pos_;
}

bool RecordReader::readable() const {
  return c_->head.load(std::memory_order_acquire) != read_pos_;
}

ReadStatus RecordReader::next(uint8_t* out, size_t& size, const char*& why) {
  // Read the header once; the producer may rewrite shared memory at any time.
  const uint8_t* rec = nullptr;
  uint8_t header[kHeaderSize];
  ReadStatus st = locate(rec, header, size, why);
  if (st != ReadStatus::Record) return st;
  std::memcpy(out, header, kHeaderSize);
  std::memcpy(out + kHeaderSize, rec + kHeaderSize, size - kHeaderSize);
  return st;
}

ReadStatus RecordReader::next_in_place(const uint8_t*& rec, size_t& size, const char*& why) {
  uint8_t header[kHeaderSize];
  return locate(rec, header, size, why);
}

ReadStatus RecordReader::locate(const uint8_t*& rec, uint8_t* header, size_t& size, const char*& why) {
  for (;;) {
    if (head_cache_ == read_pos_) {
      head_cache_ = c_->head.load(std::memory_order_acquire);
      ++head_loads_;
      if (head_cache_ == read_pos_) return ReadStatus::Empty;
      if (head_cache_ < read_pos_ || head_cache_ - read_pos_ > size_ || head_cache_ % 8) {
        why = "ring head moved backwards or past the ring size";
        return ReadStatus::Corrupt;
      }
    }
    const uint64_t off = read_pos_ % size_;
    const uint64_t avail = head_cache_ - read_pos_;
    std::memcpy(header, data_ + off, kHeaderSize);
    const uint32_t rec_size = header_size(header);
    if (rec_size < kHeaderSize || rec_size % 8 || rec_size > avail || off + rec_size > size_) {
      why = "record size runs past the published data or the ring end";
      return ReadStatus::Corrupt;
    }
    if (header_opcode(header) == 0) {  // padding to the ring end
      if (off + rec_size != size_) {
        why = "padding record does not end at the ring end";
        return ReadStatus::Corrupt;
      }
      read_pos_ += rec_size;
      continue;
    }
    if (rec_size > kMaxRecordSize) {
      why = "record larger than the protocol maximum";
      return ReadStatus::Corrupt;
    }
    rec = data_ + off;
    size = rec_size;
    read_pos_ += rec_size;
    return ReadStatus::Record;
  }
}

bool RecordReader::release() {
  c_->tail.store(read_pos_, std::memory_order_release);
  return peer_sleeping(c_->producer_sleeping);
}

// ------------------------------------------------------------------- bulk --

BulkWriter::BulkWriter(RingCounters* counters, uint8_t* data, uint32_t size)
    : c_(counters), data_(data), size_(size) {
  alloc_pos_ = published_ = c_->head.load(std::memory_order_relaxed);
  tail_cache_ = c_->tail.load(std::memory_order_acquire);
}

void BulkWriter::place(uint32_t bytes, uint64_t& start, uint64_t& end) const {
  const uint32_t rounded = (bytes + kAlign - 1) & ~(kAlign - 1);
  start = alloc_pos_;
  if (start % size_ + rounded > size_) start += size_ - start % size_;  // skip to the start
  end = start + rounded;
}

bool BulkWriter::can_alloc(uint32_t bytes) const {
  if (bytes == 0 || bytes > max_alloc()) return false;
  uint64_t start, end;
  place(bytes, start, end);
  if (end - tail_cache_ <= size_) return true;
  tail_cache_ = c_->tail.load(std::memory_order_acquire);
  return end - tail_cache_ <= size_;
}

BulkSpan BulkWriter::alloc(uint32_t bytes) {
  if (!can_alloc(bytes)) return {};
  uint64_t start, end;
  place(bytes, start, end);
  alloc_pos_ = end;
  return {data_ + start % size_, start, bytes};
}

bool BulkWriter::publish() {
  if (alloc_pos_ == published_) return false;
  c_->head.store(alloc_pos_, std::memory_order_release);
  published_ = alloc_pos_;
  return peer_sleeping(c_->consumer_sleeping);
}

BulkReader::BulkReader(RingCounters* counters, uint8_t* data, uint32_t size)
    : c_(counters), data_(data), size_(size) {
  released_ = c_->tail.load(std::memory_order_relaxed);
}

const uint8_t* BulkReader::resolve(uint64_t pos, uint32_t size, const char*& why) {
  const uint64_t head = c_->head.load(std::memory_order_acquire);
  if (head < released_ || head - released_ > size_) {
    why = "bulk heap head moved backwards or past the heap size";
    return nullptr;
  }
  if (pos < released_ || pos > head || size > head - pos) {
    why = "bulk span is not in the published, unreleased part of the heap";
    return nullptr;
  }
  if (pos % size_ + size > size_) {
    why = "bulk span wraps around the heap end";
    return nullptr;
  }
  return data_ + pos % size_;
}

bool BulkReader::release_through(uint64_t end) {
  if (end <= released_) return false;
  released_ = end;
  c_->tail.store(released_, std::memory_order_release);
  return peer_sleeping(c_->producer_sleeping);
}

bool BulkReader::retire(uint64_t through, bool& wake, const char*& why) {
  wake = false;
  const uint64_t head = c_->head.load(std::memory_order_acquire);
  if (through > head) {
    why = "bulk_retire names a position past the published heap";
    return false;
  }
  // A retire queued behind records whose spans the host has since released
  // arrives stale (through < released_): harmless, and no reason to refuse.
  wake = release_through(through);
  return true;
}

}  // namespace xen3d::proto
