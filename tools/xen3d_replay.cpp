// xen3d-replay: plays a recorded guest command stream (xen3d-compositor
// --record) into a compositor, as a guest would, with nobody watching: by
// default into a private headless compositor it starts (snapshots on), or
// into a running one (--transport). The recorded bulk spans go into this
// connection's own heap and the records that name them are renamed to match;
// the recorded guest's own heap bookkeeping (bulk_retire) and goodbye are left
// out. Exit 0 when the compositor took every record, 1 when it rejected one
// (the message says which), 2 on usage errors.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "proto/command_recording.h"
#include "proto/commands.gen.h"
#include "proto/guest_session.h"

using namespace xen3d::proto;

namespace {

void usage(FILE* out) {
  std::fprintf(out,
               "usage: xen3d-replay [options] FILE.x3drec\n"
               "\n"
               "Re-executes a guest's recorded command stream (xen3d-compositor --record DIR).\n"
               "\n"
               "options:\n"
               "  --transport SPEC   replay into a running compositor (local:/path, tcp:host:port)\n"
               "                     instead of starting a private headless one\n"
               "  --snapshot DIR     the private compositor's window snapshots go here\n"
               "  --snapshot-frames LIST  and it keeps these frames too (see xen3d-compositor --help)\n"
               "  --compositor PATH  the compositor to start (default: $XEN3D_COMPOSITOR, else the\n"
               "                     xen3d-compositor beside this program)\n"
               "  --driver NAME      its host driver (default llvmpipe)\n"
               "  -h, --help         this text\n");
}

// Whether a record waits for an answer (then the replay reads it, like the guest did).
struct AwaitsAnswer {
  bool awaits = false;
  template <class R>
  DecodeError operator()(const R&) {
    awaits = R::kAwaitsAnswer;
    return {};
  }
};

std::string sibling_compositor() {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "xen3d-compositor";
  self[n] = 0;
  std::string dir(self);
  return dir.substr(0, dir.rfind('/') + 1) + "xen3d-compositor";
}

}  // namespace

int main(int argc, char** argv) {
  std::string file, transport, snapshot, snapshot_frames, driver = "llvmpipe";
  const char* env_comp = std::getenv("XEN3D_COMPOSITOR");
  std::string compositor = env_comp && *env_comp ? env_comp : sibling_compositor();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "xen3d-replay: %s needs a value (see --help)\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    } else if (a == "--transport") {
      transport = value();
    } else if (a == "--snapshot") {
      snapshot = value();
    } else if (a == "--snapshot-frames") {
      snapshot_frames = value();
    } else if (a == "--compositor") {
      compositor = value();
    } else if (a == "--driver") {
      driver = value();
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "xen3d-replay: unknown option '%s' (see --help)\n", a.c_str());
      return 2;
    } else if (file.empty()) {
      file = a;
    } else {
      std::fprintf(stderr, "xen3d-replay: one recording at a time\n");
      return 2;
    }
  }
  if (file.empty()) {
    usage(stderr);
    return 2;
  }
  std::vector<RecordingEntry> entries;
  std::string error;
  if (!read_recording(file, entries, error)) {
    std::fprintf(stderr, "xen3d-replay: %s\n", error.c_str());
    return 2;
  }

  pid_t child = -1;
  std::string socket;
  if (transport.empty()) {
    socket = "/tmp/xen3d-replay-" + std::to_string(getpid()) + ".sock";
    child = fork();
    if (child == 0) {
      std::vector<std::string> args = {compositor, "--listen", "local:" + socket, "--driver", driver,
                                       "--control", "none", "-q"};
      if (!snapshot.empty()) args.insert(args.end(), {"--snapshot", snapshot});
      if (!snapshot_frames.empty()) args.insert(args.end(), {"--snapshot-frames", snapshot_frames});
      std::vector<char*> av;
      for (auto& s : args) av.push_back(s.data());
      av.push_back(nullptr);
      execv(compositor.c_str(), av.data());
      std::fprintf(stderr, "xen3d-replay: cannot run %s: %s\n", compositor.c_str(), std::strerror(errno));
      _exit(127);
    }
    struct stat st{};
    for (int i = 0; i < 300 && stat(socket.c_str(), &st) != 0; ++i) {
      if (waitpid(child, nullptr, WNOHANG) == child) {
        std::fprintf(stderr, "xen3d-replay: the compositor (%s) exited at start\n", compositor.c_str());
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    transport = "local:" + socket;
  }
  auto stop_child = [&] {
    if (child > 0) {
      kill(child, SIGTERM);
      waitpid(child, nullptr, 0);
      unlink(socket.c_str());
    }
  };

  std::string recorded_name = "unnamed";
  for (const auto& e : entries)
    if (e.kind == RecordingEntry::Client) recorded_name.assign(e.bytes.begin(), e.bytes.end());
  ConnectRequest req;
  req.client_name = "replay:" + recorded_name;
  auto s = GuestSession::connect(transport, req, error);
  if (!s) {
    std::fprintf(stderr, "xen3d-replay: %s\n", error.c_str());
    stop_child();
    return 1;
  }

  const auto t0 = std::chrono::steady_clock::now();
  uint64_t records = 0, skipped = 0, spans = 0, span_bytes = 0;
  int rc = 0;
  for (size_t i = 0; i < entries.size() && rc == 0; ++i) {
    if (entries[i].kind != RecordingEntry::Record) continue;
    std::vector<uint8_t> rec = entries[i].bytes;
    if (rec.size() < 8 || rec.size() % 8) {
      std::fprintf(stderr, "xen3d-replay: entry %zu is not a record\n", i);
      rc = 1;
      break;
    }
    const uint16_t op = header_opcode(rec.data());
    if (op == uint16_t(Opcode::BulkRetire) || op == uint16_t(Opcode::Goodbye)) {
      ++skipped;
      continue;
    }
    // The spans this record's execution read, into our own heap.
    std::vector<BulkSpan> held;
    for (size_t j = i + 1; j < entries.size() && entries[j].kind == RecordingEntry::Bulk; ++j) {
      const auto& b = entries[j].bytes;
      const uint64_t old_pos = load_le<uint64_t>(b.data());
      const uint32_t size = static_cast<uint32_t>(b.size() - 8);
      BulkSpan span = s->alloc_bulk(size);
      if (!span.data) {
        std::fprintf(stderr, "xen3d-replay: record %llu: a %u-byte bulk span does not fit (%s)\n",
                     static_cast<unsigned long long>(records), size, s->alive() ? "heap" : s->error().c_str());
        rc = 1;
        break;
      }
      std::memcpy(span.data, b.data() + 8, size);
      if (!rename_bulk_span(rec, old_pos, size, span.pos)) {
        std::fprintf(stderr, "xen3d-replay: record %llu (%s) does not name its recorded bulk span\n",
                     static_cast<unsigned long long>(records), opcode_name(op));
        rc = 1;
      }
      held.push_back(span);
      ++spans;
      span_bytes += size;
    }
    if (rc) break;
    AwaitsAnswer a;
    dispatch(rec.data(), rec.size(), Sender::Guest, a);
    s->send_raw(rec.data(), rec.size());
    for (const auto& span : held) s->bulk_done(span);
    ++records;
    if (a.awaits) s->sync_discarding_answers();
    if (!s->alive()) {
      std::fprintf(stderr, "xen3d-replay: stopped at record %llu (%s): %s\n", static_cast<unsigned long long>(records),
                   opcode_name(op), s->error().c_str());
      rc = 1;
    }
  }
  if (rc == 0 && !s->sync_discarding_answers()) {
    std::fprintf(stderr, "xen3d-replay: at the end: %s\n", s->error().c_str());
    rc = 1;
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("xen3d-replay: %s (%s): %llu records, %llu bulk spans (%llu bytes), %llu left out, %.1f ms: %s\n",
              file.c_str(), recorded_name.c_str(), static_cast<unsigned long long>(records),
              static_cast<unsigned long long>(spans), static_cast<unsigned long long>(span_bytes),
              static_cast<unsigned long long>(skipped), ms, rc == 0 ? "ok" : "FAILED");
  s.reset();  // goodbye, so the compositor frees everything before it stops
  stop_child();
  return rc;
}
