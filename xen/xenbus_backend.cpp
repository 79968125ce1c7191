#include "xen/xenbus_backend.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <vector>

#include "common/log.h"
#include "xen/xenstore_value.h"

namespace xen3d::xen {

XenbusBackend::~XenbusBackend() { stop(); }

bool XenbusBackend::serve(std::string& error) {
  x_ = open_xen(error);
  if (!x_) return false;
  xs_ = x_->open_store(error);
  if (!xs_) return false;
  evtchn_ = x_->open_event_channels(error);
  if (!evtchn_) return false;
  std::unique_ptr<GrantMapper> m = x_->open_mapper(error);
  if (!m) return false;
  mapper_ = std::move(m);
  if (!xs_->watch(root_, type_) || !xs_->watch("@releaseDomain", "@release")) {
    error = "cannot watch " + root_ + " (" + std::strerror(errno) + "): the compositor must run in dom0";
    return false;
  }
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0 || wake_fd_ < 0) {
    error = std::string("eventfd: ") + std::strerror(errno);
    return false;
  }
  thread_ = std::thread([this] { run(); });
  return true;
}

void XenbusBackend::stop() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
    thread_.join();
  }
  for (auto& [key, d] : devices_) close(*d, Closed);
  devices_.clear();
  for (int* fd : {&stop_fd_, &wake_fd_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

void XenbusBackend::wake() {
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

void XenbusBackend::run() {
  using Clock = std::chrono::steady_clock;
  const auto period = tick_period();
  auto next_tick = Clock::now() + period;
  scan_backends();
  for (;;) {
    int wait_ms = -1;
    if (period.count() > 0) {
      const auto now = Clock::now();
      if (now >= next_tick) {
        tick();
        next_tick = now + period;
      }
      wait_ms = std::max<int>(
          0, static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(next_tick - Clock::now()).count()));
    }
    pollfd fds[4] = {
        {xs_->fileno(), POLLIN, 0}, {evtchn_->fd(), POLLIN, 0}, {stop_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    ::poll(fds, 4, wait_ms);
    if (fds[2].revents) return;
    if (fds[3].revents & POLLIN) {
      uint64_t n;
      (void)!::read(wake_fd_, &n, sizeof n);
      woken();
    }
    if (fds[1].revents & POLLIN) drain_events();  // before xenstore: a device going away is still drained
    drain_watches();
  }
}

void XenbusBackend::drain_watches() {
  std::string path, token;
  bool rescan = false, released = false;
  std::set<Key> touched;
  while (xs_->read_watch(path, token)) {
    if (token == type_) {
      rescan = true;
    } else if (token == "@release") {
      released = true;
    } else if (token.rfind("fe:", 0) == 0) {
      unsigned dom = 0, dev = 0;
      if (std::sscanf(token.c_str(), "fe:%u:%u", &dom, &dev) == 2) touched.insert({DomId(dom), dev});
    }
  }
  if (released) forget_dead_domains();
  if (rescan) scan_backends();
  for (const Key& k : touched) {
    auto it = devices_.find(k);
    if (it != devices_.end()) frontend_changed(*it->second);
  }
}

void XenbusBackend::drain_events() {
  for (;;) {
    // xenevtchn_pending() blocks when nothing is pending: poll first.
    pollfd p{evtchn_->fd(), POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) return;
    const int port = evtchn_->pending();
    if (port < 0) return;
    evtchn_->unmask(static_cast<Port>(port));
    event(static_cast<Port>(port));
  }
}

std::string XenbusBackend::fe_token(const XenbusDevice& d) const {
  return "fe:" + std::to_string(d.domid) + ":" + std::to_string(d.devid);
}

void XenbusBackend::scan_backends() {
  std::set<Key> present;
  std::vector<std::string> doms;
  if (xs_->directory(root_, doms)) {
    for (const auto& ds : doms) {
      uint32_t dom = 0;
      if (!parse_xs_u32(ds, dom) || dom == 0 || dom > 0x7FEF) continue;
      std::vector<std::string> devs;
      if (!xs_->directory(root_ + "/" + ds, devs)) continue;
      for (const auto& vs : devs) {
        uint32_t dev = 0;
        if (parse_xs_u32(vs, dev)) present.insert({DomId(dom), dev});
      }
    }
  }
  for (auto it = devices_.begin(); it != devices_.end();) {
    if (present.count(it->first)) {
      ++it;
      continue;
    }
    XLOG_INFO("%s: the toolstack removed the device", it->second->label.c_str());
    remove(*it->second);
    it = devices_.erase(it);
  }
  for (const Key& k : present) {
    if (auto it = devices_.find(k); it != devices_.end()) {
      toolstack_changed(*it->second);
      continue;
    }
    std::unique_ptr<XenbusDevice> d = make_device();
    d->domid = k.first;
    d->devid = k.second;
    d->be = root_ + "/" + std::to_string(k.first) + "/" + std::to_string(k.second);
    d->fe = "/local/domain/" + std::to_string(k.first) + "/device/" + frontend_type_ + "/" + std::to_string(k.second);
    d->label = what_ + " dom" + std::to_string(k.first) + "/" + std::to_string(k.second);
    std::string fe_path, state;
    // The toolstack writes `state` last: until then the device is half made
    // (and our InitWait could be overwritten by its Initialising).
    if (!xs_->read(d->be + "/state", state) || !xs_->read(d->be + "/frontend", fe_path)) continue;
    // The backend directory is the toolstack's (dom0's), but the frontend
    // path in it must be the one this device has, or we would read some
    // other domain's nodes.
    if (fe_path != d->fe) {
      XLOG_WARN("%s: backend node 'frontend' is '%s', expected '%s': device ignored", d->label.c_str(),
                fe_path.c_str(), d->fe.c_str());
      d->state = Closed;
      devices_[k] = std::move(d);  // remembered, never served
      continue;
    }
    found(*d);
    set_state(*d, InitWait);
    xs_->watch(d->fe + "/state", fe_token(*d));  // fires once now
    XLOG_INFO("%s: new device, waiting for the guest's frontend", d->label.c_str());
    devices_[k] = std::move(d);
  }
}

// libxl detaches a device by writing online=0 and state=Closing in the
// backend directory, then waits for our Closed.
void XenbusBackend::toolstack_changed(XenbusDevice& d) {
  std::string online, state;
  if (!xs_->read(d.be + "/online", online) || online != "0") return;
  if (d.state != Closed) {
    XLOG_INFO("%s: the toolstack is detaching the device", d.label.c_str());
    close(d, Closed);
  } else if (xs_->read(d.be + "/state", state) && state != std::to_string(Closed)) {
    set_state(d, Closed);  // its Closing landed on our Closed (the guest left first)
  }
}

void XenbusBackend::forget_dead_domains() {
  std::vector<DomainInfo> list;
  std::string error;
  if (!x_->list_domains(list, error)) return;
  std::set<DomId> live;
  for (const auto& d : list)
    if (!d.dying) live.insert(d.domid);
  for (auto it = devices_.begin(); it != devices_.end();) {
    if (live.count(it->first.first)) {
      ++it;
      continue;
    }
    XLOG_INFO("%s: the domain was destroyed", it->second->label.c_str());
    remove(*it->second);
    it = devices_.erase(it);
  }
}

void XenbusBackend::remove(XenbusDevice& d) {
  close(d, Closed);
  xs_->unwatch(d.fe + "/state", fe_token(d));
}

void XenbusBackend::set_state(XenbusDevice& d, int s) {
  d.state = s;
  std::string current;
  if (xs_->read(d.be + "/state", current)) xs_->write(d.be + "/state", std::to_string(s));
}

void XenbusBackend::close(XenbusDevice& d, int state) {
  disconnect(d);
  set_state(d, state);
}

void XenbusBackend::cut_off(XenbusDevice& d) {
  close(d, Closing);
  set_state(d, Closed);
}

bool XenbusBackend::read_u32(const std::string& path, uint32_t& v) {
  std::string s;
  return xs_->read(path, s) && parse_xs_u32(s, v);
}

// The XenBus dance, as Linux's frontends do it: they act on our InitWait
// only from Initialising, and after a backend Closed they tear their device
// down and come back as Initialising.
void XenbusBackend::frontend_changed(XenbusDevice& d) {
  std::string v;
  uint32_t fs = 0;
  if (!xs_->read(d.fe + "/state", v) || !parse_xs_u32(v, fs)) fs = Closed;  // gone or garbage: closed
  if (fs == Initialising) {
    if (d.state == Connected) XLOG_INFO("%s: the guest reset the device", d.label.c_str());
    if (d.state != InitWait) {
      close(d, Closed);
      set_state(d, InitWait);
    }
    return;
  }
  if ((fs == Initialised || fs == Connected) && d.state == InitWait) {
    std::string why;
    if (connect(d, why)) {
      set_state(d, Connected);
    } else {
      XLOG_WARN("%s: cannot connect: %s", d.label.c_str(), why.c_str());
      xs_->write(d.be + "/error", why);
      cut_off(d);
    }
    return;
  }
  if ((fs == Closing || fs == Closed) && d.state != Closed) {
    if (d.state == Connected) XLOG_INFO("%s: the guest closed the device", d.label.c_str());
    close(d, Closed);
  }
}

}  // namespace xen3d::xen
