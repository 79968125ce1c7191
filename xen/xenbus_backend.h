// The backend end of XenBus for one device type, shared by the compositor's
// PV device backends (displif_backend.cpp, vkbd_backend.cpp): it finds the
// devices the toolstack made with this domain as their backend
// (/local/domain/0/backend/TYPE/DOMID/DEVID), checks that each names its own
// frontend, runs the state handshake with the guest's frontend driver, and
// tells the device type when to connect (map the guest's pages, bind its
// event channels) and when to let go: the guest closed or reset the device,
// the toolstack detached it, or the domain died.
//
// Everything the guest writes is hostile: its state node, its rings. A
// device type that finds one broken cuts that device off (cut_off: Closing,
// then Closed), which touches no other device or domain. One thread serves
// every device of the type.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "xen/xen_api.h"

namespace xen3d::xen {

// XenBus states (xen/io/xenbus.h).
enum XenbusState : int { Initialising = 1, InitWait = 2, Initialised = 3, Connected = 4, Closing = 5, Closed = 6 };

// One device: what XenBus knows of it. Device types derive their own.
struct XenbusDevice {
  virtual ~XenbusDevice() = default;
  DomId domid = 0;
  uint32_t devid = 0;
  std::string be, fe;        // xenstore directories
  int state = Initialising;  // ours
  std::string label;         // "pv display dom5/0", for logs
};

class XenbusBackend {
 public:
  virtual ~XenbusBackend();
  XenbusBackend(const XenbusBackend&) = delete;
  XenbusBackend& operator=(const XenbusBackend&) = delete;

 protected:
  // type: the device type in the backend's directory ("vdispl"), and
  // frontend_type in the guest's (libxl files a vkb whose backend-type is
  // linux under backend/vinput, its frontend under device/vkbd); what: how
  // logs name a device ("pv display").
  XenbusBackend(std::string type, std::string frontend_type, std::string what)
      : type_(std::move(type)), frontend_type_(std::move(frontend_type)), what_(std::move(what)) {}

  // Opens Xen (store, event channels, grant mapper), watches the backend
  // directory and starts serving. False with `error` when Xen is not reachable.
  bool serve(std::string& error);
  // Stops the thread and disconnects every device: the derived destructor
  // calls it first, while its own members still live.
  void stop();

  // ---- the device type, on the backend thread ----
  virtual std::unique_ptr<XenbusDevice> make_device() = 0;
  // A new device, before the backend announces InitWait: write its features.
  virtual void found(XenbusDevice& d) { (void)d; }
  // The frontend is Initialised (or Connected): map and bind what it
  // published. False with `why`: the device is cut off (and `why` written
  // to its backend `error` node).
  virtual bool connect(XenbusDevice& d, std::string& why) = 0;
  // Let go of everything connect() took (also after a failed connect).
  virtual void disconnect(XenbusDevice& d) = 0;
  // An event channel of ours fired (a hint: look at the rings it serves).
  virtual void event(Port port) = 0;
  // Called every tick_period() when that is not zero.
  virtual std::chrono::milliseconds tick_period() const { return std::chrono::milliseconds(0); }
  virtual void tick() {}
  // Another thread called wake().
  virtual void woken() {}

  // ---- for the device type ----
  XenStore& store() { return *xs_; }
  EventChannels& event_channels() { return *evtchn_; }
  const std::shared_ptr<GrantMapper>& mapper() const { return mapper_; }
  std::map<std::pair<DomId, uint32_t>, std::unique_ptr<XenbusDevice>>& devices() { return devices_; }
  bool read_u32(const std::string& path, uint32_t& v);
  // Written only while the toolstack's node exists: writing it after the
  // toolstack removed the device would bring the directory back.
  void set_state(XenbusDevice& d, int state);
  // The guest broke something: Closing, then Closed; the frontend drops what
  // it has and may start over.
  void cut_off(XenbusDevice& d);
  // Any thread: woken() runs on the backend thread soon.
  void wake();

 private:
  using Key = std::pair<DomId, uint32_t>;
  void run();
  void drain_watches();
  void drain_events();
  void scan_backends();
  void toolstack_changed(XenbusDevice& d);
  void forget_dead_domains();
  void remove(XenbusDevice& d);
  void frontend_changed(XenbusDevice& d);
  void close(XenbusDevice& d, int state);
  std::string fe_token(const XenbusDevice& d) const;

  const std::string type_, frontend_type_, what_;
  const std::string root_ = "/local/domain/0/backend/" + type_;
  std::unique_ptr<XenPlatform> x_;
  std::unique_ptr<XenStore> xs_;
  std::unique_ptr<EventChannels> evtchn_;
  std::shared_ptr<GrantMapper> mapper_;
  std::map<Key, std::unique_ptr<XenbusDevice>> devices_;
  int stop_fd_ = -1, wake_fd_ = -1;
  std::thread thread_;
};

}  // namespace xen3d::xen
