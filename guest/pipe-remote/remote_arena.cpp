#include "guest/pipe-remote/remote_arena.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <span>

#include "guest/pipe-remote/remote_device.h"
#include "pipe/p_defines.h"

namespace xen3d::guest {

namespace {
constexpr uint32_t kDefaultMib = 256;
// Grant pages are the guest's own RAM, pinned while shared: a smaller
// default on xen. Under 16 MiB no arena at all: once persistent maps are
// offered, Mesa's upload managers put every upload in persistent buffers
// (1 MiB and up each, freed ones waiting for the host), and an allocation
// that fails there drops a draw.
constexpr uint32_t kDefaultSharedMib = 32, kMinSharedMib = 16;
constexpr uint32_t kPagesPerMib = 256;
}  // namespace

template <typename Ask>
bool BufferArena::call_open(proto::GuestSession& s, const Ask& ask, proto::ArenaOpened& answer, std::string& why) {
  if (!s.call(ask, answer)) {
    why = s.error();
    return false;
  }
  if (!answer.ok) {
    why = std::string(answer.reason);
    return false;
  }
  return true;
}

bool BufferArena::valid_alignment(const proto::ArenaOpened& a) {
  return a.alignment && !(a.alignment & (a.alignment - 1)) && a.alignment < a.size;
}

// XEN3D_ARENA_MIB, or the default for the transport kind; false with `why`
// when it is not a number. `given`: whether the variable was set.
bool BufferArena::wanted_mib(bool shared, uint32_t& mib, bool& given, std::string& why) {
  mib = shared ? kDefaultSharedMib : kDefaultMib;
  const char* v = std::getenv("XEN3D_ARENA_MIB");
  given = v != nullptr;
  if (!v) return true;
  char* end = nullptr;
  const unsigned long n = std::strtoul(v, &end, 10);
  if (!*v || *end || n > 4095) {
    why = std::string("XEN3D_ARENA_MIB='") + v + "' is not a number of MiB under 4096";
    return false;
  }
  mib = uint32_t(n);
  return true;
}

void BufferArena::ask_at_connect(proto::ConnectRequest& req) {
  uint32_t mib = 0;
  bool given = false;
  std::string why;
  if (!wanted_mib(true, mib, given, why) || !mib) return;
  req.memory_pages = mib * kPagesPerMib;
  req.memory_min_pages = std::min(mib, given ? mib : kMinSharedMib) * kPagesPerMib;
}

std::unique_ptr<BufferArena> BufferArena::open(RemoteDevice& dev, std::string& why) {
  proto::GuestSession& s = dev.session();
  const bool fds = s.transport().carries_fds();
  uint32_t mib = 0;
  bool given = false;
  if (!wanted_mib(!fds, mib, given, why)) return nullptr;
  if (!mib) {
    why = "XEN3D_ARENA_MIB=0";
    return nullptr;
  }
  const uint16_t minor = s.info().host_minor;
  if (minor < 6 || (!fds && minor < 8)) {
    why = "the compositor is older than buffer arenas on " + s.transport().name() + " (protocol 2." +
          std::to_string(minor) + ")";
    return nullptr;
  }
  return fds ? open_sent(dev, mib, why) : open_shared(dev, why);
}

// local: the host allocates the arena and sends it as a sealed memfd.
std::unique_ptr<BufferArena> BufferArena::open_sent(RemoteDevice& dev, uint32_t mib, std::string& why) {
  proto::GuestSession& s = dev.session();
  proto::ArenaOpen ask;
  ask.kib = mib * 1024u;
  proto::ArenaOpened answer;
  if (!call_open(s, ask, answer, why)) return nullptr;
  const int fd = s.transport().receive_fd(proto::kFdAfterAnswerTimeoutMs, why);
  if (fd < 0) return nullptr;
  void* m = mmap(nullptr, answer.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED || !valid_alignment(answer)) {
    if (m != MAP_FAILED) munmap(m, answer.size);
    why = "the arena the compositor sent cannot be mapped";
    return nullptr;
  }
  return std::unique_ptr<BufferArena>(new BufferArena(dev, static_cast<uint8_t*>(m), answer, false));
}

// xen: pages of the guest's own (only it can grant), shared as it connected
// (ask_at_connect), which the host maps.
std::unique_ptr<BufferArena> BufferArena::open_shared(RemoteDevice& dev, std::string& why) {
  proto::GuestSession& s = dev.session();
  proto::Transport& t = s.transport();
  proto::ArenaGrant ask;
  std::vector<uint32_t> index;
  uint8_t* m = t.share_memory(ask.pages, index, why);
  if (!m) return nullptr;
  ask.index_refs = std::span<const uint32_t>(index);
  proto::ArenaOpened answer;
  if (!call_open(s, ask, answer, why) || answer.size != uint64_t(ask.pages) * 4096u || !valid_alignment(answer)) {
    if (why.empty()) why = "the compositor mapped the arena with an unexpected size or alignment";
    t.release_memory(m);
    return nullptr;
  }
  return std::unique_ptr<BufferArena>(new BufferArena(dev, m, answer, true));
}

BufferArena::BufferArena(RemoteDevice& dev, uint8_t* base, const proto::ArenaOpened& a, bool shared)
    : dev_(dev), base_(base), size_(a.size), alignment_(a.alignment), slack_(a.slack), shared_(shared), copies_(a.copies) {
  // The host's progress words (rebases done, last mark) live in the first span.
  const uint32_t header = std::max(alignment_, kHeaderBytes);
  free_.emplace(header, size_ - header);
}

BufferArena::~BufferArena() {
  if (shared_) {
    dev_.session().transport().release_memory(base_);
  } else {
    munmap(base_, size_);
  }
}

bool BufferArena::suits(unsigned usage, uint32_t bytes) {
  return bytes >= kInPlaceBytes &&
         (usage == PIPE_USAGE_DYNAMIC || usage == PIPE_USAGE_STREAM || usage == PIPE_USAGE_STAGING);
}

bool BufferArena::take(uint32_t span, uint32_t& offset) {
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < span) continue;
    offset = it->first;
    const uint32_t rest = it->second - span;
    free_.erase(it);
    if (rest) free_.emplace(offset + span, rest);
    used_.emplace(offset, span);
    used_bytes_ += span;
    return true;
  }
  return false;
}

bool BufferArena::alloc(uint32_t bytes, uint32_t& offset, bool optional) {
  const uint64_t need = (uint64_t(bytes) + slack_ + alignment_ - 1) / alignment_ * alignment_;
  if (!bytes || need > size_) return false;
  reclaim_moved();
  if (optional && used_bytes_ - quarantined_bytes_ + need > uint64_t(size_) / 4 * 3) return false;
  if (take(uint32_t(need), offset)) return true;
  // A buffer that can live on the host is worth a wait only once a quarter
  // of the arena waits in quarantine (apps that keep respecifying big
  // dynamic buffers would otherwise push them all out of the arena).
  if (quarantine_.empty() || (optional && quarantined_bytes_ < size_ / 4)) return false;
  // Room may be waiting in quarantine: once the host has finished what is
  // queued, no buffer freed so far is read any more.
  proto::ResourceWait wait;
  wait.resource = 0;
  proto::ResourceIdle idle;
  if (!dev_.session().call(wait, idle) || !idle.ok) return false;
  for (uint32_t off : quarantine_) {
    auto it = used_.find(off);
    if (it == used_.end()) continue;
    const uint32_t span = it->second;
    used_.erase(it);
    used_bytes_ -= span;
    give_back(off, span);
  }
  quarantine_.clear();
  quarantined_bytes_ = 0;
  reclaim_moved();
  return take(uint32_t(need), offset);
}

void BufferArena::free(uint32_t offset) {
  auto it = used_.find(offset);
  if (it == used_.end()) return;
  quarantine_.push_back(offset);
  quarantined_bytes_ += it->second;
}

void BufferArena::free_moved(uint32_t offset) {
  if (!used_.count(offset)) return;
  moved_.push_back({offset, ++rebases_sent_});
}

void BufferArena::reclaim_moved() {
  if (moved_.empty()) return;
  // Written by the host after each rebase it finished (host/resources/arena.cpp).
  const uint64_t done = std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(base_)).load(std::memory_order_acquire);
  size_t kept = 0;
  for (const Moved& m : moved_) {
    auto it = used_.find(m.offset);
    if (m.rebase > done || it == used_.end()) {
      if (it != used_.end()) moved_[kept++] = m;
      continue;
    }
    used_bytes_ -= it->second;
    give_back(m.offset, it->second);
    used_.erase(it);
    ++dev_.arena_stats().reused;
  }
  moved_.resize(kept);
}

void BufferArena::mark_if_wanted(proto::GuestSession& s) {
  if (!mark_wanted_ || s.info().host_minor < 9) return;
  mark_wanted_ = false;
  proto::ArenaMark mark;
  mark.seq = ++marks_sent_;
  mark.awake_us = copy_us(last_write_bytes_);
  s.send(mark);
  // Published now, so the host carries it out while the app prepares its
  // next write: it is there by then.
  host_idle_at_mark_ = s.flush();
  records_at_mark_ = s.records_sent();
}

bool BufferArena::host_done(const proto::GuestSession& s, uint32_t spin_us) {
  if (copies_ || !marks_sent_ || s.records_sent() != records_at_mark_) return false;
  RemoteDevice::ArenaStats& stats = dev_.arena_stats();
  // Written by the host when it reaches the mark (host/resources/arena.cpp).
  std::atomic_ref<uint64_t> word(*reinterpret_cast<uint64_t*>(base_ + 8));
  if (word.load(std::memory_order_acquire) == marks_sent_) return ++stats.unwaited;
  if (!host_idle_at_mark_ || !spin_us) return false;
  // The host was idle: it is on (or waking up to) the last draw and the
  // mark, less than the cost of writing to fresh bytes.
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(spin_us);
  while (std::chrono::steady_clock::now() < until) {
    if (word.load(std::memory_order_acquire) == marks_sent_) {
      ++stats.spun;
      return ++stats.unwaited;
    }
    __builtin_ia32_pause();
  }
  ++stats.spins_out;
  return false;
}

void BufferArena::give_back(uint32_t offset, uint32_t span) {
  auto next = free_.lower_bound(offset);
  if (next != free_.end() && offset + span == next->first) {
    span += next->second;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == offset) {
      prev->second += span;
      return;
    }
  }
  free_.emplace(offset, span);
}

}  // namespace xen3d::guest
