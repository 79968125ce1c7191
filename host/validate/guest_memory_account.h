// One guest connection's host memory, as its quota (--max-guest-mem-mib)
// sees it: what its object table holds (resources, shader tokens) plus what
// is held for it elsewhere, the window surfaces a desktop keeps of the frames
// it presents. Without the second part a guest could hold 64 window surfaces
// of up to 16384x16384 per desktop beside a full quota of resources.
//
// Threads: the table's bytes and surface charges change on the guest's own
// thread; a desktop closed by its window system releases surfaces from that
// connection's thread. Everything is atomic.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace xen3d::host {

class GuestMemoryAccount {
 public:
  explicit GuestMemoryAccount(uint64_t limit) : limit_(limit) {}
  GuestMemoryAccount(const GuestMemoryAccount&) = delete;
  GuestMemoryAccount& operator=(const GuestMemoryAccount&) = delete;

  uint64_t limit() const { return limit_; }
  // Bytes held outside the object table (window surfaces).
  uint64_t outside_table() const { return outside_.load(std::memory_order_relaxed); }
  // The object table keeps this up to date (ObjectTable::set_memory_account).
  void set_table_bytes(uint64_t bytes) { table_.store(bytes, std::memory_order_relaxed); }
  uint64_t used() const { return table_.load(std::memory_order_relaxed) + outside_table(); }

  // Charges `bytes` held outside the table. False, charging nothing, with
  // `why` naming the quota when the guest would pass it.
  bool charge(uint64_t bytes, const std::string& what, std::string& why) {
    uint64_t outside = outside_.load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t in_use = table_.load(std::memory_order_relaxed) + outside;
      if (bytes > limit_ || in_use > limit_ - bytes) {
        why = what + " (" + std::to_string(bytes) + " bytes) would pass the guest's memory quota of " +
              std::to_string(limit_) + " bytes (--max-guest-mem-mib; " + std::to_string(in_use) + " in use)";
        return false;
      }
      if (outside_.compare_exchange_weak(outside, outside + bytes, std::memory_order_relaxed)) return true;
    }
  }
  void release(uint64_t bytes) { outside_.fetch_sub(bytes, std::memory_order_relaxed); }

 private:
  const uint64_t limit_;
  std::atomic<uint64_t> table_{0};
  std::atomic<uint64_t> outside_{0};
};

}  // namespace xen3d::host
