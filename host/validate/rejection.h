// Why the executor refused a guest record, as text the guest and the log can
// read ("transfer_write: box x=0 width=100 exceeds level 2 width 64 of
// resource #5").
//
// proto::DecodeError carries its reason as a `const char*` that must outlive
// the handler's return (GuestConnection formats it right after dispatch
// returns). Each connection therefore owns one Rejection whose buffer holds the
// latest message; a handler returns `reject("...", ...)` and the pointer stays
// valid until the next rejection on the same connection, which can only happen
// after the connection has been poisoned and the message sent.
#pragma once

#include <cstdarg>
#include <cstdio>
#include <string>

#include "proto/commands.gen.h"

namespace xen3d::host {

// printf into a std::string (validators build their messages with it).
inline std::string format_message(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
inline std::string format_message(const char* fmt, ...) {
  char buf[320];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

// Where a guest id came from, for the message when it names nothing usable:
// a field ("draw index_buffer") or one element of an array field
// ("set_sampler_views ids[3]"). Ids are looked up on every draw, so the text
// is only built when a message needs it.
class IdRole {
 public:
  IdRole(const char* text) : text_(text ? text : "") {}  // NOLINT(google-explicit-constructor): every field name is one
  IdRole(const char* record, const char* field, unsigned index) : text_(record), field_(field), index_(index) {}
  std::string str() const { return field_ ? format_message("%s %s[%u]", text_, field_, index_) : text_; }

 private:
  const char* text_;
  const char* field_ = nullptr;
  unsigned index_ = 0;
};

class Rejection {
 public:
  // printf-style; the message is capped well below context_lost's 1024-byte text limit.
  proto::DecodeError operator()(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    char buf[kMaxMessage];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);  // into a local first: arguments may point into text_
    va_end(ap);
    text_ = buf;
    return proto::DecodeError::rejected(text_.c_str());
  }

  // The last message (empty before the first rejection).
  const std::string& text() const { return text_; }

 private:
  static constexpr size_t kMaxMessage = 768;
  std::string text_;
};

}  // namespace xen3d::host
