// Streams a bulk answer (caps, read transfers, presented pixels) to the guest
// as host_data chunks: in order, each at most kMaxChunk bytes, `total` in every
// chunk, and always at least one chunk (an empty answer is one empty chunk), so
// the guest's read loop needs no special cases.
#pragma once

#include <cstdint>

#include "proto/host_session.h"

namespace xen3d::host {

class HostDataWriter {
 public:
  static constexpr uint32_t kMaxChunk = proto::HostData::kMaxData;

  HostDataWriter(proto::HostSession& session, uint32_t total);

  // Appends bytes; sends every full chunk. False once the guest is gone or the
  // bytes would pass `total`.
  bool write(const void* bytes, size_t size);
  // Sends what is left; false unless exactly `total` bytes were written and sent.
  bool finish();

 private:
  bool open_chunk();
  void send_chunk();

  proto::HostSession& session_;
  uint32_t total_;
  uint32_t sent_ = 0;  // bytes already in sent chunks
  bool chunk_sent_ = false;
  bool ok_ = true;
  uint8_t* chunk_ = nullptr;  // the open chunk's data, in the reply ring
  uint32_t chunk_size_ = 0, chunk_fill_ = 0;
};

// One-shot form for answers already in memory.
bool send_host_data(proto::HostSession& session, const void* bytes, uint32_t size);

}  // namespace xen3d::host
