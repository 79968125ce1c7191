// Hostile guests (corrupt rings, half records, floods, vanishing mid-transfer)
// are cut off cleanly and give back every byte they held.
#include "tests/compositor/helpers.h"

using namespace xen3d::proto;

namespace {

uint64_t rss_mib(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) / 1024;
  return 0;
}

// The compositor's and its render workers' (its children's) resident memory:
// a guest's objects live in its worker.
uint64_t rss_tree_mib(pid_t pid) {
  uint64_t total = rss_mib(pid);
  const std::string parent = std::to_string(pid);
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(e.path() / "status");
    for (std::string line; std::getline(f, line);) {
      if (line.rfind("PPid:", 0) != 0) continue;
      std::string v = line.substr(5);
      v.erase(0, v.find_first_not_of(" \t"));
      if (v == parent) total += rss_mib(static_cast<pid_t>(std::stoul(name)));
      break;
    }
  }
  return total;
}

// 24 textures of 4 MiB, zeroed by the host (so resident): what a hostile
// guest holds when it misbehaves.
constexpr uint32_t kHoardTextures = 24;
void hoard(GuestSession& s) {
  ContextCreate cc;
  cc.id = kCtx;
  s.send(cc);
  for (uint32_t id = 2; id < 2 + kHoardTextures; ++id) s.send(texture_record(id, 1024, 1024));
}

// A hostile guest in a child process: hoards, says so on `ready`, waits for
// `go`, then does `misbehave` until killed.
template <class F>
pid_t hostile_child(const Compositor& c, const char* name, int ready_fd, int go_fd, F misbehave) {
  pid_t child = fork();
  if (child != 0) return child;
  auto s = connect_in_child(c, name);
  hoard(*s);
  Ping p;
  p.seq = 1;
  Pong pong;
  if (!s->call(p, pong)) _exit(1);
  char byte = 1;
  if (write(ready_fd, &byte, 1) != 1 || read(go_fd, &byte, 1) != 1) _exit(1);
  misbehave(*s);
  for (;;) pause();
}

bool wait_ready(int fd) {
  char byte = 0;
  return read(fd, &byte, 1) == 1;
}

}  // namespace

TEST_CASE("hostile guests are cut off cleanly and give back every byte they held", "[compositor][isolation]") {
  Compositor c;
  auto observer = c.connect("observer");
  make_context(*observer);
  REQUIRE(ping(*observer, 1));
  const Stats before = settled_stats(*observer);
  const uint64_t rss_before = rss_tree_mib(c.pid);
  uint64_t rss_peak = rss_before;
  int ready[2], go[2];
  REQUIRE(pipe(ready) == 0);
  REQUIRE(pipe(go) == 0);
  // The hostile guest holds its hoard (counted, resident); then it may misbehave.
  auto held_then_freed = [&](pid_t child, const char* what) {
    INFO(what);
    REQUIRE(child > 0);
    REQUIRE(wait_ready(ready[0]));
    CHECK(objects_back_to(*observer, before.total_objects + 1 + kHoardTextures));
    const Stats during = stats(*observer);
    rss_peak = std::max(rss_peak, rss_tree_mib(c.pid));
    const char byte = 1;
    REQUIRE(write(go[1], &byte, 1) == 1);
    return during;
  };
  auto reap = [&](pid_t child, const char* what) {
    INFO(what);
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    CHECK(objects_back_to(*observer, before.total_objects));
    CHECK(stats(*observer).total_bytes == before.total_bytes);
    REQUIRE(ping(*observer, 2));
  };

  // 1. Ring indices that break the ring's rules: an unaligned head.
  pid_t g = hostile_child(c, "corrupt-ring", ready[1], go[0], [](GuestSession& s) {
    auto* counters = s.transport().counters(RingId::Command);
    counters->head.store(counters->head.load() + 3);
    s.transport().kick(RingId::Command, true);
  });
  held_then_freed(g, "corrupt ring");
  for (int i = 0; i < 100 && c.log_text().find("corrupt-ring") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(objects_back_to(*observer, before.total_objects));  // cut off while the process lives on
  reap(g, "corrupt ring");
  CHECK(c.log_text().find("broke its command ring") != std::string::npos);

  // 2. Half a record: a header promising 4096 bytes, 16 of them published.
  g = hostile_child(c, "half-record", ready[1], go[0], [](GuestSession& s) {
    Transport& t = s.transport();
    auto* counters = t.counters(RingId::Command);
    const uint64_t head = counters->head.load();
    uint8_t* at = t.ring_data(RingId::Command) + head % t.ring_size(RingId::Command);
    store_header(at, Opcode::TransferWriteInline, 4096);
    counters->head.store(head + 16);
    t.kick(RingId::Command, true);
  });
  held_then_freed(g, "half a record");
  CHECK(objects_back_to(*observer, before.total_objects));
  reap(g, "half a record");
  CHECK(c.log_text().find("runs past the published data") != std::string::npos);

  // 3. A flood of records, never reading an answer; the observer keeps its pace.
  g = hostile_child(c, "flood", ready[1], go[0], [](GuestSession& s) {
    for (uint64_t i = 0;; ++i) {
      SetBlendColor b;
      b.color[0] = float(i & 255) / 255;
      s.send(b);
      if (i % 64 == 0) {
        Nop n;
        s.send(n);
      }
    }
  });
  held_then_freed(g, "flood");
  double worst_ms = 0;
  for (int i = 0; i < 20; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(ping(*observer, 100 + i));
    worst_ms = std::max(worst_ms, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(worst_ms < 1000);
  reap(g, "flood");

  // 4. Gone in the middle of a 64 MiB readback streaming through its reply ring.
  g = hostile_child(c, "mid-transfer", ready[1], go[0], [](GuestSession& s) {
    s.send(texture_record(100, 4096, 4096));
    TransferRead r;
    r.resource = 100;
    r.box = box2d(0, 0, 4096, 4096);
    s.send(r);
    s.flush();
    // Reads nothing: the host fills the ring and waits on this guest alone.
  });
  held_then_freed(g, "mid-transfer");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  rss_peak = std::max(rss_peak, rss_tree_mib(c.pid));
  REQUIRE(ping(*observer, 3));
  reap(g, "mid-transfer");

  for (int fd : {ready[0], ready[1], go[0], go[1]}) close(fd);
  // The last guest's thread hands its pages back just after its objects are freed.
  uint64_t rss_after = rss_tree_mib(c.pid);
  // Allocator slack allowed: two thirds of one hostile guest's hoard (a leaked hoard fails).
  const uint64_t slack = kHoardTextures * 4 * 2 / 3;
  for (int i = 0; i < 50 && rss_after > rss_before + slack; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    rss_after = rss_tree_mib(c.pid);
  }
  std::printf("isolation: compositor and its render workers' RSS %llu MiB before, %llu MiB at the peak (a hostile guest holding %u MiB), "
              "%llu MiB after all four were cut off\n",
              static_cast<unsigned long long>(rss_before), static_cast<unsigned long long>(rss_peak),
              kHoardTextures * 4, static_cast<unsigned long long>(rss_after));
  CHECK(rss_peak >= rss_before + kHoardTextures * 4 * 3 / 4);  // the hoard was really resident
  CHECK(rss_after <= rss_before + slack);                       // and it all came back
  REQUIRE(c.running());
}

namespace {

// How many llvmpipe rasterizer threads the render worker serving `name` runs,
// read from its /proc threads once its guest has a context.
// The compositor's line for the guest's worker, from its pid on: "PID (N rasterizer threads)".
std::string served_by(Compositor& c, const std::string& name) {
  const std::string log = c.log_text();
  const size_t at = log.find("(" + name + ", pid ");
  REQUIRE(at != std::string::npos);
  const std::string served = "served by render worker ";
  const size_t w = log.find(served, at);
  REQUIRE(w != std::string::npos);
  return log.substr(w + served.size(), log.find('\n', w) - w - served.size());
}

int rasterizer_threads_of(Compositor& c, const std::string& name) {
  const std::string line = served_by(c, name);
  const std::string pid = line.substr(0, line.find_first_not_of("0123456789"));
  int n = 0;
  for (const auto& t : std::filesystem::directory_iterator("/proc/" + pid + "/task")) {
    std::ifstream f(t.path() / "comm");
    std::string comm;
    std::getline(f, comm);
    n += comm.rfind("llvmpipe-", 0) == 0;
  }
  return n;
}

}  // namespace

TEST_CASE("a render worker runs the rasterizer threads the compositor sizes for it", "[compositor][isolation]") {
  for (const int threads : {3, 0}) {
    Compositor c("--worker-threads " + std::to_string(threads));
    auto g = c.connect("threads-" + std::to_string(threads));
    ContextCreate cc;
    cc.id = kCtx;
    REQUIRE(g->send(cc));
    REQUIRE(ping(*g, 1));
    INFO(c.log_text());
    CHECK(c.log_text().find("(" + std::to_string(threads) + " rasterizer threads)") != std::string::npos);
    CHECK(rasterizer_threads_of(c, "threads-" + std::to_string(threads)) == threads);
  }
}

TEST_CASE("a guest that connects as another leaves gets the cores that one leaves", "[compositor][isolation]") {
  // Auto sizing divides the cores among the guests workers serve. A worker
  // still tearing down after its guest left must not count: programs run
  // back to back got no rasterizer threads (docs/render-workers.md). On one
  // core both guests get none, and the check holds trivially.
  Compositor c("--worker-threads auto");
  auto sized = [&c](const std::string& name) {  // what the compositor gave the guest's worker
    const std::string line = served_by(c, name);
    const size_t open = line.find(" (");
    REQUIRE(open != std::string::npos);
    return std::stoi(line.substr(open + 2));
  };
  {
    auto a = c.connect("leaving-guest");
    ContextCreate cc;
    cc.id = kCtx;
    REQUIRE(a->send(cc));
    REQUIRE(ping(*a, 1));
  }
  // Its worker has seen it go; its teardown and exit come after.
  for (int i = 0; i < 300 && c.log_text().find("guest 1: freed") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  INFO(c.log_text());
  REQUIRE(c.log_text().find("guest 1: freed") != std::string::npos);
  auto b = c.connect("arriving-guest");
  ContextCreate cc;
  cc.id = kCtx;
  REQUIRE(b->send(cc));
  REQUIRE(ping(*b, 1));
  INFO(c.log_text());
  CHECK(sized("arriving-guest") == sized("leaving-guest"));
}
