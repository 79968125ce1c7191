// Runs one guest connection's Gallium records on the host driver.
//
// The executor owns everything the guest created: its host pipe_contexts (one
// per context_create id, plus a private "utility" context for work that needs
// a context before the guest has one, such as zero-filling new resources), its
// object table, and its share of host memory. Every handler checks the whole
// record against the object table, the resource geometry and the host caps
// BEFORE it calls the driver, and answers a violation with
// DecodeError::rejected naming the record's object and field, which poisons
// this connection only. Nothing the guest sends is trusted: ids are looked up
// by kind, sizes are 64-bit, bulk bytes are copied or bounds-checked, shaders
// are validated token by token.
//
// Records that run "on a context" use the current one (context_use); records
// Gallium defines on the screen (resource_create, fences, timestamps,
// object_destroy) need none. Transfers and presents fall back to the utility
// context when the guest has not made one current.
#pragma once

#include <chrono>
#include <unordered_map>

#include <array>
#include <bitset>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "host/shader/tgsi_to_nir.h"
#include "host/validate/host_limits.h"
#include "host/executor/object_table.h"
#include "host/validate/rejection.h"
#include "pipe/p_format.h"
#include "pipe/p_state.h"
#include "proto/caps_table.h"  // needs p_format.h first
#include "proto/commands.gen.h"
#include "proto/host_session.h"

struct pipe_fence_handle;
struct pipe_context;
struct pipe_screen;

namespace xen3d::host {

class ContextPool;
class PresentTarget;

class GalliumExecutor {
 public:
  struct Config {
    pipe_screen* screen = nullptr;
    std::shared_ptr<const proto::CapsTable> caps;
    // The screen keeps window buffers (PIPE_BIND_DISPLAY_TARGET) in memory it
    // can export as an fd (HostGpu::shares_frames); see frame_share.
    bool shares_frames = false;
    uint64_t max_resource_bytes = uint64_t(4) << 30;  // per guest
    uint32_t max_objects = 65536;                      // per guest, every kind
    uint32_t max_shader_tokens = 262144;               // per shader (1 MiB of TGSI)
    // How guest shaders reach the driver: lowered to NIR by host/shader, or
    // (softpipe) as the validated TGSI: shader_path_for(the driver).
    ShaderPath shader_path = ShaderPath::Nir;
    // The largest buffer arena a guest may open (arena_open; 0: none), and
    // why there is none when the connection cannot have one.
    uint64_t max_arena_bytes = 0;
    std::string no_arena_reason;
    std::string snapshot_dir;                          // empty: no PNG snapshots
    std::set<uint64_t> snapshot_frames;                // 1-based present counts per window
    uint32_t connection_id = 0;
    std::string label;                                 // for log lines
    // The fuzz harness's only: host contexts come from and go back to this
    // pool instead of being created and destroyed (context_pool.h).
    ContextPool* context_pool = nullptr;
  };

  GalliumExecutor(proto::HostSession& session, Config config);
  ~GalliumExecutor();
  GalliumExecutor(const GalliumExecutor&) = delete;
  GalliumExecutor& operator=(const GalliumExecutor&) = delete;

  // Unbinds and frees everything the guest owns, in an order Gallium accepts,
  // and logs what was freed. Idempotent; the destructor calls it too.
  void teardown();

  // Presents go to this desktop (composited on the host) from now on.
  void present_into(std::shared_ptr<PresentTarget> target) {
    present_target_ = std::move(target);
  }

  // Memory held for this guest outside the executor (desktop window surfaces) counts against its quota.
  void charge_memory_to(std::shared_ptr<GuestMemoryAccount> a) { objects_.set_memory_account(std::move(a)); }
  size_t object_count() const { return objects_.count(); }
  uint64_t object_bytes() const { return objects_.bytes(); }

  using DecodeError = proto::DecodeError;
  // Diagnostics
  DecodeError handle(const proto::HostStats&);
  // Screen
  DecodeError handle(const proto::GetCaps&);
  DecodeError handle(const proto::GetTimestamp&);
  DecodeError handle(const proto::GetSamplePositions&);
  DecodeError handle(const proto::ContextCreate&);
  DecodeError handle(const proto::ContextUse&);
  DecodeError handle(const proto::ObjectDestroy&);
  DecodeError handle(const proto::ResourceCreate&);
  DecodeError handle(const proto::FenceFinish&);
  // Objects on the current context
  DecodeError handle(const proto::SurfaceCreate&);
  DecodeError handle(const proto::SamplerViewCreate&);
  DecodeError handle(const proto::SoTargetCreate&);
  DecodeError handle(const proto::StateCreate&);
  DecodeError handle(const proto::ShaderCreate&);
  DecodeError handle(const proto::QueryCreate&);
  // State
  DecodeError handle(const proto::Bind&);
  DecodeError handle(const proto::BindSamplers&);
  DecodeError handle(const proto::SetFramebuffer&);
  DecodeError handle(const proto::SetViewports&);
  DecodeError handle(const proto::SetScissors&);
  DecodeError handle(const proto::SetBlendColor&);
  DecodeError handle(const proto::SetStencilRef&);
  DecodeError handle(const proto::SetSampleMask&);
  DecodeError handle(const proto::SetMinSamples&);
  DecodeError handle(const proto::SetClipState&);
  DecodeError handle(const proto::SetPolygonStipple&);
  DecodeError handle(const proto::SetTessState&);
  DecodeError handle(const proto::SetPatchVertices&);
  DecodeError handle(const proto::SetConstantBuffer&);
  DecodeError handle(const proto::SetVertexBuffers&);
  DecodeError handle(const proto::SetSamplerViews&);
  DecodeError handle(const proto::SetShaderImages&);
  DecodeError handle(const proto::SetShaderBuffers&);
  DecodeError handle(const proto::SetStreamOutputTargets&);
  // Work
  DecodeError handle(const proto::Draw&);
  DecodeError handle(const proto::LaunchGrid&);
  DecodeError handle(const proto::Clear&);
  DecodeError handle(const proto::ClearRenderTarget&);
  DecodeError handle(const proto::ClearDepthStencil&);
  DecodeError handle(const proto::ClearTexture&);
  DecodeError handle(const proto::ClearBuffer&);
  DecodeError handle(const proto::Blit&);
  DecodeError handle(const proto::ResourceCopyRegion&);
  DecodeError handle(const proto::GenerateMipmap&);
  DecodeError handle(const proto::Flush&);
  DecodeError handle(const proto::QueryBegin&);
  DecodeError handle(const proto::QueryEnd&);
  DecodeError handle(const proto::QueryResult&);
  DecodeError handle(const proto::QueryResultResource&);
  DecodeError handle(const proto::RenderCondition&);
  DecodeError handle(const proto::SetActiveQueryState&);
  DecodeError handle(const proto::MemoryBarrier&);
  DecodeError handle(const proto::TextureBarrier&);
  // Data
  DecodeError handle(const proto::TransferWrite&);
  DecodeError handle(const proto::TransferWriteInline&);
  DecodeError handle(const proto::TransferRead&);
  DecodeError handle(const proto::InvalidateResource&);
  DecodeError handle(const proto::Present&);
  DecodeError handle(const proto::PresentReadback&);
  DecodeError handle(const proto::PresentShared&);
  DecodeError handle(const proto::FrameShare&);
  // The buffer arena (host/resources/arena.cpp)
  DecodeError handle(const proto::ArenaOpen&);
  DecodeError handle(const proto::ArenaGrant&);
  DecodeError handle(const proto::ResourceCreateInArena&);
  DecodeError handle(const proto::ResourceWait&);
  DecodeError handle(const proto::ResourceRebase&);
  DecodeError handle(const proto::ArenaMark&);

 private:
  // What the executor tracks per host context: which CSOs, shaders, samplers,
  // queries and framebuffer attachments are bound, so destroying an object
  // never leaves the driver pointing at freed state, and draws can check the
  // pipeline is complete.
  static constexpr unsigned kBindSlots = static_cast<unsigned>(proto::BindSlot::Last) + 1;
  struct ContextState {
    uint32_t id = 0;
    pipe_context* pipe = nullptr;
    unsigned flags = 0;  // what context_create was called with
    std::array<uint32_t, kBindSlots> bound{};
    std::array<std::array<uint32_t, PIPE_MAX_SAMPLERS>, PIPE_SHADER_TYPES> samplers{};
    uint32_t render_condition = 0;  // query id
    uint32_t active_queries = 0;
    uint32_t fb_cbuf_mask = 0;      // PIPE_CLEAR_COLOR* bits of bound color buffers
    bool fb_zs = false;
    uint32_t fb_layers = ~0u;       // fewest layers among the attachments (none: unlimited)
    uint8_t patch_vertices = 0;
    // Fragment sampler view slots holding a view (blit says why).
    std::bitset<PIPE_MAX_SHADER_SAMPLER_VIEWS> fragment_views;
    // The target of the view in each sampler slot, plus one (0: empty).
    std::array<std::array<uint8_t, PIPE_MAX_SAMPLERS>, PIPE_SHADER_TYPES> view_targets{};
    // Bound in every sampler slot the guest leaves empty: softpipe dereferences
    // the sampler of any slot a shader samples (a NULL one crashed it: found
    // by xen3d-fuzz-stream).
    void* default_sampler = nullptr;
    // Inline constant data stays alive while bound: drivers may keep the
    // pointer. Also holds the zero-padded shadow of a buffer too short for
    // the bound shader (guard_constant_reads).
    std::array<std::array<std::vector<uint8_t>, PIPE_MAX_CONSTANT_BUFFERS>, PIPE_SHADER_TYPES> user_constants;
    // Bytes the driver makes readable from each binding: the size handed to
    // set_constant_buffer (what llvmpipe copies; under 4 bytes it substitutes
    // a zero vec4), 0 when unbound.
    std::array<std::array<uint32_t, PIPE_MAX_CONSTANT_BUFFERS>, PIPE_SHADER_TYPES> constant_bytes{};
    // The guest buffer behind a binding (0: inline data or unbound) and its offset.
    struct ConstantSource {
      uint32_t resource = 0;
      uint32_t offset = 0;
    };
    std::array<std::array<ConstantSource, PIPE_MAX_CONSTANT_BUFFERS>, PIPE_SHADER_TYPES> constant_source{};
    // The guest's vertex buffer slots as last set: resource_rebase binds a
    // moved arena buffer again wherever it is bound.
    std::array<proto::VertexBuffer, PIPE_MAX_ATTRIBS> vertex_buffers{};
    // The buffers a draw or dispatch may write (writable shader buffers,
    // writable buffer images, stream-output targets): a copying arena copies
    // those of its buffers back to the guest (arena_copies.cpp).
    std::array<std::array<pipe_resource*, PIPE_MAX_SHADER_BUFFERS>, PIPE_SHADER_TYPES> written_buffers{};
    std::array<std::array<pipe_resource*, PIPE_MAX_SHADER_IMAGES>, PIPE_SHADER_TYPES> written_images{};
    std::array<pipe_resource*, PIPE_MAX_SO_BUFFERS> written_so{};
  };

  // --- lookups (all return a rejection naming the role on failure) ---
  DecodeError need_context(ContextState*& ctx, const char* record);
  // The current context, else the utility context (transfers, presents).
  DecodeError work_context(pipe_context*& pipe, const char* record);
  DecodeError get_resource(uint32_t id, pipe_resource*& res, const IdRole& role);
  DecodeError get_buffer(uint32_t id, pipe_resource*& res, const IdRole& role);
  // A per-context object that must belong to `ctx`.
  DecodeError get_owned(uint32_t id, proto::ObjectKind kind, const ContextState& ctx, HostObject*& obj,
                        const IdRole& role);
  DecodeError check_range(const pipe_resource& buf, uint64_t offset, uint64_t size, const char* what,
                          uint32_t id);
  DecodeError check_level(const pipe_resource& r, uint32_t level, const char* record, uint32_t id);
  DecodeError check_view_format(const pipe_resource& r, uint32_t format, const char* record, uint32_t id,
                                pipe_format& out);
  unsigned shader_cap(unsigned stage, unsigned cap) const;
  unsigned cap(unsigned param) const;

  // --- object life ---
  DecodeError add_object(uint32_t id, const HostObject& obj) { return objects_.insert(id, obj); }
  // Releases the host object behind `obj` (unbinding it first where Gallium needs that).
  void release(uint32_t id, HostObject& obj);
  void unbind_everything(ContextState& ctx);
  // Binds a stage's whole sampler table from slot 0: some drivers (llvmpipe's
  // polygon-stipple wrapper) only accept bind_sampler_states at start 0.
  void rebind_samplers(ContextState& ctx, unsigned stage);
  void destroy_context(uint32_t id, ContextState& ctx);
  // Unbinds and deletes ctx.default_sampler (before the context goes).
  void forget_default_sampler(ContextState& ctx);
  // Before a draw or dispatch: every constant buffer the bound shaders of
  // `stages` read at a constant index holds at least their declared range
  // (zero-padding inline data and empty slots); a guest buffer too short
  // for it is refused. gallivm does not bounds-check those reads.
  DecodeError guard_constant_reads(ContextState& ctx, std::initializer_list<unsigned> stages, const char* rec);
  // Every view a bound shader samples has the target its lookups use.
  DecodeError check_sampled_views(const ContextState& ctx, std::initializer_list<unsigned> stages, const char* rec);
  pipe_context* utility_context();
  // Every host context comes from and goes to these: the driver's
  // context_create and destroy, or the fuzz harness's pool.
  pipe_context* create_pipe(unsigned flags);
  void retire_pipe(pipe_context* pipe, unsigned flags);
  // Fills vbs[0..n) slots that name no buffer with a zeroed 4 KiB buffer
  // (stride and offset 0). Drivers' vertex fetch bounds-checks only real
  // buffers: an empty slot is read from address 0 + offset + stride * index,
  // which a guest chooses (found by xen3d-fuzz-stream). False when the host
  // could not make the buffer.
  bool empty_vertex_buffers(pipe_vertex_buffer* vbs, unsigned n);
  bool zero_fill(pipe_resource* res);
  // resource_create's checks of the words every resource record carries, and of a buffer's size.
  DecodeError check_resource_words(const char* record, uint32_t id, uint32_t format, uint32_t usage, uint32_t bind,
                                   uint32_t flags);
  DecodeError check_buffer_size(const char* record, uint32_t id, uint32_t width, pipe_format format);
  // The bind flags the host driver gets for what a guest asked (window-system
  // binds dropped), and the flags it may keep.
  uint32_t driver_bind_and_flags(uint32_t bind, uint32_t flags, uint32_t& out_flags) const;
  // The buffer arena (host/resources/arena.cpp): the guest's shared memory
  // its arena buffers live in, and which spans of it live buffers hold.
  struct Arena {
    int fd = -1;  // local: the memfd; -1: the transport mapped the guest's memory
    uint8_t* base = nullptr;
    uint32_t size = 0, alignment = 0, slack = 0;
    std::map<uint32_t, uint32_t> spans;              // offset -> end (slack included)
    std::unordered_map<uint32_t, uint32_t> offsets;  // buffer id -> its span's offset
    uint64_t rebases = 0;                            // resource_rebase records done
    // Whether the driver reads vertex, index and indirect buffers inside the
    // draw call (the draw module), so arena_mark may say it is done with them.
    bool reads_at_draw = false;
    // A copying arena (drivers that cannot use given memory as a buffer,
    // arena_copies.cpp): each arena buffer is an ordinary host buffer, and
    // `last` holds the bytes the guest's span and the host buffer last agreed on.
    bool copies = false;
    struct Copied {
      pipe_resource* res = nullptr;  // the object table holds the reference
      uint32_t offset = 0, width = 0;
      std::unique_ptr<uint8_t[]> last;
      bool gpu_written = false;       // host work may have written it since it was last copied back
      pipe_context* writer = nullptr;  // the context of that work
      // The context whose queue holds its last upload, not yet flushed (see
      // upload_arena_changes): another context's work must not pass it.
      pipe_context* uploaded_on = nullptr;
    };
    std::unordered_map<uint32_t, Copied> copied;                // buffer id ->
    uint64_t copied_in_epoch = ~uint64_t{0};  // the command epoch of the last upload_arena_changes
    std::unordered_map<const pipe_resource*, uint32_t> copied_ids;  // its host buffer -> id
  };
  // Waits for the driver's queued work on `res` on every context of this guest.
  bool wait_for_resource(pipe_resource* res);
  void forget_arena_buffer(uint32_t id);
  // Checks that bytes [offset, offset + width + slack) may hold an arena buffer
  // (aligned, inside the arena, apart from every live span).
  DecodeError check_arena_span(const char* rec, uint32_t id, uint32_t offset, uint32_t width, uint64_t& end);
  void close_arena();
  // --- the copying arena (host/resources/arena_copies.cpp) ---
  DecodeError create_copied_buffer(const char* rec, uint32_t id, const pipe_resource& templ, uint32_t offset);
  // Before host work that may read or write buffers on `pipe`: the guest's
  // changes to its copied buffers' spans go to their host buffers.
  void copy_arena_in(pipe_context* pipe) {
    if (!arena_.copied.empty()) upload_arena_changes(pipe);
  }
  // After host work on `pipe` that may have written `res` (one of the
  // record's destinations), or the buffers `ctx`'s draws write.
  void arena_written(pipe_resource* res, pipe_context* pipe);
  void arena_written_by_draw(const ContextState& ctx);
  // At the guest's waits: what host work wrote into copied buffers (`res`;
  // null: all) goes back to their spans. False when a read failed.
  bool copy_arena_out(pipe_resource* res);
  void upload_arena_changes(pipe_context* pipe);
  bool copy_back(Arena::Copied& b);
  std::string no_arena_reason(uint64_t bytes) const;
  void place_arena(uint8_t* base, uint64_t size);
  void answer_arena(const char* rec, const std::string& why);
  // Flushes every context of this guest other than `except` and waits, so a
  // read through `except` sees all of the guest's rendering.
  void settle_other_contexts(pipe_context* except);
  // On drivers whose maps wait for other contexts
  // (HostLimits::maps_wait_for_other_contexts): a new staging resource
  // holding a copy of `box` of `res`, made on `p` (null where the driver
  // cannot make one: then `res` is mapped itself). `box` becomes the copy's.
  pipe_resource* staged_copy(pipe_context* p, pipe_resource* res, unsigned level, pipe_box& box);
  // Waits for the fences with the driver lock let go, then drops them.
  void wait_for_fences(std::vector<std::pair<pipe_context*, pipe_fence_handle*>>& fences);

  // --- shared by several handlers ---
  DecodeError write_box(const char* record, uint32_t id, uint32_t level, const proto::Box& box, uint32_t stride,
                        uint32_t layer_stride, const uint8_t* data, uint64_t size);
  // Maps `box` of `res` for reading and streams it as packed rows.
  DecodeError read_box(const char* record, pipe_context* pipe, pipe_resource* res, unsigned level,
                       const pipe_box& box);
  // What a present does with the frame once it is taken (snapshot, desktop):
  // nothing more, send its pixels back, or finish it in place (present_shared).
  enum class PresentAnswer { None, Pixels, Done };
  DecodeError present(const char* record, uint32_t id, uint32_t level, uint32_t layer, uint32_t window,
                      const proto::Box& damage, PresentAnswer answer);
  void snapshot(pipe_context* pipe, pipe_resource* res, unsigned level, unsigned layer, uint32_t window);
  // A single-sampled copy of a multisampled frame, in a texture kept for the next one.
  pipe_resource* resolve_for_present(pipe_context* pipe, pipe_resource* res, unsigned layer);
  bool resolve_then_blit(pipe_context* pipe, const pipe_blit_info& blit);
  // Every blit on a host context goes through here. u_blitter binds its
  // sources at fragment view slots 0..1 and, where the context had fewer
  // views, restores with Gallium's trailing unbind; softpipe's trailing
  // unbind keeps its sampler's private copy of the blitter's view, so a
  // later draw sampling that slot read through a tile cache with no
  // texture (SEGV; regressions/softpipe-blit-leaves-fragment-view). The
  // slots the context leaves empty are unbound again as NULL entries.
  void blit(pipe_context* pipe, const pipe_blit_info& info);

  proto::HostSession& session_;
  Config config_;
  const proto::CapsTable& caps_;
  pipe_screen* screen_;
  const HostLimits limits_;  // every check's numbers come from here
  Rejection reject_;
  ObjectTable objects_{reject_};
  std::map<uint32_t, std::unique_ptr<ContextState>> contexts_;
  ContextState* current_ = nullptr;
  pipe_context* utility_ = nullptr;
  std::map<uint32_t, uint64_t> presents_;  // per window
  std::shared_ptr<PresentTarget> present_target_;
  pipe_resource* present_resolve_ = nullptr;  // see resolve_for_present
  // Stands in every vertex buffer slot the guest leaves empty (empty_vertex_buffers).
  pipe_resource* empty_vertex_buffer_ = nullptr;
  bool torn_down_ = false;
  Arena arena_;
  bool snapshot_warned_ = false;
  std::unordered_map<uint32_t, std::chrono::steady_clock::time_point> last_snapshot_;  // per window
  std::vector<uint8_t> scratch_;     // private copies of guest bytes (user indices)
  std::vector<uint8_t> grid_input_;  // launch_grid input; reserved once so it never moves
};

}  // namespace xen3d::host
