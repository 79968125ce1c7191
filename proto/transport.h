// Transports: how the rings of one connection reach the other side.
//
// Every transport presents the same thing to the layers above: a ShmLayout'd
// block of memory holding the command ring, reply ring and bulk heap, plus
// kick() and wait(). With `local` (and later `xen`) that memory is really
// shared and kick() rings an eventfd doorbell only when the peer sleeps. With
// `tcp` each side keeps a private mirror of the rings and kick() ships the
// newly produced bytes (or the consumer's new tail) over the socket, so the
// encoder and decoder above do not know which transport carries them.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "proto/shm_layout.h"
#include "proto/wire.h"

namespace xen3d::proto {

enum class WaitResult { Ready, PeerGone, Timeout };

// How long a guest waits for the descriptor that follows an answer (frame_share).
inline constexpr int kFdAfterAnswerTimeoutMs = 5000;

// What a guest asks for when it connects.
struct ConnectRequest {
  std::string client_name;
  uint32_t cmd_ring_kib = 0;   // 0: the host's default
  uint32_t bulk_heap_kib = 0;  // 0: the host's default
  uint32_t framebuffer_kib = 0;  // a desktop's framebuffer region (proto/xenfb_page.h); 0: none
  // Memory beyond the rings the guest shares as it connects, where the
  // transport cannot share it later (xen: the render worker maps it before
  // its sandbox closes): up to `memory_pages` pages, at least
  // `memory_min_pages`, else none (Transport::share_memory says why). The
  // buffer arena; 0: none. Transports that pass descriptors ignore it.
  uint32_t memory_pages = 0, memory_min_pages = 0;
  int timeout_ms = 5000;       // connect + handshake; never hang on a dead host
  // Guest only: how long to wait for the compositor to answer or make room
  // before calling it lost (stopped, hung); -1: forever.
  int answer_timeout_ms = 30000;
};

// What a guest asks for, from its environment: XEN3D_CMD_RING_KIB and
// XEN3D_BULK_HEAP_KIB (e.g. on Xen after raising the gntalloc limit), and
// XEN3D_ANSWER_TIMEOUT_S (0: wait forever). Unset leaves the defaults;
// `error` names a value that is not a number (the rest are still applied).
bool request_from_env(ConnectRequest& req, std::string& error);

// What the host answered.
struct SessionInfo {
  uint32_t connection_id = 0;
  std::string host_renderer;
  // Guest side: the compositor's protocol minor version (which newer records it understands).
  uint16_t host_minor = 0;
  std::string endpoint;  // as given, for messages
  uint32_t peer_pid = 0;
  std::string peer_name;
  // xen: the guest's domain and its name in xenstore (0 and "" otherwise).
  uint32_t peer_domid = 0;
  std::string peer_vm;
  // Host side: who is behind the connection, as the host knows it (never
  // from the guest's hello): "dom5" (xen), "tcp 10.0.0.7" (the address),
  // "uid 1000" (local, the socket's peer credentials). Per-VM limits and
  // desktop name ownership go by it.
  std::string peer_id;
  // Host side: a local process of the compositor's own user, i.e. the host's
  // operator (xen3d-info, tests), not a guest VM.
  bool peer_is_host = false;
};

// One side of a connection handed to another process (Transport::handoff,
// adopt_transport): its kind, layout, descriptors (owned) and kind-specific words.
struct TransportHandoff {
  enum Kind : uint8_t { Local = 0, Tcp = 1, Xen = 2 } kind = Local;
  ShmLayout layout;
  std::vector<int> fds;
  std::vector<uint32_t> words;
  TransportHandoff() = default;
  TransportHandoff(TransportHandoff&& o) noexcept : kind(o.kind), layout(o.layout), fds(std::move(o.fds)), words(std::move(o.words)) { o.fds.clear(); }
  TransportHandoff& operator=(TransportHandoff&&) = delete;
  TransportHandoff(const TransportHandoff&) = delete;
  ~TransportHandoff();
};

class Transport {
 public:
  virtual ~Transport() = default;

  Sender side() const { return side_; }
  const ShmLayout& layout() const { return layout_; }
  ControlBlock* control() const { return reinterpret_cast<ControlBlock*>(control_); }
  RingCounters* counters(RingId r) const { return &control()->rings[static_cast<int>(r)]; }
  uint8_t* ring_data(RingId r) const { return at(layout_.offset[static_cast<int>(r)]); }
  uint32_t ring_size(RingId r) const { return layout_.size[static_cast<int>(r)]; }
  // The framebuffer region (nullptr, 0 when the connection has none).
  uint8_t* framebuffer() const { return layout_.fb_size ? at(layout_.fb_offset) : nullptr; }
  uint32_t framebuffer_size() const { return layout_.fb_size; }
  bool produces(RingId r) const { return (r == RingId::Reply) == (side_ == Sender::Host); }

  // This side advanced `ring` (published as producer, released as consumer).
  // `peer_sleeping` is what the ring said about the other side.
  virtual void kick(RingId ring, bool peer_sleeping) = 0;
  // Sleeps until ready() holds, the peer is gone, or timeout_ms passes (-1: no limit).
  virtual WaitResult wait(RingId ring, const std::function<bool()>& ready, int timeout_ms) = 0;
  // Human-readable reason once wait() returned PeerGone.
  const std::string& error() const { return error_; }
  virtual std::string name() const = 0;  // "local", "tcp", "xen"

  // Host side: what another process (a render worker) needs to serve this
  // connection's rings itself: duplicates of this transport's descriptors,
  // and kind-specific words. This transport stays as it is, so the
  // compositor can still speak last words to the guest (context_lost) when
  // the worker dies. False with `error` where the kind cannot be handed off.
  virtual bool handoff(TransportHandoff& out, std::string& error) const {
    error = name() + " connections cannot be handed to another process";
    return false;
  }
  // One descriptor beside the rings (frame_share), where the transport has a
  // socket that carries them (local). The host sends it right after the
  // answer that announces it and the guest receives it right after reading
  // that answer, so neither side's wait() ever finds it on the socket.
  virtual bool carries_fds() const { return false; }
  virtual bool send_fd(int fd, std::string& error) {
    (void)fd;
    error = name() + " connections cannot carry descriptors";
    return false;
  }
  // The descriptor (owned by the caller), or -1 with `error`. The host
  // sends it right after the answer, so kFdAfterAnswerTimeoutMs is plenty.
  virtual int receive_fd(int timeout_ms, std::string& error) {
    (void)timeout_ms;
    error = name() + " connections cannot carry descriptors";
    return -1;
  }

  // Memory beyond the rings that the guest shares with the host (the buffer
  // arena), where descriptors cannot travel (xen: guest grant pages, shared
  // as the guest connected: ConnectRequest::memory_pages). The guest gets
  // the memory, its size in pages, and the words the host maps it by (xen:
  // the refs of the read-only pages that listed the pages' refs); the host
  // maps it given the same pages and words. The transport keeps the memory
  // until it closes or release_memory. nullptr with `error` (which says how
  // to make room where it can).
  virtual uint8_t* share_memory(uint32_t& pages, std::vector<uint32_t>& words, std::string& error) {
    (void)pages, (void)words;
    error = "a " + name() + " connection cannot share memory beyond its rings";
    return nullptr;
  }
  virtual uint8_t* map_memory(uint32_t pages, const std::vector<uint32_t>& words, std::string& error) {
    (void)pages, (void)words;
    error = "a " + name() + " connection cannot share memory beyond its rings";
    return nullptr;
  }
  virtual void release_memory(uint8_t* base) { (void)base; }

  // Any thread: makes a wait() on this side look at its ready() predicate
  // again soon (another thread queued work for the waiter: input for a
  // window system). local: at once; other kinds: within their poll slice
  // (the host's session waits at most 200 ms at a time).
  virtual void poke() {}
  // A descriptor that becomes readable when the peer may have kicked us, for
  // a caller with a poll loop of its own (the X server's); a wait(ring, ...,
  // 0) then takes the wakeup and, on tcp, the bytes. -1 where there is none.
  virtual int readiness_fd() const { return -1; }
  // In a child of fork(): the connection stays the parent's. Lets go of
  // this process's copies of its descriptors (so the host still sees the
  // parent leave, whatever the child does) and of its mappings of the rings
  // and heap (a stray access faults in the child instead of writing into
  // the parent's rings), touching nothing the parent uses. The transport is
  // unusable afterwards. Called from pthread_atfork's child handler: only
  // async-signal-safe calls (close, munmap).
  virtual void forsake_after_fork() {}
  // Asks the peer to kick us whenever it advances `ring` (sets our sleeping
  // flag for it), for a caller that sleeps outside wait() on readiness_fd().
  void want_kicks(RingId ring);
  // Host side: why the guest is gone where the transport learns it outside
  // the rings (a destroyed Xen domain unmaps nothing); "" while it may be there.
  virtual std::string peer_problem() const { return {}; }

  // The next wait on `ring` spins for at least `us` microseconds before it
  // sleeps: the peer said it will be back that soon and waits for our answer
  // (arena_mark). At most kMaxStayAwakeUs.
  void stay_awake(RingId ring, uint32_t us);
  static constexpr uint32_t kMaxStayAwakeUs = 1000;

 protected:
  // The memory at layout offset `offset`. local and tcp map the whole layout
  // at once (control_ + offset); xen maps the control page apart from the
  // rest (grant notify-on-unmap works on a page of its own).
  uint8_t* at(uint32_t offset) const {
    return offset < kControlBlockSize ? control_ + offset : data_ + (offset - kControlBlockSize);
  }
  // The doorbell wait of transports with really shared rings: spin briefly
  // (the peer is often mid-batch; how long adapts, see spin_us_), then set
  // this side's sleeping flag and
  // sleep in `block(ms)` until ready() holds. `block` waits at most `ms`
  // (-1: no limit) for the doorbell and returns false once the peer is gone
  // (having set error_); it may check ready() itself before deciding that.
  WaitResult doorbell_wait(RingId ring, const std::function<bool()>& ready, int timeout_ms,
                           const std::function<bool(int ms)>& block);
  WaitResult peer_gone(std::string why) {
    error_ = std::move(why);
    return WaitResult::PeerGone;
  }

  void set_memory(uint8_t* whole) {
    control_ = whole;
    data_ = whole + kControlBlockSize;
  }

  Sender side_ = Sender::Guest;
  ShmLayout layout_;
  uint8_t* control_ = nullptr;  // the ControlBlock page
  uint8_t* data_ = nullptr;     // layout offset kControlBlockSize onwards
  std::string error_;
  // How long doorbell_wait spins on each ring before it sleeps, learned from
  // recent waits: a spin pays off only when the peer is running on another
  // core and answers within it. Where the peer answers late, or shares our
  // core (more guests than cores), spinning only burns time the peer needs,
  // so the spin shrinks to nothing and grows back when answers come fast.
  static constexpr uint32_t kMaxSpinUs = 50;
  uint32_t spin_us_[kRingCount] = {kMaxSpinUs, kMaxSpinUs, kMaxSpinUs};
  // A spin asked for by stay_awake(), whatever was learned.
  std::chrono::steady_clock::time_point awake_until_[kRingCount]{};
};

// "local:/path/to.sock", "tcp:host:port" or "xen[:BACKEND_DOMID]". The
// default comes from XEN3D_TRANSPORT, else local at default_socket_path().
struct Endpoint {
  enum Kind { Local, Tcp, Xen } kind = Local;
  std::string path;   // Local
  std::string host;   // Tcp
  uint16_t port = 0;  // Tcp
  uint16_t backend_domid = 0;  // Xen: the domain running the compositor
  std::string text() const;
  static bool parse(const std::string& spec, Endpoint& out, std::string& error);
};
std::string default_socket_path();
std::string default_endpoint_spec();

// Guest side: connect and handshake. nullptr with `error` filled on failure.
std::unique_ptr<Transport> connect_transport(const Endpoint& ep, const ConnectRequest& req,
                                             SessionInfo& info, std::string& error);

// Host side.
struct HostPolicy {
  uint32_t default_cmd_ring_kib = 1024;
  // 8 MiB: real programs (OpenArena, glmark2, piglit's upload tests) ran as
  // fast on 1 MiB as on 64 (docs/performance.md, bench/heap_sizing.sh) and
  // hardly waited for the host from 4 MiB on; a bigger heap only costs
  // memory, page faults and cache: 4 MiB texture uploads ran 1.4x faster on
  // 8 MiB than on 16, whose spans the CPU caches no longer held.
  uint32_t default_bulk_heap_kib = 8 * 1024;
  uint32_t max_cmd_ring_kib = 16 * 1024;
  uint32_t max_bulk_heap_kib = 256 * 1024;
  // Big enough for a whole present readback (1280x1024 RGBA) without a
  // host/guest ping-pong per quarter frame.
  uint32_t reply_ring_kib = 8 * 1024;
  // Whether guests may ask for a framebuffer region (true where memory is really shared).
  bool framebuffers = true;
  std::string host_renderer;
  int handshake_timeout_ms = 5000;
};

class Listener {
 public:
  virtual ~Listener() = default;
  // Blocks until a guest connects and completes the handshake, or timeout.
  // Returns nullptr on timeout (error empty) or a failed handshake (error set;
  // the listener keeps working).
  // `next_id` is asked for the connection id only once a guest qualifies.
  virtual std::unique_ptr<Transport> accept(const HostPolicy& policy,
                                            const std::function<uint32_t()>& next_id,
                                            SessionInfo& info, std::string& error,
                                            int timeout_ms) = 0;
  virtual std::string describe() const = 0;
};
std::unique_ptr<Listener> listen_on(const Endpoint& ep, std::string& error);

// The host side of a connection handed off by another process: the transport
// over `h`'s descriptors (taken over: h.fds is emptied). nullptr with `error`.
std::unique_ptr<Transport> adopt_transport(TransportHandoff& h, std::string& error);

}  // namespace xen3d::proto
