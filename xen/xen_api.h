// The Xen userspace calls Xen3D uses, and nothing more: grant sharing and
// mapping (libxengnttab), event channels (libxenevtchn), xenstore
// (libxenstore) and the domain list (libxenctrl).
//
// Two implementations sit behind this interface:
//  - xen_api_real.cpp: the real libraries, loaded with dlopen() so that a
//    guest libGL without Xen packages still works over local/tcp;
//  - emulation/: "xenemu", an EMULATION of exactly these calls for machines
//    where Xen cannot run (CI). It keeps the semantics the transport depends
//    on: 4 KiB grant pages with a per-domain grant limit, coalescing events
//    with the spurious first event after bind_interdomain, notify-on-unmap,
//    a permissioned xenstore tree with watches, @introduceDomain and
//    @releaseDomain.
// open_xen() picks the emulation when XEN3D_XENEMU names a broker socket.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace xen3d::xen {

using DomId = uint16_t;
using Port = uint32_t;       // an event channel port
using GrantRef = uint32_t;
inline constexpr size_t kPageSize = 4096;
inline constexpr DomId kDom0 = 0;

// Guest side of grant tables (xengntshr_*).
class GrantSharer {
 public:
  virtual ~GrantSharer() = default;
  // `count` fresh zeroed pages, granted to `peer`; refs[count] filled.
  // nullptr with errno set (ENOSPC: the grant limit is reached).
  virtual void* share_pages(DomId peer, uint32_t count, GrantRef* refs, bool writable) = 0;
  // One page whose byte at `notify_offset` is zeroed and `notify_port`
  // signalled when this side unmaps it, including when this process dies.
  virtual void* share_page_notify(DomId peer, GrantRef* ref, bool writable, uint32_t notify_offset,
                                  Port notify_port) = 0;
  virtual int unshare(void* start, uint32_t count) = 0;
  // In a child of fork(): let go of this process's copies of the handle (its
  // descriptors; the caller unmaps the pages it was given) without telling
  // Xen or the broker anything: the handle, and what it shared, are the
  // parent's. Nothing else may be called after it; the destructor then does
  // nothing. The other handles' forsake_after_fork do the same.
  virtual void forsake_after_fork() = 0;
};

// dom0 side of grant tables (xengnttab_*).
class GrantMapper {
 public:
  virtual ~GrantMapper() = default;
  // Maps refs[count] of `domid` contiguously, all or nothing. nullptr with errno.
  virtual void* map_domain_grant_refs(uint32_t count, DomId domid, const GrantRef* refs, bool writable) = 0;
  // One page, with notify-on-unmap like GrantSharer::share_page_notify.
  virtual void* map_grant_ref_notify(DomId domid, GrantRef ref, bool writable, uint32_t notify_offset,
                                     Port notify_port) = 0;
  virtual int unmap(void* start, uint32_t count) = 0;
};

// One xenevtchn handle: use it from one thread.
class EventChannels {
 public:
  virtual ~EventChannels() = default;
  virtual int fd() const = 0;  // readable when pending() has something
  virtual int bind_unbound_port(DomId remote) = 0;             // port, or -1
  virtual int bind_interdomain(DomId remote, Port remote_port) = 0;  // local port, or -1
  virtual int notify(Port port) = 0;
  virtual int pending() = 0;  // a port that fired (now masked), or -1
  virtual int unmask(Port port) = 0;
  virtual int unbind(Port port) = 0;
  // Copies of this handle's descriptors for another process, which rebuilds
  // the handle with XenPlatform::adopt_event_channels. Both then share its
  // ports (a render worker serving a connection the compositor bound).
  // Empty with errno set on failure.
  virtual std::vector<int> share() const = 0;
  // In a child of fork(): as GrantSharer::forsake_after_fork.
  virtual void forsake_after_fork() = 0;
};

struct XsPerm {
  enum Access : uint8_t { None = 0, Read = 1, Write = 2, Both = 3 };
  DomId domid;
  Access access;
};

// One xenstore connection. Paths without a leading '/' are relative to the
// caller's /local/domain/<id>/.
class XenStore {
 public:
  virtual ~XenStore() = default;
  virtual bool read(const std::string& path, std::string& value) = 0;
  virtual bool write(const std::string& path, const std::string& value) = 0;
  virtual bool rm(const std::string& path) = 0;
  virtual bool directory(const std::string& path, std::vector<std::string>& children) = 0;
  // perms[0] is the owner and the default for domains not listed.
  virtual bool set_permissions(const std::string& path, const std::vector<XsPerm>& perms) = 0;
  virtual bool watch(const std::string& path, const std::string& token) = 0;
  virtual bool unwatch(const std::string& path, const std::string& token) = 0;
  virtual int fileno() = 0;  // readable when a watch event is queued
  // A queued watch event without blocking; false when none.
  virtual bool read_watch(std::string& path, std::string& token) = 0;
  // In a child of fork(): as GrantSharer::forsake_after_fork.
  virtual void forsake_after_fork() = 0;
};

struct DomainInfo {
  DomId domid;
  bool dying;
};

// Everything one process needs, from whichever implementation.
class XenPlatform {
 public:
  virtual ~XenPlatform() = default;
  virtual std::string name() const = 0;  // "xen" or "xenemu (emulation)"
  virtual std::unique_ptr<GrantSharer> open_sharer(std::string& error) = 0;
  virtual std::unique_ptr<GrantMapper> open_mapper(std::string& error) = 0;
  virtual std::unique_ptr<EventChannels> open_event_channels(std::string& error) = 0;
  // The handle another process shared (EventChannels::share); takes `fds`.
  virtual std::unique_ptr<EventChannels> adopt_event_channels(std::vector<int>& fds, std::string& error) = 0;
  virtual std::unique_ptr<XenStore> open_store(std::string& error) = 0;
  // dom0 only: the running domains (xc_domain_getinfolist).
  virtual bool list_domains(std::vector<DomainInfo>& out, std::string& error) = 0;
  // The grant limit of this domain's sharer, in pages (gntalloc's `limit`), or 0 if unknown.
  virtual uint32_t grant_limit_pages() = 0;
  // In a child of fork(): as GrantSharer::forsake_after_fork.
  virtual void forsake_after_fork() = 0;
};

// XEN3D_XENEMU=/path/broker.sock: the emulation; else the real libraries.
// nullptr with `error` explaining what is missing.
std::unique_ptr<XenPlatform> open_xen(std::string& error);
std::unique_ptr<XenPlatform> open_real_xen(std::string& error);
std::unique_ptr<XenPlatform> open_xen_emulation(const std::string& broker_socket, std::string& error);

}  // namespace xen3d::xen
