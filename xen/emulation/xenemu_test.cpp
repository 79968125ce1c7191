// Tests of xenemu, the EMULATION of Xen: each test starts its own
// xenemu-broker child (path in env XENEMU_BROKER, xenemu-ctl in XENEMU_CTL)
// and plays dom0 in this process and the guests (and sometimes a second
// dom0 process) in forked children, so that process death is real.
//
// Children cannot use Catch2: they check with CHILD_CHECK, which prints the
// failed condition and exits non-zero; the parent REQUIREs a zero status.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <thread>

#include "xen/emulation/xenemu_protocol.h"
#include "xen/xen_api.h"

using namespace xen3d::xen;
namespace emu = xen3d::xen::xenemu;

namespace {

std::string tool(const char* env) {
  const char* p = std::getenv(env);
  if (!p || !*p) FAIL(std::string(env) + " must name the executable (set by meson test)");
  return p;
}

bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

#define CHILD_CHECK(cond)                                                                          \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "child %d: check failed at %s:%d: %s (errno %d: %s)\n", getpid(), __FILE__, \
              __LINE__, #cond, errno, strerror(errno));                                            \
      _exit(1);                                                                                    \
    }                                                                                              \
  } while (0)

// A stream of u32s between parent and child (both directions).
struct Chan {
  int fd = -1;
  void send(uint32_t v) const {
    if (::write(fd, &v, sizeof v) != sizeof v) {}
  }
  // 10 s without an answer means the other side is stuck or dead.
  bool recv(uint32_t& v) const { return readable(fd, 10000) && ::read(fd, &v, sizeof v) == sizeof v; }
  uint32_t get() const {
    uint32_t v = 0;
    if (!recv(v)) {
      fprintf(stderr, "process %d: nothing from the other side\n", getpid());
      if (getpid() != parent_pid) _exit(2);
      FAIL("the child process did not answer");
    }
    return v;
  }
  static inline pid_t parent_pid = 0;
};

// A broker of our own, on a fresh socket; SIGTERM and reaped at the end.
class Broker {
 public:
  explicit Broker(std::vector<std::string> extra = {}) {
    char tmpl[] = "/tmp/xenemu-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    dir_ = tmpl;
    sock_ = dir_ + "/broker.sock";
    std::string exe = tool("XENEMU_BROKER");
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      int log = ::open((dir_ + "/broker.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(log, 2);
      std::vector<std::string> args = {exe, "--socket", sock_};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(exe.c_str(), argv.data());
      _exit(127);
    }
    for (int i = 0; i < 500 && !connectable(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(connectable());
    Chan::parent_pid = getpid();
    setenv("XEN3D_XENEMU_DOMID", "0", 1);
  }
  ~Broker() {
    kill(pid_, SIGTERM);
    int st;
    waitpid(pid_, &st, 0);
    ::unlink((dir_ + "/broker.log").c_str());
    ::unlink(sock_.c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& sock() const { return sock_; }
  bool alive() const { return waitpid(pid_, nullptr, WNOHANG) == 0; }
  std::string log() const {
    std::ifstream f(dir_ + "/broker.log");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  // xenemu-ctl SOCKET args...: its exit status.
  int ctl(std::vector<std::string> args) const {
    std::string exe = tool("XENEMU_CTL");
    pid_t p = fork();
    if (p == 0) {
      args.insert(args.begin(), {exe, sock_});
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      int null = ::open("/dev/null", O_WRONLY);
      dup2(null, 1);
      execv(exe.c_str(), argv.data());
      _exit(127);
    }
    int st = 0;
    waitpid(p, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  std::unique_ptr<XenPlatform> platform() const {
    std::string err;
    auto x = open_xen_emulation(sock_, err);
    INFO(err);
    REQUIRE(x);
    return x;
  }

 private:
  bool connectable() const {
    uint32_t limit;
    int evfd;
    std::string err;
    int s = emu::connect_broker(sock_, 0, emu::Kind::Control, limit, evfd, err);
    if (s < 0) return false;
    ::close(s);
    ::close(evfd);
    return true;
  }
  std::string dir_, sock_;
  pid_t pid_ = -1;
};

// A process playing domain `dom`; killed and reaped if the test ends early.
class Child {
 public:
  Child(DomId dom, const std::function<void(Chan&)>& body) {
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::close(sv[0]);
      setenv("XEN3D_XENEMU_DOMID", std::to_string(dom).c_str(), 1);
      Chan c{sv[1]};
      try {
        body(c);
      } catch (...) {
        fprintf(stderr, "child %d: exception\n", getpid());
        _exit(3);
      }
      _exit(0);
    }
    ::close(sv[1]);
    chan.fd = sv[0];
  }
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    ::close(chan.fd);
  }
  // Exit status (0: every CHILD_CHECK passed), or 128+signal.
  int wait() {
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  void kill_now() {
    kill(pid_, SIGKILL);
    wait();
  }
  Chan chan;

 private:
  pid_t pid_ = -1;
};

template <class T>
std::unique_ptr<T> must(std::unique_ptr<T> p, const std::string& err) {
  if (!p) fprintf(stderr, "process %d: %s\n", getpid(), err.c_str());
  return p;
}

}  // namespace

TEST_CASE("xenemu: domains, their xenstore nodes and the special watches", "[xenemu]") {
  Broker b;
  auto x = b.platform();
  REQUIRE(x->name() == "xenemu (emulation of Xen)");
  std::string err;
  auto xs = x->open_store(err);
  REQUIRE(xs);
  std::string path, token, value;
  REQUIRE(xs->watch("@introduceDomain", "intro"));
  REQUIRE(xs->watch("@releaseDomain", "rel"));
  // Both fire once on registration, like xenstored.
  REQUIRE(readable(xs->fileno(), 0));
  REQUIRE((xs->read_watch(path, token) && path == "@introduceDomain" && token == "intro"));
  REQUIRE((xs->read_watch(path, token) && path == "@releaseDomain" && token == "rel"));
  REQUIRE_FALSE(xs->read_watch(path, token));
  REQUIRE_FALSE(readable(xs->fileno(), 0));

  REQUIRE(b.ctl({"create", "5", "guest-five"}) == 0);
  REQUIRE(b.ctl({"create", "5", "again"}) != 0);
  REQUIRE(b.ctl({"create", "0", "dom0"}) != 0);
  REQUIRE(readable(xs->fileno(), 2000));
  REQUIRE((xs->read_watch(path, token) && path == "@introduceDomain" && token == "intro"));
  std::vector<DomainInfo> doms;
  REQUIRE(x->list_domains(doms, err));
  REQUIRE(doms.size() == 2);
  REQUIRE((doms[0].domid == 0 && doms[1].domid == 5));
  REQUIRE((xs->read("/local/domain/5/name", value) && value == "guest-five"));

  {  // A domain that does not exist cannot connect.
    Child c(7, [&](Chan&) {
      std::string e;
      auto p = open_xen_emulation(b.sock(), e);
      CHILD_CHECK(!p);
      CHILD_CHECK(e.find("domain 7 does not exist") != std::string::npos);
    });
    REQUIRE(c.wait() == 0);
  }
  {
    Child guest(5, [&](Chan& ch) {
      std::string e, v, p, t;
      auto g = must(open_xen_emulation(b.sock(), e), e);
      CHILD_CHECK(g);
      auto s = must(g->open_store(e), e);
      CHILD_CHECK(s);
      CHILD_CHECK(s->read("name", v) && v == "guest-five");
      CHILD_CHECK(s->read("/local/domain/5/domid", v) && v == "5");
      CHILD_CHECK(!s->read("/local/domain/0/name", v) && errno == EACCES);
      std::vector<DomainInfo> d;
      CHILD_CHECK(!g->list_domains(d, e) && e.find("only dom0") != std::string::npos);
      CHILD_CHECK(s->watch("@introduceDomain", "gi"));
      CHILD_CHECK(s->read_watch(p, t) && p == "@introduceDomain");  // the registration event
      ch.send(1);
      CHILD_CHECK(ch.get() == 2);  // domain 6 now exists
      CHILD_CHECK(!readable(s->fileno(), 200));  // @introduceDomain is for dom0 only
      CHILD_CHECK(!s->read_watch(p, t) && errno == EAGAIN);
      CHILD_CHECK(!s->read("/local/domain/6/name", v) && errno == EACCES);
    });
    REQUIRE(guest.chan.get() == 1);
    REQUIRE(b.ctl({"create", "6", "six"}) == 0);
    guest.chan.send(2);
    REQUIRE(guest.wait() == 0);
  }
  REQUIRE((xs->read_watch(path, token) && path == "@introduceDomain"));

  REQUIRE(b.ctl({"destroy", "5"}) == 0);
  REQUIRE(b.ctl({"destroy", "5"}) != 0);
  REQUIRE(readable(xs->fileno(), 2000));
  REQUIRE((xs->read_watch(path, token) && path == "@releaseDomain" && token == "rel"));
  REQUIRE_FALSE(xs->read("/local/domain/5/name", value));
  REQUIRE(errno == ENOENT);
  REQUIRE(x->list_domains(doms, err));
  REQUIRE(doms.size() == 2);
  REQUIRE(doms[1].domid == 6);
  setenv("XEN3D_XENEMU_DOMID", "5", 1);
  REQUIRE_FALSE(open_xen_emulation(b.sock(), err));
  setenv("XEN3D_XENEMU_DOMID", "0", 1);
  REQUIRE(err.find("refused domain 5") != std::string::npos);
  REQUIRE(b.log().find("domain 5 destroyed") != std::string::npos);
}

TEST_CASE("xenemu: grants are mapped contiguously, checked and limited", "[xenemu]") {
  Broker b({"--grant-limit", "8"});
  REQUIRE(b.ctl({"create", "3", "guest"}) == 0);
  REQUIRE(b.ctl({"create", "4", "other"}) == 0);
  Child guest(3, [&](Chan& ch) {
    std::string e;
    auto g = must(open_xen_emulation(b.sock(), e), e);
    CHILD_CHECK(g && g->grant_limit_pages() == 8);
    auto sh = must(g->open_sharer(e), e);
    CHILD_CHECK(sh);
    GrantRef refs[3], ro, other;
    auto* pages = static_cast<uint8_t*>(sh->share_pages(0, 3, refs, true));
    CHILD_CHECK(pages);
    for (size_t i = 0; i < 3 * kPageSize; i++) CHILD_CHECK(pages[i] == 0);  // fresh pages are zeroed
    for (int i = 0; i < 3; i++) memset(pages + i * kPageSize, 0x10 + i, kPageSize);
    auto* rop = static_cast<uint8_t*>(sh->share_pages(0, 1, &ro, false));
    CHILD_CHECK(rop);
    memset(rop, 0x5A, kPageSize);
    CHILD_CHECK(sh->share_pages(4, 1, &other, true));
    std::vector<GrantRef> all = {refs[0], refs[1], refs[2], ro, other};
    for (GrantRef r : all) CHILD_CHECK(r >= 8);  // 0..7 are reserved
    std::sort(all.begin(), all.end());
    CHILD_CHECK(std::unique(all.begin(), all.end()) == all.end());
    // 5 of 8 pages granted: 4 more do not fit, and nothing is allocated.
    GrantRef more[4];
    errno = 0;
    CHILD_CHECK(!sh->share_pages(0, 4, more, true) && errno == ENOSPC);
    void* three = sh->share_pages(0, 3, more, true);
    CHILD_CHECK(three);
    CHILD_CHECK(!sh->share_pages(0, 1, more, true) && errno == ENOSPC);
    CHILD_CHECK(sh->unshare(three, 3) == 0);
    CHILD_CHECK(sh->share_pages(0, 3, more, true));  // freed by unshare
    for (GrantRef r : {refs[0], refs[1], refs[2], ro, other}) ch.send(r);
    CHILD_CHECK(ch.get() == 1);  // dom0 wrote into page 1
    CHILD_CHECK(pages[kPageSize] == 0x77 && pages[kPageSize + 1] == 0x11);
  });
  GrantRef refs[3], ro, other;
  for (auto* r : {&refs[0], &refs[1], &refs[2], &ro, &other}) *r = guest.chan.get();
  auto x = b.platform();
  std::string err;
  auto m = x->open_mapper(err);
  REQUIRE(m);
  auto* p = static_cast<uint8_t*>(m->map_domain_grant_refs(3, 3, refs, true));
  REQUIRE(p);
  for (int i = 0; i < 3; i++) {
    REQUIRE(p[i * kPageSize] == 0x10 + i);
    REQUIRE(p[i * kPageSize + kPageSize - 1] == 0x10 + i);
  }
  GrantRef reversed[3] = {refs[2], refs[1], refs[0]};  // any order, still contiguous
  auto* q = static_cast<uint8_t*>(m->map_domain_grant_refs(3, 3, reversed, false));
  REQUIRE(q);
  REQUIRE((q[0] == 0x12 && q[2 * kPageSize] == 0x10));
  REQUIRE(m->unmap(q, 3) == 0);

  GrantRef bad[2] = {refs[0], 12345};
  errno = 0;
  REQUIRE(m->map_domain_grant_refs(2, 3, bad, true) == nullptr);
  REQUIRE(errno == EINVAL);
  GrantRef reserved = 1;
  REQUIRE(m->map_domain_grant_refs(1, 3, &reserved, true) == nullptr);
  errno = 0;
  REQUIRE(m->map_domain_grant_refs(1, 3, &other, true) == nullptr);  // granted to domain 4, not us
  REQUIRE(errno == EINVAL);
  errno = 0;
  REQUIRE(m->map_domain_grant_refs(3, 4, refs, true) == nullptr);  // wrong granting domain
  REQUIRE(errno == EINVAL);
  errno = 0;
  REQUIRE(m->map_domain_grant_refs(1, 3, &ro, true) == nullptr);  // read-only grant, writable map
  REQUIRE(errno == EACCES);
  auto* r = static_cast<uint8_t*>(m->map_domain_grant_refs(1, 3, &ro, false));
  REQUIRE(r);
  REQUIRE(r[100] == 0x5A);
  REQUIRE(m->unmap(r, 2) == -1);  // not the mapping's size
  REQUIRE(m->unmap(r, 1) == 0);

  p[kPageSize] = 0x77;
  guest.chan.send(1);
  REQUIRE(guest.wait() == 0);
  // The sharer is gone; the pages stay valid while mapped here.
  REQUIRE(p[2 * kPageSize] == 0x12);
  REQUIRE(m->unmap(p, 3) == 0);
  REQUIRE(b.alive());
}

TEST_CASE("xenemu: event channels coalesce like Linux evtchn", "[xenemu]") {
  // Xen does not signal a port whose other end closes; the broker can (not Xen).
  const bool wake = GENERATE(false, true);
  Broker b(wake ? std::vector<std::string>{"--wake-on-peer-close"} : std::vector<std::string>{});
  REQUIRE(b.ctl({"create", "3", "guest"}) == 0);
  REQUIRE(b.ctl({"create", "4", "other"}) == 0);
  Child guest(3, [&](Chan& ch) {
    std::string e;
    auto g = must(open_xen_emulation(b.sock(), e), e);
    CHILD_CHECK(g);
    auto ev = must(g->open_event_channels(e), e);
    CHILD_CHECK(ev);
    int port = ev->bind_unbound_port(0);
    CHILD_CHECK(port == 1);  // per-domain numbering from 1
    ch.send(port);
    Port for_four = ch.get();
    errno = 0;
    CHILD_CHECK(ev->bind_interdomain(0, for_four) == -1 && errno == EINVAL);  // meant for domain 4
    CHILD_CHECK(ev->notify(99) == -1);  // not ours
    ch.send(2);
    CHILD_CHECK(ch.get() == 3);  // dom0 has bound
    CHILD_CHECK(!readable(ev->fd(), 100));  // the spurious event is the binder's, not ours
    for (int i = 0; i < 3; i++) CHILD_CHECK(ev->notify(port) == 0);
    ch.send(4);
    CHILD_CHECK(ch.get() == 5);
    CHILD_CHECK(ev->notify(port) == 0);  // dom0 has unmasked: one more event
    ch.send(6);
    CHILD_CHECK(ch.get() == 7);
    CHILD_CHECK(ev->unbind(port) == 0);
    CHILD_CHECK(ev->unbind(port) == -1);
    ch.send(8);
    ch.get();
  });
  auto x = b.platform();
  std::string err;
  auto ev = x->open_event_channels(err);
  REQUIRE(ev);
  Port gport = guest.chan.get();
  int four = ev->bind_unbound_port(4);
  REQUIRE(four == 1);
  guest.chan.send(four);
  REQUIRE(guest.chan.get() == 2);
  errno = 0;
  REQUIRE(ev->bind_interdomain(3, gport + 5) == -1);
  REQUIRE(errno == EINVAL);
  REQUIRE(ev->bind_interdomain(9, gport) == -1);  // no such domain
  int local = ev->bind_interdomain(3, gport);
  REQUIRE(local == 2);
  REQUIRE(ev->bind_interdomain(3, gport) == -1);  // already bound

  // Xen's spurious first event on the new local port.
  REQUIRE(readable(ev->fd(), 0));
  REQUIRE(ev->pending() == local);
  errno = 0;
  REQUIRE(ev->pending() == -1);
  REQUIRE(errno == EAGAIN);
  REQUIRE_FALSE(readable(ev->fd(), 0));
  REQUIRE(ev->unmask(local) == 0);
  guest.chan.send(3);

  // Three notifies: one delivery (the port is then masked).
  REQUIRE(guest.chan.get() == 4);
  REQUIRE(readable(ev->fd(), 2000));
  REQUIRE(ev->pending() == local);
  REQUIRE(ev->pending() == -1);
  REQUIRE_FALSE(readable(ev->fd(), 0));
  guest.chan.send(5);
  // While masked, a further event latches; unmask redelivers it once.
  REQUIRE(guest.chan.get() == 6);
  REQUIRE_FALSE(readable(ev->fd(), 100));
  REQUIRE(ev->unmask(local) == 0);
  REQUIRE(readable(ev->fd(), 0));
  REQUIRE(ev->pending() == local);
  REQUIRE(ev->unmask(local) == 0);
  REQUIRE_FALSE(readable(ev->fd(), 50));
  REQUIRE(ev->pending() == -1);

  // The other end unbinds: our port is unbound again, silently as in Xen.
  guest.chan.send(7);
  REQUIRE(guest.chan.get() == 8);
  if (wake) {
    REQUIRE(readable(ev->fd(), 2000));
    REQUIRE(ev->pending() == local);
    REQUIRE(ev->unmask(local) == 0);
  }
  REQUIRE_FALSE(readable(ev->fd(), 100));
  REQUIRE(ev->notify(local) == 0);  // to an unbound port: dropped, as Xen does
  REQUIRE(ev->unbind(local) == 0);
  REQUIRE(ev->notify(local) == -1);
  guest.chan.send(9);
  REQUIRE(guest.wait() == 0);
}

TEST_CASE("xenemu: notify-on-unmap on unshare, unmap and process death", "[xenemu]") {
  Broker b;
  REQUIRE(b.ctl({"create", "3", "guest"}) == 0);
  auto x = b.platform();
  std::string err;
  auto ev = x->open_event_channels(err);
  auto m = x->open_mapper(err);
  REQUIRE((ev && m));

  // A guest that shares one page with notify at byte 100 and waits for orders:
  // 1 = unshare, anything else or nothing = stay until killed.
  auto sharer = [&](Chan& ch) {
    std::string e;
    auto g = must(open_xen_emulation(b.sock(), e), e);
    CHILD_CHECK(g);
    auto evg = g->open_event_channels(e);
    auto sh = g->open_sharer(e);
    CHILD_CHECK(evg && sh);
    int port = evg->bind_unbound_port(0);
    CHILD_CHECK(port > 0);
    GrantRef ref;
    errno = 0;
    CHILD_CHECK(!sh->share_page_notify(0, &ref, true, 100, 77) && errno == EINVAL);  // unbound port
    auto* page = static_cast<uint8_t*>(sh->share_page_notify(0, &ref, true, 100, port));
    CHILD_CHECK(page);
    page[0] = 0x11;
    page[100] = 0xAA;
    ch.send(ref);
    ch.send(port);
    uint32_t order = 0;
    while (!ch.recv(order)) {}
    if (order == 1) CHILD_CHECK(sh->unshare(page, 1) == 0);
    ch.send(100);
    while (!ch.recv(order)) {}
  };
  // Binds to the guest's port and maps its page; returns (local port, page).
  auto connect = [&](Child& c) {
    GrantRef ref = c.chan.get();
    Port gport = c.chan.get();
    int local = ev->bind_interdomain(3, gport);
    REQUIRE(local > 0);
    REQUIRE(ev->pending() == local);  // the spurious one
    REQUIRE(ev->unmask(local) == 0);
    auto* page = static_cast<uint8_t*>(m->map_domain_grant_refs(1, 3, &ref, true));
    REQUIRE(page);
    REQUIRE(page[100] == 0xAA);
    return std::make_pair(local, page);
  };

  SECTION("the sharer's process dies") {
    Child c(3, sharer);
    auto [local, page] = connect(c);
    c.kill_now();
    REQUIRE(readable(ev->fd(), 3000));
    REQUIRE(ev->pending() == local);
    REQUIRE(page[100] == 0);
    REQUIRE(page[0] == 0x11);  // the rest of the page is still there
    REQUIRE(m->unmap(page, 1) == 0);
  }
  SECTION("the sharer unshares") {
    Child c(3, sharer);
    auto [local, page] = connect(c);
    c.chan.send(1);
    REQUIRE(c.chan.get() == 100);
    REQUIRE(readable(ev->fd(), 3000));
    REQUIRE(ev->pending() == local);
    REQUIRE(page[100] == 0);
    REQUIRE(m->unmap(page, 1) == 0);
  }
  SECTION("the sharer's domain is destroyed: no notification, pages stay") {
    Child c(3, sharer);
    auto [local, page] = connect(c);
    REQUIRE(b.ctl({"destroy", "3"}) == 0);
    // It did not unmap: no event, the byte is as it was.
    REQUIRE_FALSE(readable(ev->fd(), 200));
    REQUIRE(ev->pending() == -1);
    REQUIRE(page[100] == 0xAA);
    REQUIRE(page[0] == 0x11);
    page[1] = 0x22;  // still writable memory
    REQUIRE(m->unmap(page, 1) == 0);
  }

  // The mapper side: a guest that shares a page and waits on its port.
  auto waiter = [&](Chan& ch) {
    std::string e;
    auto g = must(open_xen_emulation(b.sock(), e), e);
    CHILD_CHECK(g);
    auto evg = g->open_event_channels(e);
    auto sh = g->open_sharer(e);
    CHILD_CHECK(evg && sh);
    int port = evg->bind_unbound_port(0);
    GrantRef ref;
    auto* page = static_cast<uint8_t*>(sh->share_pages(0, 1, &ref, true));
    CHILD_CHECK(port > 0 && page);
    page[200] = 0xBB;
    ch.send(ref);
    ch.send(port);
    CHILD_CHECK(readable(evg->fd(), 5000));
    CHILD_CHECK(evg->pending() == port);
    CHILD_CHECK(page[200] == 0);
    ch.send(1);
  };
  SECTION("the mapper unmaps") {
    Child c(3, waiter);
    GrantRef ref = c.chan.get();
    Port gport = c.chan.get();
    int local = ev->bind_interdomain(3, gport);
    REQUIRE(local > 0);
    errno = 0;
    REQUIRE(m->map_grant_ref_notify(3, ref, true, 200, 999) == nullptr);  // not our port
    REQUIRE(errno == EINVAL);
    auto* page = static_cast<uint8_t*>(m->map_grant_ref_notify(3, ref, true, 200, local));
    REQUIRE(page);
    REQUIRE(page[200] == 0xBB);
    REQUIRE(m->unmap(page, 1) == 0);
    REQUIRE(c.chan.get() == 1);
    REQUIRE(c.wait() == 0);
  }
  SECTION("the mapper's process dies") {
    Child c(3, waiter);
    GrantRef ref = c.chan.get();
    Port gport = c.chan.get();
    Child dom0(0, [&](Chan& ch) {
      std::string e;
      auto d = must(open_xen_emulation(b.sock(), e), e);
      CHILD_CHECK(d);
      auto ev0 = d->open_event_channels(e);
      auto m0 = d->open_mapper(e);
      CHILD_CHECK(ev0 && m0);
      int local = ev0->bind_interdomain(3, gport);
      CHILD_CHECK(local > 0);
      auto* page = static_cast<uint8_t*>(m0->map_grant_ref_notify(3, ref, true, 200, local));
      CHILD_CHECK(page && page[200] == 0xBB);
      ch.send(1);
      uint32_t never;
      while (true) ch.recv(never);
    });
    REQUIRE(dom0.chan.get() == 1);
    dom0.kill_now();
    REQUIRE(c.chan.get() == 1);
    REQUIRE(c.wait() == 0);
  }
}

TEST_CASE("xenemu: xenstore permissions, errors and watches as xenstored", "[xenemu]") {
  Broker b;
  REQUIRE(b.ctl({"create", "3", "guest"}) == 0);
  REQUIRE(b.ctl({"create", "4", "other"}) == 0);
  auto x = b.platform();
  std::string err;
  auto xs = x->open_store(err);
  REQUIRE(xs);
  REQUIRE(xs->write("/local/domain/3/device/x", "from-dom0"));
  REQUIRE(xs->write("/local/domain/3/shared", "s"));
  REQUIRE(xs->set_permissions("/local/domain/3/shared", {{0, XsPerm::None}, {3, XsPerm::Both}}));
  REQUIRE(xs->write("/tool/secret", "t"));

  Child guest(3, [&](Chan& ch) {
    std::string e, v, p, t;
    auto g = must(open_xen_emulation(b.sock(), e), e);
    CHILD_CHECK(g);
    auto s = must(g->open_store(e), e);
    CHILD_CHECK(s);
    // dom0 created it in our directory: it inherited our ownership.
    CHILD_CHECK(s->read("device/x", v) && v == "from-dom0");
    CHILD_CHECK(s->set_permissions("device/x", {{3, XsPerm::None}}));
    std::string bin("a\0b\xff", 4);
    CHILD_CHECK(s->write("data/a", bin));
    CHILD_CHECK(s->read("/local/domain/3/data/a", v) && v == bin);
    std::vector<std::string> kids;
    CHILD_CHECK(s->directory("data", kids) && kids == std::vector<std::string>{"a"});
    CHILD_CHECK(!s->directory("nope", kids) && errno == ENOENT);
    CHILD_CHECK(!s->read("nope", v) && errno == ENOENT);
    CHILD_CHECK(!s->write("/local/domain/4/x", "no") && errno == EACCES);
    CHILD_CHECK(!s->read("/local/domain/4/name", v) && errno == EACCES);
    CHILD_CHECK(!s->read("/tool/secret", v) && errno == EACCES);
    CHILD_CHECK(!s->read("/tool/nothing", v) && errno == EACCES);  // existence hidden
    CHILD_CHECK(!s->write("/newtop", "x") && errno == EACCES);
    // Writable but not ours: only the owner (or dom0) sets permissions.
    CHILD_CHECK(s->write("shared", "guest was here"));
    CHILD_CHECK(!s->set_permissions("shared", {{3, XsPerm::Both}}) && errno == EACCES);
    CHILD_CHECK(!s->set_permissions("data/a", {{4, XsPerm::Both}}) && errno == EPERM);  // no giving away
    CHILD_CHECK(s->rm("data/none"));              // missing, parent there: fine, as xenstored
    CHILD_CHECK(!s->rm("data/none/deeper") && errno == ENOENT);

    // Watches: once on registration, then on changes below, relative in, relative out.
    CHILD_CHECK(s->watch("data", "rel"));
    CHILD_CHECK(s->read_watch(p, t) && p == "data" && t == "rel");
    CHILD_CHECK(!readable(s->fileno(), 0));
    CHILD_CHECK(s->write("data/b", "1"));
    CHILD_CHECK(readable(s->fileno(), 0));
    CHILD_CHECK(s->read_watch(p, t) && p == "data/b" && t == "rel");
    CHILD_CHECK(s->watch("/local/domain/3/deep/a/b", "abs"));
    CHILD_CHECK(s->read_watch(p, t) && p == "/local/domain/3/deep/a/b");
    CHILD_CHECK(s->write("deep/a/b/c", "1"));
    CHILD_CHECK(s->read_watch(p, t) && p == "/local/domain/3/deep/a/b/c" && t == "abs");
    CHILD_CHECK(s->watch("/local/domain/4", "four"));
    CHILD_CHECK(s->read_watch(p, t) && t == "four");
    CHILD_CHECK(!s->watch("/local/domain/4", "four") && errno == EEXIST);
    ch.send(1);
    CHILD_CHECK(ch.get() == 2);  // dom0 removed deep and data, wrote in domain 4
    std::vector<std::pair<std::string, std::string>> got;
    while (s->read_watch(p, t)) got.push_back({p, t});
    CHILD_CHECK(got.size() == 3);
    // The removed ancestor: a watch inside sees its own path.
    CHILD_CHECK(got[0] == std::make_pair(std::string("/local/domain/3/deep/a/b"), std::string("abs")));
    CHILD_CHECK(got[1] == std::make_pair(std::string("data"), std::string("rel")));
    // Only the event on the node we may read, none on the secret one.
    CHILD_CHECK(got[2] == std::make_pair(std::string("/local/domain/4/pub"), std::string("four")));
    CHILD_CHECK(s->unwatch("data", "rel"));
    CHILD_CHECK(!s->unwatch("data", "rel") && errno == ENOENT);
    CHILD_CHECK(s->write("data/c", "1"));
    CHILD_CHECK(!s->read_watch(p, t));
  });
  REQUIRE(guest.chan.get() == 1);
  std::string v;
  REQUIRE((xs->read("/local/domain/3/shared", v) && v == "guest was here"));
  REQUIRE(xs->rm("/local/domain/3/deep"));
  REQUIRE(xs->rm("/local/domain/3/data"));
  REQUIRE(xs->write("/local/domain/4/secret", "s"));
  REQUIRE(xs->write("/local/domain/4/pub", "p"));
  REQUIRE(xs->set_permissions("/local/domain/4/pub", {{4, XsPerm::Read}}));
  guest.chan.send(2);
  REQUIRE(guest.wait() == 0);
  // dom0 bypasses every check.
  REQUIRE((xs->read("/local/domain/3/device/x", v) && v == "from-dom0"));
  std::vector<std::string> kids;
  REQUIRE(xs->directory("/local/domain", kids));
  REQUIRE(kids == std::vector<std::string>{"0", "3", "4"});
}

TEST_CASE("xenemu: a misbehaving client is dropped like a dead process", "[xenemu]") {
  Broker b;
  REQUIRE(b.ctl({"create", "3", "guest"}) == 0);
  auto x = b.platform();
  std::string err;
  auto ev = x->open_event_channels(err);
  auto m = x->open_mapper(err);
  auto xs = x->open_store(err);
  REQUIRE((ev && m && xs));

  // A raw domain-3 connection that shares a notify page properly...
  uint32_t limit;
  int evfd;
  int raw = emu::connect_broker(b.sock(), 3, emu::Kind::Sharer, limit, evfd, err);
  INFO(err);
  REQUIRE(raw >= 0);
  auto call = [&](emu::Op op, const emu::Writer& w, emu::Message& out, int fd = -1) {
    REQUIRE(emu::send_message(raw, static_cast<uint16_t>(op), 0, w.bytes(), &fd, fd >= 0 ? 1 : 0) == 0);
    REQUIRE(emu::recv_message(raw, out) == 1);
    return out.hdr.status;
  };
  emu::Message rep;
  REQUIRE(call(emu::Op::EvtBindUnbound, emu::Writer().u16(0), rep) == 0);
  Port gport = rep.reader().u32();
  int memfd = memfd_create("t", MFD_ALLOW_SEALING);
  REQUIRE(ftruncate(memfd, kPageSize) == 0);
  REQUIRE(fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK) == 0);
  auto* mine = static_cast<uint8_t*>(mmap(nullptr, kPageSize, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0));
  mine[100] = 0xAA;
  REQUIRE(call(emu::Op::Share, emu::Writer().u16(0).u8(1).u8(1).u32(1).u32(100).u32(gport), rep, memfd) == 0);
  emu::Reader rr = rep.reader();
  rr.u64();
  GrantRef ref = rr.u32();
  int local = ev->bind_interdomain(3, gport);
  REQUIRE(local > 0);
  REQUIRE(ev->pending() == local);
  REQUIRE(ev->unmask(local) == 0);
  auto* page = static_cast<uint8_t*>(m->map_domain_grant_refs(1, 3, &ref, false));
  REQUIRE(page);
  REQUIRE(page[100] == 0xAA);

  // ...then sends garbage: dropped, with its notify-on-unmap run.
  REQUIRE(emu::send_message(raw, 999, 0, {1, 2, 3}) == 0);
  REQUIRE(readable(ev->fd(), 3000));
  REQUIRE(ev->pending() == local);
  REQUIRE(page[100] == 0);
  char c;
  REQUIRE(recv(raw, &c, 1, 0) == 0);  // the broker closed it
  close(raw);
  close(evfd);
  munmap(mine, kPageSize);

  // Assorted garbage from fresh connections; the broker must stay up.
  auto garbage = [&](const std::function<void(int)>& send_it) {
    int s = emu::connect_broker(b.sock(), 0, emu::Kind::Platform, limit, evfd, err);
    REQUIRE(s >= 0);
    send_it(s);
    pollfd p{s, POLLIN, 0};
    REQUIRE(poll(&p, 1, 3000) == 1);  // dropped (EOF), or a refusal for what was merely wrong
    close(s);
    close(evfd);
  };
  garbage([](int s) { REQUIRE(send(s, "xy", 2, 0) == 2); });  // short
  garbage([](int s) {                                          // bad magic
    emu::MsgHeader h{0x1234, 1, 0, 0, 0};
    REQUIRE(send(s, &h, sizeof h, 0) == sizeof h);
  });
  garbage([](int s) {  // header says more than sent
    emu::MsgHeader h{emu::kMagic, static_cast<uint16_t>(emu::Op::XsRead), 0, 0, 500};
    REQUIRE(send(s, &h, sizeof h, 0) == sizeof h);
  });
  garbage([](int s) {  // a path length beyond the payload
    REQUIRE(emu::send_message(s, static_cast<uint16_t>(emu::Op::XsRead), 0, emu::Writer().u32(1u << 30).bytes()) == 0);
  });
  garbage([](int s) {  // a second hello
    REQUIRE(emu::send_message(s, static_cast<uint16_t>(emu::Op::Hello), 0,
                              emu::Writer().u32(emu::kVersion).u16(0).u16(1).bytes()) == 0);
  });
  garbage([](int s) {  // a share whose fd is a pipe, not a memfd
    int pp[2];
    REQUIRE(pipe(pp) == 0);
    REQUIRE(emu::send_message(s, static_cast<uint16_t>(emu::Op::Share), 0,
                              emu::Writer().u16(0).u8(1).u8(0).u32(1).u32(0).u32(0).bytes(), pp, 1) == 0);
    close(pp[0]);
    close(pp[1]);
  });
  garbage([](int s) {  // fds with a request that takes none
    int fd = memfd_create("x", 0);
    REQUIRE(emu::send_message(s, static_cast<uint16_t>(emu::Op::EvtPending), 0, {}, &fd, 1) == 0);
    close(fd);
  });
  garbage([](int s) {  // a map of more pages than its refs
    REQUIRE(emu::send_message(s, static_cast<uint16_t>(emu::Op::Map), 0,
                              emu::Writer().u16(3).u8(0).u8(0).u32(4000).u32(0).u32(0).u32(8).bytes()) == 0);
  });
  {  // no hello at all
    int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    strcpy(a.sun_path, b.sock().c_str());
    REQUIRE(connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(emu::send_message(s, static_cast<uint16_t>(emu::Op::XsRead), 0, emu::Writer().str("/").bytes()) == 0);
    REQUIRE(recv(s, &c, 1, 0) == 0);
    close(s);
  }
  // Random requests after a valid hello, as a guest: nothing may crash the broker.
  std::mt19937 rng(1234);
  for (int round = 0; round < 300; round++) {
    int s = emu::connect_broker(b.sock(), 3, emu::Kind::Platform, limit, evfd, err);
    REQUIRE(s >= 0);
    for (int k = 0; k < 5; k++) {
      std::vector<uint8_t> pl(rng() % 64);
      for (auto& byte : pl) byte = static_cast<uint8_t>(rng() % 4 == 0 ? 0 : rng());
      uint16_t op = static_cast<uint16_t>(1 + rng() % (static_cast<unsigned>(emu::Op::Last_) + 1));
      if (emu::send_message(s, op, 0, pl) < 0) break;
      emu::Message out;
      if (emu::recv_message(s, out) != 1) break;
      out.close_fds();
    }
    close(s);
    close(evfd);
  }
  REQUIRE(b.alive());
  std::string v;
  REQUIRE((xs->read("/local/domain/3/name", v) && v == "guest"));  // still serving
  REQUIRE(b.log().find("protocol error") != std::string::npos);
  REQUIRE(m->unmap(page, 1) == 0);
}
