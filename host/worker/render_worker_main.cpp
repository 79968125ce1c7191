// xen3d-render-worker: serves one guest connection's records in a process
// of its own, on its own host screen (docs/render-workers.md). The
// compositor spawns it for each GL connection and hands it the connection
// over the link socket; it is not meant to be run by hand.
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include "common/log.h"
#include "common/sanitizers.h"
#include "host/compositor/guest_connection.h"
#include "host/compositor/worker_options.h"
#include "host/validate/caps_snapshot.h"
#include "host/gpu/host_gpu.h"
#include "host/executor/object_table.h"
#include "host/executor/present_snapshot.h"
#include "host/gpu/llvmpipe_threads.h"
#include "host/worker/sandbox.h"
#include "host/worker/shader_cache.h"
#include "host/gpu/llvmpipe_cache_stats.h"
#include "host/compositor/watchdog_page.h"
#include "host/worker/worker_desktop.h"
#include "host/compositor/worker_link.h"
#include "host/worker/worker_link_client.h"
#include "proto/host_session.h"

using namespace xen3d;
using namespace xen3d::host;

namespace {

GuestConnection* g_connection = nullptr;

void on_signal(int) {
  if (g_connection) g_connection->stop();
}

// The connection as the compositor described it, with its descriptors.
struct Received {
  proto::SessionInfo info;
  proto::TransportHandoff handoff;
  int watchdog_fd = -1;
  unsigned rasterizer_threads = 0;
};

// The transport's words (xen: the guest's grant refs), in worker_transport_words records.
bool receive_words(WorkerLink& link, std::vector<uint32_t>& words, std::string& error) {
  std::vector<uint8_t> rec;
  for (;;) {
    if (link.next(rec, nullptr, 5000) != WorkerLink::Next::Record) {
      error = "the compositor sent no transport words: " + link.error();
      return false;
    }
    bool done = false;
    const auto e = proto::dispatch(rec.data(), rec.size(), proto::Sender::Host, [&](const auto& r) {
      if constexpr (std::is_same_v<std::decay_t<decltype(r)>, proto::WorkerTransportWords>) {
        if (r.offset != words.size() || r.total < r.offset + r.words.size()) {
          return proto::DecodeError::rejected("worker_transport_words out of order");
        }
        for (size_t k = 0; k < r.words.size(); ++k) words.push_back(r.words[k]);
        done = words.size() == r.total;
        return proto::DecodeError{};
      } else {
        return proto::DecodeError::rejected("expected worker_transport_words");
      }
    });
    if (!e.ok()) {
      error = e.describe();
      return false;
    }
    if (done) return true;
  }
}

bool receive_session(WorkerLink& link, Received& out, std::string& error) {
  std::vector<uint8_t> rec;
  std::vector<int> fds;
  if (link.next(rec, &fds, -1) != WorkerLink::Next::Record) {
    error = "no session from the compositor: " + link.error();
    for (int f : fds) ::close(f);
    return false;
  }
  std::optional<proto::WorkerSession> s;
  std::string names;
  const auto e = proto::dispatch(rec.data(), rec.size(), proto::Sender::Host, [&](const auto& r) {
    if constexpr (std::is_same_v<std::decay_t<decltype(r)>, proto::WorkerSession>) {
      s = r;
      names.assign(r.names.data(), r.names.size());
      return proto::DecodeError{};
    } else {
      return proto::DecodeError::rejected("expected worker_session");
    }
  });
  if (!e.ok() || !s || fds.size() != size_t{s->fd_count} + 1) {
    error = !e.ok() ? e.describe() : "worker_session came with " + std::to_string(fds.size()) + " descriptors";
    for (int f : fds) ::close(f);
    return false;
  }
  out.watchdog_fd = fds.back();
  fds.pop_back();
  out.handoff.kind = static_cast<proto::TransportHandoff::Kind>(s->transport);
  out.handoff.fds = std::move(fds);
  auto& l = out.handoff.layout;
  l.total_size = s->shm_size;
  l.offset[int(proto::RingId::Command)] = s->cmd_ring_offset;
  l.size[int(proto::RingId::Command)] = s->cmd_ring_size;
  l.offset[int(proto::RingId::Reply)] = s->reply_ring_offset;
  l.size[int(proto::RingId::Reply)] = s->reply_ring_size;
  l.offset[int(proto::RingId::Bulk)] = s->bulk_heap_offset;
  l.size[int(proto::RingId::Bulk)] = s->bulk_heap_size;
  l.fb_offset = s->framebuffer_offset;
  l.fb_size = s->framebuffer_size;
  out.rasterizer_threads = s->rasterizer_threads;
  auto& i = out.info;
  i.connection_id = s->connection_id;
  i.peer_pid = s->peer_pid;
  i.peer_domid = s->peer_domid;
  i.peer_is_host = s->peer_is_host;
  std::vector<std::string> parts;
  for (size_t pos = 0; pos < names.size();) {
    const size_t end = names.find('\0', pos);
    if (end == std::string::npos) break;
    parts.push_back(names.substr(pos, end - pos));
    pos = end + 1;
  }
  parts.resize(4);
  i.peer_name = parts[0];
  i.peer_vm = parts[1];
  i.peer_id = parts[2];
  i.endpoint = parts[3];
  return out.handoff.kind != proto::TransportHandoff::Xen || receive_words(link, out.handoff.words, error);
}

// Tells the compositor what the guest holds, when it changes (at most every
// 100 ms), for its totals and xen3dctl.
class StatsReporter {
 public:
  explicit StatsReporter(WorkerLink& link) : link_(link), thread_([this] { run(); }) {}
  ~StatsReporter() {
    done_ = true;
    thread_.join();
    report();  // the last word: what is left after teardown (nothing)
  }

 private:
  void run() {
    while (!done_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      report();
    }
  }
  void report() {
    proto::WorkerStats s;
    s.objects = static_cast<uint32_t>(GlobalObjectStats::objects.load());
    s.bytes = GlobalObjectStats::bytes.load();
    if (s.objects == last_.objects && s.bytes == last_.bytes && sent_) return;
    link_.send(s);
    last_ = s;
    sent_ = true;
  }
  WorkerLink& link_;
  proto::WorkerStats last_;
  bool sent_ = false;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace

int main(int argc, char** argv) {
  char program[64];
  std::snprintf(program, sizeof program, "xen3d-render-worker[%d]", static_cast<int>(getpid()));
  set_log_program(program);
  WorkerOptions o;
  std::string error;
  switch (parse_worker_options(argc, argv, o, error)) {
    case OptionsResult::Run: break;
    case OptionsResult::Exit: return 0;
    case OptionsResult::Usage:
      std::fprintf(stderr, "xen3d-render-worker: %s\n", error.c_str());
      return 2;
  }
  // The screen first: the compositor starts a spare worker before its guest
  // arrives, so opening the driver (the slow part) is not on the guest's path.
  // (HostGpu::open turns Mesa's shared on-disk shader cache off; the VM's
  // own is opened below, once the guest has arrived.)
  auto gpu = HostGpu::open(o.driver, error);
  if (!gpu) {
    XLOG_ERROR("cannot open host driver '%s': %s", o.driver.c_str(), error.c_str());
    return 1;
  }
  o.connection.shader_path = shader_path_for(gpu->screen());
  auto caps = take_caps_snapshot(gpu->screen(), o.connection.shader_path);
  WorkerLink link(o.link_fd);
  Received got;
  if (!receive_session(link, got, error)) {
    // A spare the compositor did not need (it stopped): nothing to say.
    if (!error.empty()) XLOG_DEBUG("%s", error.c_str());
    return 0;
  }
  void* page = mmap(nullptr, sizeof(WatchdogPage), PROT_READ | PROT_WRITE, MAP_SHARED, got.watchdog_fd, 0);
  ::close(got.watchdog_fd);
  if (page == MAP_FAILED) {
    XLOG_ERROR("cannot map the watchdog page: %s", std::strerror(errno));
    return 1;
  }
  auto* watchdog = static_cast<WatchdogPage*>(page);
  auto transport = proto::adopt_transport(got.handoff, error);
  if (!transport) {
    XLOG_ERROR("cannot serve guest %u: %s", got.info.connection_id, error.c_str());
    return 1;
  }
  got.info.host_renderer = gpu->renderer();
  // Sized now that the compositor knows how many guests share the cores
  // (the screen was opened before; its threads start with the first context).
  if (!xen3d_llvmpipe_set_threads(gpu->screen(), got.rasterizer_threads)) {
    XLOG_DEBUG("the driver's rasterizer threads stay as they are (not llvmpipe)");
  }
  // The VM's shader cache, now that the worker knows the VM (and before the
  // sandbox, which lets it keep the files open but not open new ones). Not
  // with --record: the recording may outgrow the cache's file-size limit.
  VmShaderCache cache;
  bool cached = false;
  if (!o.shader_cache.empty() && o.connection.record_dir.empty()) {
    cached = open_vm_shader_cache(gpu->screen(), o.shader_cache, got.info, cache, error);
    if (cached) {
      XLOG_DEBUG("shader cache %s (%.1f MiB%s)", cache.dir.c_str(), double(cache.bytes) / (1 << 20),
                 cache.emptied ? ", emptied: it was full" : "");
    } else {
      XLOG_WARN("guest %u: no shader cache: %s", got.info.connection_id, error.c_str());
    }
  }
  ConnectionOptions c = o.connection;
  c.screen = gpu->screen();
  c.shares_frames = gpu->shares_frames();
  c.caps = caps;
  c.driver_lock = nullptr;  // one guest per process: nothing to serialize against
  c.watchdog = watchdog;
  // The compositor going away stops the worker: a worker nobody supervises must not live on.
  WorkerLinkClient client(link, [](const std::string& why) {
    XLOG_WARN("the compositor closed the link (%s); stopping", why.c_str());
    if (g_connection) g_connection->stop();
    // A record stuck in the driver would keep the process alive forever.
    std::this_thread::sleep_for(std::chrono::seconds(3));
    std::_Exit(1);
  });
  c.compositor_totals = [&client](proto::WorkerTotals& t) {
    std::vector<uint8_t> storage;
    std::string error;
    return client.request(proto::WorkerTotalsRequest{}, t, storage, nullptr, error);
  };
  WorkerDesktop desktop(client, gpu->screen());
  c.worker_desktop = &desktop;
  {
    GuestConnection conn(std::make_unique<proto::HostSession>(std::move(transport), got.info), c);
    g_connection = &conn;
    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    // Everything is open: from here on the worker only computes and talks
    // over what it holds.
    int snapshot_dir_fd = -1;
    if (!c.snapshot_dir.empty()) {
      snapshot_dir_fd = ::open(c.snapshot_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (snapshot_dir_fd < 0) XLOG_WARN("no snapshots: cannot open %s: %s", c.snapshot_dir.c_str(), std::strerror(errno));
      set_snapshot_directory(c.snapshot_dir, snapshot_dir_fd);
    }
    if (o.sandbox) {
      SandboxPolicy policy;
      policy.memory_quota_bytes = c.max_guest_resource_bytes;
      policy.snapshot_dir_fd = snapshot_dir_fd;
      policy.keep_uid = !c.snapshot_dir.empty() || !c.record_dir.empty();
      if (cached) policy.shader_cache_max_bytes = kShaderCacheMaxBytes;
      if (!enter_sandbox(policy, error)) {
        XLOG_ERROR("%s: cannot enter the sandbox: %s", conn.label().c_str(), error.c_str());
        return 1;
      }
      if (const char* probe = std::getenv("XEN3D_WORKER_SANDBOX_PROBE"); probe && *probe) {
        // The test of the sandbox itself (gl-render-workers): a worker that
        // tries to write a file, or to reach the network, must die of it.
        // (The sanitized build lets files be written: sandbox.cpp says why.)
        if (!XEN3D_ADDRESS_SANITIZER) {
          XLOG_WARN("sandbox probe: opening %s for writing", probe);
          ::open(probe, O_WRONLY | O_CREAT, 0644);
        }
        XLOG_WARN("sandbox probe: opening a TCP socket");
        ::socket(AF_INET, SOCK_STREAM, 0);
        XLOG_ERROR("sandbox probe: the sandbox let the worker open a file for writing or a socket");
      }
    }
    proto::WorkerReady ready;
    ready.pid = static_cast<uint32_t>(getpid());
    const std::string renderer = gpu->renderer();
    ready.renderer = renderer;
    link.send(ready);
    {
      StatsReporter stats(link);
      conn.run();
      // Before the teardown (the screen's threads, LLVM): a guest that
      // connects meanwhile gets the cores this one leaves.
      link.send(proto::WorkerGuestLeft{});
    }
    unsigned hits = 0, misses = 0;
    if (cached && xen3d_llvmpipe_cache_stats(gpu->screen(), &hits, &misses)) {
      XLOG_INFO("%s: shader cache %s: %u shaders found compiled, %u compiled", conn.label().c_str(),
                cache.dir.c_str(), hits, misses);
    }
    g_connection = nullptr;
  }
#if XEN3D_ADDRESS_SANITIZER
  // The test of the sanitized build's leak check in a sandboxed worker
  // (gl-render-workers): one known leak, which it must find and report.
  if (const char* probe = std::getenv("XEN3D_WORKER_LEAK_PROBE"); probe && *probe) {
    void* volatile leak = std::malloc(43210);
    std::memset(leak, 1, 43210);
    leak = nullptr;
  }
#endif
  return 0;
}
