#include "tests/fuzz/fuzz_host.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "host/compositor/caps_snapshot.h"
#include "host/compositor/desktop_registry.h"
#include "host/compositor/guest_connection.h"
#include "host/compositor/host_gpu.h"
#include "host/compositor/log.h"
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
  void kick(proto::RingId, bool) override {}
  proto::WaitResult wait(proto::RingId ring, const std::function<bool()>& ready, int) override {
    if (ring == proto::RingId::Reply) {
      // The guest reads every answer at once.
      auto* c = counters(ring);
      c->tail.store(c->head.load());
      return proto::WaitResult::Ready;
    }
    while (!ready()) {
      if (ring != proto::RingId::Command || !feed_()) return peer_gone("the fuzz input is over");
    }
    return proto::WaitResult::Ready;
  }
  std::string name() const override { return "in-process"; }

 private:
  std::function<bool()> feed_;
};

}  // namespace

struct FuzzHost::Impl {
  std::unique_ptr<host::HostGpu> gpu;
  std::shared_ptr<const proto::CapsTable> caps;
  std::unique_ptr<host::DesktopRegistry> desktops;
  proto::ShmLayout layout;
  uint8_t* memory = nullptr;
  uint32_t runs = 0;
};

FuzzHost& FuzzHost::get() {
  static FuzzHost* host = new FuzzHost();  // lives as long as the process
  return *host;
}

FuzzHost::FuzzHost() : impl_(std::make_unique<Impl>()) {
  // Rejections are the normal case here; their log lines would drown libFuzzer's.
  const char* verbose = std::getenv("XEN3D_FUZZ_VERBOSE");
  host::set_log_level(verbose && *verbose == '1' ? host::LogLevel::Debug : host::LogLevel::Error);
  const char* env = std::getenv("XEN3D_FUZZ_DRIVER");
  const std::string driver = env && *env ? env : "softpipe";
  std::string error;
  impl_->gpu = host::HostGpu::open(driver, error);
  if (!impl_->gpu) {
    std::fprintf(stderr, "xen3d fuzz: cannot open the host driver '%s': %s\n", driver.c_str(), error.c_str());
    std::exit(2);
  }
  impl_->caps = host::take_caps_snapshot(impl_->gpu->screen());
  impl_->desktops = std::make_unique<host::DesktopRegistry>(impl_->gpu->screen(), impl_->gpu->context_lock(), 60);
  impl_->layout = proto::ShmLayout::make(kCommandRing, kReplyRing, kBulkHeap, kFramebuffer);
  impl_->memory = static_cast<uint8_t*>(std::aligned_alloc(4096, impl_->layout.total_size));
  std::memset(impl_->memory, 0, impl_->layout.total_size);
  std::fprintf(stderr, "xen3d fuzz: executing on %s\n", impl_->gpu->renderer().c_str());
}

void FuzzHost::run(const Feed& feed) {
  Impl& m = *impl_;
  // A fresh connection: counters from zero (ring contents need no clearing:
  // nothing reads past the counters).
  std::memset(m.memory, 0, proto::kControlBlockSize);
  auto* control = reinterpret_cast<proto::ControlBlock*>(m.memory);
  control->magic = proto::kShmMagic;
  GuestRings rings;
  const auto& L = m.layout;
  auto ring = [&](proto::RingId r) { return m.memory + L.offset[int(r)]; };
  rings.command_counters = &control->rings[int(proto::RingId::Command)];
  rings.command_data = ring(proto::RingId::Command);
  rings.command_size = L.size[int(proto::RingId::Command)];
  rings.bulk_counters = &control->rings[int(proto::RingId::Bulk)];
  rings.bulk_data = ring(proto::RingId::Bulk);
  rings.bulk_size = L.size[int(proto::RingId::Bulk)];
  rings.commands = proto::RecordWriter(rings.command_counters, rings.command_data, rings.command_size);
  rings.bulk = proto::BulkWriter(rings.bulk_counters, rings.bulk_data, rings.bulk_size);

  host::GuestConnection* conn = nullptr;
  auto transport = std::make_unique<InProcessTransport>(
      L, m.memory, [&] { return feed(rings, conn && conn->poisoned()); });
  proto::SessionInfo info;
  info.connection_id = ++m.runs;
  info.peer_name = "fuzz";
  auto session = std::make_unique<proto::HostSession>(std::move(transport), info);
  host::ConnectionOptions opts;
  opts.screen = m.gpu->screen();
  opts.caps = m.caps;
  // Quotas small enough that a fuzzed guest reaches them quickly; the
  // compositor's defaults are larger but enforced by the same code.
  opts.max_guest_resource_bytes = uint64_t(256) << 20;
  opts.max_guest_objects = 4096;
  opts.driver_lock = m.gpu->context_lock();
  opts.desktops = m.desktops.get();
  host::GuestConnection connection(std::move(session), opts);
  conn = &connection;
  connection.run();
}

}  // namespace xen3d::fuzz
