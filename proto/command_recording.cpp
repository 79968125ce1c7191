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

bool parse_recording(const uint8_t* data, size_t size, std::vector<RecordingEntry>& out, std::string& error) {
  if (size < 16 || std::memcmp(data, kMagic, 8) != 0) {
    error = "not a Xen3D recording";
    return false;
  }
  if (load_le<uint32_t>(data + 8) != kVersion) {
    error = "recording version " + std::to_string(load_le<uint32_t>(data + 8));
    return false;
  }
  size_t at = 16;
  for (size_t n = 0; at < size; ++n) {
    if (size - at < 8) {
      error = "cut short in entry " + std::to_string(n);
      return false;
    }
    RecordingEntry e;
    e.kind = load_le<uint32_t>(data + at);
    const uint32_t len = load_le<uint32_t>(data + at + 4);
    at += 8;
    if (e.kind < RecordingEntry::Client || e.kind > RecordingEntry::Bulk || len > kMaxEntry ||
        (e.kind == RecordingEntry::Bulk && len < 8)) {
      error = "entry " + std::to_string(n) + " is malformed";
      return false;
    }
    if (size - at < len) {
      error = "cut short in entry " + std::to_string(n);
      return false;
    }
    e.bytes.assign(data + at, data + at + len);
    at += len;
    out.push_back(std::move(e));
  }
  return true;
}

std::vector<uint8_t> serialize_recording(const std::vector<RecordingEntry>& entries) {
  size_t total = 16;
  for (const auto& e : entries) total += 8 + e.bytes.size();
  std::vector<uint8_t> out(total);
  std::memcpy(out.data(), kMagic, 8);
  store_le<uint32_t>(out.data() + 8, kVersion);
  store_le<uint32_t>(out.data() + 12, 0);
  size_t at = 16;
  for (const auto& e : entries) {
    store_le<uint32_t>(out.data() + at, e.kind);
    store_le<uint32_t>(out.data() + at + 4, static_cast<uint32_t>(e.bytes.size()));
    if (!e.bytes.empty()) std::memcpy(out.data() + at + 8, e.bytes.data(), e.bytes.size());
    at += 8 + e.bytes.size();
  }
  return out;
}

bool read_recording(const std::string& path, std::vector<RecordingEntry>& out, std::string& error) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    error = "cannot open " + path + ": " + errno_text(errno);
    return false;
  }
  std::vector<uint8_t> bytes;
  uint8_t buf[1 << 16];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) bytes.insert(bytes.end(), buf, buf + n);
  const bool failed = std::ferror(f);
  std::fclose(f);
  if (failed) {
    error = "cannot read " + path + ": " + errno_text(errno);
    return false;
  }
  if (!parse_recording(bytes.data(), bytes.size(), out, error)) {
    error = path + ": " + error;
    return false;
  }
  return true;
}

bool rename_bulk_span(std::vector<uint8_t>& rec, uint64_t old_pos, uint32_t size, uint64_t new_pos) {
  for (size_t off = 8; off + 12 <= rec.size(); off += 4) {
    if (load_le<uint64_t>(rec.data() + off) == old_pos && load_le<uint32_t>(rec.data() + off + 8) == size) {
      store_le<uint64_t>(rec.data() + off, new_pos);
      return true;
    }
  }
  return false;
}

}  // namespace xen3d::proto
