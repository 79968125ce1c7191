// The host end of a connection: pulls guest records out of the command ring
// (copied into host memory before anyone decodes them), resolves bulk spans,
// and sends answers. Decoding and executing are the caller's job.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "proto/commands.gen.h"
#include "proto/ring.h"
#include "proto/transport.h"

namespace xen3d::proto {

class HostSession {
 public:
  HostSession(std::unique_ptr<Transport> transport, SessionInfo info);

  // Starts over on the same transport, as if it had just been set up: the
  // guest has zeroed the rings' counters (the fuzz harness reusing one
  // connection for every input). Readers, staged payload and error forgotten.
  void restart();

  const SessionInfo& info() const { return info_; }
  Transport& transport() { return *transport_; }
  const std::string& error() const { return error_; }
  // Changes when command records published later than those read so far
  // may be read next (RecordReader::head_loads): within one value, the
  // guest wrote nothing to shared memory between the records read.
  uint64_t command_epoch() const { return cmd_.head_loads(); }

  enum class Next { Record, Idle, Gone, Corrupt };
  // Waits up to timeout_ms for the next record. On Record, `rec`/`size` view a
  // host-private copy valid until the next call. Gone/Corrupt set error().
  Next next(const uint8_t*& rec, size_t& size, int timeout_ms);
  // While *flag is set, next() returns Idle instead of waiting for records
  // (another thread queued something for this connection's thread to send:
  // input for a window system, which sets the flag and pokes the transport).
  void set_attention(const std::atomic<bool>* flag) { attention_ = flag; }

  // The bytes of a bulk span named by the guest, or nullptr (`why` says why).
  // A ref at kStagedPayloadPos names the staged payload instead.
  const uint8_t* bulk(const BulkRef& ref, const char*& why);
  // A payload_chunk record: appends to the staged payload. False (with `why`)
  // when it breaks the order or passes the limit.
  bool stage_payload(const PayloadChunk& chunk, const char*& why);
  // The largest payload a guest may stage (default: the bulk heap's size).
  void set_staged_payload_limit(uint32_t bytes) { staged_limit_ = bytes; }
  // Sees every bulk span bulk() hands out (recording: the bytes are the
  // guest's and will be reused).
  void set_bulk_observer(std::function<void(const BulkRef&, const uint8_t*)> observer) {
    bulk_observer_ = std::move(observer);
  }
  // The guest may reuse the heap up to the end of ref.
  void release_bulk(const BulkRef& ref);

  // Sends an answer; waits while the guest has not consumed earlier ones.
  template <class R>
  bool reply(const R& r) {
    static_assert(R::kSender == Sender::Host, "the host sends host records only");
    const size_t n = wire_size(r);
    uint8_t* p = reserve_reply(n);
    if (!p) return false;
    encode(p, r);
    replies_.commit(n);
    transport_->kick(RingId::Reply, replies_.publish());
    return true;
  }

  // Sends an answer only if the reply ring has room now: the compositor's
  // last words (context_lost) to a guest whose render worker died, which
  // must not wait on a guest that stopped reading.
  template <class R>
  bool try_reply(const R& r) {
    const size_t n = wire_size(r);
    uint8_t* p = replies_.reserve(n);
    if (!p) return false;
    encode(p, r);
    replies_.commit(n);
    transport_->kick(RingId::Reply, replies_.publish());
    return true;
  }

  // A host_data chunk built in place: space for `n` data bytes in the reply
  // ring (waits for room; nullptr once the guest is gone), filled by the
  // caller, then sent by commit_host_data. Saves staging a chunk elsewhere
  // (presented frames are megabytes a second).
  uint8_t* reserve_host_data(uint32_t n);
  void commit_host_data(uint32_t total, uint32_t offset, uint32_t n);

  // Hands consumed command-ring space back to the guest.
  void release_commands();

  // Called with true before an answer waits for the guest to make room in
  // the reply ring, and with false once it has: the caller lets go of locks
  // other guests need meanwhile, so a guest that stops reading (a paused
  // domain, a stuck process) holds up only itself.
  void set_reply_wait_hook(std::function<void(bool waiting)> hook) { reply_wait_hook_ = std::move(hook); }
  // Runs `wait` (for this guest's own work: a fence) with those locks let go
  // the same way, so a guest whose work takes long holds up only itself.
  template <class F>
  void wait_unlocked(F&& wait) {
    if (reply_wait_hook_) reply_wait_hook_(true);
    wait();
    if (reply_wait_hook_) reply_wait_hook_(false);
  }

 private:
  uint8_t* reserve_reply(size_t bytes);

  std::unique_ptr<Transport> transport_;
  SessionInfo info_;
  RecordReader cmd_;
  RecordWriter replies_;
  BulkReader bulk_;
  std::vector<uint64_t> record_buf_;  // 8-byte aligned copy of the current record
  uint64_t unreleased_ = 0;
  uint64_t release_every_ = 0;
  std::string error_;
  std::function<void(bool)> reply_wait_hook_;
  const std::atomic<bool>* attention_ = nullptr;
  std::function<void(const BulkRef&, const uint8_t*)> bulk_observer_;
  // The staged payload: `staged_` holds what arrived of `staged_total_` bytes.
  std::vector<uint8_t> staged_;
  uint32_t staged_total_ = 0;
  bool staged_started_ = false;
  uint32_t staged_limit_ = 0;
};

}  // namespace xen3d::proto
