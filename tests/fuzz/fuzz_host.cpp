#include "tests/fuzz/fuzz_host.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "host/validate/caps_snapshot.h"
#include "host/executor/context_pool.h"
#include "host/desktop/desktop_registry.h"
#include "host/compositor/guest_connection.h"
#include "host/gpu/host_gpu.h"
#include "common/log.h"
#include "proto/host_session.h"
#include "proto/transport.h"

namespace xen3d::fuzz {
namespace {

// Ring sizes of every fuzzed connection: a command ring and bulk heap big
// enough for any input the fuzzers generate (-max_len), a reply ring of the
// usual record limits, and a desktop framebuffer region.
constexpr uint32_t kCommandRing = 1u << 20;
constexpr uint32_t kReplyRing = 1u << 20;
constexpr uint32_t kBulkHeap = 8u << 20;
constexpr uint32_t kFramebuffer = 1u << 20;

bool env_is(const char* name, const char* value) {
  const char* v = std::getenv(name);
  return v && std::strcmp(v, value) == 0;
}

// What the guest saw of one input: the type of every answer, the
// context_lost text, and how many records ran. Answer bodies also hold
// timestamps and timer queries, which differ from run to run.
struct Transcript {
  std::vector<std::string> answers;
  bool poisoned = false;
  uint64_t executed = 0;
  std::string text() const {
    std::string s;
    for (const auto& a : answers) s += "  " + a + "\n";
    s += "  poisoned " + std::to_string(poisoned) + ", " + std::to_string(executed) + " records executed\n";
    return s;
  }
  bool operator==(const Transcript&) const = default;
};

// The host end of a connection whose "guest" is the fuzzer, in this process
// (so named: nothing here is shared with another process).
class InProcessTransport final : public proto::Transport {
 public:
  InProcessTransport(const proto::ShmLayout& layout, uint8_t* memory, std::function<bool()> feed)
      : feed_(std::move(feed)) {
    side_ = proto::Sender::Host;
    layout_ = layout;
    set_memory(memory);
  }
  // From now on every answer is read as it comes and noted in `t` (null: answers are only skipped).
  void transcribe(Transcript* t) {
    transcript_ = t;
    replies_ = proto::RecordReader(counters(proto::RingId::Reply), ring_data(proto::RingId::Reply),
                                   ring_size(proto::RingId::Reply));
  }
  void kick(proto::RingId ring, bool) override {
    if (ring == proto::RingId::Reply && transcript_) read_answers();
  }
  proto::WaitResult wait(proto::RingId ring, const std::function<bool()>& ready, int) override {
    if (ring == proto::RingId::Reply) {
      // The guest reads every answer at once.
      if (transcript_) {
        read_answers();
      } else {
        auto* c = counters(ring);
        c->tail.store(c->head.load());
      }
      return proto::WaitResult::Ready;
    }
    while (!ready()) {
      if (ring != proto::RingId::Command || !feed_()) return peer_gone("the fuzz input is over");
    }
    return proto::WaitResult::Ready;
  }
  std::string name() const override { return "in-process"; }

 private:
  void read_answers() {
    const uint8_t* rec = nullptr;
    size_t size = 0;
    const char* why = nullptr;
    while (replies_.next_in_place(rec, size, why) == proto::ReadStatus::Record) {
      const uint16_t op = proto::header_opcode(rec);
      std::string line = proto::opcode_name(op);
      if (op == uint16_t(proto::Opcode::ContextLost)) line = proto::trace_record(rec, size, proto::Sender::Host);
      transcript_->answers.push_back(std::move(line));
    }
    replies_.release();
  }

  std::function<bool()> feed_;
  Transcript* transcript_ = nullptr;
  proto::RecordReader replies_;
};

}  // namespace

struct FuzzHost::Impl {
  Connections connections = Connections::Reused;
  bool check_reset = false;
  std::unique_ptr<host::HostGpu> gpu;
  std::shared_ptr<const proto::CapsTable> caps;
  host::ShaderPath shader_path = host::ShaderPath::Nir;
  std::unique_ptr<host::DesktopRegistry> desktops;
  std::unique_ptr<host::ContextPool> pool;  // Reused only
  proto::ShmLayout layout;
  uint8_t* memory = nullptr;
  GuestRings rings;
  uint32_t connections_made = 0;
  // Reused: the one connection, and the feed of the input it runs now.
  std::unique_ptr<host::GuestConnection> reused;
  InProcessTransport* reused_transport = nullptr;
  Feed* feed = nullptr;

  // Zeroes the ring counters, as a guest connecting anew does (ring contents
  // need no clearing: nothing reads past the counters), and points the
  // guest's writers at the rings.
  void fresh_rings();
  host::ConnectionOptions options(bool pooled) const;
  // A new connection on the rings; `more` is its guest's feed.
  std::unique_ptr<host::GuestConnection> connect(std::function<bool()> more, bool pooled,
                                                 InProcessTransport*& transport);
  // Runs `feed` on a new connection with new contexts, destroyed afterwards,
  // or on the reused one; `t`, when set, notes what the guest was answered.
  void run_fresh(Feed feed, Transcript* t);
  void run_reused(Feed feed, Transcript* t);
};

FuzzHost& FuzzHost::get(Connections connections) {
  static FuzzHost* host = new FuzzHost(connections);  // lives as long as the process
  if (host->impl_->connections != connections) {
    std::fprintf(stderr, "xen3d fuzz: one process cannot fuzz with both reused and fresh connections\n");
    std::abort();
  }
  return *host;
}

FuzzHost::FuzzHost(Connections connections) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.connections = connections;
  m.check_reset = connections == Connections::Reused && env_is("XEN3D_FUZZ_CHECK_RESET", "1");
  // Rejections are the normal case here; their log lines would drown libFuzzer's.
  set_log_level(env_is("XEN3D_FUZZ_VERBOSE", "1") ? LogLevel::Debug : LogLevel::Error);
  const char* env = std::getenv("XEN3D_FUZZ_DRIVER");
  const std::string driver = env && *env ? env : "softpipe";
  std::string error;
  m.gpu = host::HostGpu::open(driver, error);
  if (!m.gpu) {
    std::fprintf(stderr, "xen3d fuzz: cannot open the host driver '%s': %s\n", driver.c_str(), error.c_str());
    std::exit(2);
  }
  m.shader_path = host::shader_path_for(m.gpu->screen());
  m.caps = host::take_caps_snapshot(m.gpu->screen(), m.shader_path);
  m.desktops = std::make_unique<host::DesktopRegistry>(m.gpu->screen(), m.gpu->context_lock(), 60);
  if (connections == Connections::Reused) m.pool = std::make_unique<host::ContextPool>(m.gpu->screen());
  m.layout = proto::ShmLayout::make(kCommandRing, kReplyRing, kBulkHeap, kFramebuffer);
  m.memory = static_cast<uint8_t*>(std::aligned_alloc(4096, m.layout.total_size));
  std::memset(m.memory, 0, m.layout.total_size);
  std::fprintf(stderr, "xen3d fuzz: executing on %s, %s%s\n", m.gpu->renderer().c_str(),
               connections == Connections::Reused ? "one connection reused for every input"
                                                  : "a new connection per input",
               m.check_reset ? ", each input also on a new one to compare (XEN3D_FUZZ_CHECK_RESET)" : "");
}

void FuzzHost::Impl::fresh_rings() {
  std::memset(memory, 0, proto::kControlBlockSize);
  auto* control = reinterpret_cast<proto::ControlBlock*>(memory);
  control->magic = proto::kShmMagic;
  const auto& L = layout;
  auto ring = [&](proto::RingId r) { return memory + L.offset[int(r)]; };
  rings.command_counters = &control->rings[int(proto::RingId::Command)];
  rings.command_data = ring(proto::RingId::Command);
  rings.command_size = L.size[int(proto::RingId::Command)];
  rings.bulk_counters = &control->rings[int(proto::RingId::Bulk)];
  rings.bulk_data = ring(proto::RingId::Bulk);
  rings.bulk_size = L.size[int(proto::RingId::Bulk)];
  rings.commands = proto::RecordWriter(rings.command_counters, rings.command_data, rings.command_size);
  rings.bulk = proto::BulkWriter(rings.bulk_counters, rings.bulk_data, rings.bulk_size);
}

host::ConnectionOptions FuzzHost::Impl::options(bool pooled) const {
  host::ConnectionOptions opts;
  opts.screen = gpu->screen();
  opts.shares_frames = gpu->shares_frames();
  opts.caps = caps;
  opts.shader_path = shader_path;
  // Quotas small enough that a fuzzed guest reaches them quickly; the
  // compositor's defaults are larger but enforced by the same code.
  opts.max_guest_resource_bytes = uint64_t(256) << 20;
  opts.max_guest_objects = 4096;
  opts.driver_lock = gpu->context_lock();
  opts.desktops = desktops.get();
  opts.context_pool = pooled ? pool.get() : nullptr;
  return opts;
}

std::unique_ptr<host::GuestConnection> FuzzHost::Impl::connect(std::function<bool()> more, bool pooled,
                                                                InProcessTransport*& transport) {
  auto t = std::make_unique<InProcessTransport>(layout, memory, std::move(more));
  transport = t.get();
  proto::SessionInfo info;
  info.connection_id = ++connections_made;
  info.peer_name = "fuzz";
  return std::make_unique<host::GuestConnection>(std::make_unique<proto::HostSession>(std::move(t), info),
                                                 options(pooled));
}

void FuzzHost::Impl::run_fresh(Feed f, Transcript* t) {
  fresh_rings();
  host::GuestConnection* conn = nullptr;  // set before run(): the feed asks it
  InProcessTransport* transport = nullptr;
  auto connection = connect([&] { return f(rings, conn->poisoned()); }, false, transport);
  conn = connection.get();
  transport->transcribe(t);
  connection->run();
  if (t) {
    t->poisoned = connection->poisoned();
    t->executed = connection->records_executed();
  }
}

void FuzzHost::Impl::run_reused(Feed f, Transcript* t) {
  fresh_rings();
  feed = &f;
  if (!reused) {
    reused = connect([this] { return (*feed)(rings, reused->poisoned()); }, true, reused_transport);
  } else {
    reused->restart();
  }
  reused_transport->transcribe(t);
  reused->run();
  if (t) {
    t->poisoned = reused->poisoned();
    t->executed = reused->records_executed();
  }
  feed = nullptr;
}

void FuzzHost::run(const Input& input) {
  Impl& m = *impl_;
  if (m.connections == Connections::Fresh) return m.run_fresh(input(), nullptr);
  if (!m.check_reset) return m.run_reused(input(), nullptr);
  Transcript fresh, reused;
  m.run_fresh(input(), &fresh);
  m.run_reused(input(), &reused);
  if (fresh == reused) return;
  std::fprintf(stderr,
               "xen3d fuzz: the reused connection answered this input differently from a new one "
               "(XEN3D_FUZZ_CHECK_RESET)\nnew connection:\n%sreused connection:\n%s",
               fresh.text().c_str(), reused.text().c_str());
  std::abort();
}

}  // namespace xen3d::fuzz
