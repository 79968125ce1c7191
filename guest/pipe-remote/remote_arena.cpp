#include "guest/pipe-remote/remote_arena.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>

#include "guest/pipe-remote/remote_device.h"
#include "pipe/p_defines.h"

namespace xen3d::guest {

namespace {
constexpr uint32_t kDefaultMib = 256;
}

std::unique_ptr<BufferArena> BufferArena::open(RemoteDevice& dev, std::string& why) {
  proto::GuestSession& s = dev.session();
  uint32_t mib = kDefaultMib;
  if (const char* v = std::getenv("XEN3D_ARENA_MIB")) {
    char* end = nullptr;
    const unsigned long n = std::strtoul(v, &end, 10);
    if (!*v || *end || n > 4095) {
      why = std::string("XEN3D_ARENA_MIB='") + v + "' is not a number of MiB under 4096";
      return nullptr;
    }
    mib = uint32_t(n);
  }
  if (!mib) {
    why = "XEN3D_ARENA_MIB=0";
    return nullptr;
  }
  if (s.info().host_minor < 6) {
    why = "the compositor is older than buffer arenas (protocol 2." + std::to_string(s.info().host_minor) + ")";
    return nullptr;
  }
  if (!s.transport().carries_fds()) {
    why = "a " + s.transport().name() + " connection cannot share memory";
    return nullptr;
  }
  proto::ArenaOpen ask;
  ask.kib = mib * 1024u;
  proto::ArenaOpened answer;
  if (!s.call(ask, answer)) {
    why = s.error();
    return nullptr;
  }
  if (!answer.ok) {
    why = std::string(answer.reason);
    return nullptr;
  }
  const int fd = s.transport().receive_fd(proto::kFdAfterAnswerTimeoutMs, why);
  if (fd < 0) return nullptr;
  void* m = mmap(nullptr, answer.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED || !answer.alignment || (answer.alignment & (answer.alignment - 1))) {
    if (m != MAP_FAILED) munmap(m, answer.size);
    why = "the arena the compositor sent cannot be mapped";
    return nullptr;
  }
  return std::unique_ptr<BufferArena>(
      new BufferArena(dev, static_cast<uint8_t*>(m), answer.size, answer.alignment, answer.slack));
}

BufferArena::~BufferArena() { munmap(base_, size_); }

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
