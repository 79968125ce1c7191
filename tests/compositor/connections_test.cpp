// Guests that misbehave on their connection lose only their own context, and
// guests share the compositor fairly (handshakes, host_stats, slots per VM).
#include "proto/handshake_pool.h"
#include "tests/compositor/helpers.h"

using namespace xen3d::proto;

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
    auto s = connect_in_child(c, "victim");
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

TEST_CASE("a guest that stops reading its answers holds up only itself", "[compositor]") {
  // Its host thread waits for room in its reply ring; it must not do so
  // holding the driver lock every guest's records (and composition) need.
  Compositor c;
  auto good = c.connect("reader");
  REQUIRE(ping(*good, 1));
  pid_t stalled = fork();
  REQUIRE(stalled >= 0);
  if (stalled == 0) {
    auto s = connect_in_child(c, "never-reads");
    for (uint64_t i = 0;; ++i) {  // asks and asks, reads nothing, until killed
      Ping p;
      p.seq = i;
      s->send(p);
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // its reply ring is long full
  auto answered = std::async(std::launch::async, [&] { return ping(*good, 2) && ping(*good, 3); });
  const bool in_time = answered.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  kill(stalled, SIGKILL);  // unblocks the host either way, so nothing hangs
  waitpid(stalled, nullptr, 0);
  REQUIRE(in_time);
  REQUIRE(answered.get());
  REQUIRE(c.running());
}


// --- Host limits between guests (docs/hardening.md, "Guests share the compositor fairly") ---

namespace {

// The compositor also listening on TCP port 0: the port it got, from its log.
std::string tcp_endpoint(Compositor& c) {
  for (int i = 0; i < 100; ++i) {
    const std::string log = c.log_text();
    const size_t at = log.find("listening on tcp:");
    if (at != std::string::npos) {
      const size_t start = at + std::string("listening on ").size();
      return log.substr(start, log.find('\n', start) - start);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL("the compositor does not say which TCP port it listens on");
  return {};
}

std::unique_ptr<GuestSession> connect_to(const std::string& endpoint, const std::string& name, int timeout_ms = 5000) {
  ConnectRequest req;
  req.client_name = name;
  req.timeout_ms = timeout_ms;
  std::string error;
  auto s = GuestSession::connect(endpoint, req, error);
  INFO(endpoint << ": " << error);
  REQUIRE(s);
  return s;
}

// A connection to the compositor's socket that never says hello.
int connect_silently(const Compositor& c) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, c.socket.c_str(), sizeof addr.sun_path - 1);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

}  // namespace

TEST_CASE("a peer that connects and says nothing does not hold up other guests' handshakes", "[compositor][limits]") {
  Compositor c;
  // Three silent peers: each would hold a serial acceptor for the whole 5 s handshake deadline.
  std::vector<int> silent;
  for (int i = 0; i < 3; ++i) {
    silent.push_back(connect_silently(c));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the acceptor has taken them
  const auto t0 = std::chrono::steady_clock::now();
  auto g = connect_to("local:" + c.socket, "punctual", 2000);
  CHECK(ping(*g, 1));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO("connecting took " << seconds << " s");
  CHECK(seconds < 1.0);
  for (int fd : silent) ::close(fd);
}

TEST_CASE("a burst of connections from one peer is served in turn, not refused", "[compositor][limits]") {
  Compositor c;
  // More silent connections than one peer may have handshakes pending: eight apps started at
  // once, each slow to say hello, look like this to the acceptor.
  std::vector<int> silent;
  for (size_t i = 0; i < xen3d::proto::HandshakePool::kMaxPendingPerPeer + 2; ++i) {
    silent.push_back(connect_silently(c));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the acceptor has taken them
  std::unique_ptr<GuestSession> late;
  std::string error;
  std::thread guest([&] {
    ConnectRequest req;
    req.client_name = "waits its turn";
    req.timeout_ms = 10000;
    late = GuestSession::connect("local:" + c.socket, req, error);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // The silent ones go away; the guest queued behind them is served without waiting out
  // their handshake deadlines.
  const auto t0 = std::chrono::steady_clock::now();
  for (int fd : silent) ::close(fd);
  guest.join();
  INFO(error);
  REQUIRE(late);
  CHECK(ping(*late, 1));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO("served " << seconds << " s after the silent connections closed");
  CHECK(seconds < 2.0);
  CHECK(c.log_text().find("refused a connection") == std::string::npos);
}

TEST_CASE("a guest VM's host_stats show only its own objects", "[compositor][limits]") {
  Compositor c("--listen tcp:127.0.0.1:0");
  const std::string tcp = tcp_endpoint(c);
  // A local process of the compositor's own user is the host's operator: it sees the totals.
  auto host = c.connect("operator");
  ContextCreate cc;
  cc.id = 1;
  REQUIRE(host->send(cc));
  REQUIRE(ping(*host, 1));
  auto vm = connect_to(tcp, "vm guest");
  const Stats mine = stats(*vm);
  CHECK(mine.connection_objects == 0);
  CHECK(mine.total_objects == 0);  // not the operator's context
  CHECK(mine.total_bytes == mine.connection_bytes);
  CHECK(mine.guests == 1);
  Stats all = stats(*host);
  // Render workers report what their guests hold every 100 ms.
  for (int i = 0; i < 50 && all.total_objects < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    all = stats(*host);
  }
  CHECK(all.total_objects >= 1);
  CHECK(all.guests >= 2);
}

TEST_CASE("one VM cannot take every guest slot", "[compositor][limits]") {
  Compositor c("--listen tcp:127.0.0.1:0 --max-guests-per-vm 2");
  const std::string tcp = tcp_endpoint(c);
  auto a = connect_to(tcp, "vm guest a");
  auto b = connect_to(tcp, "vm guest b");
  REQUIRE(ping(*a, 1));
  REQUIRE(ping(*b, 1));
  // The third connection from the same peer address is told why it is refused.
  auto refused = connect_to(tcp, "vm guest c");
  CHECK(!ping(*refused, 1));
  INFO(refused->error());
  CHECK(refused->error().find("already has 2 guest connections (--max-guests-per-vm)") != std::string::npos);
  // Its first two and the host's own processes go on.
  CHECK(ping(*a, 2));
  auto host = c.connect("operator");
  CHECK(ping(*host, 1));
  // A slot freed is a slot again.
  b.reset();
  bool back = false;
  for (int i = 0; i < 50 && !back; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the compositor reaps every 100 ms
    auto again = connect_to(tcp, "vm guest d");
    back = ping(*again, 1);
  }
  CHECK(back);
}

// gallivm's TGSI path keeps more than 256 temporaries in one stack array;
// 512-544 in a fragment shader killed the compositor (found by the TGSI
// limits generator): llvmpipe hosts take 256.
TEST_CASE("temporaries past what llvmpipe's TGSI path runs are refused", "[compositor][limits]") {
  Compositor c;
  auto g = c.connect("temps");
  make_context(*g);
  setup_pipeline(*g);
  auto shader = [](unsigned last) {
    const std::string n = std::to_string(last);
    return "FRAG\nDCL IN[0], COLOR, COLOR\nDCL OUT[0], COLOR\nDCL TEMP[0.." + n + "]\n  0: MOV TEMP[" + n +
           "], IN[0]\n  1: MOV OUT[0], TEMP[" + n + "]\n  2: END\n";
  };
  send_tgsi(*g, 42, PIPE_SHADER_FRAGMENT, shader(255).c_str());
  bind(*g, BindSlot(uint8_t(BindSlot::ShaderBase) + PIPE_SHADER_FRAGMENT), 42);
  draw_triangle(*g);
  REQUIRE(ping(*g, 1));
  const auto img = read_box(*g, 10, box2d(0, 0, kSize, kSize), kSize * kSize * 4);
  CHECK(pixel(img, kSize / 2, kSize / 2) == std::array<uint8_t, 4>{0, 0, 255, 255});
  send_tgsi(*g, 43, PIPE_SHADER_FRAGMENT, shader(543).c_str());
  CHECK(poisoned_with(*g, "TEMP[543] exceeds the 256 TEMP registers allowed"));
  REQUIRE(c.running());
}

// gallivm keeps THREAD_ID, BLOCK_ID and GRID_SIZE as 3-element values: a
// compute shader reading THREAD_ID.w made LLVM dereference null (found by
// the TGSI limits generator).
TEST_CASE("reading the missing w of a 3-component system value is refused", "[compositor][limits]") {
  Compositor c;
  auto g = c.connect("thread-id");
  make_context(*g);
  auto launch = [&](uint32_t id, const char* read) {
    const std::string text = std::string("COMP\nDCL SV[0], THREAD_ID\nDCL TEMP[0]\nMOV TEMP[0], ") + read + "\nEND\n";
    send_tgsi(*g, id, PIPE_SHADER_COMPUTE, text.c_str());
    bind(*g, BindSlot(uint8_t(BindSlot::ShaderBase) + PIPE_SHADER_COMPUTE), id);
    LaunchGrid lg;
    lg.block = {4, 1, 1};
    lg.grid = {1, 1, 1};
    lg.work_dim = 1;
    REQUIRE(g->send(lg));
  };
  launch(70, "SV[0].xyzx");
  REQUIRE(ping(*g, 1));
  launch(71, "SV[0]");
  CHECK(poisoned_with(*g, "reads component w of a 3-component system value"));
  REQUIRE(c.running());
}
