#include "proto/guest_session.h"

namespace xen3d::proto {

std::unique_ptr<GuestSession> GuestSession::connect(const std::string& spec, const ConnectRequest& req,
                                                    std::string& error) {
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
  // Publish in slices so the host starts decoding while we keep encoding.
  s->auto_flush_bytes_ = t.ring_size(RingId::Command) / 8;
  return s;
}

GuestSession::~GuestSession() {
  if (alive_ && transport_) {
    send(Goodbye{});
    flush();
  }
}

bool GuestSession::lose(std::string why) {
  if (alive_) error_ = std::move(why);
  alive_ = false;
  return false;
}

void GuestSession::flush() {
  if (!alive_) return;
  // Bulk first: a record must never become visible before the bytes it names.
  if (bulk_.unpublished()) transport_->kick(RingId::Bulk, bulk_.publish());
  if (cmd_.unpublished()) transport_->kick(RingId::Command, cmd_.publish());
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
    WaitResult w = transport_->wait(RingId::Command, [&] { return cmd_.has_room(bytes); }, -1);
    if (w == WaitResult::PeerGone) {
      lose("lost the compositor: " + transport_->error());
      return nullptr;
    }
  }
}

BulkSpan GuestSession::alloc_bulk(uint32_t bytes) {
  if (!alive_ || bytes > bulk_.max_alloc()) return {};
  for (;;) {
    BulkSpan s = bulk_.alloc(bytes);
    if (s.data) return s;
    flush();
    // The host frees bulk space as it runs the records that name it.
    WaitResult w = transport_->wait(RingId::Bulk, [&] { return bulk_.can_alloc(bytes); }, -1);
    if (w == WaitResult::PeerGone) {
      lose("lost the compositor: " + transport_->error());
      return {};
    }
  }
}

bool GuestSession::read_reply(size_t& size) {
  for (;;) {
    const char* why = nullptr;
    ReadStatus st = replies_.next(reply_.data(), size, why);
    if (st == ReadStatus::Record) {
      transport_->kick(RingId::Reply, replies_.release());
      if (header_opcode(reply_.data()) == uint16_t(Opcode::ContextLost)) {
        ContextLost lost;
        if (decode(reply_.data(), size, lost).ok()) {
          return lose("the compositor rejected '" + std::string(opcode_name(lost.opcode)) +
                      "' (record " + std::to_string(lost.command_index) + "): " + std::string(lost.message));
        }
        return lose("the compositor dropped this context");
      }
      return true;
    }
    if (st == ReadStatus::Corrupt) return lose(std::string("corrupt reply ring: ") + why);
    WaitResult w = transport_->wait(RingId::Reply, [&] { return replies_.readable(); }, -1);
    if (w == WaitResult::PeerGone) return lose("lost the compositor: " + transport_->error());
  }
}

}  // namespace xen3d::proto
