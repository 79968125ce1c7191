// The host objects one guest connection owns, by the ids the guest chose.
//
// Ids are guest-chosen numbers, never pointers, so everything the guest names
// goes through here: a lookup checks that the id exists, names the expected
// kind and still has a live host object, and says exactly what is wrong when it
// does not ("resource #12 is a sampler view", "unknown id #7"). The table also
// keeps the connection's object and byte counts, and the process-wide totals
// host_stats reports.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "host/validate/guest_memory_account.h"
#include "host/validate/rejection.h"
#include "host/validate/shader_interface.h"
#include "pipe/p_state.h"
#include "proto/gallium_ids.h"

struct pipe_context;

namespace xen3d::host {

// Totals over every connection of this compositor process.
struct GlobalObjectStats {
  static inline std::atomic<uint64_t> objects{0};
  static inline std::atomic<uint64_t> bytes{0};
  static inline std::atomic<uint32_t> guests{0};
};

struct HostObject {
  proto::ObjectKind kind = proto::ObjectKind::None;
  // pipe_resource*, pipe_surface*, pipe_sampler_view*, pipe_stream_output_target*,
  // a CSO or shader handle, pipe_query*, pipe_fence_handle*, or (for contexts)
  // the executor's per-context record.
  void* ptr = nullptr;
  // The context that created a per-context object (views, surfaces, stream-output
  // targets, CSOs, shaders, queries): Gallium requires it to be the one that
  // binds and destroys the object. Null for screen objects (resources, fences).
  pipe_context* ctx = nullptr;
  uint32_t owner = 0;  // the guest id of that context
  uint64_t bytes = 0;  // host memory charged to the guest (resources)
  // Shaders: pipe_shader_type, and for geometry shaders the TGSI input primitive
  // (draw checks the primitive type against it).
  uint8_t stage = 0;
  uint8_t gs_input_prim = 0xff;
  // Shaders: declared temporaries (highest TEMP index + 1). Rasterizer states:
  // whether they enable line/point smoothing or polygon stipple, which make
  // the draw module rewrite the bound fragment shader (draw checks the pair).
  uint16_t shader_temps = 0;
  bool rast_rewrites_fs = false;
  // Surfaces: whether the host driver can render to the surface's format.
  // st/mesa makes surfaces for every attachment, complete or not, so others
  // exist; set_framebuffer_state binds them as no attachment.
  bool renderable = true;
  // Vertex elements states: how many elements (draw checks the vertex shader's inputs against it).
  uint8_t vertex_elements = 0;
  // Shaders: TgsiSummary::const_bytes (what each constant buffer must hold)
  // and ::interface (what draw checks the linked stages against).
  std::vector<uint32_t> const_bytes;
  ShaderInterface interface;
  // Shaders: TgsiSummary::sampled_targets (draw checks the bound views against them).
  std::array<uint32_t, PIPE_MAX_SAMPLERS> sampled_targets{};
  // Queries: PIPE_QUERY_* and whether begin has been called without end.
  uint16_t query_type = 0;
  bool query_active = false;
  // The creating context was destroyed and took the host object with it; the
  // id stays reserved until the guest destroys it, but cannot be used.
  bool orphaned = false;
};

class ObjectTable {
 public:
  explicit ObjectTable(Rejection& reject) : reject_(reject) {}
  ObjectTable(const ObjectTable&) = delete;
  ObjectTable& operator=(const ObjectTable&) = delete;
  ~ObjectTable() {
    // Normally empty: the executor frees every object first. Keep the global
    // counters honest either way.
    GlobalObjectStats::objects -= objects_.size();
    GlobalObjectStats::bytes -= bytes_;
  }

  // The guest's object quota (--max-guest-objects): every kind counts.
  void set_max_objects(size_t n) { max_objects_ = n; }
  // The guest's memory held outside the table (desktop window surfaces)
  // counts in bytes(), so every quota check sees it; the account sees the
  // table's bytes in turn.
  void set_memory_account(std::shared_ptr<GuestMemoryAccount> account) {
    account_ = std::move(account);
    if (account_) account_->set_table_bytes(bytes_);
  }

  // Adds an object under a fresh id. Rejects id 0, ids already in use and
  // objects beyond the quota.
  proto::DecodeError insert(uint32_t id, const HostObject& obj) {
    if (auto e = check_free(id, obj.kind); !e.ok()) return e;
    objects_.emplace(id, obj);
    bytes_ += obj.bytes;
    if (account_) account_->set_table_bytes(bytes_);
    GlobalObjectStats::objects += 1;
    GlobalObjectStats::bytes += obj.bytes;
    return {};
  }

  // Checks an id is free before the caller builds the host object.
  proto::DecodeError check_free(uint32_t id, proto::ObjectKind kind) const {
    if (id == 0) return reject_("id 0 cannot name a %s", proto::object_kind_name(kind));
    if (auto it = objects_.find(id); it != objects_.end()) {
      return reject_("id #%u is already in use by a %s", id, proto::object_kind_name(it->second.kind));
    }
    if (objects_.size() >= max_objects_) {
      return reject_("a %s beyond this guest's quota of %zu objects (--max-guest-objects)",
                     proto::object_kind_name(kind), max_objects_);
    }
    return {};
  }

  // Looks up a live object of the given kind. `role` names where the id came
  // from (a field name) and prefixes the message.
  proto::DecodeError get(uint32_t id, proto::ObjectKind kind, HostObject*& out, const IdRole& role) {
    out = nullptr;
    HostObject* o = id ? find(id) : nullptr;
    if (o && o->kind == kind && !o->orphaned) {
      out = o;
      return {};
    }
    const std::string r = role.str();
    const char* sep = r.empty() ? "" : ": ";
    if (id == 0) return reject_("%s%sid 0 names no %s", r.c_str(), sep, proto::object_kind_name(kind));
    if (!o) return reject_("%s%sunknown id #%u (expected a %s)", r.c_str(), sep, id, proto::object_kind_name(kind));
    if (o->kind != kind) {
      return reject_("%s%s%s #%u is a %s", r.c_str(), sep, proto::object_kind_name(kind), id,
                     proto::object_kind_name(o->kind));
    }
    return reject_("%s%s%s #%u belonged to context #%u, which was destroyed", r.c_str(), sep,
                   proto::object_kind_name(kind), id, o->owner);
  }

  HostObject* find(uint32_t id) {
    // Draws look up the same few ids over and over: a direct-mapped cache in
    // front of the map. Map nodes never move, so the pointers stay valid
    // until erase() drops them.
    CacheSlot& slot = cache_[id % kCacheSlots];
    if (slot.id == id && slot.obj) return slot.obj;
    auto it = objects_.find(id);
    if (it == objects_.end()) return nullptr;
    slot = {id, &it->second};
    return &it->second;
  }

  // Memory the guest holds that is no object (its buffer arena): counted in
  // bytes() as objects are. Callers check the quota first.
  void hold_bytes(uint64_t bytes) {
    bytes_ += bytes;
    if (account_) account_->set_table_bytes(bytes_);
    GlobalObjectStats::bytes += bytes;
  }
  void release_bytes(uint64_t bytes) {
    bytes_ -= bytes;
    if (account_) account_->set_table_bytes(bytes_);
    GlobalObjectStats::bytes -= bytes;
  }

  // Removes an id; the caller has released the host object.
  void erase(uint32_t id) {
    auto it = objects_.find(id);
    if (it == objects_.end()) return;
    if (CacheSlot& slot = cache_[id % kCacheSlots]; slot.id == id) slot = {};
    bytes_ -= it->second.bytes;
    if (account_) account_->set_table_bytes(bytes_);
    GlobalObjectStats::objects -= 1;
    GlobalObjectStats::bytes -= it->second.bytes;
    objects_.erase(it);
  }

  // Ids of every object matching pred(id, obj), sorted so teardown order is deterministic.
  template <class Pred>
  std::vector<uint32_t> ids_where(Pred pred) const {
    std::vector<uint32_t> ids;
    for (const auto& [id, obj] : objects_) {
      if (pred(id, obj)) ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  size_t count() const { return objects_.size(); }
  // Quota bytes: the table's own and what is held for the guest elsewhere.
  uint64_t bytes() const { return bytes_ + (account_ ? account_->outside_table() : 0); }

 private:
  struct CacheSlot {
    uint32_t id = 0;
    HostObject* obj = nullptr;
  };
  static constexpr size_t kCacheSlots = 1024;

  Rejection& reject_;
  std::unordered_map<uint32_t, HostObject> objects_;
  std::array<CacheSlot, kCacheSlots> cache_{};
  uint64_t bytes_ = 0;
  size_t max_objects_ = SIZE_MAX;
  std::shared_ptr<GuestMemoryAccount> account_;
};

}  // namespace xen3d::host
