// The connection handshake (hello -> welcome | refuse), shared by all transports.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proto/commands.gen.h"
#include "proto/socket_io.h"
#include "proto/transport.h"

namespace xen3d::proto {

template <class Record>
std::vector<uint8_t> encode_record(const Record& r) {
  std::vector<uint8_t> out(wire_size(r));
  encode(out.data(), r);
  return out;
}

std::vector<uint8_t> make_hello(const ConnectRequest& req);

struct HelloDecision {
  bool accepted = false;
  std::string reason;  // why not, when !accepted
  ShmLayout layout;
  uint32_t pid = 0;
  std::string client_name;
};
HelloDecision host_read_hello(const std::vector<uint8_t>& rec, const HostPolicy& policy);
std::vector<uint8_t> make_welcome(const ShmLayout& layout, uint32_t connection_id,
                                  const std::string& renderer);
std::vector<uint8_t> make_refuse(const std::string& reason);

// Host: reads the hello of the guest connected on `sock` (within the
// handshake deadline) and refuses it on the spot if it does not qualify.
// True with `decision` accepted; false with `error` explaining why, `sock`
// closed.
bool host_read_hello_on(int sock, const HostPolicy& policy, HelloDecision& decision, std::string& error);

// Guest: understands the host's answer. False with `error` for refuse/garbage.
bool guest_read_welcome(const std::vector<uint8_t>& rec, ShmLayout& layout, SessionInfo& info,
                        std::string& error);

// Host: fresh control block in zeroed memory.
void init_control_block(uint8_t* base, const ShmLayout& layout);

}  // namespace xen3d::proto
