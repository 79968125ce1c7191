// displif backend: the XenBus handshake per vdispl device, the request ring
// per connector, display buffers mapped from the guest's page directories,
// and page-flip events. One thread serves every device; requests are short
// (a map, a table update), so no device can hold up another for long.
#include "xen/displif_backend.h"


#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <vector>

// xen/io/ring.h's macros call mb()/rmb()/wmb(), which each user supplies.
#define mb() std::atomic_thread_fence(std::memory_order_seq_cst)
#define rmb() std::atomic_thread_fence(std::memory_order_acquire)
#define wmb() std::atomic_thread_fence(std::memory_order_release)
#include <xen/io/displif.h>

#include "common/log.h"
#include "xen/displif_ops.h"
#include "xen/xenbus_backend.h"
#include "xen/xenstore_value.h"

namespace xen3d::xen {
namespace {

// Limits on what one guest can make dom0 map. A 4096x2160 desktop is 8640
// pages; these leave room for double buffering on two connectors.
constexpr uint32_t kMaxConnectors = 4;
constexpr uint32_t kMaxDimension = 8192;
constexpr uint32_t kMaxBufferBytes = 128u << 20;
constexpr uint32_t kMaxPagesPerDevice = 96u << 8;  // 96 MiB mapped at once
constexpr size_t kMaxBuffersPerDevice = 64;
constexpr size_t kMaxFramebuffersPerDevice = 64;
constexpr int kMaxLoggedErrors = 20;
// fourcc codes (drm_fourcc.h): both are B,G,R,X/A bytes in memory.
constexpr uint32_t kXRGB8888 = 0x34325258, kARGB8888 = 0x34325241;
constexpr uint32_t kRefsPerDirectoryPage = (kPageSize - offsetof(xendispl_page_directory, gref)) / sizeof(grant_ref_t);

std::string errno_str(int e) { return std::strerror(e); }

// A request's error status, with the reason for the log.
int32_t refuse(std::string& why, std::string reason, int32_t status) {
  why = std::move(reason);
  return status;
}

const char* op_name(uint8_t op) {
  const char* n = displif_op_name(op);
  return n ? n : "unknown";
}

struct DisplayBuffer {
  std::shared_ptr<const GuestPixels> pixels;
  uint32_t width, height, bpp, size, data_ofs, pages;
};

struct Framebuffer {
  uint64_t dbuf;
  uint32_t width, height;
};

struct Connector {
  PvDisplayConfig config;
  std::unique_ptr<PvDisplay> display;
  void* req_page = nullptr;
  void* evt_page = nullptr;
  xen_displif_back_ring ring{};
  Port req_port = 0, evt_port = 0;  // local ends
  bool req_bound = false, evt_bound = false;
  uint32_t evt_prod = 0;
  uint16_t evt_id = 0;
  // What is on screen: a framebuffer and the mode's origin in it.
  uint64_t shown_fb = 0;
  uint32_t view_x = 0, view_y = 0, view_w = 0, view_h = 0;
};

struct Device : XenbusDevice {
  std::vector<Connector> connectors;
  std::map<uint64_t, DisplayBuffer> buffers;
  std::map<uint64_t, Framebuffer> framebuffers;
  uint32_t mapped_pages = 0;
  int errors_logged = 0;
};

class Backend final : public DisplifBackend, public XenbusBackend {
 public:
  Backend(PvDisplayFactory factory, int refresh_hz)
      : XenbusBackend("vdispl", "vdispl", "pv display"), factory_(std::move(factory)), refresh_hz_(refresh_hz) {}
  ~Backend() override { stop(); }

  bool open(std::string& error) { return serve(error); }

 private:
  std::unique_ptr<XenbusDevice> make_device() override { return std::make_unique<Device>(); }
  void found(XenbusDevice& d) override { store().write(d.be + "/versions", "1"); }
  bool connect(XenbusDevice& d, std::string& why) override { return connect(static_cast<Device&>(d), why); }
  void disconnect(XenbusDevice& d) override { disconnect(static_cast<Device&>(d)); }

  std::chrono::milliseconds tick_period() const override {
    return std::chrono::milliseconds(1000 / std::max(1, refresh_hz_));
  }
  void tick() override {
    for (auto& [key, d] : devices())
      for (auto& c : static_cast<Device&>(*d).connectors)
        if (c.display) c.display->refresh();
  }

  // Events are hints: look at the ring of whichever connector owns the port.
  void event(Port port) override {
    for (auto& [key, dev] : devices()) {
      auto& d = static_cast<Device&>(*dev);
      if (d.state != Connected) continue;
      for (size_t i = 0; i < d.connectors.size(); ++i) {
        if (d.connectors[i].req_bound && d.connectors[i].req_port == port) {
          serve_ring(d, i);
          return;
        }
      }
    }
  }

  bool connect(Device& d, std::string& why) {
    std::string be_alloc;
    if (store().read(d.fe + "/be-alloc", be_alloc) && be_alloc == "1") {
      why = "be-alloc=1 is not supported: the guest must allocate its buffers (vdispl be-alloc=0)";
      return false;
    }
    std::string vm;
    store().read("/local/domain/" + std::to_string(d.domid) + "/name", vm);
    if (vm.empty()) vm = "dom" + std::to_string(d.domid);
    for (uint32_t i = 0;; ++i) {
      const std::string dir = d.fe + "/" + std::to_string(i);
      std::string res;
      if (!store().read(dir + "/resolution", res)) break;
      if (i == kMaxConnectors) {
        why = "more than " + std::to_string(kMaxConnectors) + " connectors";
        return false;
      }
      Connector& c = d.connectors.emplace_back();
      c.config.domid = d.domid;
      c.config.vm = vm;
      c.config.device = d.devid;
      c.config.connector = i;
      uint32_t req_ref = 0, req_evt = 0, evt_ref = 0, evt_evt = 0;
      if (!parse_xs_resolution(res, kMaxDimension, c.config.width, c.config.height)) {
        why = "connector " + std::to_string(i) + ": bad resolution '" + res + "'";
        return false;
      }
      if (!read_u32(dir + "/req-ring-ref", req_ref) || !read_u32(dir + "/req-event-channel", req_evt) ||
          !read_u32(dir + "/evt-ring-ref", evt_ref) || !read_u32(dir + "/evt-event-channel", evt_evt)) {
        why = "connector " + std::to_string(i) + ": missing or malformed ring refs / event channels";
        return false;
      }
      c.req_page = mapper()->map_domain_grant_refs(1, d.domid, &req_ref, true);
      c.evt_page = c.req_page ? mapper()->map_domain_grant_refs(1, d.domid, &evt_ref, true) : nullptr;
      if (!c.evt_page) {
        why = "connector " + std::to_string(i) + ": cannot map its ring pages: " + errno_str(errno);
        return false;
      }
      int p = event_channels().bind_interdomain(d.domid, req_evt);
      if (p >= 0) {
        c.req_port = static_cast<Port>(p);
        c.req_bound = true;
        p = event_channels().bind_interdomain(d.domid, evt_evt);
        if (p >= 0) {
          c.evt_port = static_cast<Port>(p);
          c.evt_bound = true;
        }
      }
      if (!c.evt_bound) {
        why = "connector " + std::to_string(i) + ": cannot bind its event channels: " + errno_str(errno);
        return false;
      }
      BACK_RING_INIT(&c.ring, static_cast<xen_displif_sring*>(c.req_page), kPageSize);
      c.evt_prod = static_cast<xendispl_event_page*>(c.evt_page)->in_prod;
    }
    if (d.connectors.empty()) {
      why = "no connectors (no " + d.fe + "/0/resolution)";
      return false;
    }
    for (auto& c : d.connectors) {
      c.display = factory_(c.config, why);
      if (!c.display) return false;
    }
    const auto& c0 = d.connectors[0].config;
    XLOG_INFO("%s: connected, %zu connector(s), %ux%u", d.label.c_str(), d.connectors.size(), c0.width, c0.height);
    return true;
  }

  // Everything the device holds goes; the backend state becomes `state`.
  void disconnect(Device& d) {
    for (auto& c : d.connectors) {
      c.display.reset();  // the desktop goes, and with it the buffer on screen
      if (c.req_page) mapper()->unmap(c.req_page, 1);
      if (c.evt_page) mapper()->unmap(c.evt_page, 1);
      if (c.req_bound) event_channels().unbind(c.req_port);
      if (c.evt_bound) event_channels().unbind(c.evt_port);
    }
    d.connectors.clear();
    d.framebuffers.clear();
    d.buffers.clear();  // unmapped here (nothing else holds them now)
    d.mapped_pages = 0;
  }

  // ---------------------------------------------------------- requests --

  void serve_ring(Device& d, size_t index) {
    Connector& c = d.connectors[index];
    xen_displif_back_ring& r = c.ring;
    for (;;) {
      const RING_IDX rp = r.sring->req_prod;
      xen_rmb();
      if (rp - r.req_cons > RING_SIZE(&r)) {
        XLOG_WARN("%s: the guest broke its request ring (req_prod %u, consumed %u): device cut off",
                  d.label.c_str(), rp, r.req_cons);
        cut_off(d);
        return;
      }
      while (r.req_cons != rp) {
        xendispl_req req;
        std::memcpy(&req, RING_GET_REQUEST(&r, r.req_cons), sizeof req);  // once: the guest may rewrite it
        ++r.req_cons;
        xendispl_resp rsp{};
        rsp.id = req.id;
        rsp.operation = req.operation;
        std::string why;
        rsp.status = handle(d, c, req, why);
        if (rsp.status != 0 && d.errors_logged < kMaxLoggedErrors) {
          XLOG_WARN("%s: %s refused (%d): %s%s", d.label.c_str(), op_name(req.operation), rsp.status, why.c_str(),
                    ++d.errors_logged == kMaxLoggedErrors ? " (further refusals not logged)" : "");
        }
        std::memcpy(RING_GET_RESPONSE(&r, r.rsp_prod_pvt), &rsp, sizeof rsp);
        ++r.rsp_prod_pvt;
        if (req.operation == XENDISPL_OP_PG_FLIP && rsp.status == 0) flip_done(c, req.op.pg_flip.fb_cookie);
      }
      int notify = 0;
      RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&r, notify);
      if (notify) event_channels().notify(c.req_port);
      int more = 0;
      RING_FINAL_CHECK_FOR_REQUESTS(&r, more);
      if (!more) return;
    }
  }

  void flip_done(Connector& c, uint64_t fb_cookie) {
    auto* page = static_cast<xendispl_event_page*>(c.evt_page);
    xendispl_evt e{};
    e.id = c.evt_id++;
    e.type = XENDISPL_EVT_PG_FLIP;
    e.op.pg_flip.fb_cookie = fb_cookie;
    // Written over whatever the guest left unconsumed: the ring is its to read.
    std::memcpy(&XENDISPL_IN_RING_REF(page, c.evt_prod), &e, sizeof e);
    xen_wmb();
    page->in_prod = ++c.evt_prod;
    event_channels().notify(c.evt_port);
  }

  int32_t handle(Device& d, Connector& c, const xendispl_req& req, std::string& why) {
    switch (req.operation) {
      case XENDISPL_OP_DBUF_CREATE: return dbuf_create(d, req.op.dbuf_create, why);
      case XENDISPL_OP_DBUF_DESTROY: {
        const uint64_t cookie = req.op.dbuf_destroy.dbuf_cookie;
        auto it = d.buffers.find(cookie);
        if (it == d.buffers.end()) return refuse(why, "no such display buffer", -ENOENT);
        for (auto f = d.framebuffers.begin(); f != d.framebuffers.end();)
          f = f->second.dbuf == cookie ? d.framebuffers.erase(f) : std::next(f);
        // The guest is about to take its pages back: nothing may show them.
        for (auto& other : d.connectors)
          if (other.shown_fb && !d.framebuffers.count(other.shown_fb)) show(d, other, 0);
        d.mapped_pages -= it->second.pages;
        d.buffers.erase(it);
        return 0;
      }
      case XENDISPL_OP_FB_ATTACH: return fb_attach(d, req.op.fb_attach, why);
      case XENDISPL_OP_FB_DETACH:
        if (!d.framebuffers.erase(req.op.fb_detach.fb_cookie)) return refuse(why, "no such framebuffer", -ENOENT);
        return 0;
      case XENDISPL_OP_SET_CONFIG: {
        const auto& s = req.op.set_config;
        if (!s.fb_cookie && !s.x && !s.y && !s.width && !s.height && !s.bpp) {
          show(d, c, 0);  // all zeros: display off
          return 0;
        }
        if (!d.framebuffers.count(s.fb_cookie)) return refuse(why, "set_config: no such framebuffer", -ENOENT);
        if (s.bpp != 32) return refuse(why, "set_config: bpp " + std::to_string(s.bpp) + " (only 32)", -EINVAL);
        if (!s.width || !s.height || s.width > kMaxDimension || s.height > kMaxDimension)
          return refuse(why, "set_config: bad size", -EINVAL);
        c.view_x = s.x;
        c.view_y = s.y;
        c.view_w = s.width;
        c.view_h = s.height;
        return show(d, c, s.fb_cookie, &why);
      }
      case XENDISPL_OP_PG_FLIP: {
        const uint64_t cookie = req.op.pg_flip.fb_cookie;
        if (!d.framebuffers.count(cookie)) return refuse(why, "pg_flip: no such framebuffer", -ENOENT);
        if (!c.view_w) return refuse(why, "pg_flip before set_config", -EINVAL);
        return show(d, c, cookie, &why);
      }
      case XENDISPL_OP_GET_EDID:
        return refuse(why, "no EDID: the connector's resolution is in xenstore", -EOPNOTSUPP);
      default: {
        char code[8];
        std::snprintf(code, sizeof code, "0x%02x", req.operation);
        return refuse(why, std::string("unknown operation ") + code, -EOPNOTSUPP);
      }
    }
  }

  int32_t dbuf_create(Device& d, const xendispl_dbuf_create_req& r, std::string& why) {
    if (!r.dbuf_cookie) return refuse(why, "cookie 0 is invalid", -EINVAL);
    if (d.buffers.count(r.dbuf_cookie)) return refuse(why, "the cookie is in use", -EEXIST);
    if (d.buffers.size() >= kMaxBuffersPerDevice)
      return refuse(why, "more than " + std::to_string(kMaxBuffersPerDevice) + " display buffers", -ENOMEM);
    if (r.flags & XENDISPL_DBUF_FLG_REQ_ALLOC) return refuse(why, "backend allocation is not supported", -EOPNOTSUPP);
    if (!r.width || !r.height || r.width > kMaxDimension || r.height > kMaxDimension)
      return refuse(why, std::to_string(r.width) + "x" + std::to_string(r.height) + " is not a display size", -EINVAL);
    if (r.bpp == 0 || r.bpp > 32 || r.bpp % 8) return refuse(why, "bpp " + std::to_string(r.bpp), -EINVAL);
    if (!r.buffer_sz || r.buffer_sz > kMaxBufferBytes)
      return refuse(why, "buffer_sz " + std::to_string(r.buffer_sz) + " (at most 128 MiB)", -EINVAL);
    if (r.data_ofs >= r.buffer_sz) return refuse(why, "data_ofs past the buffer", -EINVAL);
    const uint32_t pages = (r.buffer_sz + kPageSize - 1) / kPageSize;
    if (d.mapped_pages + pages > kMaxPagesPerDevice)
      return refuse(why, "the device would map more than " + std::to_string(kMaxPagesPerDevice / 256) + " MiB", -ENOMEM);
    // The page directory: a chain of pages, each with the next page's ref and
    // up to kRefsPerDirectoryPage buffer refs. Copied out page by page.
    std::vector<GrantRef> refs;
    refs.reserve(pages);
    GrantRef dir_ref = r.gref_directory;
    while (refs.size() < pages) {
      if (!dir_ref) return refuse(why, "the page directory ends early", -EINVAL);
      void* dir = mapper()->map_domain_grant_refs(1, d.domid, &dir_ref, false);
      if (!dir) return refuse(why, "cannot map directory page ref " + std::to_string(dir_ref) + ": " + errno_str(errno), -EINVAL);
      const auto* pd = static_cast<const xendispl_page_directory*>(dir);
      const size_t take = std::min<size_t>(kRefsPerDirectoryPage, pages - refs.size());
      GrantRef next;
      std::memcpy(&next, &pd->gref_dir_next_page, sizeof next);
      const size_t at = refs.size();
      refs.resize(at + take);
      std::memcpy(refs.data() + at, reinterpret_cast<const uint8_t*>(dir) + offsetof(xendispl_page_directory, gref),
                  take * sizeof(GrantRef));
      mapper()->unmap(dir, 1);
      dir_ref = next;
    }
    void* data = mapper()->map_domain_grant_refs(pages, d.domid, refs.data(), false);
    if (!data) return refuse(why, "cannot map the buffer's " + std::to_string(pages) + " pages: " + errno_str(errno), -EINVAL);
    DisplayBuffer b;
    b.pixels = std::make_shared<GuestPixels>(mapper(), data, pages);
    b.width = r.width;
    b.height = r.height;
    b.bpp = r.bpp;
    b.size = r.buffer_sz;
    b.data_ofs = r.data_ofs;
    b.pages = pages;
    d.buffers[r.dbuf_cookie] = std::move(b);
    d.mapped_pages += pages;
    return 0;
  }

  int32_t fb_attach(Device& d, const xendispl_fb_attach_req& r, std::string& why) {
    if (!r.fb_cookie) return refuse(why, "cookie 0 is invalid", -EINVAL);
    if (d.framebuffers.count(r.fb_cookie)) return refuse(why, "the cookie is in use", -EEXIST);
    if (d.framebuffers.size() >= kMaxFramebuffersPerDevice) return refuse(why, "too many framebuffers", -ENOMEM);
    auto it = d.buffers.find(r.dbuf_cookie);
    if (it == d.buffers.end()) return refuse(why, "no such display buffer", -ENOENT);
    const DisplayBuffer& b = it->second;
    if (r.pixel_format != kXRGB8888 && r.pixel_format != kARGB8888) {
      char f[5] = {char(r.pixel_format), char(r.pixel_format >> 8), char(r.pixel_format >> 16),
                   char(r.pixel_format >> 24), 0};
      for (char& ch : f)
        if (ch && (ch < ' ' || ch > '~')) ch = '?';
      return refuse(why, std::string("pixel format '") + f + "' (XR24 and AR24 only)", -EINVAL);
    }
    if (b.bpp != 32) return refuse(why, "a 32 bpp format on a " + std::to_string(b.bpp) + " bpp buffer", -EINVAL);
    if (!r.width || !r.height || r.width > b.width || r.height > b.height)
      return refuse(why, std::to_string(r.width) + "x" + std::to_string(r.height) + " does not fit the " +
                   std::to_string(b.width) + "x" + std::to_string(b.height) + " buffer", -EINVAL);
    // Rows are the buffer's width apart (a dumb buffer's pitch); all of them
    // must lie inside what the guest shared.
    const uint64_t stride = uint64_t(b.width) * 4;
    if (b.data_ofs + stride * (r.height - 1) + uint64_t(r.width) * 4 > b.size)
      return refuse(why, "the framebuffer does not fit in buffer_sz", -EINVAL);
    d.framebuffers[r.fb_cookie] = {r.dbuf_cookie, r.width, r.height};
    return 0;
  }

  // Puts framebuffer `fb` (0: nothing) on connector `c` at the current mode.
  int32_t show(Device& d, Connector& c, uint64_t fb, std::string* why = nullptr) {
    Scanout s;
    if (fb) {
      const Framebuffer& f = d.framebuffers.at(fb);
      const DisplayBuffer& b = d.buffers.at(f.dbuf);
      if (c.view_x >= f.width || c.view_y >= f.height) {
        if (why) *why = "the mode's origin lies outside the framebuffer";
        return -EINVAL;
      }
      s.buffer = b.pixels;
      s.stride = b.width * 4;
      s.offset = b.data_ofs + size_t(c.view_y) * s.stride + size_t(c.view_x) * 4;
      s.width = std::min({c.view_w, f.width - c.view_x, c.config.width});
      s.height = std::min({c.view_h, f.height - c.view_y, c.config.height});
    }
    c.shown_fb = fb;
    if (c.display) c.display->scan_out(s);
    return 0;
  }

  PvDisplayFactory factory_;
  const int refresh_hz_;
};

}  // namespace

std::unique_ptr<DisplifBackend> DisplifBackend::start(PvDisplayFactory factory, int refresh_hz, std::string& error) {
  auto b = std::make_unique<Backend>(std::move(factory), refresh_hz);
  if (!b->open(error)) return nullptr;
  return b;
}

}  // namespace xen3d::xen
