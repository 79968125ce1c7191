// xen-pv-keyboard-guest: a test toolstack and guest for Xen's PV keyboard
// protocol (kbdif, xen/io/kbdif.h), to drive the compositor's vkbd backend
// (xen/vkbd_backend.cpp) under real Xen or the xenemu EMULATION
// (XEN3D_XENEMU=broker.sock, XEN3D_XENEMU_DOMID=D).
//
//   toolstack-add DOMID DEVID [--width W --height H]   (dom0)
//       the xenstore nodes of one vkbd device as libxl writes them for
//       vkb = [ "backend-type=linux,feature-abs-pointer=1,width=W,height=H" ]
//   front DEVID [--timeout SEC] [--no-abs] [--attack cons|stall]   (the guest)
//       what Linux's xen-kbdfront does: one granted page, an event channel,
//       request-abs-pointer, the XenBus handshake; then it prints every
//       event the backend writes ("key CODE down|up", "pos X Y Z",
//       "motion X Y Z") and consumes it. --attack cons: after the first
//       event, claims to have consumed far more than was produced;
//       --attack stall: never consumes. Ends at --timeout (default 60 s) or
//       on SIGTERM, closing the device as xen-kbdfront does, or when the
//       backend closes it ("closed").
#include <poll.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <xen/io/kbdif.h>

#include "xen/xen_api.h"
#include "xen/xenstore_value.h"

namespace {

using namespace xen3d::xen;
using Clock = std::chrono::steady_clock;

enum : int { Initialising = 1, InitWait = 2, Initialised = 3, Connected = 4, Closing = 5, Closed = 6 };

volatile sig_atomic_t g_stop = 0;

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "pv-keyboard-guest: %s\n", why.c_str());
  std::exit(1);
}

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

int state_of(XenStore& xs, const std::string& path) {
  std::string v;
  uint32_t s = 0;
  return xs.read(path, v) && parse_xs_u32(v, s) ? static_cast<int>(s) : -1;
}

void must_write(XenStore& xs, const std::string& path, const std::string& value,
                const std::vector<XsPerm>* perms = nullptr) {
  if (!xs.write(path, value)) die("cannot write " + path + ": " + std::strerror(errno));
  if (perms && !xs.set_permissions(path, *perms)) die("cannot set the permissions of " + path);
}

std::string fe_path(DomId dom, uint32_t dev) {
  return "/local/domain/" + std::to_string(dom) + "/device/vkbd/" + std::to_string(dev);
}
// libxl's path for backend-type=linux (libxl__device_from_vkb: LIBXL__DEVICE_KIND_VINPUT).
std::string be_path(DomId dom, uint32_t dev) {
  return "/local/domain/0/backend/vinput/" + std::to_string(dom) + "/" + std::to_string(dev);
}

std::unique_ptr<XenPlatform> g_x;
XenPlatform& platform() {
  std::string error;
  if (!g_x && !(g_x = open_xen(error))) die("cannot open Xen: " + error);
  return *g_x;
}
std::unique_ptr<XenStore> store() {
  std::string error;
  auto xs = platform().open_store(error);
  if (!xs) die("cannot open xenstore: " + error);
  return xs;
}

uint32_t number(const char* s, const char* what) {
  uint32_t v = 0;
  if (!s || !parse_xs_u32(s, v)) die(std::string(what) + ": not a number");
  return v;
}

int toolstack_add(int argc, char** argv) {
  if (argc < 2) die("usage: toolstack-add DOMID DEVID [--width W --height H]");
  const DomId dom = static_cast<DomId>(number(argv[0], "DOMID"));
  const uint32_t dev = number(argv[1], "DEVID");
  std::string width, height;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--width")) width = std::to_string(number(argv[i + 1], "--width"));
    else if (!std::strcmp(argv[i], "--height")) height = std::to_string(number(argv[i + 1], "--height"));
    else die(std::string("unknown option ") + argv[i]);
  }
  auto xs = store();
  const std::string fe = fe_path(dom, dev), be = be_path(dom, dev), d = std::to_string(dom);
  // libxl__device_generic_add's permissions: the guest owns its frontend
  // directory, dom0 the backend's (which the guest may read).
  const std::vector<XsPerm> fe_perms = {{dom, XsPerm::None}, {kDom0, XsPerm::Read}};
  const std::vector<XsPerm> be_perms = {{kDom0, XsPerm::None}, {dom, XsPerm::Read}};
  must_write(*xs, fe, "", &fe_perms);
  must_write(*xs, fe + "/backend", be, &fe_perms);
  must_write(*xs, fe + "/backend-id", "0", &fe_perms);
  must_write(*xs, be, "", &be_perms);
  must_write(*xs, be + "/frontend-id", d, &be_perms);
  must_write(*xs, be + "/online", "1", &be_perms);
  must_write(*xs, be + "/" XENKBD_FIELD_FEAT_ABS_POINTER, "1", &be_perms);
  if (!width.empty()) must_write(*xs, be + "/" XENKBD_FIELD_WIDTH, width, &be_perms);
  if (!height.empty()) must_write(*xs, be + "/" XENKBD_FIELD_HEIGHT, height, &be_perms);
  // The state nodes last: a backend starts on its `state`.
  must_write(*xs, fe + "/state", std::to_string(Initialising), &fe_perms);
  must_write(*xs, be + "/frontend", fe, &be_perms);
  must_write(*xs, be + "/state", std::to_string(Initialising), &be_perms);
  say("added vkbd device " + std::to_string(dev) + " to domain " + d);
  return 0;
}

std::string describe(const xenkbd_in_event& e) {
  char line[96];
  switch (e.type) {
    case XENKBD_TYPE_KEY:
      std::snprintf(line, sizeof line, "key %u %s", e.key.keycode, e.key.pressed ? "down" : "up");
      break;
    case XENKBD_TYPE_POS:
      std::snprintf(line, sizeof line, "pos %d %d %d", e.pos.abs_x, e.pos.abs_y, e.pos.rel_z);
      break;
    case XENKBD_TYPE_MOTION:
      std::snprintf(line, sizeof line, "motion %d %d %d", e.motion.rel_x, e.motion.rel_y, e.motion.rel_z);
      break;
    default: std::snprintf(line, sizeof line, "event type %u", e.type); break;
  }
  return line;
}

int front(int argc, char** argv) {
  if (argc < 1) die("usage: front DEVID [--timeout SEC] [--no-abs] [--attack cons|stall]");
  const uint32_t dev = number(argv[0], "DEVID");
  double timeout = 60;
  bool abs = true;
  std::string attack;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--timeout") && i + 1 < argc) timeout = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--no-abs")) abs = false;
    else if (!std::strcmp(argv[i], "--attack") && i + 1 < argc) attack = argv[++i];
    else die(std::string("unknown option ") + argv[i]);
  }
  auto xs = store();
  std::string domid;
  if (!xs->read("domid", domid)) die("cannot read my domid");
  const DomId dom = static_cast<DomId>(number(domid.c_str(), "domid"));
  const std::string fe = fe_path(dom, dev), be = be_path(dom, dev);
  std::string error;
  auto sharer = platform().open_sharer(error);
  auto ev = sharer ? platform().open_event_channels(error) : nullptr;
  if (!ev) die("cannot open grants or event channels: " + error);

  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout);
  auto wait_backend = [&](std::vector<int> wanted) {
    for (;;) {
      const int s = state_of(*xs, be + "/state");
      for (int w : wanted)
        if (s == w) return s;
      if (Clock::now() > deadline || g_stop) die("timed out waiting for the backend (state " + std::to_string(s) + ")");
      ::poll(nullptr, 0, 20);
    }
  };
  wait_backend({InitWait});
  GrantRef ref = 0;
  auto* page = static_cast<xenkbd_page*>(sharer->share_pages(kDom0, 1, &ref, true));
  if (!page) die("cannot share a page");
  std::memset(page, 0, kPageSize);
  const int port = ev->bind_unbound_port(kDom0);
  if (port < 0) die("cannot allocate an event channel");
  must_write(*xs, fe + "/" XENKBD_FIELD_RING_GREF, std::to_string(ref));
  must_write(*xs, fe + "/" XENKBD_FIELD_EVT_CHANNEL, std::to_string(port));
  if (abs) must_write(*xs, fe + "/" XENKBD_FIELD_REQ_ABS_POINTER, "1");
  must_write(*xs, fe + "/state", std::to_string(Initialised));
  wait_backend({Connected});
  must_write(*xs, fe + "/state", std::to_string(Connected));
  say("connected");

  bool attacked = false;
  while (!g_stop && Clock::now() < deadline) {
    pollfd p{ev->fd(), POLLIN, 0};
    ::poll(&p, 1, 50);
    if (p.revents & POLLIN) {
      const int fired = ev->pending();
      if (fired >= 0) ev->unmask(static_cast<Port>(fired));
    }
    const int bs = state_of(*xs, be + "/state");
    if (bs != Connected) {
      say("closed (backend state " + std::to_string(bs) + ")");
      return 0;
    }
    if (attack == "stall" || attacked) continue;  // an attacker only waits to be cut off
    const uint32_t prod = __atomic_load_n(&page->in_prod, __ATOMIC_ACQUIRE);
    uint32_t cons = page->in_cons;
    for (; cons != prod; ++cons) {
      xenkbd_in_event e;
      std::memcpy(&e, &XENKBD_IN_RING_REF(page, cons), sizeof e);
      say(describe(e));
    }
    __atomic_store_n(&page->in_cons, cons, __ATOMIC_RELEASE);
    if (attack == "cons" && cons && !attacked) {
      __atomic_store_n(&page->in_cons, cons + 1000, __ATOMIC_RELEASE);  // more than was ever produced
      attacked = true;
      say("attacked: in_cons moved 1000 past in_prod");
    }
  }
  // As xen-kbdfront does when it goes (module unload, shutdown): Closing, then Closed.
  must_write(*xs, fe + "/state", std::to_string(Closing));
  must_write(*xs, fe + "/state", std::to_string(Closed));
  say(g_stop ? "stopped: closed the device" : "timeout: closed the device");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGTERM, [](int) { g_stop = 1; });
  signal(SIGINT, [](int) { g_stop = 1; });
  if (argc >= 2 && !std::strcmp(argv[1], "toolstack-add")) return toolstack_add(argc - 2, argv + 2);
  if (argc >= 2 && !std::strcmp(argv[1], "front")) return front(argc - 2, argv + 2);
  std::fprintf(stderr,
               "usage: xen-pv-keyboard-guest toolstack-add DOMID DEVID [--width W --height H]   (as dom0)\n"
               "       xen-pv-keyboard-guest front DEVID [--timeout SEC] [--no-abs] [--attack cons|stall]\n");
  return 2;
}
