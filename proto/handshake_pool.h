// The host side of the socket transports' handshakes (local, tcp), run in
// parallel. Each guest that connects gets a thread of its own for its hello
// and welcome, bounded by the handshake deadline, so a guest that connects
// and says nothing delays only itself, never the guests behind it. Pending
// handshakes are capped in all and per peer (a uid, an address), so one peer
// cannot tie up the acceptor by opening connections it never speaks on.
// Connections past a cap wait, in a bounded queue per peer, for that peer's
// earlier handshakes to end: a burst of real guests (eight apps started at
// once, each slow to say hello) is served in turn, not refused.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "proto/transport.h"

namespace xen3d::proto {

class HandshakePool {
 public:
  // Runs on a handshake thread: reads the hello on `sock`, answers it and
  // builds the transport (owning `sock` from then on), or closes `sock` and
  // says why in `error`.
  using Handshake = std::function<std::unique_ptr<Transport>(int sock, SessionInfo& info, std::string& error)>;

  static constexpr size_t kMaxPending = 32;
  static constexpr size_t kMaxPendingPerPeer = 4;
  static constexpr size_t kMaxQueuedPerPeer = 64;
  static constexpr size_t kMaxQueued = 256;

  HandshakePool();
  ~HandshakePool();  // waits for running handshakes (each ends by its deadline)
  HandshakePool(const HandshakePool&) = delete;
  HandshakePool& operator=(const HandshakePool&) = delete;

  // Accepts connections on `listen_fd` for up to `timeout_ms`, starting a
  // handshake for each (`peer_of` names its peer), and returns as soon as
  // any handshake finished: its transport, or nullptr with `error` for one
  // that failed. nullptr with `error` empty: nothing finished in time.
  std::unique_ptr<Transport> next(int listen_fd, const std::function<std::string(int sock)>& peer_of,
                                  const Handshake& handshake, SessionInfo& info, std::string& error, int timeout_ms);

 private:
  struct Finished {
    std::unique_ptr<Transport> transport;
    SessionInfo info;
    std::string error;
  };
  void start(int sock, const std::string& peer, const Handshake& handshake);
  void join_finished();
  // Starts queued connections whose peers have free handshake slots.
  void start_queued(const Handshake& handshake);

  int wake_fd_ = -1;  // eventfd: a handshake finished
  std::mutex mutex_;
  std::deque<Finished> finished_;
  std::map<std::string, size_t> pending_;  // by peer
  size_t pending_total_ = 0;
  std::map<std::string, std::deque<int>> queued_;  // sockets waiting, by peer
  size_t queued_total_ = 0;
  struct Worker {
    std::thread thread;
    bool done = false;
  };
  std::list<Worker> workers_;
};

}  // namespace xen3d::proto
