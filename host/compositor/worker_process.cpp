#include "host/compositor/worker_process.h"

#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "common/log.h"
#include "common/sanitizers.h"
#include "host/compositor/guest_connection.h"
#include "host/desktop/desktop_registry.h"
#include "host/validate/guest_memory_account.h"
#include "common/monotonic_clock.h"
#include "host/compositor/watchdog_page.h"
#include "host/compositor/worker_link.h"

extern char** environ;

namespace xen3d::host {

namespace {

// llvmpipe rasterizer threads for a worker whose guest is one of `guests`
// sharing the host's cores: its share of them, where a share of one core is
// none. A rasterizer thread is worth its hand-offs only where it runs beside
// the worker's own thread; with as many guests as cores every thread is
// already busy, and rasterizing inline saves two wake-ups per flush
// (docs/performance.md, "Render workers", has the measurements).
uint32_t rasterizer_threads_for(size_t guests) {
  cpu_set_t set;
  const size_t cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  const size_t share = cores / std::max<size_t>(guests, 1);
  return share >= 2 ? static_cast<uint32_t>(std::min<size_t>(share, 64)) : 0;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return std::string("killed by SIG") + (name ? name : std::to_string(WTERMSIG(status)).c_str());
  }
  return "stopped";
}

// The worker's end of the link sits at descriptor 3 in the worker.
constexpr int kWorkerLinkFd = 3;
// How long a sanitized worker may take to exit after closing its link: its
// leak check runs then (it takes well under a second; one that needs 10 s hangs).
constexpr auto kSanitizedExitGrace = std::chrono::seconds(10);

}  // namespace

std::string worker_program() {
  if (const char* env = std::getenv("XEN3D_RENDER_WORKER"); env && *env) return env;
  char self[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "xen3d-render-worker";
  std::string dir(self, static_cast<size_t>(n));
  dir.resize(dir.rfind('/') + 1);
  // Installed, both programs share a directory; in the build tree the worker
  // is built in its own room (build/host/worker/).
  const std::string beside = dir + "xen3d-render-worker";
  const std::string build_tree = dir + "../worker/xen3d-render-worker";
  if (access(beside.c_str(), X_OK) != 0 && access(build_tree.c_str(), X_OK) == 0) return build_tree;
  return beside;
}

std::unique_ptr<WorkerProcess> WorkerProcess::start(const Config& config, std::string& error) {
  // The watchdog page: the worker's clock, read here.
  const int page_fd = memfd_create("xen3d-watchdog", MFD_CLOEXEC);
  if (page_fd < 0 || ftruncate(page_fd, sysconf(_SC_PAGESIZE)) != 0) {
    error = "cannot create a watchdog page: " + proto::errno_text(errno);
    if (page_fd >= 0) ::close(page_fd);
    return nullptr;
  }
  void* page = mmap(nullptr, sizeof(WatchdogPage), PROT_READ | PROT_WRITE, MAP_SHARED, page_fd, 0);
  if (page == MAP_FAILED) {
    error = "cannot map a watchdog page: " + proto::errno_text(errno);
    ::close(page_fd);
    return nullptr;
  }
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    error = "cannot create a worker link: " + proto::errno_text(errno);
    munmap(page, sizeof(WatchdogPage));
    ::close(page_fd);
    return nullptr;
  }
  // dup2 onto itself would keep close-on-exec: never let the child's end sit at 3.
  if (pair[1] == kWorkerLinkFd) {
    const int moved = fcntl(pair[1], F_DUPFD_CLOEXEC, kWorkerLinkFd + 1);
    ::close(pair[1]);
    pair[1] = moved;
  }
  std::unique_ptr<WorkerProcess> w(new WorkerProcess());
  w->config_ = config;
  w->watchdog_ = new (page) WatchdogPage();
  w->page_fd_ = page_fd;
  w->link_ = std::make_unique<WorkerLink>(pair[0]);

  WorkerOptions o = config.options;
  o.link_fd = kWorkerLinkFd;
  std::vector<std::string> args = {config.program};
  for (auto& a : worker_arguments(o)) args.push_back(std::move(a));
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // llvmpipe's rasterizer threads are the compositor's to size (worker_session), not the environment's.
  std::vector<std::string> env_strings;
  bool asan_options = false;
  for (char** e = environ; *e; ++e) {
    if (std::strncmp(*e, "LP_NUM_THREADS=", 15) == 0) continue;
    env_strings.emplace_back(*e);
    if (XEN3D_ADDRESS_SANITIZER && std::strncmp(*e, "ASAN_OPTIONS=", 13) == 0) {
      // The sanitized build only: symbolizing a report runs llvm-symbolizer,
      // a fork and exec the sandbox refuses (SIGSYS, and no report). Reports
      // from workers name module+offset instead; addr2line reads them.
      env_strings.back() += ":symbolize=0";
      asan_options = true;
    }
  }
  if (XEN3D_ADDRESS_SANITIZER && !asan_options) env_strings.emplace_back("ASAN_OPTIONS=symbolize=0");
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pair[1], kWorkerLinkFd);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group: a terminal's Ctrl+C reaches the compositor, which stops its workers.
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, config.program.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(pair[1]);
  if (rc != 0) {
    error = "cannot start the render worker " + config.program + ": " + proto::errno_text(rc);
    return nullptr;  // ~WorkerProcess unmaps the page and closes the link
  }
  w->pid_ = pid;
  return w;
}

namespace {
constexpr size_t kWordsPerRecord = 8192;  // worker_transport_words' tail
}

bool WorkerProcess::attach(std::unique_ptr<proto::HostSession>& session, size_t guests, bool& transferable,
                           std::string& error) {
  proto::TransportHandoff handoff;
  transferable = session->transport().handoff(handoff, error);
  if (!transferable) return false;
  const proto::SessionInfo& info = session->info();
  label_ = GuestConnection::label_for(info, session->transport().name());

  // The connection: its kind, layout, names; the transport's descriptors, then the page.
  proto::WorkerSession s;
  s.connection_id = info.connection_id;
  s.peer_pid = info.peer_pid;
  s.peer_domid = info.peer_domid;
  s.peer_is_host = info.peer_is_host;
  s.transport = handoff.kind;
  s.fd_count = static_cast<uint16_t>(handoff.fds.size());
  const auto& l = handoff.layout;
  s.shm_size = l.total_size;
  s.cmd_ring_offset = l.offset[int(proto::RingId::Command)];
  s.cmd_ring_size = l.size[int(proto::RingId::Command)];
  s.reply_ring_offset = l.offset[int(proto::RingId::Reply)];
  s.reply_ring_size = l.size[int(proto::RingId::Reply)];
  s.bulk_heap_offset = l.offset[int(proto::RingId::Bulk)];
  s.bulk_heap_size = l.size[int(proto::RingId::Bulk)];
  s.framebuffer_offset = l.fb_offset;
  s.framebuffer_size = l.fb_size;
  threads_ = config_.threads >= 0 ? static_cast<uint32_t>(config_.threads) : rasterizer_threads_for(guests);
  s.rasterizer_threads = static_cast<uint8_t>(threads_);
  std::string names;
  for (const std::string* part : {&info.peer_name, &info.peer_vm, &info.peer_id, &info.endpoint}) {
    names.append(part->substr(0, 250));
    names.push_back('\0');
  }
  s.names = names;
  std::vector<int> fds = handoff.fds;
  fds.push_back(page_fd_);
  bool sent = link_->send(s, fds.data(), static_cast<int>(fds.size()));
  for (size_t at = 0; sent && at < handoff.words.size(); at += kWordsPerRecord) {
    proto::WorkerTransportWords w;
    w.total = static_cast<uint32_t>(handoff.words.size());
    w.offset = static_cast<uint32_t>(at);
    const size_t n = std::min(kWordsPerRecord, handoff.words.size() - at);
    w.words = std::span<const uint32_t>(handoff.words.data() + at, n);
    sent = link_->send(w);
  }
  if (!sent) {
    error = "cannot hand the connection to its render worker (pid " + std::to_string(pid_) +
            "): " + proto::errno_text(errno);
    return false;
  }
  proto::close_fd(page_fd_);
  // tcp keeps a private mirror on each side: once the worker has moved bytes,
  // the compositor's copy cannot write into the stream.
  rings_shared_ = handoff.kind != proto::TransportHandoff::Tcp;
  session_ = std::move(session);
  memory_ = std::make_shared<GuestMemoryAccount>(config_.options.connection.max_guest_resource_bytes);
  return true;
}

bool WorkerProcess::alive() const {
  if (pid_ <= 0) return false;
  siginfo_t info{};
  // WNOWAIT: look without reaping (run() reaps).
  return waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0;
}

WorkerProcess::~WorkerProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (watchdog_) munmap(watchdog_, sizeof(WatchdogPage));
  proto::close_fd(page_fd_);
}

std::string WorkerProcess::check_watchdog() {
  if (!config_.gpu_budget_ms) return {};
  const uint64_t since = watchdog_->busy_since_ns.load(std::memory_order_relaxed);
  const uint64_t now = monotonic_ns();
  if (!since || since > now) return {};
  const uint64_t busy_ms = (now - since) / 1000000;
  if (busy_ms <= config_.gpu_budget_ms) return {};
  return "its work kept the host busy for " + std::to_string(busy_ms) + " ms in one " +
         proto::opcode_name(watchdog_->busy_opcode.load(std::memory_order_relaxed)) +
         " record, past the GPU-time budget of " + std::to_string(config_.gpu_budget_ms) + " ms (--gpu-budget-ms)";
}

void WorkerProcess::handle(const std::vector<uint8_t>& rec) {
  const auto e = proto::dispatch(rec.data(), rec.size(), proto::Sender::Guest, [&](const auto& r) -> proto::DecodeError {
    using R = std::decay_t<decltype(r)>;
    if constexpr (std::is_same_v<R, proto::WorkerReady>) {
      XLOG_DEBUG("%s: render worker %u ready on %.*s", label_.c_str(), r.pid, static_cast<int>(r.renderer.size()),
                 r.renderer.data());
    } else if constexpr (std::is_same_v<R, proto::WorkerStats>) {
      objects_ = r.objects;
      bytes_ = r.bytes;
      memory_->set_table_bytes(r.bytes);
    } else if constexpr (std::is_same_v<R, proto::WorkerDesktopJoin>) {
      join_desktop(r.token);
    } else if constexpr (std::is_same_v<R, proto::WorkerSurfaceRequest>) {
      share_surface(r);
    } else if constexpr (std::is_same_v<R, proto::WorkerPresent>) {
      if (!joined_) return proto::DecodeError::rejected("worker_present: the worker joined no desktop");
      joined_->shared_presented(r.window, r.copy_us / 1000.0);
      config_.desktops->damaged(*joined_);
    } else if constexpr (std::is_same_v<R, proto::WorkerDesktopLeave>) {
      leave_desktop();
    } else if constexpr (std::is_same_v<R, proto::WorkerGuestLeft>) {
      guest_left_ = true;
    } else if constexpr (std::is_same_v<R, proto::WorkerTotalsRequest>) {
      if (!session_->info().peer_is_host) return proto::DecodeError::rejected("only the host's operator sees totals");
      link_->send(config_.totals ? config_.totals() : proto::WorkerTotals{});
    } else {
      return proto::DecodeError::rejected("not a record a render worker sends");
    }
    return {};
  });
  if (!e.ok() && kill_reason_.empty()) {
    kill_reason_ = "its render worker broke the link protocol: " + e.describe();
    ::kill(pid_, SIGKILL);
  }
}

void WorkerProcess::join_desktop(uint64_t token) {
  proto::WorkerDesktopJoined answer;
  if (!config_.desktops) {
    answer.reason = "this compositor composites no desktops";
    link_->send(answer);
    return;
  }
  const auto j = config_.desktops->join_gl(token, session_->info().connection_id, memory_, joined_, false);
  answer.ok = j.ok;
  answer.rejected = j.rejected;
  answer.desktop_id = j.desktop_id;
  answer.reason = std::string_view(j.reason).substr(0, 256);
  link_->send(answer);
}

void WorkerProcess::share_surface(const proto::WorkerSurfaceRequest& r) {
  proto::WorkerSurface answer;
  answer.window = r.window;
  std::string error;
  int fd = -1;
  if (!joined_) {
    error = "no desktop joined";
  } else {
    fd = config_.desktops->share_surface(*joined_, r.window, session_->info().connection_id, r.width, r.height,
                                         answer.size, error);
  }
  answer.ok = fd >= 0;
  answer.reason = std::string_view(error).substr(0, 512);
  // The desktop keeps its descriptor; the worker gets a copy.
  link_->send(answer, fd >= 0 ? &fd : nullptr, fd >= 0 ? 1 : 0);
}

void WorkerProcess::leave_desktop() {
  if (joined_) config_.desktops->leave_gl(joined_, session_->info().connection_id, false);
}

void WorkerProcess::run() {
  std::vector<uint8_t> rec;
  bool asked_to_stop = false;
  std::string stop_reason = "the compositor is shutting down";
  auto stop_deadline = std::chrono::steady_clock::time_point::max();
  for (;;) {
    const auto n = link_->next(rec, nullptr, 100);
    if (n == WorkerLink::Next::Closed) break;
    if (n == WorkerLink::Next::Record) handle(rec);
    if (kill_reason_.empty()) {
      if (std::string why = check_watchdog(); !why.empty()) {
        kill_reason_ = std::move(why);
        ::kill(pid_, SIGKILL);
      }
    }
    if (!asked_to_stop && !stop_) {
      // A destroyed Xen domain unmaps nothing: the compositor's listener
      // learns of it, and the worker is told to stop.
      if (std::string gone = session_->transport().peer_problem(); !gone.empty()) {
        XLOG_INFO("%s went away: %s; stopping its render worker", label_.c_str(), gone.c_str());
        stop_reason = "its guest went away";
        stop_ = true;
      }
    }
    if (stop_ && !asked_to_stop) {
      asked_to_stop = true;
      ::kill(pid_, SIGTERM);
      stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    }
    if (std::chrono::steady_clock::now() > stop_deadline && kill_reason_.empty()) {
      kill_reason_ = "it did not stop within 3 s of being asked to (" + stop_reason + "; still in the host driver?)";
      ::kill(pid_, SIGKILL);
    }
  }
  // The worker closed its end: it is exiting (or closed the link and lingers:
  // it gets a moment, then the kill).
  // A worker closes its link as it returns from main; what runs after gets
  // 1 s, or kSanitizedExitGrace in the sanitized build, whose leak check runs then.
  int status = 0;
  pid_t r = 0;
  const auto exit_grace = XEN3D_ADDRESS_SANITIZER ? kSanitizedExitGrace : std::chrono::milliseconds(1000);
  const auto give_up = std::chrono::steady_clock::now() + exit_grace;
  while ((r = waitpid(pid_, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const bool lingered = r == 0;
  if (lingered) {
    ::kill(pid_, SIGKILL);
    while ((r = waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
    }
  }
  pid_ = -1;
  const uint32_t objects = objects_.exchange(0);
  const uint64_t bytes = bytes_.exchange(0);
  leave_desktop();  // its surfaces go with it
  const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0 && kill_reason_.empty();
  if (clean) {
    XLOG_DEBUG("%s: render worker exited", label_.c_str());
    return;
  }
  if (lingered && kill_reason_.empty()) {
    // It had finished with its guest (a worker closes its link last): no context was lost.
    XLOG_WARN("%s: its render worker closed its link but did not exit within %lld ms; killed it", label_.c_str(),
              static_cast<long long>(exit_grace.count()));
    return;
  }
  // A worker that did not finish freed nothing itself: the process took it all.
  XLOG_INFO("guest %u: freed %u objects (%llu bytes) with its render worker", session_->info().connection_id,
            objects, static_cast<unsigned long long>(bytes));
  const std::string why = kill_reason_.empty() ? "its render worker " + describe_status(status)
                                               : "its render worker was killed: " + kill_reason_;
  XLOG_WARN("%s: %s; its context is now lost, other guests are unaffected", label_.c_str(), why.c_str());
  last_words(why);
}

void WorkerProcess::last_words(const std::string& why) {
  if (!rings_shared_) return;  // the closing connection is the guest's news
  // The worker's writer died with it; the reply ring's published head is in
  // the shared counters, so a new writer goes on from there. A guest that
  // does not read gets no word: the closing connection says enough.
  session_->restart();
  const std::string message = "the host lost this context: " + why;
  proto::ContextLost lost;
  lost.message = std::string_view(message).substr(0, 1024);
  session_->try_reply(lost);
}

}  // namespace xen3d::host
