// vkbd backend: the XenBus handshake (xenbus_backend.h), the guest's event
// page mapped writable, and events written into its in-ring from whichever
// thread the compositor's input comes on (an output's), under the device's
// own lock. The backend thread only connects, disconnects and cuts off.
#include "xen/vkbd_backend.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include <xen/io/kbdif.h>

#include "common/log.h"
#include "xen/xenbus_backend.h"

namespace xen3d::xen {
namespace {

// What xen-kbdfront uses when the toolstack gave no width/height (its
// ptr_size module parameter: XENFB_WIDTH x XENFB_HEIGHT).
constexpr uint32_t kDefaultWidth = 800, kDefaultHeight = 600;
constexpr uint32_t kMaxDimension = 1u << 16;
constexpr int kMaxWheelNotches = 16;

// One connected device's page: written by any thread, torn down by the
// backend's. Outlives the device (the compositor may still hold it).
class Channel final : public PvKeyboard {
 public:
  Channel(std::string label, EventChannels& evtchn, void* page, Port port, bool absolute, uint32_t width,
          uint32_t height, std::function<void()> broke)
      : label_(std::move(label)), evtchn_(evtchn), page_(static_cast<xenkbd_page*>(page)), port_(port),
        absolute_(absolute), width_(width), height_(height), broke_(std::move(broke)) {
    // Start where the guest is: a frontend reconnecting may have consumed events already.
    prod_ = __atomic_load_n(&page_->in_cons, __ATOMIC_ACQUIRE);
    __atomic_store_n(&page_->in_prod, prod_, __ATOMIC_RELEASE);
  }

  void key(uint16_t code, bool down) override {
    xenkbd_in_event e{};
    e.key.type = XENKBD_TYPE_KEY;
    e.key.pressed = down ? 1 : 0;
    e.key.keycode = code;
    put(e);
  }

  void pointer(int32_t x, int32_t y, uint32_t width, uint32_t height) override {
    if (!absolute_ || !width || !height) return;
    xenkbd_in_event e{};
    e.pos.type = XENKBD_TYPE_POS;
    e.pos.abs_x = scale(x, width, width_);
    e.pos.abs_y = scale(y, height, height_);
    put(e);
  }

  void wheel(int32_t vertical, int32_t horizontal) override {
    (void)horizontal;  // kbdif has no horizontal wheel
    if (!vertical) return;
    if (absolute_) {
      // xen-kbdfront reports -rel_z as REL_WHEEL (+ is up); a position event
      // carries the wheel, at the last position.
      xenkbd_in_event e{};
      e.pos.type = XENKBD_TYPE_POS;
      e.pos.abs_x = last_x_, e.pos.abs_y = last_y_;
      e.pos.rel_z = -std::clamp(vertical, -kMaxWheelNotches, kMaxWheelNotches);
      put(e);
    } else {
      xenkbd_in_event e{};
      e.motion.type = XENKBD_TYPE_MOTION;
      e.motion.rel_z = -std::clamp(vertical, -kMaxWheelNotches, kMaxWheelNotches);
      put(e);
    }
  }

  // Backend thread: the device goes; later events are dropped.
  void detach() {
    std::lock_guard lock(mutex_);
    page_ = nullptr;
  }

  bool broken() const { return broken_.load(std::memory_order_acquire); }

 private:
  // Pixel x of a `pixels`-wide desktop, as a position in [0, range] that
  // the guest's input stack maps back onto pixel x: the pixel's centre.
  static int32_t scale(int32_t x, uint32_t pixels, uint32_t range) {
    const int64_t clamped = std::clamp<int64_t>(x, 0, int64_t(pixels) - 1);
    return static_cast<int32_t>(((2 * clamped + 1) * (int64_t(range) + 1)) / (2 * int64_t(pixels)));
  }

  void put(const xenkbd_in_event& e) {
    std::lock_guard lock(mutex_);
    if (!page_ || broken()) return;
    if (e.type == XENKBD_TYPE_POS) last_x_ = e.pos.abs_x, last_y_ = e.pos.abs_y;
    // The guest's index, read once: it may change it under us.
    const uint32_t cons = __atomic_load_n(&page_->in_cons, __ATOMIC_ACQUIRE);
    const uint32_t queued = prod_ - cons;
    if (queued > XENKBD_IN_RING_LEN) {
      XLOG_WARN("%s: the guest broke its event ring (consumed %u of %u produced): device cut off", label_.c_str(),
                cons, prod_);
      broken_.store(true, std::memory_order_release);
      broke_();
      return;
    }
    if (queued == XENKBD_IN_RING_LEN) {
      if (dropped_++ == 0) XLOG_INFO("%s: the guest reads no input; dropping events until it does", label_.c_str());
      return;
    }
    if (dropped_) {
      XLOG_INFO("%s: the guest reads input again (%llu events dropped)", label_.c_str(),
                static_cast<unsigned long long>(dropped_));
      dropped_ = 0;
    }
    std::memcpy(&XENKBD_IN_RING_REF(page_, prod_), &e, sizeof e);
    __atomic_store_n(&page_->in_prod, ++prod_, __ATOMIC_RELEASE);
    evtchn_.notify(port_);
  }

  const std::string label_;
  EventChannels& evtchn_;
  std::mutex mutex_;
  xenkbd_page* page_;  // mutex_; nullptr once detached
  const Port port_;
  const bool absolute_;
  const uint32_t width_, height_;  // the device's absolute range, [0, width] x [0, height]
  const std::function<void()> broke_;
  uint32_t prod_ = 0;              // mutex_: ours, never read back from the page
  int32_t last_x_ = 0, last_y_ = 0;  // mutex_
  uint64_t dropped_ = 0;           // mutex_
  std::atomic<bool> broken_ = false;
};

struct Device : XenbusDevice {
  void* page = nullptr;
  Port port = 0;
  bool bound = false;
  std::shared_ptr<Channel> channel;
  PvKeyboardConfig config;
};

class Backend final : public VkbdBackend, public XenbusBackend {
 public:
  // libxl files a vkb with backend-type=linux as backend/vinput (vkbd is QEMU's).
  explicit Backend(PvKeyboardAttach attach)
      : XenbusBackend("vinput", "vkbd", "pv keyboard"), attach_(std::move(attach)) {}
  ~Backend() override { stop(); }

  bool open(std::string& error) { return serve(error); }

 private:
  std::unique_ptr<XenbusDevice> make_device() override { return std::make_unique<Device>(); }

  // What we offer, where the toolstack said nothing (frontends that probe
  // later than libxl's transaction see it; Linux's reads it at probe).
  void found(XenbusDevice& d) override {
    std::string v;
    if (!store().read(d.be + "/" XENKBD_FIELD_FEAT_ABS_POINTER, v)) store().write(d.be + "/" XENKBD_FIELD_FEAT_ABS_POINTER, "1");
  }

  bool connect(XenbusDevice& base, std::string& why) override {
    auto& d = static_cast<Device&>(base);
    uint32_t gref = 0, evtchn = 0;
    std::string legacy;
    if (!read_u32(d.fe + "/" XENKBD_FIELD_RING_GREF, gref)) {
      why = store().read(d.fe + "/" XENKBD_FIELD_RING_REF, legacy)
                ? "the frontend gave a machine frame (page-ref), not a grant (page-gref): not supported"
                : "missing or malformed page-gref";
      return false;
    }
    if (!read_u32(d.fe + "/" XENKBD_FIELD_EVT_CHANNEL, evtchn)) {
      why = "missing or malformed event-channel";
      return false;
    }
    // The range the frontend set its absolute axes to: the toolstack's
    // width/height, else xen-kbdfront's defaults.
    uint32_t width = kDefaultWidth, height = kDefaultHeight, want_abs = 0, offer_abs = 0;
    std::string v;
    if (store().read(d.be + "/" XENKBD_FIELD_WIDTH, v) && !read_u32(d.be + "/" XENKBD_FIELD_WIDTH, width)) width = 0;
    if (store().read(d.be + "/" XENKBD_FIELD_HEIGHT, v) && !read_u32(d.be + "/" XENKBD_FIELD_HEIGHT, height)) height = 0;
    if (!width || !height || width > kMaxDimension || height > kMaxDimension) {
      why = "the device's width/height are not a pointer range (1.." + std::to_string(kMaxDimension) + ")";
      return false;
    }
    read_u32(d.be + "/" XENKBD_FIELD_FEAT_ABS_POINTER, offer_abs);
    read_u32(d.fe + "/" XENKBD_FIELD_REQ_ABS_POINTER, want_abs);
    const bool absolute = offer_abs == 1 && want_abs == 1;
    d.page = mapper()->map_domain_grant_refs(1, d.domid, &gref, true);
    if (!d.page) {
      why = "cannot map its page (grant " + std::to_string(gref) + "): " + std::strerror(errno);
      return false;
    }
    const int port = event_channels().bind_interdomain(d.domid, evtchn);
    if (port < 0) {
      why = "cannot bind its event channel: " + std::string(std::strerror(errno));
      return false;
    }
    d.port = static_cast<Port>(port);
    d.bound = true;
    d.channel = std::make_shared<Channel>(d.label, event_channels(), d.page, d.port, absolute, width, height,
                                          [this] { wake(); });
    store().read("/local/domain/" + std::to_string(d.domid) + "/name", d.config.vm);
    if (d.config.vm.empty()) d.config.vm = "dom" + std::to_string(d.domid);
    d.config.domid = d.domid;
    d.config.device = d.devid;
    XLOG_INFO("%s: connected: keyboard and %s, input for desktop '%s'", d.label.c_str(),
              absolute ? ("absolute pointer (" + std::to_string(width) + "x" + std::to_string(height) + ")").c_str()
                       : "no pointer position (the frontend asked for no absolute pointer: add "
                         "feature-abs-pointer=1 to the vkb line)",
              d.config.vm.c_str());
    attach_(d.config, d.channel);
    return true;
  }

  void disconnect(XenbusDevice& base) override {
    auto& d = static_cast<Device&>(base);
    if (d.channel) {
      attach_(d.config, nullptr);
      d.channel->detach();  // before the page goes
      d.channel.reset();
    }
    if (d.bound) event_channels().unbind(d.port);
    if (d.page) mapper()->unmap(d.page, 1);
    d.page = nullptr;
    d.bound = false;
  }

  // The guest's out-ring (LED state) carries nothing we act on.
  void event(Port) override {}

  // A channel found its ring broken on another thread: cut it off here.
  void woken() override {
    for (auto& [key, dev] : devices()) {
      auto& d = static_cast<Device&>(*dev);
      if (d.channel && d.channel->broken()) cut_off(d);
    }
  }

  PvKeyboardAttach attach_;
};

}  // namespace

std::unique_ptr<VkbdBackend> VkbdBackend::start(PvKeyboardAttach attach, std::string& error) {
  auto b = std::make_unique<Backend>(std::move(attach));
  if (!b->open(error)) return nullptr;
  return b;
}

}  // namespace xen3d::xen
