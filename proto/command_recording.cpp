#include "proto/command_recording.h"

#include <cerrno>
#include <cstring>

#include "proto/socket_io.h"
#include "proto/wire.h"

namespace xen3d::proto {
namespace {
constexpr char kMagic[8] = {'X', 'E', 'N', '3', 'D', 'R', 'E', 'C'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kMaxEntry = 64u << 20;  // a bulk span is at most half a heap (max 256 MiB)
}  // namespace

RecordingWriter::~RecordingWriter() {
  if (f_) std::fclose(f_);
}

bool RecordingWriter::open(const std::string& path, const std::string& client_name, std::string& error) {
  f_ = std::fopen(path.c_str(), "wb");
  if (!f_) {
    error = "cannot create " + path + ": " + errno_text(errno);
    return false;
  }
  path_ = path;
  uint8_t head[16];
  std::memcpy(head, kMagic, 8);
  store_le<uint32_t>(head + 8, kVersion);
  store_le<uint32_t>(head + 12, 0);
  std::fwrite(head, 1, sizeof head, f_);
  entry(RecordingEntry::Client, nullptr, 0, client_name.data(), client_name.size());
  return true;
}

void RecordingWriter::bulk(uint64_t pos, const uint8_t* data, size_t size) {
  for (uint64_t seen : spans_of_record_)
    if (seen == pos) return;
  spans_of_record_.push_back(pos);
  uint8_t p[8];
  store_le<uint64_t>(p, pos);
  entry(RecordingEntry::Bulk, p, sizeof p, data, size);
}

void RecordingWriter::entry(uint32_t kind, const void* head, size_t head_size, const void* body, size_t body_size) {
  if (!f_) return;
  uint8_t h[8];
  store_le<uint32_t>(h, kind);
  store_le<uint32_t>(h + 4, static_cast<uint32_t>(head_size + body_size));
  std::fwrite(h, 1, sizeof h, f_);
  if (head_size) std::fwrite(head, 1, head_size, f_);
  if (body_size) std::fwrite(body, 1, body_size, f_);
}

bool read_recording(const std::string& path, std::vector<RecordingEntry>& out, std::string& error) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    error = "cannot open " + path + ": " + errno_text(errno);
    return false;
  }
  auto fail = [&](const std::string& why) {
    std::fclose(f);
    error = path + ": " + why;
    return false;
  };
  uint8_t head[16];
  if (std::fread(head, 1, sizeof head, f) != sizeof head || std::memcmp(head, kMagic, 8) != 0)
    return fail("not a Xen3D recording");
  if (load_le<uint32_t>(head + 8) != kVersion) return fail("recording version " + std::to_string(load_le<uint32_t>(head + 8)));
  for (size_t n = 0;; ++n) {
    uint8_t h[8];
    const size_t got = std::fread(h, 1, sizeof h, f);
    if (got == 0) break;
    if (got != sizeof h) return fail("cut short in entry " + std::to_string(n));
    RecordingEntry e;
    e.kind = load_le<uint32_t>(h);
    const uint32_t len = load_le<uint32_t>(h + 4);
    if (e.kind < RecordingEntry::Client || e.kind > RecordingEntry::Bulk || len > kMaxEntry ||
        (e.kind == RecordingEntry::Bulk && len < 8))
      return fail("entry " + std::to_string(n) + " is malformed");
    e.bytes.resize(len);
    if (len && std::fread(e.bytes.data(), 1, len, f) != len) return fail("cut short in entry " + std::to_string(n));
    out.push_back(std::move(e));
  }
  std::fclose(f);
  return true;
}

}  // namespace xen3d::proto
