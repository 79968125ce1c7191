// A guest's command stream as a file: what `xen3d-compositor --record DIR`
// writes for each guest and `xen3d-replay` plays back (also fuzz seeds).
//
//   "XEN3DREC" u32 version (1) u32 reserved, then entries:
//   u32 kind, u32 length, `length` bytes:
//     Client  the guest's client name (text)
//     Record  one record as the host received it
//     Bulk    u64 pos, then the bytes of a bulk span the host read while
//             executing the record before it (positions are the guest's;
//             a replay puts the bytes in its own heap and renames them)
// Little-endian, like the wire.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace xen3d::proto {

struct RecordingEntry {
  enum Kind : uint32_t { Client = 1, Record = 2, Bulk = 3 };
  uint32_t kind = 0;
  std::vector<uint8_t> bytes;
};

class RecordingWriter {
 public:
  ~RecordingWriter();
  // False (with `error`) when the file cannot be created.
  bool open(const std::string& path, const std::string& client_name, std::string& error);
  void record(const uint8_t* rec, size_t size) {
    spans_of_record_.clear();
    entry(RecordingEntry::Record, nullptr, 0, rec, size);
  }
  // A span the current record's execution read; once per record, however
  // often the executor looks at it (a replay renames each span once).
  void bulk(uint64_t pos, const uint8_t* data, size_t size);
  const std::string& path() const { return path_; }

 private:
  void entry(uint32_t kind, const void* head, size_t head_size, const void* body, size_t body_size);
  FILE* f_ = nullptr;
  std::string path_;
  std::vector<uint64_t> spans_of_record_;
};

// Reads a whole recording; false (with `error`) when it is not one or is cut short.
bool read_recording(const std::string& path, std::vector<RecordingEntry>& out, std::string& error);
// The same from memory (fuzz inputs are recordings), and back.
bool parse_recording(const uint8_t* data, size_t size, std::vector<RecordingEntry>& out, std::string& error);
std::vector<uint8_t> serialize_recording(const std::vector<RecordingEntry>& entries);

// A replay puts a recorded bulk span into its own heap: the record naming it
// gets the new position in the first 4-aligned place holding {old_pos u64,
// size u32} (a BulkRef). False when the record names no such span.
bool rename_bulk_span(std::vector<uint8_t>& rec, uint64_t old_pos, uint32_t size, uint64_t new_pos);

}  // namespace xen3d::proto
