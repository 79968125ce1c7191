#include "host/compositor/connection_input.h"

#include "common/log.h"

namespace xen3d::host {

void ConnectionInput::deliver(const InputEvent& event) {
  std::lock_guard lock(mutex_);
  if (!transport_) return;
  // Only where the pointer is now matters: a motion replaces one not yet sent.
  if (event.kind == InputEvent::Kind::Pointer && !queue_.empty() && queue_.back().kind == InputEvent::Kind::Pointer) {
    queue_.back() = event;
  } else if (queue_.size() >= kMaxQueued) {
    if (dropped_++ == 0) {
      XLOG_WARN("%s: its window system reads no input (%zu events wait); dropping more until it does",
                label_.c_str(), queue_.size());
    }
    return;
  } else {
    queue_.push_back(event);
  }
  pending_.store(true, std::memory_order_release);
  transport_->poke();
}

namespace {

bool send_one(proto::HostSession& session, const InputEvent& e) {
  switch (e.kind) {
    case InputEvent::Kind::Key: return session.try_reply(proto::InputKey{.code = e.code, .down = e.down});
    case InputEvent::Kind::Pointer: return session.try_reply(proto::InputPointer{.x = e.x, .y = e.y});
    case InputEvent::Kind::Wheel: return session.try_reply(proto::InputWheel{.vertical = e.y, .horizontal = e.x});
  }
  return true;  // no such kind: nothing to send
}

}  // namespace

void ConnectionInput::send_queued(proto::HostSession& session) {
  std::lock_guard lock(mutex_);
  while (!queue_.empty() && send_one(session, queue_.front())) queue_.pop_front();
  if (queue_.empty()) {
    if (dropped_) {
      XLOG_INFO("%s: its window system reads input again (%llu events were dropped)", label_.c_str(),
                static_cast<unsigned long long>(dropped_));
    }
    dropped_ = 0;
  }
  // What the ring did not take waits for the connection's next turn (at
  // most its 200 ms idle wait), not for attention: that would spin.
  pending_.store(false, std::memory_order_release);
}

void ConnectionInput::detach() {
  std::lock_guard lock(mutex_);
  transport_ = nullptr;
  queue_.clear();
  pending_.store(false, std::memory_order_release);
}

}  // namespace xen3d::host
