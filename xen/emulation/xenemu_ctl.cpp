// xenemu-ctl: the toolstack of the xenemu EMULATION of Xen (what `xl create`
// and `xl destroy` do to xenstore and the domain list), for tests and demos.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "xen/emulation/xenemu_protocol.h"

using namespace xen3d::xen::xenemu;

namespace {

void usage(FILE* f) {
  fprintf(f,
          "usage: xenemu-ctl SOCKET create DOMID NAME | destroy DOMID | list\n"
          "Controls xenemu-broker, an EMULATION of a Xen host:\n"
          "  create DOMID NAME  introduce a domain (/local/domain/DOMID, @introduceDomain)\n"
          "  destroy DOMID      destroy it: its connections are cut without unmap\n"
          "                     notifications, /local/domain/DOMID goes, @releaseDomain fires\n"
          "  list               the live domains: DOMID NAME per line\n");
}

bool parse_domid(const char* s, uint16_t& out) {
  char* end = nullptr;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || !*s || *end || v > 0xFFFF) return false;
  out = static_cast<uint16_t>(v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; i++)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      usage(stdout);
      return 0;
    }
  if (argc < 3) {
    usage(stderr);
    return 2;
  }
  std::string cmd = argv[2];
  Writer w;
  Op op;
  uint16_t domid = 0;
  if (cmd == "create" && argc == 5 && parse_domid(argv[3], domid)) {
    op = Op::CtlCreate;
    w.u16(domid).str(argv[4]);
  } else if (cmd == "destroy" && argc == 4 && parse_domid(argv[3], domid)) {
    op = Op::CtlDestroy;
    w.u16(domid);
  } else if (cmd == "list" && argc == 3) {
    op = Op::ListDomains;
  } else {
    fprintf(stderr, "xenemu-ctl: bad command line\n");
    usage(stderr);
    return 2;
  }
  std::string error;
  uint32_t limit;
  int evfd;
  int s = connect_broker(argv[1], 0, Kind::Control, limit, evfd, error);
  if (s < 0) {
    fprintf(stderr, "xenemu-ctl: %s\n", error.c_str());
    return 1;
  }
  Message m;
  int rc = send_message(s, static_cast<uint16_t>(op), 0, w.bytes()) < 0 ? -1 : recv_message(s, m);
  if (rc <= 0 || m.hdr.op != (static_cast<uint16_t>(op) | kReplyBit)) {
    fprintf(stderr, "xenemu-ctl: no reply from the broker: %s\n", rc == 0 ? "connection closed" : strerror(errno));
    return 1;
  }
  if (m.hdr.status != 0) {
    fprintf(stderr, "xenemu-ctl: %s %s: %s\n", cmd.c_str(), argc > 3 ? argv[3] : "", strerror(m.hdr.status));
    return 1;
  }
  if (op == Op::ListDomains) {
    Reader r = m.reader();
    uint32_t n = r.u32();
    for (uint32_t i = 0; i < n && r.ok(); i++) {
      uint16_t d = r.u16();
      r.u8();
      std::string name = r.str(kMaxPayload);
      if (r.ok()) printf("%u %s\n", d, name.c_str());
    }
    if (!r.done()) {
      fprintf(stderr, "xenemu-ctl: malformed domain list\n");
      return 1;
    }
  }
  m.close_fds();
  close(evfd);
  close(s);
  return 0;
}
