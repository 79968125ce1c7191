#include "host/compositor/host_data_writer.h"

#include <algorithm>
#include <cstring>
#include <span>

namespace xen3d::host {

HostDataWriter::HostDataWriter(proto::HostSession& session, uint32_t total) : session_(session), total_(total) {
  chunk_.reserve(total < kMaxChunk ? total : kMaxChunk);
}

bool HostDataWriter::send_chunk() {
  proto::HostData d;
  d.total = total_;
  d.offset = sent_;
  d.data = std::span<const uint8_t>(chunk_.data(), chunk_.size());
  if (!session_.reply(d)) ok_ = false;
  sent_ += static_cast<uint32_t>(chunk_.size());
  chunk_.clear();
  chunk_sent_ = true;
  return ok_;
}

bool HostDataWriter::write(const void* bytes, size_t size) {
  if (!ok_) return false;
  if (size > total_ - sent_ - chunk_.size()) {
    ok_ = false;  // a caller bug: never send past the announced total
    return false;
  }
  const auto* p = static_cast<const uint8_t*>(bytes);
  while (size) {
    const size_t n = std::min<size_t>(size, kMaxChunk - chunk_.size());
    chunk_.insert(chunk_.end(), p, p + n);
    p += n;
    size -= n;
    if (chunk_.size() == kMaxChunk && !send_chunk()) return false;
  }
  return true;
}

bool HostDataWriter::finish() {
  if (!ok_) return false;
  if (!chunk_.empty() || !chunk_sent_) send_chunk();
  return ok_ && sent_ == total_;
}

bool send_host_data(proto::HostSession& session, const void* bytes, uint32_t size) {
  HostDataWriter w(session, size);
  return w.write(bytes, size) && w.finish();
}

}  // namespace xen3d::host
