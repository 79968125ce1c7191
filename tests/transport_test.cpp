// Two processes, one per side, over each real transport: records, answers and
// bulk data arrive intact, ring and heap wrap-around work under load, and each
// side notices the other's death instead of hanging.
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <cstdio>
#include <cstring>
#include <string>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/guest_session.h"
#include "proto/handshake.h"
#include "proto/host_session.h"
#include "xen/xen_api.h"

using namespace xen3d::proto;

namespace {


enum class HostMode { Serve, DieAfterHandshake };

// A minimal host in a child process: the same session and decoder the
// compositor uses, with handlers for the diagnostic records.
struct HostProcess {
  pid_t pid = -1;
  std::string endpoint;
  ~HostProcess() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  int wait_exit() {
    int st = 0;
    waitpid(pid, &st, 0);
    pid = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
};

std::string spec_for(const std::string& kind) {
  if (kind == "tcp") return "tcp:127.0.0.1:0";
  if (kind == "xen") return "xen";
  return "local:/tmp/xen3d-test-" + std::to_string(getpid()) + ".sock";
}

// The xen transport runs against xenemu, the emulation of the Xen calls it
// uses (xen/emulation/README.md): a broker with guest domain 1 created. The
// process that plays dom0 and the one that plays the guest each say which
// they are (XEN3D_XENEMU_DOMID) after forking.
class XenEmulation {
 public:
  explicit XenEmulation(const std::string& kind) {
    if (kind != "xen") return;
    const char* broker = std::getenv("XENEMU_BROKER");
    const char* ctl = std::getenv("XENEMU_CTL");
    REQUIRE(broker);  // meson passes both; without them the xen runs would silently vanish
    REQUIRE(ctl);
    socket_ = "/tmp/xen3d-test-xenemu-" + std::to_string(getpid()) + ".sock";
    ::unlink(socket_.c_str());
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      int null = open("/dev/null", O_WRONLY);
      dup2(null, 2);
      execl(broker, broker, "--socket", socket_.c_str(), nullptr);
      _exit(127);
    }
    for (int i = 0; i < 100 && access(socket_.c_str(), F_OK) != 0; ++i) usleep(50000);
    std::string cmd = std::string(ctl) + " " + socket_ + " create 1 transport-test >/dev/null";
    REQUIRE(std::system(cmd.c_str()) == 0);
    setenv("XEN3D_XENEMU", socket_.c_str(), 1);
  }
  ~XenEmulation() {
    if (pid_ <= 0) return;
    unsetenv("XEN3D_XENEMU");
    unsetenv("XEN3D_XENEMU_DOMID");
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    ::unlink(socket_.c_str());
  }
  XenEmulation(const XenEmulation&) = delete;
  XenEmulation& operator=(const XenEmulation&) = delete;

 private:
  pid_t pid_ = -1;
  std::string socket_;
};

// This process plays dom0 (the compositor) or the guest domain.
void play_dom0() { setenv("XEN3D_XENEMU_DOMID", "0", 1); }
void play_guest() { setenv("XEN3D_XENEMU_DOMID", "1", 1); }

int serve_one(Listener& l, HostMode mode) {
  HostPolicy policy;
  policy.default_bulk_heap_kib = 1024;  // small, so tests wrap it
  policy.default_cmd_ring_kib = 64;
  policy.host_renderer = "test-host";
  SessionInfo info;
  std::string error;
  std::unique_ptr<Transport> t;
  while (!t) {
    t = l.accept(policy, [] { return 1u; }, info, error, 10000);
    if (!t && !error.empty()) return 10;
  }
  if (mode == HostMode::DieAfterHandshake) _exit(0);
  HostSession s(std::move(t), info);
  uint64_t executed = 0;
  bool bye = false;
  while (!bye) {
    const uint8_t* rec;
    size_t size;
    auto st = s.next(rec, size, 10000);
    if (st == HostSession::Next::Idle) return 11;
    if (st != HostSession::Next::Record) {
      std::fprintf(stderr, "test host: %s\n", s.error().c_str());
      return 12;
    }
    DecodeError e = dispatch(rec, size, Sender::Guest, [&](const auto& r) -> DecodeError {
      using R = std::decay_t<decltype(r)>;
      const char* why = nullptr;
      if constexpr (std::is_same_v<R, Ping>) {
        Pong p;
        p.seq = r.seq;
        p.commands_executed = executed;
        s.reply(p);
      } else if constexpr (std::is_same_v<R, ChecksumBulk>) {
        const uint8_t* d = s.bulk(r.data, why);
        if (!d) return DecodeError::rejected(why);
        BulkChecksum c;
        c.fnv1a = fnv1a(d, r.data.size);
        c.size = r.data.size;
        s.release_bulk(r.data);
        s.reply(c);
      } else if constexpr (std::is_same_v<R, BulkSink>) {
        if (!s.bulk(r.data, why)) return DecodeError::rejected(why);
        s.release_bulk(r.data);
      } else if constexpr (std::is_same_v<R, FrameShare>) {
        // A memfd holding 0xabc0 + the resource id, after the answer for
        // even ids (as the compositor sends it), before it for odd ones.
        FrameShared answer;
        answer.ok = s.transport().carries_fds();
        answer.stride = answer.rows = 1;
        const int fd = memfd_create("transport-test", MFD_CLOEXEC);
        const uint32_t v = 0xabc0 + r.resource;
        if (fd < 0 || pwrite(fd, &v, sizeof v, 0) != sizeof v) return DecodeError::rejected("memfd");
        std::string error;
        if (answer.ok && r.resource % 2) {
          if (!s.transport().send_fd(fd, error)) return DecodeError::rejected("send_fd");
          usleep(100000);  // so the guest, waiting for the answer, finds the descriptor alone first
        }
        s.reply(answer);
        if (answer.ok && r.resource % 2 == 0 && !s.transport().send_fd(fd, error)) return DecodeError::rejected("send_fd");
        close(fd);
      } else if constexpr (std::is_same_v<R, Goodbye>) {
        bye = true;
      }
      return {};
    });
    if (!e.ok()) return 13;
    ++executed;
  }
  return 0;
}

HostProcess spawn_host(const std::string& spec, HostMode mode) {
  int p[2];
  REQUIRE(pipe(p) == 0);
  HostProcess h;
  h.pid = fork();
  REQUIRE(h.pid >= 0);
  if (h.pid == 0) {
    close(p[0]);
    play_dom0();
    Endpoint ep;
    std::string error;
    if (!Endpoint::parse(spec, ep, error)) _exit(20);
    auto l = listen_on(ep, error);
    if (!l) _exit(21);
    std::string where = l->describe();
    if (write(p[1], where.c_str(), where.size()) < 0) _exit(22);
    close(p[1]);
    _exit(serve_one(*l, mode));
  }
  close(p[1]);
  char buf[256] = {};
  ssize_t n = read(p[0], buf, sizeof buf - 1);
  close(p[0]);
  REQUIRE(n > 0);
  h.endpoint.assign(buf, static_cast<size_t>(n));
  return h;
}


}  // namespace

TEST_CASE("guest and host exchange records, answers and bulk data", "[transport]") {
  auto kind = GENERATE(std::string("local"), std::string("tcp"), std::string("xen"));
  INFO("transport " << kind);
  XenEmulation xen(kind);
  HostProcess host = spawn_host(spec_for(kind), HostMode::Serve);
  play_guest();
  ConnectRequest req;
  req.client_name = "transport-test";
  std::string error;
  auto s = GuestSession::connect(spec_for(kind) == "xen" ? "xen" : host.endpoint, req, error);
  INFO(error);
  REQUIRE(s);
  REQUIRE(error.empty());
  REQUIRE(s->info().host_renderer == "test-host");
  REQUIRE(s->transport().name() == kind);

  // Many small records: the 64 KiB command ring wraps dozens of times.
  const uint64_t kNops = 100000;
  for (uint64_t i = 0; i < kNops; ++i) {
    Nop n;
    n.payload[0] = static_cast<uint32_t>(i);
    REQUIRE(s->send(n));
  }
  Ping ping;
  ping.seq = 42;
  Pong pong;
  REQUIRE(s->call(ping, pong));
  REQUIRE(pong.seq == 42);
  REQUIRE(pong.commands_executed == kNops);

  // Bulk spans of awkward sizes, each checked by the host.
  for (uint32_t size : {1u, 63u, 4095u, 100000u, s->max_bulk()}) {
    BulkSpan span = s->alloc_bulk(size);
    if (!span.data) FAIL("bulk of " << size << ": " << s->error() << "; host exit " << host.wait_exit());
    for (uint32_t i = 0; i < size; ++i) span.data[i] = static_cast<uint8_t>(i * 7 + size);
    ChecksumBulk c;
    c.data.pos = span.pos;
    c.data.size = size;
    BulkChecksum answer;
    REQUIRE(s->call(c, answer));
    REQUIRE(answer.size == size);
    REQUIRE(answer.fnv1a == fnv1a(span.data, size));
    s->bulk_done(span);
  }

  // A stream of sinks several times the heap size: allocation waits on the
  // host's releases instead of overwriting data in use.
  for (int i = 0; i < 64; ++i) {
    BulkSpan span = s->alloc_bulk(200 * 1024);
    if (!span.data) FAIL("sink " << i << ": " << s->error() << "; host exit " << host.wait_exit());
    std::memset(span.data, i, span.size);
    BulkSink sink;
    sink.data.pos = span.pos;
    sink.data.size = span.size;
    REQUIRE(s->send(sink));
    s->bulk_done(span);
  }
  REQUIRE(s->call(ping, pong));
  REQUIRE(s->round_trips() == 7);
  s.reset();  // says goodbye
  REQUIRE(host.wait_exit() == 0);
}

TEST_CASE("a descriptor the host sends beside the rings reaches the guest, before or after its answer",
          "[transport]") {
  auto kind = GENERATE(std::string("local"), std::string("tcp"));
  INFO("transport " << kind);
  HostProcess host = spawn_host(spec_for(kind), HostMode::Serve);
  ConnectRequest req;
  req.client_name = "fd-test";
  std::string error;
  auto s = GuestSession::connect(host.endpoint, req, error);
  INFO(error);
  REQUIRE(s);
  REQUIRE(s->transport().carries_fds() == (kind == "local"));
  for (uint32_t id : {2u, 3u, 4u, 5u}) {
    INFO("resource " << id);
    FrameShare ask;
    ask.resource = id;
    FrameShared answer;
    REQUIRE(s->call(ask, answer));
    if (kind != "local") {
      CHECK(!answer.ok);  // tcp cannot carry one: the guest reads frames back
      continue;
    }
    REQUIRE(answer.ok);
    const int fd = s->transport().receive_fd(kFdAfterAnswerTimeoutMs, error);
    INFO(error);
    REQUIRE(fd >= 0);
    uint32_t v = 0;
    CHECK(pread(fd, &v, sizeof v, 0) == sizeof v);
    CHECK(v == 0xabc0 + id);
    close(fd);
  }
  // The socket carried nothing else: the connection goes on.
  Ping ping;
  ping.seq = 7;
  Pong pong;
  REQUIRE(s->call(ping, pong));
  s.reset();
  REQUIRE(host.wait_exit() == 0);
}

TEST_CASE("a guest whose host dies gets an error, not a hang", "[transport]") {
  auto kind = GENERATE(std::string("local"), std::string("tcp"), std::string("xen"));
  INFO("transport " << kind);
  XenEmulation xen(kind);
  HostProcess host = spawn_host(spec_for(kind), HostMode::DieAfterHandshake);
  play_guest();
  ConnectRequest req;
  std::string error;
  auto s = GuestSession::connect(spec_for(kind) == "xen" ? "xen" : host.endpoint, req, error);
  INFO(error);
  REQUIRE(s);
  host.wait_exit();
  Ping ping;
  Pong pong;
  REQUIRE_FALSE(s->call(ping, pong));
  REQUIRE_FALSE(s->alive());
  REQUIRE(s->error().find("lost the compositor") != std::string::npos);
}

TEST_CASE("a host whose guest is killed sees it go", "[transport]") {
  auto kind = GENERATE(std::string("local"), std::string("tcp"), std::string("xen"));
  INFO("transport " << kind);
  XenEmulation xen(kind);
  play_dom0();
  Endpoint ep;
  std::string error;
  REQUIRE(Endpoint::parse(spec_for(kind), ep, error));
  auto l = listen_on(ep, error);
  REQUIRE(l);
  const std::string where = l->describe();
  pid_t guest = fork();
  REQUIRE(guest >= 0);
  if (guest == 0) {
    play_guest();
    ConnectRequest req;
    std::string e;
    auto s = GuestSession::connect(kind == "xen" ? "xen" : where, req, e);
    if (!s) _exit(1);
    Nop n;
    s->send(n);
    s->flush();
    pause();  // killed by the parent
    _exit(0);
  }
  HostPolicy policy;
  SessionInfo info;
  std::unique_ptr<Transport> t;
  while (!t) {
    t = l->accept(policy, [] { return 7u; }, info, error, 10000);
    REQUIRE((t || error.empty()));
  }
  HostSession hs(std::move(t), info);
  const uint8_t* rec;
  size_t size;
  REQUIRE(hs.next(rec, size, 10000) == HostSession::Next::Record);
  kill(guest, SIGKILL);
  waitpid(guest, nullptr, 0);
  HostSession::Next st = hs.next(rec, size, 10000);
  REQUIRE(st == HostSession::Next::Gone);
  REQUIRE_FALSE(hs.error().empty());
}

TEST_CASE("connecting to nothing fails fast with a useful message", "[transport]") {
  ConnectRequest req;
  req.timeout_ms = 2000;
  std::string error;
  auto s = GuestSession::connect("local:/tmp/xen3d-no-such-compositor.sock", req, error);
  REQUIRE_FALSE(s);
  REQUIRE(error.find("Is xen3d-compositor running?") != std::string::npos);
  error.clear();
  REQUIRE_FALSE(GuestSession::connect("tcp:127.0.0.1:1", req, error));
  REQUIRE(error.find("cannot reach") != std::string::npos);
  error.clear();
  REQUIRE_FALSE(GuestSession::connect("carrier-pigeon:home", req, error));
  REQUIRE(error.find("expected local:") != std::string::npos);
}

// A hostile guest writes its own rendezvous: a hello that is not a record,
// then rings that do not match the welcome. The compositor refuses each with
// a reason (in xenstore for the guest, in `error` for its log), maps nothing
// it did not ask for, and still serves the next, honest connection.
TEST_CASE("xen: a guest lying in its rendezvous is refused, and others still connect", "[transport][xen]") {
  XenEmulation xen("xen");
  play_dom0();
  Endpoint ep;
  std::string error;
  REQUIRE(Endpoint::parse("xen", ep, error));
  auto l = listen_on(ep, error);
  REQUIRE(l);
  pid_t guest = fork();
  REQUIRE(guest >= 0);
  if (guest == 0) {
    play_guest();
    std::string e;
    auto x = xen3d::xen::open_xen(e);
    auto xs = x ? x->open_store(e) : nullptr;
    if (!xs) _exit(10);
    auto wait_for = [&](const std::string& path, std::string& v) {
      for (int i = 0; i < 200; ++i) {
        if (xs->read(path, v)) return true;
        usleep(20000);
      }
      return false;
    };
    std::string v;
    if (!xs->write("data/xen3d/bad1/hello", "not hex") || !wait_for("data/xen3d/bad1/welcome", v)) _exit(11);
    // A real hello, then one data page where the welcome asked for hundreds.
    ConnectRequest req;
    req.client_name = "liar";
    std::string hello;
    for (uint8_t b : make_hello(req)) {
      char h[3];
      std::snprintf(h, sizeof h, "%02x", b);
      hello += h;
    }
    if (!xs->write("data/xen3d/bad2/hello", hello) || !wait_for("data/xen3d/bad2/welcome", v)) _exit(12);
    auto ev = x->open_event_channels(e);
    auto sh = x->open_sharer(e);
    if (!ev || !sh) _exit(13);
    int port = ev->bind_unbound_port(0);
    xen3d::xen::GrantRef cref = 0, dref = 0, iref = 0;
    auto* control = static_cast<uint8_t*>(sh->share_page_notify(0, &cref, true, 4095, port));
    void* data = sh->share_pages(0, 1, &dref, true);
    auto* index = static_cast<xen3d::xen::GrantRef*>(sh->share_pages(0, 1, &iref, false));
    if (!control || !data || !index) _exit(14);
    control[4095] = 1;
    index[0] = dref;
    if (!xs->write("data/xen3d/bad2/control-ref", std::to_string(cref)) ||
        !xs->write("data/xen3d/bad2/index-refs", std::to_string(iref)) ||
        !xs->write("data/xen3d/bad2/data-pages", "1") ||
        !xs->write("data/xen3d/bad2/event-channel", std::to_string(port)) ||
        !xs->write("data/xen3d/bad2/state", "ready") || !wait_for("data/xen3d/bad2/host-state", v)) {
      _exit(15);
    }
    if (v.rfind("failed: ", 0) != 0) _exit(16);
    // An honest guest from the same domain still gets in.
    auto s = GuestSession::connect("xen", req, e);
    if (!s) _exit(17);
    Ping ping;
    Pong pong;
    ping.seq = 5;
    if (!s->call(ping, pong) || pong.seq != 5) _exit(18);
    _exit(0);
  }
  HostPolicy policy;
  SessionInfo info;
  std::vector<std::string> refusals;
  std::unique_ptr<Transport> t;
  for (int i = 0; i < 20 && !t; ++i) {
    t = l->accept(policy, [] { return 9u; }, info, error, 5000);
    if (!t && !error.empty()) refusals.push_back(error);
  }
  REQUIRE(t);
  REQUIRE(refusals.size() == 2);
  CHECK(refusals[0].find("hello is not a hex record") != std::string::npos);
  CHECK(refusals[1].find("the guest shared 1 pages where the welcome asked for") != std::string::npos);
  CHECK(info.peer_domid == 1);
  CHECK(info.peer_vm == "transport-test");
  HostSession hs(std::move(t), info);
  const uint8_t* rec;
  size_t size;
  REQUIRE(hs.next(rec, size, 10000) == HostSession::Next::Record);
  Pong pong;
  pong.seq = 5;
  hs.reply(pong);
  int st = 0;
  waitpid(guest, &st, 0);
  REQUIRE(WIFEXITED(st));
  REQUIRE(WEXITSTATUS(st) == 0);
}
