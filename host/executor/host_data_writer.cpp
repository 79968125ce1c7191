#include "host/executor/host_data_writer.h"

#include <algorithm>
#include <cstring>

namespace xen3d::host {

HostDataWriter::HostDataWriter(proto::HostSession& session, uint32_t total) : session_(session), total_(total) {}

// Chunks are built where the guest reads them (HostSession::reserve_host_data):
// mapped pixels are copied once, straight into the reply ring.
bool HostDataWriter::open_chunk() {
  chunk_size_ = std::min(kMaxChunk, total_ - sent_);
  chunk_ = session_.reserve_host_data(chunk_size_);
  chunk_fill_ = 0;
  if (!chunk_) ok_ = false;
  return ok_;
}

void HostDataWriter::send_chunk() {
  session_.commit_host_data(total_, sent_, chunk_size_);
  sent_ += chunk_size_;
  chunk_ = nullptr;
  chunk_fill_ = 0;
  chunk_sent_ = true;
}

bool HostDataWriter::write(const void* bytes, size_t size) {
  if (!ok_) return false;
  if (size > total_ - sent_ - chunk_fill_) {
    ok_ = false;  // a caller bug: never send past the announced total
    return false;
  }
  const auto* p = static_cast<const uint8_t*>(bytes);
  while (size) {
    if (!chunk_ && !open_chunk()) return false;
    const size_t n = std::min<size_t>(size, chunk_size_ - chunk_fill_);
    std::memcpy(chunk_ + chunk_fill_, p, n);
    chunk_fill_ += uint32_t(n);
    p += n;
    size -= n;
    if (chunk_fill_ == chunk_size_) send_chunk();
  }
  return true;
}

bool HostDataWriter::finish() {
  if (!ok_) return false;
  if (!chunk_sent_ && total_ == 0) {
    if (!open_chunk()) return false;
    send_chunk();
  }
  return !chunk_ && sent_ == total_;
}

bool send_host_data(proto::HostSession& session, const void* bytes, uint32_t size) {
  HostDataWriter w(session, size);
  return w.write(bytes, size) && w.finish();
}

}  // namespace xen3d::host
