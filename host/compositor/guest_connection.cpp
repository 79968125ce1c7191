#include "host/compositor/guest_connection.h"

#include "host/compositor/connection_input.h"

#include <malloc.h>
#include <time.h>

#include "common/sanitizers.h"

#include <algorithm>
#include <cctype>

#include "common/log.h"
#include "common/monotonic_clock.h"

namespace xen3d::host {

using proto::DecodeError;


std::string GuestConnection::label_for(const proto::SessionInfo& info, const std::string& transport) {
  return "guest " + std::to_string(info.connection_id) + " (" + (info.peer_name.empty() ? "unnamed" : info.peer_name) +
         ", pid " + std::to_string(info.peer_pid) +
         (info.peer_vm.empty() ? "" : " in " + info.peer_vm + " (dom" + std::to_string(info.peer_domid) + ")") + ", " +
         transport + ")";
}

GuestConnection::GuestConnection(std::unique_ptr<proto::HostSession> session, ConnectionOptions options)
    : session_(std::move(session)), options_(options) {
  const auto& info = session_->info();
  // A payload the heap cannot take is staged instead: a heap's worth, or one
  // shader as large as the quota allows (a small Xen heap holds less).
  session_->set_staged_payload_limit(static_cast<uint32_t>(std::max<uint64_t>(
      session_->transport().ring_size(proto::RingId::Bulk), uint64_t{options_.max_shader_tokens} * 4)));
  label_ = label_for(info, session_->transport().name());
  // An answer waiting for this guest to read earlier ones must not keep the
  // driver from every other guest and from composition.
  session_->set_reply_wait_hook([this](bool waiting) {
    // Waiting for the guest to read is not GPU time.
    if (options_.watchdog) options_.watchdog->busy_since_ns.store(waiting ? 0 : monotonic_ns());
    if (!dispatch_lock_ || !dispatch_lock_->mutex()) return;
    if (waiting) {
      dispatch_lock_->unlock();
    } else {
      dispatch_lock_->lock();
    }
  });
  if (!options_.record_dir.empty()) {
    std::string name = info.peer_name.empty() ? "unnamed" : info.peer_name;
    for (char& ch : name)
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.') ch = '_';
    const std::string path =
        options_.record_dir + "/guest" + std::to_string(info.connection_id) + "-" + name + ".x3drec";
    auto w = std::make_unique<proto::RecordingWriter>();
    std::string error;
    if (w->open(path, info.peer_name, error)) {
      proto::RecordingWriter* raw = w.get();
      session_->set_bulk_observer(
          [raw](const proto::BulkRef& ref, const uint8_t* data) { raw->bulk(ref.pos, data, ref.size); });
      recording_ = std::move(w);
      XLOG_INFO("%s: recording its commands to %s", label_.c_str(), path.c_str());
    } else {
      XLOG_WARN("%s: not recorded: %s", label_.c_str(), error.c_str());
    }
  }
  make_executor();
}

void GuestConnection::make_executor() {
  if (!options_.screen || !options_.caps) return;
  GalliumExecutor::Config cfg;
  cfg.screen = options_.screen;
  cfg.caps = options_.caps;
  cfg.shares_frames = options_.shares_frames;
  cfg.max_resource_bytes = options_.max_guest_resource_bytes;
  cfg.max_objects = options_.max_guest_objects;
  cfg.max_shader_tokens = options_.max_shader_tokens;
  cfg.shader_path = options_.shader_path;
  cfg.max_arena_bytes = uint64_t(options_.max_arena_mib) << 20;
  // A recording holds the records, not the memory the guest writes in place.
  if (!options_.record_dir.empty()) cfg.no_arena_reason = "the compositor is recording this guest (--record)";
  cfg.snapshot_dir = options_.snapshot_dir;
  cfg.snapshot_frames = options_.snapshot_frames;
  cfg.connection_id = session_->info().connection_id;
  cfg.label = label_;
  cfg.context_pool = options_.context_pool;
  executor_ = std::make_unique<GalliumExecutor>(*session_, std::move(cfg));
  memory_ = std::make_shared<GuestMemoryAccount>(options_.max_guest_resource_bytes);
  executor_->charge_memory_to(memory_);
}

void GuestConnection::restart() {
  {
    // The old executor is torn down already; its destructor only counts it out.
    auto lock = lock_driver();
    executor_.reset();
  }
  make_executor();
  session_->restart();
  poisoned_ = goodbye_ = false;
  stop_ = false;
  executed_ = index_ = 0;
}

GuestConnection::~GuestConnection() {
  // Host objects go before the session (and the shared memory they were fed from).
  auto lock = lock_driver();
  executor_.reset();
}

void GuestConnection::run() {
  XLOG_INFO("%s connected", label_.c_str());
  while (!stop_) {
    const uint8_t* rec = nullptr;
    size_t size = 0;
    auto st = session_->next(rec, size, 200);
    if (input_) input_->send_queued(*session_);
    if (st == proto::HostSession::Next::Idle) continue;
    if (st == proto::HostSession::Next::Gone) {
      if (!goodbye_) XLOG_INFO("%s went away: %s", label_.c_str(), session_->error().c_str());
      break;
    }
    if (st == proto::HostSession::Next::Corrupt) {
      // The ring itself is unusable: nothing after this point can be trusted.
      XLOG_WARN("%s broke its command ring: %s; disconnecting it", label_.c_str(), session_->error().c_str());
      break;
    }
    ++index_;
    if (recording_) recording_->record(rec, size);
    if (options_.trace) {
      XLOG_INFO("%s #%llu %s", label_.c_str(), static_cast<unsigned long long>(index_),
                proto::trace_record(rec, size, proto::Sender::Guest).c_str());
    }
    if (poisoned_) {
      // A lost context executes nothing more; it only waits for the guest to leave.
      if (proto::header_opcode(rec) == uint16_t(proto::Opcode::Goodbye)) goodbye_ = true;
      if (goodbye_) break;
      continue;
    }
    DecodeError e;
    {
      auto lock = lock_driver();
      dispatch_lock_ = &lock;
      if (options_.watchdog) {
        options_.watchdog->busy_opcode.store(proto::header_opcode(rec));
        options_.watchdog->busy_since_ns.store(monotonic_ns());
      }
      e = proto::dispatch(rec, size, proto::Sender::Guest, *this);
      if (options_.watchdog) options_.watchdog->busy_since_ns.store(0);
      dispatch_lock_ = nullptr;
    }
    if (!e.ok()) {
      poison(e.opcode ? e : e.at(proto::header_opcode(rec)), rec, size);
      continue;
    }
    ++executed_;
    if (goodbye_) break;
  }
  if (goodbye_) XLOG_INFO("%s said goodbye", label_.c_str());
  XLOG_DEBUG("%s: %llu records executed; freeing its objects", label_.c_str(),
             static_cast<unsigned long long>(executed_));
  // Free the guest's host objects now, on its own thread, whether it said
  // goodbye, vanished or was poisoned; the connection object may live on
  // until the compositor reaps it.
  if (executor_) {
    auto lock = lock_driver();
    executor_->teardown();
  }
  leave_desktops();
  // What the guest held is free, but glibc keeps freed chunks of its arenas
  // (this thread's among them) mapped: hand the pages back to the system, so
  // a guest that came and went leaves the compositor's RSS where it was.
  // Not under ASan: its allocator owns the heap, and glibc's first
  // malloc_trim initializes ptmalloc from whichever thread calls it, giving
  // that thread main_arena without counting it; two guest threads exiting
  // after that abort in glibc's arena accounting.
#if !XEN3D_ADDRESS_SANITIZER
  malloc_trim(0);
#endif
}

void GuestConnection::poison(const DecodeError& e, const uint8_t* rec, size_t size) {
  poisoned_ = true;
  const std::string why = e.describe();
  XLOG_WARN("%s: rejected record #%llu: %s; its context is now lost (record: %s)", label_.c_str(),
            static_cast<unsigned long long>(index_), why.c_str(),
            proto::trace_record(rec, size, proto::Sender::Guest).c_str());
  proto::ContextLost lost;
  lost.opcode = e.opcode;
  lost.command_index = static_cast<uint32_t>(index_);
  lost.message = why;
  session_->reply(lost);
}

DecodeError GuestConnection::operator()(const proto::Nop&) { return {}; }

DecodeError GuestConnection::operator()(const proto::Ping& p) {
  proto::Pong pong;
  pong.seq = p.seq;
  pong.commands_executed = executed_;
  session_->reply(pong);
  return {};
}

DecodeError GuestConnection::operator()(const proto::ChecksumBulk& c) {
  const char* why = nullptr;
  const uint8_t* data = session_->bulk(c.data, why);
  if (!data) return DecodeError::rejected(why);
  proto::BulkChecksum out;
  out.fnv1a = proto::fnv1a(data, c.data.size);
  session_->release_bulk(c.data);
  out.size = c.data.size;
  session_->reply(out);
  return {};
}

DecodeError GuestConnection::operator()(const proto::BulkSink& c) {
  const char* why = nullptr;
  if (!session_->bulk(c.data, why)) return DecodeError::rejected(why);
  session_->release_bulk(c.data);
  return {};
}

DecodeError GuestConnection::operator()(const proto::PayloadChunk& c) {
  const char* why = nullptr;
  if (!session_->stage_payload(c, why)) return DecodeError::rejected(why);
  return {};
}

DecodeError GuestConnection::operator()(const proto::Goodbye& g) {
  if (g.reason == proto::kGoodbyeContextLost) {
    XLOG_WARN("%s: its driver lost its context (a record it could not send; the guest's log says why)",
              label_.c_str());
  }
  goodbye_ = true;
  return {};
}

}  // namespace xen3d::host

namespace xen3d::host {

DecodeError GuestConnection::operator()(const proto::HostStats&) {
  if (!executor_) return DecodeError::rejected("this compositor has no host GPU for Gallium records");
  proto::Stats s;
  s.connection_objects = static_cast<uint32_t>(executor_->object_count());
  s.connection_bytes = executor_->object_bytes();
  proto::WorkerTotals totals;
  if (session_->info().peer_is_host && options_.compositor_totals) {
    if (!options_.compositor_totals(totals)) return DecodeError::rejected("the compositor did not answer for its totals");
    s.guests = totals.guests;
    s.total_objects = totals.objects;
    s.total_bytes = totals.bytes;
  } else if (session_->info().peer_is_host) {
    s.guests = GlobalObjectStats::guests.load();
    s.total_objects = GlobalObjectStats::objects.load();
    s.total_bytes = GlobalObjectStats::bytes.load();
  } else {
    // How many guests the compositor serves and what they hold says what
    // other VMs are doing: a guest VM sees only itself.
    s.guests = 1;
    s.total_objects = s.connection_objects;
    s.total_bytes = s.connection_bytes;
  }
  session_->reply(s);
  return {};
}

}  // namespace xen3d::host
