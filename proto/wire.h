// Wire primitives shared by every generated record: little-endian loads and
// stores, the record header, decode errors and tail views.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace xen3d::proto {

inline constexpr size_t kHeaderSize = 8;
// No record may exceed this: the decoder copies records out of shared memory
// into a buffer of this size before looking at them (see proto/host_session.cpp).
inline constexpr size_t kMaxRecordSize = 64 * 1024;

enum class Sender : uint8_t { Guest, Host };

// FNV-1a, 64-bit: the checksum of the bulk diagnostics records.
inline uint64_t fnv1a(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

constexpr size_t align8(size_t n) { return (n + 7) & ~size_t{7}; }

template <class T>
inline T load_le(const uint8_t* p) {
  static_assert(std::is_trivially_copyable_v<T>);
  T v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1) {
    auto* b = reinterpret_cast<uint8_t*>(&v);
    for (size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(b[i], b[sizeof(T) - 1 - i]);
  }
  return v;
}

template <class T>
inline void store_le(uint8_t* p, T v) {
  static_assert(std::is_trivially_copyable_v<T>);
  if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1) {
    auto* b = reinterpret_cast<uint8_t*>(&v);
    for (size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(b[i], b[sizeof(T) - 1 - i]);
  }
  std::memcpy(p, &v, sizeof v);
}

// Why a record was rejected. Cheap to return by value on the hot path.
struct DecodeError {
  enum Code : uint8_t {
    Ok,
    Truncated,      // fewer bytes than a header / the record's fixed part
    SizeMismatch,   // header size disagrees with the record's layout
    UnknownOpcode,
    WrongSender,    // e.g. a guest sending a host-only record
    BadHeader,      // reserved flags set, size not a multiple of 8 or too big
    FieldRange,     // a field above its declared max
    Rejected,       // the handler refused it (semantic validation)
  };
  Code code = Ok;
  uint16_t opcode = 0;
  const char* field = nullptr;  // static string: field or reason

  bool ok() const { return code == Ok; }
  static DecodeError truncated() { return {Truncated}; }
  static DecodeError size_mismatch() { return {SizeMismatch}; }
  static DecodeError bad_header() { return {BadHeader}; }
  static DecodeError unknown_opcode(uint16_t op) { return {UnknownOpcode, op}; }
  static DecodeError wrong_sender(uint16_t op) { return {WrongSender, op}; }
  static DecodeError range(const char* f) { return {FieldRange, 0, f}; }
  static DecodeError rejected(const char* why) { return {Rejected, 0, why}; }
  DecodeError at(uint16_t op) const { DecodeError e = *this; e.opcode = op; return e; }
  DecodeError in(const char*) const { return *this; }  // keeps the innermost field name
  std::string describe() const;  // defined in the generated commands.gen.h
};

template <class OpcodeT>
inline void store_header(uint8_t* p, OpcodeT op, size_t size) {
  store_le<uint16_t>(p, static_cast<uint16_t>(op));
  store_le<uint16_t>(p + 2, 0);
  store_le<uint32_t>(p + 4, static_cast<uint32_t>(size));
}

inline uint16_t header_opcode(const uint8_t* p) { return load_le<uint16_t>(p); }
inline uint32_t header_size(const uint8_t* p) { return load_le<uint32_t>(p + 4); }

template <class OpcodeT>
inline DecodeError check_header(const uint8_t* p, size_t size, OpcodeT op, size_t min_size) {
  if (size < min_size) return DecodeError::truncated();
  if (load_le<uint16_t>(p) != static_cast<uint16_t>(op)) return DecodeError::unknown_opcode(load_le<uint16_t>(p));
  if (load_le<uint16_t>(p + 2) != 0) return DecodeError::bad_header();
  if (header_size(p) != size || size % 8 || size > kMaxRecordSize) return DecodeError::bad_header();
  return {};
}

// A variable-length array at the end of a record. On the encode side it views
// the caller's native array; on the decode side it views the record's bytes
// and converts each element as it is read (no alignment or endian trust).
template <class T>
class TailView {
 public:
  TailView() = default;
  TailView(std::span<const T> native) : native_(native.data()), count_(native.size()) {}
  static TailView wire(const uint8_t* bytes, size_t count) {
    TailView v;
    v.wire_ = bytes;
    v.count_ = count;
    return v;
  }
  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  // Raw little-endian bytes of the tail (decode side only).
  const uint8_t* wire_bytes() const { return wire_; }
  T operator[](size_t i) const {
    if (native_) return native_[i];
    if constexpr (std::is_arithmetic_v<T>) {
      return load_le<T>(wire_ + i * sizeof(T));
    } else {
      T v{};
      decode_struct(wire_ + i * T::kWireSize, v);
      return v;
    }
  }
  // Writes the elements little-endian at p (encode side).
  void store(uint8_t* p) const {
    if constexpr (std::is_arithmetic_v<T>) {
      if constexpr (std::endian::native == std::endian::little) {
        if (native_ && count_) std::memcpy(p, native_, count_ * sizeof(T));
        else if (wire_ && count_) std::memcpy(p, wire_, count_ * sizeof(T));
      } else {
        for (size_t i = 0; i < count_; ++i) store_le<T>(p + i * sizeof(T), (*this)[i]);
      }
    }
  }

 private:
  const T* native_ = nullptr;
  const uint8_t* wire_ = nullptr;
  size_t count_ = 0;
};

template <class T>
  requires std::is_arithmetic_v<T>
inline void print_value(std::string& s, T v) {
  if constexpr (std::is_floating_point_v<T>) {
    s += std::to_string(v);
  } else {
    s += std::to_string(static_cast<std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>(v));
  }
}

inline void print_text(std::string& s, std::string_view t) {
  s += '"';
  for (char ch : t) {
    if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
      s += ch;
    } else {
      static const char hex[] = "0123456789abcdef";
      s += "\\x";
      s += hex[(static_cast<uint8_t>(ch) >> 4) & 15];
      s += hex[static_cast<uint8_t>(ch) & 15];
    }
  }
  s += '"';
}

}  // namespace xen3d::proto
