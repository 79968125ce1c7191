// The input a window system's connection carries to its guest: the outputs
// queue events here from their threads (InputSink), and the connection's
// own thread, the only one that writes its reply ring, sends them as
// input_key / input_pointer / input_wheel records.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

#include "host/desktop/desktop_input.h"
#include "proto/host_session.h"

namespace xen3d::host {

class ConnectionInput final : public InputSink {
 public:
  // Events a guest that reads none may have queued: a window system that
  // stops reading (a stopped X server) loses input past this, never memory.
  static constexpr size_t kMaxQueued = 1024;

  ConnectionInput(proto::Transport& transport, std::string label) : transport_(&transport), label_(std::move(label)) {}

  // Any thread.
  void deliver(const InputEvent& event) override;
  // Set when events arrive, until send_queued (HostSession::set_attention).
  const std::atomic<bool>* attention() const { return &pending_; }

  // Connection thread: sends what the reply ring takes now; the rest waits
  // for the next call (the guest reads its ring when its X server wakes).
  void send_queued(proto::HostSession& session);
  // Connection thread, as the connection ends: later events are dropped and
  // the transport is no longer touched.
  void detach();

 private:
  std::mutex mutex_;
  proto::Transport* transport_;  // mutex_; nullptr once detached
  const std::string label_;
  std::deque<InputEvent> queue_;  // mutex_
  uint64_t dropped_ = 0;          // mutex_
  std::atomic<bool> pending_ = false;
};

}  // namespace xen3d::host
