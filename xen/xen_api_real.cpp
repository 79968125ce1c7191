// The real Xen libraries behind xen_api.h, loaded at run time: a guest libGL
// must keep working over local/tcp on machines without Xen packages, and a
// missing library should say which package to install instead of failing to
// load the whole driver.
#include <xenevtchn.h>
#include <xengnttab.h>
#include <xenstore.h>

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <string_view>
#include <sys/mman.h>
#include <unistd.h>

#include "xen/xen_api.h"
#include "xen/xen_domain_list.h"

namespace xen3d::xen {
namespace {

// One shared library and the symbols we take from it.
class Library {
 public:
  Library(const char* soname, const char* package) : soname_(soname), package_(package) {}
  ~Library() {
    if (handle_) dlclose(handle_);
  }
  bool load(std::string& error) {
    if (handle_) return true;
    handle_ = dlopen(soname_, RTLD_NOW | RTLD_LOCAL);
    if (!handle_) {
      error = std::string("cannot load ") + soname_ + " (" + dlerror() + "); install the package " + package_;
      return false;
    }
    return true;
  }
  template <class F>
  bool bind(F*& fn, const char* symbol, std::string& error) {
    fn = reinterpret_cast<F*>(dlsym(handle_, symbol));
    if (!fn) error = std::string(soname_) + " lacks " + symbol + " (a Xen older than 4.17?)";
    return fn != nullptr;
  }

 private:
  const char* soname_;
  const char* package_;
  void* handle_ = nullptr;
};

#define XEN3D_BIND(lib, fn) lib.bind(fn, #fn, error)

struct GnttabLib {
  Library lib{"libxengnttab.so.1", "libxengnttab1"};
  decltype(&::xengntshr_open) xengntshr_open;
  decltype(&::xengntshr_close) xengntshr_close;
  decltype(&::xengntshr_share_pages) xengntshr_share_pages;
  decltype(&::xengntshr_share_page_notify) xengntshr_share_page_notify;
  decltype(&::xengntshr_unshare) xengntshr_unshare;
  decltype(&::xengnttab_open) xengnttab_open;
  decltype(&::xengnttab_close) xengnttab_close;
  decltype(&::xengnttab_map_domain_grant_refs) xengnttab_map_domain_grant_refs;
  decltype(&::xengnttab_map_grant_ref_notify) xengnttab_map_grant_ref_notify;
  decltype(&::xengnttab_unmap) xengnttab_unmap;
  bool load(std::string& error) {
    return lib.load(error) && XEN3D_BIND(lib, xengntshr_open) && XEN3D_BIND(lib, xengntshr_close) &&
           XEN3D_BIND(lib, xengntshr_share_pages) && XEN3D_BIND(lib, xengntshr_share_page_notify) &&
           XEN3D_BIND(lib, xengntshr_unshare) && XEN3D_BIND(lib, xengnttab_open) &&
           XEN3D_BIND(lib, xengnttab_close) && XEN3D_BIND(lib, xengnttab_map_domain_grant_refs) &&
           XEN3D_BIND(lib, xengnttab_map_grant_ref_notify) && XEN3D_BIND(lib, xengnttab_unmap);
  }
};

struct EvtchnLib {
  Library lib{"libxenevtchn.so.1", "libxenevtchn1"};
  decltype(&::xenevtchn_open) xenevtchn_open;
  decltype(&::xenevtchn_close) xenevtchn_close;
  decltype(&::xenevtchn_fdopen) xenevtchn_fdopen;
  decltype(&::xenevtchn_fd) xenevtchn_fd;
  decltype(&::xenevtchn_bind_unbound_port) xenevtchn_bind_unbound_port;
  decltype(&::xenevtchn_bind_interdomain) xenevtchn_bind_interdomain;
  decltype(&::xenevtchn_notify) xenevtchn_notify;
  decltype(&::xenevtchn_pending) xenevtchn_pending;
  decltype(&::xenevtchn_unmask) xenevtchn_unmask;
  decltype(&::xenevtchn_unbind) xenevtchn_unbind;
  bool load(std::string& error) {
    return lib.load(error) && XEN3D_BIND(lib, xenevtchn_open) && XEN3D_BIND(lib, xenevtchn_close) &&
           XEN3D_BIND(lib, xenevtchn_fdopen) &&
           XEN3D_BIND(lib, xenevtchn_fd) && XEN3D_BIND(lib, xenevtchn_bind_unbound_port) &&
           XEN3D_BIND(lib, xenevtchn_bind_interdomain) && XEN3D_BIND(lib, xenevtchn_notify) &&
           XEN3D_BIND(lib, xenevtchn_pending) && XEN3D_BIND(lib, xenevtchn_unmask) &&
           XEN3D_BIND(lib, xenevtchn_unbind);
  }
};

struct StoreLib {
  Library lib{"libxenstore.so.4", "libxenstore4"};
  decltype(&::xs_open) xs_open;
  decltype(&::xs_close) xs_close;
  decltype(&::xs_read) xs_read;
  decltype(&::xs_write) xs_write;
  decltype(&::xs_rm) xs_rm;
  decltype(&::xs_directory) xs_directory;
  decltype(&::xs_set_permissions) xs_set_permissions;
  decltype(&::xs_watch) xs_watch;
  decltype(&::xs_unwatch) xs_unwatch;
  decltype(&::xs_fileno) xs_fileno;
  decltype(&::xs_check_watch) xs_check_watch;
  bool load(std::string& error) {
    return lib.load(error) && XEN3D_BIND(lib, xs_open) && XEN3D_BIND(lib, xs_close) &&
           XEN3D_BIND(lib, xs_read) && XEN3D_BIND(lib, xs_write) && XEN3D_BIND(lib, xs_rm) &&
           XEN3D_BIND(lib, xs_directory) && XEN3D_BIND(lib, xs_set_permissions) &&
           XEN3D_BIND(lib, xs_watch) && XEN3D_BIND(lib, xs_unwatch) && XEN3D_BIND(lib, xs_fileno) &&
           XEN3D_BIND(lib, xs_check_watch);
  }
};

#undef XEN3D_BIND

std::string errno_text() { return std::strerror(errno); }

// The descriptors of this process open on `device` now. libxengnttab and
// libxenstore keep theirs private; a child of fork() must close its copies
// (forsake_after_fork) or the parent's grants outlive the parent.
std::set<int> fds_on(const char* device) {
  std::set<int> fds;
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return fds;
  const int own = dirfd(dir);
  while (const dirent* e = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (*end || end == e->d_name || fd == own) continue;
    char target[64];
    const std::string link = std::string("/proc/self/fd/") + e->d_name;
    const ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
    if (n > 0 && std::string_view(target, static_cast<size_t>(n)) == device) fds.insert(static_cast<int>(fd));
  }
  closedir(dir);
  return fds;
}

// The one descriptor on `device` that `open` added, or -1. errno stays as
// `open` left it (the caller's error message reads it).
template <class Open>
int fd_opened_by(const char* device, Open open) {
  const std::set<int> before = fds_on(device);
  open();
  const int open_errno = errno;
  int found = -1;
  for (int fd : fds_on(device)) {
    if (before.count(fd)) continue;
    if (found >= 0) {  // another thread opened one too: not sure which
      found = -1;
      break;
    }
    found = fd;
  }
  errno = open_errno;
  return found;
}

class RealSharer final : public GrantSharer {
 public:
  RealSharer(GnttabLib& g, xengntshr_handle* h, int fd) : g_(g), h_(h), fd_(fd) {}
  ~RealSharer() override {
    if (h_) g_.xengntshr_close(h_);
  }
  // Only the descriptor: gntalloc frees a grant once every mapping of it and
  // the last descriptor of its file are gone, so the child's copy must go;
  // the library's close would deallocate the parent's grants.
  void forsake_after_fork() override {
    if (fd_ >= 0) ::close(fd_);
    h_ = nullptr;  // leaked: its descriptor is closed
  }
  void* share_pages(DomId peer, uint32_t count, GrantRef* refs, bool writable) override {
    return g_.xengntshr_share_pages(h_, peer, static_cast<int>(count), refs, writable);
  }
  void* share_page_notify(DomId peer, GrantRef* ref, bool writable, uint32_t notify_offset,
                          Port notify_port) override {
    return g_.xengntshr_share_page_notify(h_, peer, ref, writable, notify_offset, notify_port);
  }
  int unshare(void* start, uint32_t count) override { return g_.xengntshr_unshare(h_, start, count); }

 private:
  GnttabLib& g_;
  xengntshr_handle* h_;
  int fd_;  // its descriptor on /dev/xen/gntalloc (-1: not known)
};

class RealMapper final : public GrantMapper {
 public:
  RealMapper(GnttabLib& g, xengnttab_handle* h) : g_(g), h_(h) {}
  ~RealMapper() override { g_.xengnttab_close(h_); }
  void* map_domain_grant_refs(uint32_t count, DomId domid, const GrantRef* refs, bool writable) override {
    // libxengnttab takes a non-const array it does not modify.
    return g_.xengnttab_map_domain_grant_refs(h_, count, domid, const_cast<GrantRef*>(refs),
                                               PROT_READ | (writable ? PROT_WRITE : 0));
  }
  void* map_grant_ref_notify(DomId domid, GrantRef ref, bool writable, uint32_t notify_offset,
                             Port notify_port) override {
    return g_.xengnttab_map_grant_ref_notify(h_, domid, ref, PROT_READ | (writable ? PROT_WRITE : 0),
                                              notify_offset, notify_port);
  }
  int unmap(void* start, uint32_t count) override { return g_.xengnttab_unmap(h_, start, count); }

 private:
  GnttabLib& g_;
  xengnttab_handle* h_;
};

class RealEventChannels final : public EventChannels {
 public:
  RealEventChannels(EvtchnLib& e, xenevtchn_handle* h) : e_(e), h_(h) {}
  ~RealEventChannels() override {
    if (h_) e_.xenevtchn_close(h_);
  }
  // Ports belong to the open file: closing the child's copy leaves them bound.
  void forsake_after_fork() override {
    ::close(e_.xenevtchn_fd(h_));
    h_ = nullptr;  // leaked: its descriptor is closed
  }
  int fd() const override { return e_.xenevtchn_fd(h_); }
  int bind_unbound_port(DomId remote) override { return e_.xenevtchn_bind_unbound_port(h_, remote); }
  int bind_interdomain(DomId remote, Port remote_port) override {
    return e_.xenevtchn_bind_interdomain(h_, remote, remote_port);
  }
  int notify(Port port) override { return e_.xenevtchn_notify(h_, port); }
  int pending() override { return e_.xenevtchn_pending(h_); }
  int unmask(Port port) override { return e_.xenevtchn_unmask(h_, port); }
  int unbind(Port port) override { return e_.xenevtchn_unbind(h_, port); }
  std::vector<int> share() const override {
    // Ports belong to the open file: a copy of the descriptor shares them.
    const int fd = fcntl(e_.xenevtchn_fd(h_), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return {};
    return {fd};
  }

 private:
  EvtchnLib& e_;
  xenevtchn_handle* h_;
};

class RealStore final : public XenStore {
 public:
  RealStore(StoreLib& s, xs_handle* h, int fd) : s_(s), h_(h), fd_(fd) {}
  ~RealStore() override {
    if (h_) s_.xs_close(h_);
  }
  // A domain's xenstore is its /dev/xen/xenbus file (dom0's may be a socket,
  // which is left open: fd_ is -1 there).
  void forsake_after_fork() override {
    if (fd_ >= 0) ::close(fd_);
    h_ = nullptr;  // leaked
  }
  bool read(const std::string& path, std::string& value) override {
    unsigned len = 0;
    void* v = s_.xs_read(h_, XBT_NULL, path.c_str(), &len);
    if (!v) return false;
    value.assign(static_cast<const char*>(v), len);
    std::free(v);
    return true;
  }
  bool write(const std::string& path, const std::string& value) override {
    return s_.xs_write(h_, XBT_NULL, path.c_str(), value.data(), static_cast<unsigned>(value.size()));
  }
  bool rm(const std::string& path) override { return s_.xs_rm(h_, XBT_NULL, path.c_str()); }
  bool directory(const std::string& path, std::vector<std::string>& children) override {
    unsigned n = 0;
    char** d = s_.xs_directory(h_, XBT_NULL, path.c_str(), &n);
    if (!d) return false;
    children.assign(d, d + n);
    std::free(d);
    return true;
  }
  bool set_permissions(const std::string& path, const std::vector<XsPerm>& perms) override {
    std::vector<xs_permissions> p;
    for (const XsPerm& x : perms) {
      xs_permissions q{};
      q.id = x.domid;
      q.perms = static_cast<decltype(q.perms)>(x.access);  // same bits: XS_PERM_READ 1, XS_PERM_WRITE 2
      p.push_back(q);
    }
    return s_.xs_set_permissions(h_, XBT_NULL, path.c_str(), p.data(), static_cast<unsigned>(p.size()));
  }
  bool watch(const std::string& path, const std::string& token) override {
    return s_.xs_watch(h_, path.c_str(), token.c_str());
  }
  bool unwatch(const std::string& path, const std::string& token) override {
    return s_.xs_unwatch(h_, path.c_str(), token.c_str());
  }
  int fileno() override { return s_.xs_fileno(h_); }
  bool read_watch(std::string& path, std::string& token) override {
    char** ev = s_.xs_check_watch(h_);
    if (!ev) return false;
    path = ev[XS_WATCH_PATH];
    token = ev[XS_WATCH_TOKEN];
    std::free(ev);
    return true;
  }

 private:
  StoreLib& s_;
  xs_handle* h_;
  int fd_;
};

class RealXen final : public XenPlatform {
 public:
  std::string name() const override { return "xen"; }

  std::unique_ptr<GrantSharer> open_sharer(std::string& error) override {
    if (!gnttab_.load(error)) return nullptr;
    xengntshr_handle* h = nullptr;
    const int fd = fd_opened_by("/dev/xen/gntalloc", [&] { h = gnttab_.xengntshr_open(nullptr, 0); });
    if (!h) {
      error = "cannot open /dev/xen/gntalloc (" + errno_text() +
              "): load the xen-gntalloc module and run as root (the device is root-only)";
      return nullptr;
    }
    return std::make_unique<RealSharer>(gnttab_, h, fd);
  }

  std::unique_ptr<GrantMapper> open_mapper(std::string& error) override {
    if (!gnttab_.load(error)) return nullptr;
    xengnttab_handle* h = gnttab_.xengnttab_open(nullptr, 0);
    if (!h) {
      error = "cannot open /dev/xen/gntdev (" + errno_text() + "): load the xen-gntdev module in dom0";
      return nullptr;
    }
    return std::make_unique<RealMapper>(gnttab_, h);
  }

  std::unique_ptr<EventChannels> open_event_channels(std::string& error) override {
    if (!evtchn_.load(error)) return nullptr;
    xenevtchn_handle* h = evtchn_.xenevtchn_open(nullptr, 0);
    if (!h) {
      error = "cannot open /dev/xen/evtchn (" + errno_text() + "): load the xen-evtchn module";
      return nullptr;
    }
    return std::make_unique<RealEventChannels>(evtchn_, h);
  }

  std::unique_ptr<EventChannels> adopt_event_channels(std::vector<int>& fds, std::string& error) override {
    if (!evtchn_.load(error)) return nullptr;
    if (fds.size() != 1) {
      error = "an event channel handle is one descriptor, not " + std::to_string(fds.size());
      return nullptr;
    }
    xenevtchn_handle* h = evtchn_.xenevtchn_fdopen(nullptr, fds[0], 0);
    if (!h) {
      error = "cannot adopt the event channel descriptor (" + errno_text() + ")";
      return nullptr;
    }
    fds.clear();  // the handle owns it now
    return std::make_unique<RealEventChannels>(evtchn_, h);
  }

  std::unique_ptr<XenStore> open_store(std::string& error) override {
    if (!store_.load(error)) return nullptr;
    xs_handle* h = nullptr;
    const int fd = fd_opened_by("/dev/xen/xenbus", [&] { h = store_.xs_open(0); });
    if (!h) {
      error = "cannot reach xenstore (" + errno_text() + "): is this a Xen domain with xenfs mounted?";
      return nullptr;
    }
    return std::make_unique<RealStore>(store_, h, fd);
  }

  bool list_domains(std::vector<DomainInfo>& out, std::string& error) override {
    // libxenctrl's headers are C only (anonymous unions): xen_domain_list.c.
    std::vector<xen3d_domain_entry> d(1024);
    char why[256] = "";
    int n = xen3d_list_domains(d.data(), static_cast<int>(d.size()), why, sizeof why);
    if (n < 0) {
      error = why;
      return false;
    }
    out.clear();
    for (int i = 0; i < n; ++i) out.push_back({d[i].domid, d[i].dying != 0});
    return true;
  }

  uint32_t grant_limit_pages() override {
    std::ifstream f("/sys/module/xen_gntalloc/parameters/limit");
    uint32_t v = 0;
    return (f >> v) ? v : 0;
  }
  void forsake_after_fork() override {}  // holds no descriptor: only the loaded libraries

 private:
  GnttabLib gnttab_;
  EvtchnLib evtchn_;
  StoreLib store_;
};

}  // namespace

std::unique_ptr<XenPlatform> open_real_xen(std::string& error) {
  (void)error;
  return std::make_unique<RealXen>();
}

std::unique_ptr<XenPlatform> open_xen(std::string& error) {
  const char* emu = std::getenv("XEN3D_XENEMU");
  if (emu && *emu) return open_xen_emulation(emu, error);
  return open_real_xen(error);
}

}  // namespace xen3d::xen
