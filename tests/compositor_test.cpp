// The real xen3d-compositor binary serving several guests: a guest that sends
// a bad record loses its own context with a clear reason, a guest killed
// mid-stream is dropped, and a well-behaved guest keeps working throughout.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "proto/guest_session.h"

using namespace xen3d::proto;

namespace {

struct Compositor {
  pid_t pid = -1;
  std::string socket, log;
  explicit Compositor(const std::string& extra = "") {
    const char* bin = std::getenv("XEN3D_COMPOSITOR");
    REQUIRE(bin);
    socket = "/tmp/xen3d-ctest-" + std::to_string(getpid()) + ".sock";
    log = "/tmp/xen3d-ctest-" + std::to_string(getpid()) + ".log";
    unlink(socket.c_str());
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      FILE* f = freopen(log.c_str(), "w", stderr);
      (void)f;
      std::string listen = "local:" + socket;
      execl(bin, bin, "--listen", listen.c_str(), "--driver", "llvmpipe", (char*)nullptr);
      _exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      struct stat st;
      if (stat(socket.c_str(), &st) == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL("compositor did not start listening on " << socket);
  }
  ~Compositor() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      int st;
      waitpid(pid, &st, 0);
    }
    unlink(log.c_str());
  }
  bool running() { return waitpid(pid, nullptr, WNOHANG) == 0; }
  std::string log_text() {
    std::ifstream f(log);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  std::unique_ptr<GuestSession> connect(const std::string& name) {
    ConnectRequest req;
    req.client_name = name;
    std::string error;
    auto s = GuestSession::connect("local:" + socket, req, error);
    INFO(error);
    REQUIRE(s);
    return s;
  }
};

bool ping(GuestSession& s, uint64_t seq) {
  Ping p;
  p.seq = seq;
  Pong pong;
  return s.call(p, pong) && pong.seq == seq;
}

}  // namespace

TEST_CASE("a bad record poisons only the guest that sent it", "[compositor]") {
  Compositor c;
  auto good = c.connect("good-guest");
  auto bad = c.connect("bad-guest");
  REQUIRE(good->info().host_renderer.rfind("llvmpipe", 0) == 0);
  REQUIRE(ping(*good, 1));
  REQUIRE(ping(*bad, 1));

  SECTION("a host-only record from a guest") {
    Pong forged;
    std::vector<uint8_t> rec(wire_size(forged));
    encode(rec.data(), forged);
    REQUIRE(bad->send_raw(rec.data(), rec.size()));
  }
  SECTION("an unknown opcode") {
    uint8_t rec[16] = {};
    store_header(rec, uint16_t{0x7abc}, 16);
    REQUIRE(bad->send_raw(rec, sizeof rec));
  }
  SECTION("a bulk span the guest never published") {
    ChecksumBulk cb;
    cb.data.pos = 1u << 30;
    cb.data.size = 4096;
    REQUIRE(bad->send(cb));
  }
  SECTION("a field beyond its maximum") {
    ChecksumBulk cb;
    std::vector<uint8_t> rec(wire_size(cb));
    encode(rec.data(), cb);
    store_le<uint32_t>(rec.data() + 8 + 12, 9);  // bulk_ref.reserved must be 0
    REQUIRE(bad->send_raw(rec.data(), rec.size()));
  }

  REQUIRE_FALSE(ping(*bad, 2));
  REQUIRE_FALSE(bad->alive());
  INFO("guest saw: " << bad->error());
  REQUIRE(bad->error().find("the compositor rejected") != std::string::npos);

  // The other guest, and new guests, are unaffected.
  REQUIRE(ping(*good, 2));
  auto late = c.connect("late-guest");
  REQUIRE(ping(*late, 1));
  REQUIRE(c.running());
  REQUIRE(c.log_text().find("bad-guest") != std::string::npos);
  REQUIRE(c.log_text().find("context is now lost") != std::string::npos);
}

TEST_CASE("a guest killed mid-stream is dropped and the others go on", "[compositor]") {
  Compositor c;
  auto good = c.connect("survivor");
  pid_t victim = fork();
  REQUIRE(victim >= 0);
  if (victim == 0) {
    ConnectRequest req;
    req.client_name = "victim";
    std::string e;
    auto s = GuestSession::connect("local:" + c.socket, req, e);
    if (!s) _exit(1);
    for (;;) {  // stream until killed
      Nop n;
      s->send(n);
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(victim, SIGKILL);
  waitpid(victim, nullptr, 0);
  for (int i = 0; i < 100 && c.log_text().find("victim") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(ping(*good, 7));
  for (int i = 0; i < 100 && c.log_text().find("went away") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(c.log_text().find("went away") != std::string::npos);
  REQUIRE(c.running());
}
