#include "proto/handshake.h"

#include <cerrno>
#include <new>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace xen3d::proto {

namespace {
uint32_t round_pow2_kib(uint32_t kib) {
  uint32_t v = 4;
  while (v < kib) v <<= 1;
  return v;
}
}  // namespace

std::vector<uint8_t> make_hello(const ConnectRequest& req) {
  Hello h;
  h.magic = kProtocolMagic;
  h.major = kProtocolMajor;
  h.minor = kProtocolMinor;
  h.pid = static_cast<uint32_t>(getpid());
  h.cmd_ring_kib = req.cmd_ring_kib;
  h.bulk_heap_kib = req.bulk_heap_kib;
  h.framebuffer_kib = req.framebuffer_kib;
  std::string_view name = req.client_name;
  h.client_name = name.substr(0, Hello::kMaxClientName);
  return encode_record(h);
}

HelloDecision host_read_hello(const std::vector<uint8_t>& rec, const HostPolicy& policy) {
  HelloDecision d;
  Hello h;
  if (DecodeError e = decode(rec.data(), rec.size(), h); !e.ok()) {
    d.reason = "malformed hello: " + e.describe();
    return d;
  }
  if (h.magic != kProtocolMagic) {
    d.reason = "not a Xen3D guest (bad magic)";
    return d;
  }
  if (h.major != kProtocolMajor) {
    d.reason = "protocol version " + std::to_string(h.major) + "." + std::to_string(h.minor) +
               " is not supported (host speaks " + std::to_string(kProtocolMajor) + "." +
               std::to_string(kProtocolMinor) + ")";
    return d;
  }
  auto pick = [](uint32_t asked, uint32_t def, uint32_t max) {
    uint32_t kib = asked ? asked : def;
    if (kib > max) kib = max;
    return round_pow2_kib(kib) * 1024u;
  };
  d.layout = ShmLayout::make(pick(h.cmd_ring_kib, policy.default_cmd_ring_kib, policy.max_cmd_ring_kib),
                             round_pow2_kib(policy.reply_ring_kib) * 1024u,
                             pick(h.bulk_heap_kib, policy.default_bulk_heap_kib, policy.max_bulk_heap_kib),
                             (h.framebuffer_kib + 3u) / 4u * 4096u);
  if (h.framebuffer_kib && !policy.framebuffers) {
    d.reason = "this endpoint cannot share a framebuffer (desktops need the local or xen transport)";
    return d;
  }
  d.accepted = true;
  d.pid = h.pid;
  d.client_name.assign(h.client_name);
  return d;
}

std::vector<uint8_t> make_welcome(const ShmLayout& layout, uint32_t connection_id,
                                  const std::string& renderer) {
  Welcome w;
  w.magic = kProtocolMagic;
  w.major = kProtocolMajor;
  w.minor = kProtocolMinor;
  w.connection_id = connection_id;
  w.shm_size = layout.total_size;
  w.cmd_ring_offset = layout.offset[0];
  w.cmd_ring_size = layout.size[0];
  w.reply_ring_offset = layout.offset[1];
  w.reply_ring_size = layout.size[1];
  w.bulk_heap_offset = layout.offset[2];
  w.bulk_heap_size = layout.size[2];
  w.framebuffer_offset = layout.fb_offset;
  w.framebuffer_size = layout.fb_size;
  std::string_view r = renderer;
  w.host_renderer = r.substr(0, Welcome::kMaxHostRenderer);
  return encode_record(w);
}

std::vector<uint8_t> make_refuse(const std::string& reason) {
  Refuse r;
  r.major = kProtocolMajor;
  r.minor = kProtocolMinor;
  std::string_view why = reason;
  r.reason = why.substr(0, Refuse::kMaxReason);
  return encode_record(r);
}

bool guest_read_welcome(const std::vector<uint8_t>& rec, ShmLayout& layout, SessionInfo& info,
                        std::string& error) {
  if (rec.size() >= kHeaderSize && header_opcode(rec.data()) == uint16_t(Opcode::Refuse)) {
    Refuse r;
    if (decode(rec.data(), rec.size(), r).ok()) {
      error = "the compositor refused the connection: " + std::string(r.reason);
    } else {
      error = "the compositor refused the connection (unreadable reason)";
    }
    return false;
  }
  Welcome w;
  if (DecodeError e = decode(rec.data(), rec.size(), w); !e.ok()) {
    error = "malformed welcome from the compositor: " + e.describe();
    return false;
  }
  if (w.magic != kProtocolMagic || w.major != kProtocolMajor) {
    error = "the compositor speaks protocol " + std::to_string(w.major) + "." + std::to_string(w.minor) +
            ", this guest driver " + std::to_string(kProtocolMajor) + "." + std::to_string(kProtocolMinor);
    return false;
  }
  layout.total_size = w.shm_size;
  layout.offset[0] = w.cmd_ring_offset;
  layout.size[0] = w.cmd_ring_size;
  layout.offset[1] = w.reply_ring_offset;
  layout.size[1] = w.reply_ring_size;
  layout.offset[2] = w.bulk_heap_offset;
  layout.size[2] = w.bulk_heap_size;
  layout.fb_offset = w.framebuffer_offset;
  layout.fb_size = w.framebuffer_size;
  if (!layout.valid()) {
    error = "the compositor sent an inconsistent shared-memory layout";
    return false;
  }
  info.connection_id = w.connection_id;
  info.host_renderer.assign(w.host_renderer);
  info.host_minor = w.minor;
  return true;
}

bool host_read_hello_on(int sock, const HostPolicy& policy, HelloDecision& decision, std::string& error) {
  error.clear();
  Deadline dl = Deadline::in(policy.handshake_timeout_ms);
  std::vector<uint8_t> rec;
  if (!recv_record(sock, rec, kMaxRecordSize, nullptr, dl, error)) {
    error = "handshake: " + error;
    ::close(sock);
    return false;
  }
  decision = host_read_hello(rec, policy);
  if (!decision.accepted) {
    send_record(sock, make_refuse(decision.reason), nullptr, 0, dl);
    error = "refused a guest: " + decision.reason;
    ::close(sock);
    return false;
  }
  return true;
}

void init_control_block(uint8_t* base, const ShmLayout& layout) {
  (void)layout;
  auto* cb = new (base) ControlBlock{};
  cb->magic = kShmMagic;
  cb->version = kProtocolMajor;
}

}  // namespace xen3d::proto
