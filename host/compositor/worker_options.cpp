#include "host/compositor/worker_options.h"

#include <getopt.h>

#include <cstdio>
#include <cstdlib>

#include "common/log.h"
#include "proto/commands.gen.h"

namespace xen3d::host {

namespace {

enum Opt {
  kLinkFd = 256, kDriver, kMaxMem, kMaxObjects, kMaxTokens, kRecord, kSnapshot, kSnapshotFrames, kTrace, kVersion, kNoSandbox,
  kShaderCache, kMaxArena,
};
const option kOptions[] = {
    {"link-fd", required_argument, nullptr, kLinkFd},
    {"driver", required_argument, nullptr, kDriver},
    {"max-guest-mem-mib", required_argument, nullptr, kMaxMem},
    {"max-guest-objects", required_argument, nullptr, kMaxObjects},
    {"max-shader-tokens", required_argument, nullptr, kMaxTokens},
    {"max-arena-mib", required_argument, nullptr, kMaxArena},
    {"shader-cache", required_argument, nullptr, kShaderCache},
    {"record", required_argument, nullptr, kRecord},
    {"snapshot", required_argument, nullptr, kSnapshot},
    {"snapshot-frames", required_argument, nullptr, kSnapshotFrames},
    {"trace", no_argument, nullptr, kTrace},
    {"no-sandbox", no_argument, nullptr, kNoSandbox},
    {"verbose", no_argument, nullptr, 'v'},
    {"quiet", no_argument, nullptr, 'q'},
    {"version", no_argument, nullptr, kVersion},
    {"help", no_argument, nullptr, 'h'},
    {nullptr, 0, nullptr, 0},
};

const char kUsage[] =
    "usage: xen3d-render-worker [options]\n"
    "\n"
    "Serves one guest connection's Gallium records on its own host screen. Spawned by\n"
    "xen3d-compositor for each GL connection (docs/render-workers.md); the connection\n"
    "arrives over the link socket, so running it by hand does nothing useful.\n"
    "\n"
    "options (the compositor passes its own):\n"
    "  --link-fd N             the socket to the compositor (default 3)\n"
    "  --driver NAME           host Gallium driver (default llvmpipe)\n"
    "  --max-guest-mem-mib N   the guest's resource quota (default 4096)\n"
    "  --max-guest-objects N   the guest's object quota (default 65536)\n"
    "  --max-shader-tokens N   the largest shader, in TGSI tokens (default 262144)\n"
    "  --max-arena-mib N       the most shared memory the guest may keep buffers in (default 256)\n"
    "  --shader-cache DIR      keep the driver's compiled shaders in DIR/<the guest's VM> (default: none)\n"
    "  --record DIR            write the guest's command stream to DIR\n"
    "  --snapshot DIR          write presented frames as PNG into DIR\n"
    "  --snapshot-frames LIST  also keep these frames (comma-separated, 1-based)\n"
    "  --trace                 log every record, decoded\n"
    "  --no-sandbox            serve without the sandbox (debugging under gdb or strace)\n"
    "  -v, --verbose, -q, --quiet, --version, -h, --help\n";

bool number(const char* s, uint64_t max, uint64_t& out) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (!*s || *end || *s == '-' || v > max) return false;
  out = v;
  return true;
}

}  // namespace

OptionsResult parse_worker_options(int argc, char** argv, WorkerOptions& o, std::string& error) {
  optind = 1;
  opterr = 0;
  int c;
  uint64_t n = 0;
  while ((c = getopt_long(argc, argv, "vqh", kOptions, nullptr)) != -1) {
    const std::string name = optind - 1 < argc ? argv[optind - 1] : "";
    auto bad = [&](const char* what) {
      error = name + ": " + what;
      return OptionsResult::Usage;
    };
    switch (c) {
      case kLinkFd:
        if (!number(optarg, 1 << 20, n)) return bad("not a descriptor number");
        o.link_fd = static_cast<int>(n);
        break;
      case kDriver: o.driver = optarg; break;
      case kMaxMem:
        if (!number(optarg, 1 << 24, n) || !n) return bad("must be a number of MiB, at least 1");
        o.connection.max_guest_resource_bytes = n << 20;
        break;
      case kMaxObjects:
        if (!number(optarg, 0xffffffffu, n) || !n) return bad("must be at least 1");
        o.connection.max_guest_objects = static_cast<uint32_t>(n);
        break;
      case kMaxTokens:
        if (!number(optarg, 1048576, n) || n < 64) return bad("must be 64..1048576");
        o.connection.max_shader_tokens = static_cast<uint32_t>(n);
        break;
      case kMaxArena:
        if (!number(optarg, 65536, n)) return bad("must be a number of MiB, 0..65536");
        o.connection.max_arena_mib = static_cast<uint32_t>(n);
        break;
      case kShaderCache: o.shader_cache = optarg; break;
      case kRecord: o.connection.record_dir = optarg; break;
      case kSnapshot: o.connection.snapshot_dir = optarg; break;
      case kSnapshotFrames: {
        std::string list = optarg;
        size_t pos = 0;
        while (pos <= list.size()) {
          const size_t comma = list.find(',', pos);
          const std::string item = list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
          if (!number(item.c_str(), ~uint64_t{0}, n) || !n) return bad("not a list like 1,10,60");
          o.connection.snapshot_frames.insert(n);
          if (comma == std::string::npos) break;
          pos = comma + 1;
        }
        break;
      }
      case kTrace: o.connection.trace = true; break;
      case kNoSandbox: o.sandbox = false; break;
      case 'v': set_log_level(LogLevel::Debug); break;
      case 'q': set_log_level(LogLevel::Warn); break;
      case kVersion:
        std::printf("xen3d-render-worker 0.1.0, wire protocol %u.%u, Mesa 22.3.6\n", proto::kProtocolMajor,
                    proto::kProtocolMinor);
        return OptionsResult::Exit;
      case 'h': std::fputs(kUsage, stdout); return OptionsResult::Exit;
      default:
        error = "unknown option or missing value: '" + name + "' (see --help)";
        return OptionsResult::Usage;
    }
  }
  if (optind < argc) {
    error = std::string("unexpected argument '") + argv[optind] + "' (see --help)";
    return OptionsResult::Usage;
  }
  return OptionsResult::Run;
}

std::vector<std::string> worker_arguments(const WorkerOptions& o) {
  const ConnectionOptions& c = o.connection;
  std::vector<std::string> a = {
      "--link-fd", std::to_string(o.link_fd),
      "--driver", o.driver,
      "--max-guest-mem-mib", std::to_string(c.max_guest_resource_bytes >> 20),
      "--max-guest-objects", std::to_string(c.max_guest_objects),
      "--max-shader-tokens", std::to_string(c.max_shader_tokens),
      "--max-arena-mib", std::to_string(c.max_arena_mib),
  };
  if (!o.shader_cache.empty()) a.insert(a.end(), {"--shader-cache", o.shader_cache});
  if (!c.record_dir.empty()) a.insert(a.end(), {"--record", c.record_dir});
  if (!c.snapshot_dir.empty()) a.insert(a.end(), {"--snapshot", c.snapshot_dir});
  if (!c.snapshot_frames.empty()) {
    std::string list;
    for (uint64_t f : c.snapshot_frames) list += (list.empty() ? "" : ",") + std::to_string(f);
    a.insert(a.end(), {"--snapshot-frames", list});
  }
  if (c.trace) a.push_back("--trace");
  if (!o.sandbox) a.push_back("--no-sandbox");
  if (log_level() == LogLevel::Debug) a.push_back("--verbose");
  if (log_level() == LogLevel::Warn) a.push_back("--quiet");
  return a;
}

}  // namespace xen3d::host
