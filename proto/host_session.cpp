#include "proto/host_session.h"

namespace xen3d::proto {

HostSession::HostSession(std::unique_ptr<Transport> transport, SessionInfo info)
    : transport_(std::move(transport)), info_(std::move(info)) {
  record_buf_.resize(kMaxRecordSize / 8);
  release_every_ = transport_->ring_size(RingId::Command) / 8;
  staged_limit_ = transport_->ring_size(RingId::Bulk);
  restart();
}

void HostSession::restart() {
  Transport& t = *transport_;
  cmd_ = RecordReader(t.counters(RingId::Command), t.ring_data(RingId::Command), t.ring_size(RingId::Command));
  replies_ = RecordWriter(t.counters(RingId::Reply), t.ring_data(RingId::Reply), t.ring_size(RingId::Reply));
  bulk_ = BulkReader(t.counters(RingId::Bulk), t.ring_data(RingId::Bulk), t.ring_size(RingId::Bulk));
  unreleased_ = 0;
  error_.clear();
  std::vector<uint8_t>().swap(staged_);
  staged_total_ = 0;
  staged_started_ = false;
}

void HostSession::release_commands() {
  unreleased_ = 0;
  transport_->kick(RingId::Command, cmd_.release());
}

HostSession::Next HostSession::next(const uint8_t*& rec, size_t& size, int timeout_ms) {
  auto* buf = reinterpret_cast<uint8_t*>(record_buf_.data());
  for (;;) {
    const char* why = nullptr;
    const uint64_t before = cmd_.consumed();
    ReadStatus st = cmd_.next(buf, size, why);
    if (st == ReadStatus::Record) {
      unreleased_ += cmd_.consumed() - before;
      if (unreleased_ >= release_every_) release_commands();
      if (header_opcode(buf) == uint16_t(Opcode::BulkRetire)) {
        // Heap bookkeeping belongs to the session, not to whoever executes records.
        BulkRetire r;
        bool wake = false;
        if (auto e = decode(buf, size, r); !e.ok()) {
          why = "bad bulk_retire record";
        } else if (bulk_.retire(r.through, wake, why)) {
          transport_->kick(RingId::Bulk, wake);
          continue;
        }
        error_ = std::string("corrupt bulk heap bookkeeping: ") + why;
        return Next::Corrupt;
      }
      rec = buf;
      return Next::Record;
    }
    if (st == ReadStatus::Corrupt) {
      error_ = std::string("corrupt command ring: ") + why;
      return Next::Corrupt;
    }
    // Out of work: give the guest all its space back before sleeping.
    if (unreleased_ || cmd_.consumed() != before) release_commands();
    const auto attention = [&] { return attention_ && attention_->load(std::memory_order_acquire); };
    if (attention()) return Next::Idle;
    WaitResult w = transport_->wait(RingId::Command, [&] { return cmd_.readable() || attention(); }, timeout_ms);
    if (w == WaitResult::PeerGone) {
      error_ = transport_->error();
      return Next::Gone;
    }
    if (w == WaitResult::Timeout) return Next::Idle;
  }
}

const uint8_t* HostSession::bulk(const BulkRef& ref, const char*& why) {
  if (ref.pos == kStagedPayloadPos) {
    // Recordings hold the payload_chunk records themselves: nothing to observe.
    if (!staged_started_ || staged_.size() != staged_total_) {
      why = "names a staged payload, but none is complete";
      return nullptr;
    }
    if (ref.size != staged_total_) {
      why = "names a staged payload of another size";
      return nullptr;
    }
    // An empty vector's data() may be null: an empty payload still resolves.
    static const uint8_t kNothing = 0;
    return staged_.empty() ? &kNothing : staged_.data();
  }
  const uint8_t* p = bulk_.resolve(ref.pos, ref.size, why);
  if (p && bulk_observer_) bulk_observer_(ref, p);
  return p;
}

void HostSession::release_bulk(const BulkRef& ref) {
  if (ref.pos == kStagedPayloadPos) return;  // not heap space
  transport_->kick(RingId::Bulk, bulk_.release_through(ref.pos + ref.size));
}

bool HostSession::stage_payload(const PayloadChunk& chunk, const char*& why) {
  const uint32_t n = static_cast<uint32_t>(chunk.data.size());
  if (chunk.offset == 0) {
    if (chunk.total > staged_limit_) {
      why = "staged payload larger than this connection's limit";
      return false;
    }
    // A big payload's memory goes back once a much smaller one replaces it.
    if (staged_.capacity() > (size_t{1} << 20) && chunk.total < staged_.capacity() / 4) {
      std::vector<uint8_t>().swap(staged_);
    }
    staged_.clear();
    staged_.reserve(chunk.total);
    staged_total_ = chunk.total;
    staged_started_ = true;
  } else if (!staged_started_ || chunk.total != staged_total_ || chunk.offset != staged_.size()) {
    why = "payload chunk out of order";
    return false;
  }
  if (n > staged_total_ - staged_.size()) {
    why = "payload chunk runs past the payload's total";
    return false;
  }
  const uint8_t* src = chunk.data.wire_bytes();
  staged_.insert(staged_.end(), src, src + n);
  return true;
}

namespace {
constexpr size_t kHostDataTail = HostData::kTailCountOffset + 4;
size_t host_data_size(uint32_t n) { return align8(kHostDataTail + n); }
}  // namespace

uint8_t* HostSession::reserve_host_data(uint32_t n) {
  uint8_t* p = reserve_reply(host_data_size(n));
  return p ? p + kHostDataTail : nullptr;
}

void HostSession::commit_host_data(uint32_t total, uint32_t offset, uint32_t n) {
  // The same bytes encode(HostData) writes, around a tail already in place.
  const size_t size = host_data_size(n);
  uint8_t* p = replies_.reserve(size);  // the space reserve_host_data found
  std::memset(p + kHostDataTail + n, 0, size - kHostDataTail - n);
  std::memset(p, 0, kHostDataTail);
  store_header(p, Opcode::HostData, size);
  store_le<uint32_t>(p + 8, total);
  store_le<uint32_t>(p + 12, offset);
  store_le<uint32_t>(p + HostData::kTailCountOffset, n);
  replies_.commit(size);
  transport_->kick(RingId::Reply, replies_.publish());
}

namespace {
constexpr int kReplyGraceMs = 100;
}  // namespace

uint8_t* HostSession::reserve_reply(size_t bytes) {
  for (;;) {
    if (uint8_t* p = replies_.reserve(bytes)) return p;
    // A guest reading along (a big readback streaming through the ring) makes
    // room within moments: keep the caller's locks for that, or every chunk
    // would queue again behind other guests. Only a guest that stays silent
    // gets them released.
    auto room = [&] { return replies_.has_room(bytes); };
    WaitResult w = transport_->wait(RingId::Reply, room, kReplyGraceMs);
    if (w == WaitResult::Timeout) {
      if (reply_wait_hook_) reply_wait_hook_(true);
      w = transport_->wait(RingId::Reply, room, -1);
      if (reply_wait_hook_) reply_wait_hook_(false);
    }
    if (w == WaitResult::PeerGone) {
      error_ = transport_->error();
      return nullptr;
    }
  }
}

}  // namespace xen3d::proto
