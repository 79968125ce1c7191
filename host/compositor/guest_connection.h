// One guest connection on the host: decodes its command ring, validates each
// record and executes it. A bad record poisons this connection only (the guest
// is told its context is lost); nothing it sends can reach another guest.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "proto/commands.gen.h"
#include "proto/host_session.h"

namespace xen3d::host {

struct ConnectionOptions {
  bool trace = false;  // print every decoded record
};

class GuestConnection {
 public:
  GuestConnection(std::unique_ptr<proto::HostSession> session, ConnectionOptions options);
  ~GuestConnection();

  // Serves the guest until it says goodbye, disappears, corrupts its ring, or
  // stop() is called. Everything the guest owns is freed before returning.
  void run();
  void stop() { stop_ = true; }

  uint32_t id() const { return session_->info().connection_id; }
  const std::string& label() const { return label_; }
  bool poisoned() const { return poisoned_; }
  uint64_t records_executed() const { return executed_; }

  // One handler per record type; the dispatcher picks by opcode.
  proto::DecodeError operator()(const proto::Nop&);
  proto::DecodeError operator()(const proto::Ping&);
  proto::DecodeError operator()(const proto::ChecksumBulk&);
  proto::DecodeError operator()(const proto::BulkSink&);
  proto::DecodeError operator()(const proto::Goodbye&);
  // Handshake records are only valid before the rings exist.
  template <class R>
  proto::DecodeError operator()(const R&) {
    return proto::DecodeError::rejected("record not valid on the command ring");
  }

 private:
  void poison(const proto::DecodeError& e, const uint8_t* rec, size_t size);

  std::unique_ptr<proto::HostSession> session_;
  ConnectionOptions options_;
  std::string label_;
  std::atomic<bool> stop_{false};
  bool poisoned_ = false;
  bool goodbye_ = false;
  uint64_t executed_ = 0;
  uint64_t index_ = 0;
};

}  // namespace xen3d::host
