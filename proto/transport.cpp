#include "proto/transport.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <utility>
#include <unistd.h>

#include "proto/socket_io.h"
#include "proto/transport_impl.h"

namespace xen3d::proto {

std::string Endpoint::text() const {
  if (kind == Local) return "local:" + path;
  if (kind == Xen) return "xen:" + std::to_string(backend_domid);
  return "tcp:" + host + ":" + std::to_string(port);
}

bool Endpoint::parse(const std::string& spec, Endpoint& out, std::string& error) {
  auto bad = [&](const std::string& why) {
    error = "bad transport '" + spec + "': " + why +
            " (expected local:/path/to.sock, tcp:host:port or xen[:BACKEND_DOMID])";
    return false;
  };
  if (spec.rfind("local:", 0) == 0) {
    out = Endpoint{};
    out.kind = Local;
    out.path = spec.substr(6);
    if (out.path.empty()) return bad("empty socket path");
    return true;
  }
  if (spec.rfind("tcp:", 0) == 0) {
    std::string rest = spec.substr(4);
    size_t colon = rest.rfind(':');
    if (colon == std::string::npos) return bad("missing port");
    std::string host = rest.substr(0, colon), port = rest.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    char* end = nullptr;
    long p = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end || p < 0 || p > 65535) return bad("port must be 0..65535");
    out = Endpoint{};
    out.kind = Tcp;
    out.host = host;
    out.port = static_cast<uint16_t>(p);
    return true;
  }
  if (spec == "xen" || spec.rfind("xen:", 0) == 0) {
    out = Endpoint{};
    out.kind = Xen;
    if (spec.size() > 4) {
      char* end = nullptr;
      long d = std::strtol(spec.c_str() + 4, &end, 10);
      if (*end || d < 0 || d >= 0x7ff0) return bad("the backend domain must be a domain id");
      out.backend_domid = static_cast<uint16_t>(d);
    }
    return true;
  }
  return bad("unknown transport");
}

void Transport::stay_awake(RingId ring, uint32_t us) {
  awake_until_[static_cast<int>(ring)] =
      std::chrono::steady_clock::now() + std::chrono::microseconds(std::min(us, kMaxStayAwakeUs));
}

void Transport::want_kicks(RingId ring) {
  RingCounters* c = counters(ring);
  (produces(ring) ? c->producer_sleeping : c->consumer_sleeping).store(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

WaitResult Transport::doorbell_wait(RingId ring, const std::function<bool()>& ready, int timeout_ms,
                                    const std::function<bool(int ms)>& block) {
  using Clock = std::chrono::steady_clock;
  uint32_t& spin_us = spin_us_[static_cast<int>(ring)];
  const auto start = Clock::now();
  const auto awake_until = std::exchange(awake_until_[static_cast<int>(ring)], {});
  if (spin_us > 0 || awake_until > start) {
    const auto spin_until = std::max(start + std::chrono::microseconds(spin_us), awake_until);
    for (unsigned i = 1;; ++i) {
      if (ready()) return WaitResult::Ready;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
      if (i % 64 == 0 && Clock::now() >= spin_until) break;
    }
  } else if (ready()) {
    return WaitResult::Ready;
  }
  RingCounters* c = counters(ring);
  std::atomic<uint32_t>& flag = produces(ring) ? c->producer_sleeping : c->consumer_sleeping;
  Deadline dl = Deadline::in(timeout_ms);
  // The spin missed: it was too short (grow it) or the peer takes longer
  // than any spin (shrink it).
  const auto learn = [&] {
    const auto waited = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
    spin_us = waited < kMaxSpinUs ? std::min<uint32_t>(kMaxSpinUs, std::max<uint32_t>(4, spin_us * 2)) : spin_us / 2;
  };
  for (;;) {
    flag.store(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (ready()) {
      flag.store(0, std::memory_order_relaxed);
      learn();
      return WaitResult::Ready;
    }
    const bool alive = block(dl.remaining_ms());
    flag.store(0, std::memory_order_relaxed);
    if (ready()) {  // records queued before the peer left still count
      learn();
      return WaitResult::Ready;
    }
    if (!alive) return WaitResult::PeerGone;
    if (dl.remaining_ms() == 0) return WaitResult::Timeout;
  }
}

namespace {
// A whole decimal number in [min, max] from the environment; false (with
// `error`) when set to anything else, true with `out` untouched when unset.
bool env_number(const char* name, unsigned long min, unsigned long max, unsigned long& out, std::string& error) {
  const char* v = std::getenv(name);
  if (!v || !*v) return true;
  char* end = nullptr;
  const unsigned long n = std::strtoul(v, &end, 10);
  if (*end || v[0] == '-' || n < min || n > max) {
    error = std::string(name) + "='" + v + "' is not a number from " + std::to_string(min) + " to " +
            std::to_string(max);
    return false;
  }
  out = n;
  return true;
}
}  // namespace

bool request_from_env(ConnectRequest& req, std::string& error) {
  bool ok = true;
  for (auto [name, field] : {std::pair{"XEN3D_CMD_RING_KIB", &req.cmd_ring_kib},
                             std::pair{"XEN3D_BULK_HEAP_KIB", &req.bulk_heap_kib}}) {
    unsigned long kib = *field;
    if (env_number(name, 1, 1ul << 22, kib, error)) {
      *field = static_cast<uint32_t>(kib);
    } else {
      ok = false;
    }
  }
  unsigned long seconds = req.answer_timeout_ms < 0 ? 0 : static_cast<unsigned long>(req.answer_timeout_ms / 1000);
  if (env_number("XEN3D_ANSWER_TIMEOUT_S", 0, 86400, seconds, error)) {
    req.answer_timeout_ms = seconds ? static_cast<int>(seconds * 1000) : -1;
  } else {
    ok = false;
  }
  return ok;
}

std::string default_socket_path() {
  const char* dir = std::getenv("XDG_RUNTIME_DIR");
  if (dir && *dir && access(dir, W_OK) == 0) return std::string(dir) + "/xen3d-compositor.sock";
  return "/tmp/xen3d-compositor-" + std::to_string(getuid()) + ".sock";
}

std::string default_endpoint_spec() {
  const char* env = std::getenv("XEN3D_TRANSPORT");
  if (env && *env) return env;
  return "local:" + default_socket_path();
}

std::unique_ptr<Transport> connect_transport(const Endpoint& ep, const ConnectRequest& req,
                                             SessionInfo& info, std::string& error) {
  switch (ep.kind) {
    case Endpoint::Local: return connect_local(ep, req, info, error);
    case Endpoint::Tcp: return connect_tcp(ep, req, info, error);
    case Endpoint::Xen: return connect_xen(ep, req, info, error);
  }
  return nullptr;
}

std::unique_ptr<Listener> listen_on(const Endpoint& ep, std::string& error) {
  switch (ep.kind) {
    case Endpoint::Local: return listen_local(ep, error);
    case Endpoint::Tcp: return listen_tcp(ep, error);
    case Endpoint::Xen: return listen_xen(ep, error);
  }
  return nullptr;
}

}  // namespace xen3d::proto

namespace xen3d::proto {

TransportHandoff::~TransportHandoff() {
  for (int& fd : fds) close_fd(fd);
}

std::unique_ptr<Transport> adopt_transport(TransportHandoff& h, std::string& error) {
  switch (h.kind) {
    case TransportHandoff::Local: return adopt_local(h, error);
    case TransportHandoff::Tcp: return adopt_tcp(h, error);
    case TransportHandoff::Xen: return adopt_xen(h, error);
  }
  error = "this build cannot adopt a handed-off transport of kind " + std::to_string(int(h.kind));
  return nullptr;
}

}  // namespace xen3d::proto
