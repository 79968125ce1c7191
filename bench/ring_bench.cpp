// bench/ring: throughput of the transports, against plain memcpy measured in
// the same run.
//   - small commands: 32-byte `nop` records per second, guest -> host, decoded
//     by the host with the same dispatcher the compositor uses;
//   - bulk: 64 MiB moved from a guest buffer into a host buffer through the
//     bulk heap (guest copies in, host copies out, pipelined), in GB/s.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "proto/guest_session.h"
#include "proto/host_session.h"

using namespace xen3d::proto;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kBulkBytes = 64u << 20;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::vector<uint8_t> touched(size_t n, uint8_t v) {
  std::vector<uint8_t> b(n);
  std::memset(b.data(), v, n);
  return b;
}

double memcpy_gbps(int reps) {
  auto src = touched(kBulkBytes, 1), dst = touched(kBulkBytes, 2);
  double best = 1e9;
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    std::memcpy(dst.data(), src.data(), kBulkBytes);
    best = std::min(best, seconds_since(t0));
  }
  return kBulkBytes / best / 1e9;
}

// The host side, in a child process.
void serve(Listener& l) {
  HostPolicy policy;
  policy.max_bulk_heap_kib = 64 * 1024;
  SessionInfo info;
  std::string error;
  std::unique_ptr<Transport> t;
  while (!t) t = l.accept(policy, [] { return 1u; }, info, error, 10000);
  HostSession s(std::move(t), info);
  auto sink = touched(kBulkBytes, 3);
  uint64_t executed = 0;
  for (;;) {
    const uint8_t* rec;
    size_t size;
    if (s.next(rec, size, -1) != HostSession::Next::Record) _exit(0);
    bool bye = false;
    DecodeError e = dispatch(rec, size, Sender::Guest, [&](const auto& r) -> DecodeError {
      using R = std::decay_t<decltype(r)>;
      if constexpr (std::is_same_v<R, Ping>) {
        Pong p;
        p.seq = r.seq;
        p.commands_executed = executed;
        s.reply(p);
      } else if constexpr (std::is_same_v<R, BulkSink>) {
        const char* why;
        const uint8_t* d = s.bulk(r.data, why);
        if (!d || r.offset + r.data.size > sink.size()) return DecodeError::rejected("bad sink");
        std::memcpy(sink.data() + r.offset, d, r.data.size);
        s.release_bulk(r.data);
      } else if constexpr (std::is_same_v<R, Goodbye>) {
        bye = true;
      }
      return {};
    });
    if (!e.ok() || bye) _exit(e.ok() ? 0 : 1);
    ++executed;
  }
}

struct Result {
  double mcmds = 0, gbps = 0;
};

Result run_transport(const std::string& spec, uint64_t small_count, uint32_t chunk, uint32_t heap_kib, int reps) {
  Endpoint ep;
  std::string error;
  if (!Endpoint::parse(spec, ep, error)) {
    std::fprintf(stderr, "bench: %s\n", error.c_str());
    std::exit(2);
  }
  auto listener = listen_on(ep, error);
  if (!listener) {
    std::fprintf(stderr, "bench: %s\n", error.c_str());
    std::exit(1);
  }
  const std::string where = listener->describe();
  pid_t host = fork();
  if (host == 0) {
    serve(*listener);
    _exit(0);
  }
  ConnectRequest req;
  req.client_name = "bench-ring";
  req.cmd_ring_kib = 1024;
  req.bulk_heap_kib = heap_kib;
  auto s = GuestSession::connect(where, req, error);
  if (!s) {
    std::fprintf(stderr, "bench: %s\n", error.c_str());
    std::exit(1);
  }
  Result res;
  Ping ping;
  Pong pong;
  for (int rep = 0; rep < reps; ++rep) {
    auto t0 = Clock::now();
    Nop n;
    for (uint64_t i = 0; i < small_count; ++i) {
      n.payload[0] = static_cast<uint32_t>(i);
      s->send(n);
    }
    if (!s->call(ping, pong)) break;
    res.mcmds = std::max(res.mcmds, small_count / seconds_since(t0) / 1e6);
  }
  auto src = touched(kBulkBytes, 4);
  chunk = std::min(chunk, s->max_bulk());
  for (int rep = 0; rep < reps; ++rep) {
    auto t0 = Clock::now();
    for (size_t off = 0; off < kBulkBytes; off += chunk) {
      const uint32_t n = static_cast<uint32_t>(std::min<size_t>(chunk, kBulkBytes - off));
      BulkSpan span = s->alloc_bulk(n);
      if (!span.data) break;
      std::memcpy(span.data, src.data() + off, n);
      BulkSink sink;
      sink.data.pos = span.pos;
      sink.data.size = n;
      sink.offset = off;
      s->send(sink);
      s->bulk_done(span);
      s->flush();  // let the host start copying out while we copy the next chunk in
    }
    if (!s->call(ping, pong)) break;
    res.gbps = std::max(res.gbps, kBulkBytes / seconds_since(t0) / 1e9);
  }
  if (!s->alive()) std::fprintf(stderr, "bench: %s: %s\n", spec.c_str(), s->error().c_str());
  s.reset();
  listener.reset();
  waitpid(host, nullptr, 0);
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t small = 5'000'000;
  uint32_t chunk = 1u << 20, heap_kib = 4 * 1024;
  int reps = 5;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--commands" || a == "--chunk" || a == "--reps" || a == "--heap-kib") && i + 1 < argc) {
      uint64_t v = std::strtoull(argv[++i], nullptr, 10);
      if (a == "--commands") small = v;
      else if (a == "--chunk") chunk = static_cast<uint32_t>(v);
      else if (a == "--heap-kib") heap_kib = static_cast<uint32_t>(v);
      else reps = static_cast<int>(v);
    } else {
      std::printf("usage: ring [--commands N] [--chunk BYTES] [--heap-kib N] [--reps N]\n"
                  "Measures the transports against memcpy in the same run (best of N).\n");
      return a == "-h" || a == "--help" ? 0 : 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  const double mc = memcpy_gbps(reps);
  std::printf("baseline memcpy, 64 MiB:           %6.2f GB/s\n", mc);
  const std::string sock = "/tmp/xen3d-bench-" + std::to_string(getpid()) + ".sock";
  for (const std::string& spec : {"local:" + sock, std::string("tcp:127.0.0.1:0")}) {
    Result r = run_transport(spec, small, chunk, heap_kib, reps);
    const char* name = spec.rfind("local", 0) == 0 ? "local" : "tcp  ";
    std::printf("%s  32-byte commands:          %6.2f M/s\n", name, r.mcmds);
    std::printf("%s  64 MiB bulk, %4u KiB chunks: %6.2f GB/s = %5.1f%% of memcpy\n", name, chunk / 1024,
                r.gbps, 100.0 * r.gbps / mc);
  }
  return 0;
}
