// xen3d-info: run in a guest to see whether, where and how well it reaches
// the compositor (transport, host renderer, ring sizes, round-trip time), and
// to check bulk data arrives intact.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "proto/guest_session.h"

using namespace xen3d::proto;

namespace {
void usage(FILE* out) {
  std::fprintf(out,
      "usage: xen3d-info [--transport SPEC] [--pings N] [--bulk-check BYTES] [--timeout MS] [--stats]\n"
      "\n"
      "Connects to the Xen3D compositor the way the guest libGL does and reports the link.\n"
      "  --transport SPEC    local:/path.sock, tcp:host:port or xen (default: $XEN3D_TRANSPORT,\n"
      "                      else %s)\n"
      "  --pings N           time N synchronous round trips (default 100)\n"
      "  --bulk-check BYTES  send BYTES of pattern through the bulk heap and verify the\n"
      "                      host's checksum (default 1048576; 0 to skip)\n"
      "  --timeout MS        connect/handshake timeout (default 5000)\n"
      "  --stats             print only the compositor's object counts as key=value\n"
      "                      lines (guests, objects, bytes), for scripts\n"
      "Exit status: 0 all good, 1 cannot connect, 2 usage, 3 a check failed.\n",
      default_endpoint_spec().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::string spec;
  long pings = 100, bulk = 1 << 20, timeout = 5000;
  bool stats_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto num = [&](long& out) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "xen3d-info: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      char* end;
      out = std::strtol(argv[++i], &end, 10);
      if (*end || out < 0) {
        std::fprintf(stderr, "xen3d-info: %s: bad number '%s'\n", a.c_str(), argv[i]);
        std::exit(2);
      }
    };
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    } else if (a == "--transport" && i + 1 < argc) {
      spec = argv[++i];
    } else if (a == "--pings") {
      num(pings);
    } else if (a == "--bulk-check") {
      num(bulk);
    } else if (a == "--timeout") {
      num(timeout);
    } else if (a == "--stats") {
      stats_only = true;
    } else {
      std::fprintf(stderr, "xen3d-info: unknown option '%s' (see --help)\n", a.c_str());
      return 2;
    }
  }

  ConnectRequest req;
  req.client_name = "xen3d-info";
  req.timeout_ms = static_cast<int>(timeout);
  std::string error;
  if (!request_from_env(req, error)) {
    std::fprintf(stderr, "xen3d-info: %s\n", error.c_str());
    return 2;
  }
  auto s = GuestSession::connect(spec, req, error);
  if (!s) {
    std::fprintf(stderr, "xen3d-info: %s\n", error.c_str());
    return 1;
  }
  if (stats_only) {
    // Counts include this connection itself (it owns no objects).
    Stats st;
    if (!s->call(HostStats{}, st)) {
      std::fprintf(stderr, "xen3d-info: stats failed: %s\n", s->error().c_str());
      return 3;
    }
    std::printf("guests=%u\nobjects=%llu\nbytes=%llu\n", st.guests - 1,
                static_cast<unsigned long long>(st.total_objects), static_cast<unsigned long long>(st.total_bytes));
    return 0;
  }
  Transport& t = s->transport();
  std::printf("transport:      %s (%s)\n", s->info().endpoint.c_str(), t.name().c_str());
  std::printf("connection id:  %u\n", s->info().connection_id);
  std::printf("host renderer:  %s\n", s->info().host_renderer.c_str());
  std::printf("protocol:       %u.%u\n", kProtocolMajor, kProtocolMinor);
  std::printf("rings:          commands %u KiB, replies %u KiB, bulk heap %u KiB\n",
              t.ring_size(RingId::Command) / 1024, t.ring_size(RingId::Reply) / 1024,
              t.ring_size(RingId::Bulk) / 1024);

  if (pings > 0) {
    std::vector<double> us;
    for (long i = 0; i < pings; ++i) {
      Ping p;
      p.seq = static_cast<uint64_t>(i);
      Pong pong;
      auto t0 = std::chrono::steady_clock::now();
      if (!s->call(p, pong) || pong.seq != p.seq) {
        std::fprintf(stderr, "xen3d-info: ping %ld failed: %s\n", i, s->error().c_str());
        return 3;
      }
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(us.begin(), us.end());
    std::printf("round trip:     median %.1f us, max %.1f us over %ld pings\n", us[us.size() / 2], us.back(), pings);
  }

  if (bulk > 0) {
    uint64_t done = 0, chunks = 0;
    bool ok = true;
    while (done < static_cast<uint64_t>(bulk) && ok) {
      uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(bulk - done, s->max_bulk()));
      BulkSpan span = s->alloc_bulk(n);
      if (!span.data) {
        ok = false;
        break;
      }
      for (uint32_t i = 0; i < n; ++i) span.data[i] = static_cast<uint8_t>((done + i) * 131 + 7);
      const uint64_t want = fnv1a(span.data, n);
      ChecksumBulk c;
      c.data.pos = span.pos;
      c.data.size = n;
      BulkChecksum answer;
      ok = s->call(c, answer) && answer.fnv1a == want && answer.size == n;
      s->bulk_done(span);
      done += n;
      ++chunks;
    }
    if (!ok) {
      std::fprintf(stderr, "xen3d-info: bulk check failed: %s\n",
                   s->alive() ? "checksum mismatch" : s->error().c_str());
      return 3;
    }
    std::printf("bulk check:     %llu bytes in %llu chunk(s), checksums match\n",
                static_cast<unsigned long long>(done), static_cast<unsigned long long>(chunks));
  }
  return 0;
}
