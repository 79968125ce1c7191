#include "proto/handshake_pool.h"

#include <cerrno>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/socket_io.h"

namespace xen3d::proto {

HandshakePool::HandshakePool() : wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

HandshakePool::~HandshakePool() {
  for (auto& w : workers_) {
    if (w.thread.joinable()) w.thread.join();
  }
  finished_.clear();
  for (auto& [peer, socks] : queued_) {
    for (int sock : socks) ::close(sock);
  }
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void HandshakePool::join_finished() {
  std::list<Worker> done;
  {
    std::lock_guard<std::mutex> g(mutex_);
    for (auto it = workers_.begin(); it != workers_.end();) {
      auto next = std::next(it);
      if (it->done) done.splice(done.end(), workers_, it);
      it = next;
    }
  }
  for (auto& w : done) w.thread.join();
}

void HandshakePool::start(int sock, const std::string& peer, const Handshake& handshake) {
  std::lock_guard<std::mutex> g(mutex_);
  ++pending_[peer];
  ++pending_total_;
  Worker& w = workers_.emplace_back();
  w.thread = std::thread([this, sock, peer, handshake, &w] {
    Finished f;
    f.transport = handshake(sock, f.info, f.error);
    if (!f.transport && f.error.empty()) f.error = "handshake failed";
    std::lock_guard<std::mutex> g(mutex_);
    if (--pending_[peer] == 0) pending_.erase(peer);
    --pending_total_;
    finished_.push_back(std::move(f));
    w.done = true;
    uint64_t one = 1;
    ssize_t n = ::write(wake_fd_, &one, sizeof one);
    (void)n;
  });
}

void HandshakePool::start_queued(const Handshake& handshake) {
  for (auto it = queued_.begin(); it != queued_.end();) {
    auto& socks = it->second;
    while (!socks.empty()) {
      {
        std::lock_guard<std::mutex> g(mutex_);
        auto p = pending_.find(it->first);
        const size_t for_peer = p == pending_.end() ? 0 : p->second;
        if (for_peer >= kMaxPendingPerPeer || pending_total_ >= kMaxPending) break;
      }
      const int sock = socks.front();
      socks.pop_front();
      --queued_total_;
      start(sock, it->first, handshake);
    }
    it = socks.empty() ? queued_.erase(it) : std::next(it);
  }
}

std::unique_ptr<Transport> HandshakePool::next(int listen_fd, const std::function<std::string(int sock)>& peer_of,
                                               const Handshake& handshake, SessionInfo& info, std::string& error,
                                               int timeout_ms) {
  error.clear();
  Deadline dl = Deadline::in(timeout_ms);
  for (;;) {
    join_finished();
    start_queued(handshake);
    {
      std::lock_guard<std::mutex> g(mutex_);
      if (!finished_.empty()) {
        Finished f = std::move(finished_.front());
        finished_.pop_front();
        info = std::move(f.info);
        error = std::move(f.error);
        return std::move(f.transport);
      }
    }
    pollfd p[2] = {{listen_fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const int ms = dl.remaining_ms();
    if (::poll(p, 2, ms) <= 0) {
      // Timeout (or EINTR): one more look at what finished meanwhile.
      std::lock_guard<std::mutex> g(mutex_);
      if (finished_.empty()) return nullptr;
      continue;
    }
    if (p[1].revents & POLLIN) {
      uint64_t v;
      ssize_t n = ::read(wake_fd_, &v, sizeof v);
      (void)n;
    }
    if (!(p[0].revents & POLLIN)) continue;
    const int sock = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (sock < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) continue;
      error = "accept failed: " + errno_text(errno);
      return nullptr;
    }
    const std::string peer = peer_of(sock);
    size_t for_peer, total;
    {
      std::lock_guard<std::mutex> g(mutex_);
      auto it = pending_.find(peer);
      for_peer = it == pending_.end() ? 0 : it->second;
      total = pending_total_;
    }
    // A peer's connections start in the order they came.
    if (for_peer >= kMaxPendingPerPeer || total >= kMaxPending || queued_.count(peer) != 0) {
      auto& socks = queued_[peer];
      if (socks.size() < kMaxQueuedPerPeer && queued_total_ < kMaxQueued) {
        socks.push_back(sock);
        ++queued_total_;
        continue;
      }
      error = "refused a connection from " + peer + ": " +
              (socks.size() >= kMaxQueuedPerPeer ? std::to_string(socks.size()) + " of its connections are"
                                                 : std::to_string(queued_total_) + " connections are") +
              " already waiting for a handshake";
      if (socks.empty()) queued_.erase(peer);
      ::close(sock);
      return nullptr;
    }
    start(sock, peer, handshake);
  }
}

}  // namespace xen3d::proto
