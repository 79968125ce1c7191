#include "proto/guest_session.h"

#include "proto/gallium_ids.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace xen3d::proto {

namespace {
std::atomic<bool> g_exiting{false};  // see GuestSession::kExitWaitMs
}  // namespace

std::unique_ptr<GuestSession> GuestSession::connect(const std::string& spec, const ConnectRequest& req,
                                                    std::string& error) {
  static std::once_flag at_exit;
  std::call_once(at_exit, [] { std::atexit([] { g_exiting.store(true, std::memory_order_relaxed); }); });
  Endpoint ep;
  if (!Endpoint::parse(spec.empty() ? default_endpoint_spec() : spec, ep, error)) return nullptr;
  std::unique_ptr<GuestSession> s(new GuestSession);
  s->transport_ = connect_transport(ep, req, s->info_, error);
  if (!s->transport_) return nullptr;
  Transport& t = *s->transport_;
  s->cmd_ = RecordWriter(t.counters(RingId::Command), t.ring_data(RingId::Command), t.ring_size(RingId::Command));
  s->replies_ = RecordReader(t.counters(RingId::Reply), t.ring_data(RingId::Reply), t.ring_size(RingId::Reply));
  s->bulk_ = BulkWriter(t.counters(RingId::Bulk), t.ring_data(RingId::Bulk), t.ring_size(RingId::Bulk));
  s->reply_.resize(kMaxRecordSize);
  s->retired_ = s->bulk_.alloc_pos();
  // Publish in slices so the host starts decoding while we keep encoding:
  // small ones, so that it starts early in each frame (a game's frame is
  // 100-200 KiB of records; with eighths of a 1 MiB ring the host began
  // only once the guest had finished the frame).
  s->auto_flush_bytes_ = std::min<size_t>(t.ring_size(RingId::Command) / 8, kPublishBytes);
  s->auto_flush_bulk_bytes_ = t.ring_size(RingId::Bulk) / 8;
  s->answer_timeout_ms_ = req.answer_timeout_ms;
  return s;
}

GuestSession::~GuestSession() {
  if (alive_ && transport_) {
    send(Goodbye{});
    flush();
  }
}

void GuestSession::forsake_after_fork() {
  lose("this process is a fork of the one that opened the connection to the compositor, which stays with "
       "the parent: GL contexts made before fork() cannot be used in the child (a child that wants GL opens "
       "its own X display connection and makes its contexts on it)");
  transport_->forsake_after_fork();
}

void GuestSession::fail(std::string why) {
  if (alive_) {
    Goodbye bye;
    bye.reason = kGoodbyeContextLost;
    send(bye);
    flush();
  }
  lose(std::move(why));
}

bool GuestSession::lose(std::string why) {
  if (alive_) error_ = std::move(why);
  alive_ = false;
  return false;
}

template <class Pred>
bool GuestSession::wait_for(RingId ring, Pred ready) {
  const bool exiting = g_exiting.load(std::memory_order_relaxed) &&
                       (answer_timeout_ms_ < 0 || answer_timeout_ms_ > kExitWaitMs);
  switch (transport_->wait(ring, ready, exiting ? kExitWaitMs : answer_timeout_ms_)) {
    case WaitResult::Ready: return true;
    case WaitResult::PeerGone: return lose("lost the compositor: " + transport_->error());
    case WaitResult::Timeout: break;
  }
  if (exiting) {
    return lose("the compositor did not answer within " + std::to_string(kExitWaitMs / 1000) +
                " s while the process exits (stopped or hung?)");
  }
  return lose("the compositor did not answer for " + std::to_string(answer_timeout_ms_ / 1000) +
              " s (stopped or hung?); XEN3D_ANSWER_TIMEOUT_S sets how long to wait");
}

bool GuestSession::flush() {
  if (!alive_) return false;
  queue_retire();
  // Bulk first: a record must never become visible before the bytes it names.
  if (bulk_.unpublished()) transport_->kick(RingId::Bulk, bulk_.publish());
  if (!cmd_.unpublished()) return false;
  // The host gives back what it consumed when it runs out of records, so a
  // tail at the old head means it had reached the end of the ring.
  RingCounters* c = cmd_.counters();
  const bool caught_up = c->tail.load(std::memory_order_acquire) == c->head.load(std::memory_order_relaxed);
  const bool asleep = cmd_.publish();
  transport_->kick(RingId::Command, asleep);
  return caught_up || asleep;
}

uint64_t GuestSession::bulk_floor() const {
  return held_.empty() ? bulk_.alloc_pos() : held_.front().pos;
}

bool GuestSession::queue_retire() {
  const uint64_t floor = bulk_floor();
  if (floor <= retired_) return true;
  BulkRetire r;
  r.through = floor;
  const size_t n = wire_size(r);
  // Never waits: flush() runs from inside reserve() when the ring is full.
  uint8_t* p = cmd_.reserve(n);
  if (!p) return false;
  encode(p, r);
  cmd_.commit(n);
  retired_ = floor;
  return true;
}

void GuestSession::bulk_done(const BulkSpan& span) {
  for (auto& h : held_) {
    if (h.pos == span.pos) {
      h.done = true;
      break;
    }
  }
  while (!held_.empty() && held_.front().done) held_.pop_front();
}

uint8_t* GuestSession::reserve(size_t bytes) {
  if (!alive_) return nullptr;
  if (bytes > cmd_.max_record()) {
    lose("record of " + std::to_string(bytes) + " bytes exceeds the command ring");
    return nullptr;
  }
  for (;;) {
    if (uint8_t* p = cmd_.reserve(bytes)) return p;
    flush();
    if (!wait_for(RingId::Command, [&] { return cmd_.has_room(bytes); })) return nullptr;
  }
}

BulkSpan GuestSession::alloc_bulk(uint32_t bytes) {
  bulk_stats_.largest = std::max<uint64_t>(bulk_stats_.largest, bytes);
  if (!alive_ || bytes == 0 || bytes > bulk_.max_alloc()) return {};
  for (bool waited = false;; waited = true) {
    BulkSpan s = bulk_.alloc(bytes);
    if (s.data) {
      held_.push_back({s.pos, bulk_.alloc_pos(), false});
      bulk_stats_.waits += waited;
      ++bulk_stats_.spans;
      bulk_stats_.span_bytes += bytes;
      bulk_stats_.peak_in_use = std::max(bulk_stats_.peak_in_use, bulk_.in_use());
      return s;
    }
    // The host can only free what we retired; an open map may hold the rest.
    if (bulk_.tail_needed(bytes) > bulk_floor()) {
      ++bulk_stats_.held_refusals;
      return {};
    }
    flush();
    while (retired_ < bulk_floor()) {  // the retire record did not fit: make room
      if (!wait_for(RingId::Command, [&] { return cmd_.has_room(64); })) return {};
      flush();
    }
    // The host frees bulk space as it runs the records that name it.
    if (!wait_for(RingId::Bulk, [&] { return bulk_.can_alloc(bytes); })) return {};
  }
}

bool GuestSession::put_payload(const void* data, size_t size, Payload& out) {
  out = {};
  if (!alive_) return false;
  if (size > UINT32_MAX) return lose("a " + std::to_string(size) + "-byte payload does not fit one record");
  const auto* src = static_cast<const uint8_t*>(data);
  out.ref.size = static_cast<uint32_t>(size);
  out.span = alloc_bulk(static_cast<uint32_t>(size));  // {} for 0 bytes: staged, as one empty chunk
  if (out.span.data) {
    std::memcpy(out.span.data, src, size);
    out.ref.pos = out.span.pos;
    return true;
  }
  if (!alive_) return false;
  // The heap cannot take it now (an open map holds the space) or ever (over
  // half the heap): the record's bytes travel in the command ring instead.
  PayloadChunk c;
  c.total = out.ref.size;
  size_t off = 0;
  do {
    const size_t n = std::min(size - off, max_inline_bytes());
    c.offset = static_cast<uint32_t>(off);
    c.data = TailView<uint8_t>(std::span<const uint8_t>(src + off, n));
    if (!send(c)) return false;
    off += n;
  } while (off < size);
  ++bulk_stats_.staged;
  bulk_stats_.staged_bytes += size;
  out.ref.pos = kStagedPayloadPos;
  return true;
}

bool GuestSession::read_data(uint8_t* dst, size_t size, size_t dst_stride, size_t row_bytes) {
  if (!row_bytes || dst_stride == row_bytes) dst_stride = row_bytes = size;
  size_t got = 0;
  do {
    const uint8_t* rec = nullptr;
    size_t n = 0;
    if (!next_reply(rec, n)) return false;
    HostData d;
    if (DecodeError e = decode(rec, n, d); !e.ok()) {
      reply_done();
      return lose("unexpected answer from the host: " + e.describe());
    }
    if (d.total != size || d.offset != got || d.data.size() > size - got) {
      reply_done();
      return lose("the host sent " + std::to_string(d.total) + " bytes of data where " +
                  std::to_string(size) + " were expected");
    }
    // The bytes come packed; they go to rows `dst_stride` apart.
    const uint8_t* src = d.data.wire_bytes();
    for (size_t left = d.data.size(); left;) {
      const size_t row = got / row_bytes, col = got % row_bytes, n_row = std::min(left, row_bytes - col);
      std::memcpy(dst + row * dst_stride + col, src, n_row);
      src += n_row;
      got += n_row;
      left -= n_row;
    }
    reply_done();
  } while (got < size);
  return true;
}

bool GuestSession::read_reply(size_t& size) {
  const uint8_t* rec = nullptr;
  if (!next_reply(rec, size)) return false;
  std::memcpy(reply_.data(), rec, size);
  reply_done();
  return true;
}

bool GuestSession::sync_discarding_answers() {
  Ping p;
  p.seq = ++sync_seq_;
  if (!send(p)) return false;
  flush();
  ++round_trips_;
  for (;;) {
    const uint8_t* rec = nullptr;
    size_t size = 0;
    if (!next_reply(rec, size)) return false;
    Pong pong;
    const bool mine = header_opcode(rec) == uint16_t(Opcode::Pong) && decode(rec, size, pong).ok() && pong.seq == p.seq;
    // A discarded frame_shared that was ok came with a descriptor: drop it too.
    FrameShared shared;
    const bool had_fd = header_opcode(rec) == uint16_t(Opcode::FrameShared) && decode(rec, size, shared).ok() && shared.ok;
    reply_done();
    if (had_fd) {
      std::string why;
      const int fd = transport_->receive_fd(kFdAfterAnswerTimeoutMs, why);
      if (fd >= 0) ::close(fd);
    }
    if (mine) return true;
  }
}

void GuestSession::reply_done() { transport_->kick(RingId::Reply, replies_.release()); }

bool GuestSession::next_reply(const uint8_t*& rec, size_t& size) {
  for (;;) {
    const char* why = nullptr;
    ReadStatus st = replies_.next_in_place(rec, size, why);
    if (st == ReadStatus::Record) {
      if (std::string lost = context_lost_message(rec, size); !lost.empty()) {
        reply_done();
        return lose(lost);
      }
      return true;
    }
    if (st == ReadStatus::Corrupt) return lose(std::string("corrupt reply ring: ") + why);
    if (!wait_for(RingId::Reply, [&] { return replies_.readable(); })) return false;
  }
}

std::string GuestSession::context_lost_message(const uint8_t* rec, size_t size) {
  if (header_opcode(rec) != uint16_t(Opcode::ContextLost)) return {};
  ContextLost lost;
  if (!decode(rec, size, lost).ok()) return "the compositor dropped this context";
  if (!lost.opcode) {
    // Not a record of ours: the host lost the context (its render worker died).
    return "the compositor dropped this context: " + std::string(lost.message);
  }
  return "the compositor rejected '" + std::string(opcode_name(lost.opcode)) + "' (record " +
         std::to_string(lost.command_index) + "): " + std::string(lost.message);
}

bool GuestSession::take_unasked(const std::function<bool(const uint8_t*, size_t, std::string&)>& each) {
  if (!alive_) return false;
  // A zero wait takes the doorbell (and, on tcp, the bytes that arrived).
  if (transport_->wait(RingId::Reply, [&] { return replies_.readable(); }, 0) == WaitResult::PeerGone) {
    return lose("lost the compositor: " + transport_->error());
  }
  for (;;) {
    const uint8_t* rec = nullptr;
    size_t size = 0;
    const char* corrupt = nullptr;
    ReadStatus st = replies_.next_in_place(rec, size, corrupt);
    if (st == ReadStatus::Corrupt) return lose(std::string("corrupt reply ring: ") + corrupt);
    if (st == ReadStatus::Record) {
      std::string why = context_lost_message(rec, size);
      const bool ok = why.empty() && each(rec, size, why);
      reply_done();
      if (!ok) return lose(why);
      continue;
    }
    // Nothing waits: ask for a kick, then look once more, for a record
    // published before the host could see that we asked.
    transport_->want_kicks(RingId::Reply);
    if (!replies_.readable()) return true;
  }
}

}  // namespace xen3d::proto
