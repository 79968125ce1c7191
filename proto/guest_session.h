// The guest end of a connection: queues records into the command ring,
// hands out bulk-heap spans and waits for answers. Used by the pipe driver
// and by tools; knows nothing about which transport carries the rings.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "proto/commands.gen.h"
#include "proto/ring.h"
#include "proto/transport.h"

namespace xen3d::proto {

class GuestSession {
 public:
  // spec: "local:/path" or "tcp:host:port"; empty means default_endpoint_spec().
  static std::unique_ptr<GuestSession> connect(const std::string& spec, const ConnectRequest& req,
                                               std::string& error);
  ~GuestSession();

  // Once the process exits (an atexit handler that the first connect()
  // registers, so it runs before the handlers registered earlier: the
  // program's own, and EGL's teardown), a wait lasts at most kExitWaitMs:
  // GL called while exiting must not hold the exit for the whole answer
  // timeout when the compositor is stopped.
  static constexpr int kExitWaitMs = 1000;

  const SessionInfo& info() const { return info_; }
  Transport& transport() { return *transport_; }
  bool alive() const { return alive_; }
  // Why the session stopped working (host gone, context lost).
  const std::string& error() const { return error_; }
  uint64_t round_trips() const { return round_trips_; }
  uint64_t records_sent() const { return records_sent_; }

  // Queues a record. Waits only while the command ring is full.
  template <class R>
  bool send(const R& r) {
    static_assert(R::kSender == Sender::Guest, "the guest sends guest records only");
    const size_t n = wire_size(r);
    uint8_t* p = reserve(n);
    if (!p) return false;
    encode(p, r);
    cmd_.commit(n);
    ++records_sent_;
    // Big uploads count too: a few records may name megabytes of heap, and the
    // host should copy them while we fill the next span, not once the heap is full.
    if (cmd_.unpublished() >= auto_flush_bytes_ || bulk_.unpublished() >= auto_flush_bulk_bytes_) flush();
    return true;
  }

  // Queues raw bytes as a record, unchecked: for tests and fuzzers that play a
  // misbehaving guest. `bytes` must be a multiple of 8.
  bool send_raw(const uint8_t* rec, size_t bytes) {
    uint8_t* p = reserve(bytes);
    if (!p) return false;
    std::memcpy(p, rec, bytes);
    cmd_.commit(bytes);
    return true;
  }

  // Makes every queued record and bulk span visible to the host, waking it if
  // it sleeps. True when the host had read everything sent before (it is
  // idle, or busy with its last records at most).
  bool flush();

  // A round trip that throws away every answer before its own: for replaying
  // recorded streams, whose answers nobody reads.
  bool sync_discarding_answers();

  // Queues r, flushes, and waits for the host's answer (one synchronous round trip).
  // `out` views memory owned by the session until the next call().
  template <class Answer, class R>
  bool call(const R& r, Answer& out) {
    static_assert(R::kAwaitsAnswer, "this record has no answer");
    if (!send(r)) return false;
    flush();
    ++round_trips_;
    size_t size = 0;
    if (!read_reply(size)) return false;
    if (DecodeError e = decode(reply_.data(), size, out); !e.ok()) {
      return lose("unexpected answer from the host: " + e.describe());
    }
    return true;
  }

  // Queues r, flushes, and collects the host_data chunks that answer it into
  // dst, which must expect exactly `size` bytes. One synchronous round trip.
  // With row_bytes, the packed answer is rows of that many bytes, stored
  // `dst_stride` apart (straight into an image with padded rows).
  template <class R>
  bool call_data(const R& r, void* dst, size_t size, size_t dst_stride = 0, size_t row_bytes = 0) {
    static_assert(R::kAwaitsAnswer, "this record has no answer");
    if (!send(r)) return false;
    flush();
    ++round_trips_;
    return read_data(static_cast<uint8_t*>(dst), size, dst_stride, row_bytes);
  }

  // A bulk-heap span to fill before naming it in a record; hand it back with
  // bulk_done() once a record names it (or it is abandoned). Flushes and waits
  // while the host still uses the space. {nullptr} if the session died,
  // bytes > max_bulk(), or the space is held by a span not yet done (an open
  // map): the caller then sends its bytes another way.
  BulkSpan alloc_bulk(uint32_t bytes);
  void bulk_done(const BulkSpan& span);
  uint32_t max_bulk() const { return bulk_.max_alloc(); }
  uint32_t bulk_heap_size() const { return bulk_.capacity(); }
  // The most data bytes one record may carry inline on this connection (a
  // small command ring holds smaller records than the protocol's 64 KiB).
  size_t max_inline_bytes() const { return std::min<size_t>(PayloadChunk::kMaxData, cmd_.max_record() - 64); }

  // The payload of one record (shader tokens, user indices): in the bulk heap
  // when it can take the bytes, else staged on the host by payload_chunk
  // records. Never refused for lack of heap; false only once the session is
  // lost. `span` (when in the heap) goes back with payload_done() once the
  // record that names `ref` is queued.
  struct Payload {
    BulkRef ref;
    BulkSpan span;
  };
  bool put_payload(const void* data, size_t size, Payload& out);
  void payload_done(const Payload& p) {
    if (p.span.data) bulk_done(p.span);
  }

  // For a window system, whose host sends records nobody asked for (input):
  // hands each record waiting in the reply ring to `each` (which returns
  // false to stop: the session is then lost with `why` it set), without
  // waiting, then asks the host to kick the transport's readiness_fd() when
  // it sends more. A context_lost ends the session as in a call(). False
  // once the session is lost.
  bool take_unasked(const std::function<bool(const uint8_t* rec, size_t size, std::string& why)>& each);

  // Marks the session lost with `why` (a record that cannot be sent at all),
  // telling the host it leaves for that reason.
  void fail(std::string why);
  // In a child of fork(): the session is lost and its transport let go
  // (Transport::forsake_after_fork); the parent's connection is untouched.
  // Async-signal-safe apart from formatting the reason once.
  void forsake_after_fork();
  // Marks the session lost without touching the rings: for a caller that may
  // have interrupted an encoder in the middle of a record (a signal handler
  // on the encoding thread). The host learns of it when the process goes.
  void abandon(std::string why) { lose(std::move(why)); }

  // How the bulk heap served this connection (XEN3D_STATS, heap sizing).
  struct BulkStats {
    uint64_t spans = 0, span_bytes = 0;      // payloads that went through the heap
    uint64_t peak_in_use = 0;                // most heap bytes the host had not handed back
    uint64_t largest = 0;                    // largest single span or payload asked for
    uint64_t waits = 0;                      // allocations that waited for the host
    uint64_t held_refusals = 0;              // allocations refused: an open map held the space
    uint64_t staged = 0, staged_bytes = 0;   // payloads sent by payload_chunk instead
    uint64_t inline_bytes = 0;               // uploads sent in transfer_write_inline records
  };
  const BulkStats& bulk_stats() const { return bulk_stats_; }
  BulkStats& bulk_stats() { return bulk_stats_; }

 private:
  GuestSession() = default;
  uint8_t* reserve(size_t bytes);
  bool read_reply(size_t& size);
  bool read_data(uint8_t* dst, size_t size, size_t dst_stride, size_t row_bytes);
  // The next reply where it lies in the ring (the host is trusted to leave it
  // alone), valid until reply_done() hands the space back.
  bool next_reply(const uint8_t*& rec, size_t& size);
  void reply_done();
  bool lose(std::string why);
  // The session's end when `rec` is the host's context_lost ("" otherwise).
  static std::string context_lost_message(const uint8_t* rec, size_t size);
  // Waits until `ready` (true) or the compositor is gone or silent for
  // answer_timeout_ms_ (false: the session is lost, error() says which).
  template <class Pred>
  bool wait_for(RingId ring, Pred ready);
  // Start of the oldest span not yet done: the host may reuse everything before it.
  uint64_t bulk_floor() const;
  // Queues bulk_retire when the floor moved; false when the ring had no room.
  bool queue_retire();

  struct HeldSpan {
    uint64_t pos, end;
    bool done;
  };
  std::deque<HeldSpan> held_;
  BulkStats bulk_stats_;
  uint64_t retired_ = 0;

  std::unique_ptr<Transport> transport_;
  SessionInfo info_;
  RecordWriter cmd_;
  RecordReader replies_;
  BulkWriter bulk_;
  std::vector<uint8_t> reply_;
  static constexpr size_t kPublishBytes = 16 * 1024;
  size_t auto_flush_bytes_ = 0;
  size_t auto_flush_bulk_bytes_ = 0;
  int answer_timeout_ms_ = -1;
  uint64_t sync_seq_ = uint64_t{1} << 62;  // apart from callers' own ping numbers
  bool alive_ = true;
  std::string error_;
  uint64_t round_trips_ = 0;
  uint64_t records_sent_ = 0;
};

}  // namespace xen3d::proto
