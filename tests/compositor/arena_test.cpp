// The buffer arena (host/resources/arena.cpp): shared memory the host driver
// uses in place as persistent buffers' storage, and what a guest may not do
// with it.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <span>
#include <vector>

#include "tests/compositor/helpers.h"

namespace {

struct OpenArena {
  uint8_t* mem = nullptr;
  ArenaOpened answer;
};

OpenArena open_arena(GuestSession& g, uint32_t kib) {
  ArenaOpen ask;
  ask.kib = kib;
  OpenArena a;
  REQUIRE(g.call(ask, a.answer));
  INFO(std::string(a.answer.reason));
  REQUIRE(a.answer.ok);
  std::string error;
  const int fd = g.transport().receive_fd(kFdAfterAnswerTimeoutMs, error);
  INFO(error);
  REQUIRE(fd >= 0);
  // The guest can neither shrink nor grow what the host maps.
  const int sealed = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
  CHECK((fcntl(fd, F_GET_SEALS) & sealed) == sealed);
  CHECK(ftruncate(fd, 0) != 0);
  void* m = mmap(nullptr, a.answer.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  REQUIRE(m != MAP_FAILED);
  a.mem = static_cast<uint8_t*>(m);
  return a;
}

void arena_buffer(GuestSession& g, uint32_t id, uint32_t offset, uint32_t bytes) {
  ResourceCreateInArena r;
  r.id = id;
  r.width = bytes;
  r.offset = offset;
  r.format = PIPE_FORMAT_R8_UNORM;
  r.bind = PIPE_BIND_VERTEX_BUFFER;
  r.flags = PIPE_RESOURCE_FLAG_MAP_PERSISTENT | PIPE_RESOURCE_FLAG_MAP_COHERENT;
  REQUIRE(g.send(r));
}

void copy_buffer(GuestSession& g, uint32_t dst, uint32_t src, uint32_t bytes) {
  ResourceCopyRegion c;
  c.dst = dst;
  c.src = src;
  c.src_box = Box{0, 0, 0, int(bytes), 1, 1};
  REQUIRE(g.send(c));
}

bool wait_idle(GuestSession& g, uint32_t id) {
  ResourceWait w;
  w.resource = id;
  ResourceIdle idle;
  return g.call(w, idle) && idle.ok;
}

}  // namespace

TEST_CASE("arena buffers are the guest's shared memory, read and written in place by the host driver",
          "[compositor][executor][arena]") {
  Compositor c;
  auto g = c.connect("arena");
  REQUIRE(g->info().host_minor >= 6);
  make_context(*g);
  OpenArena a = open_arena(*g, 1024);
  CHECK(a.answer.size == 1024u * 1024u);
  CHECK(a.answer.alignment >= 64);
  CHECK(std::all_of(a.mem, a.mem + a.answer.size, [](uint8_t b) { return b == 0; }));  // fresh memory is zero

  constexpr uint32_t kBytes = 4096;
  const uint32_t off = 8 * a.answer.alignment;
  arena_buffer(*g, 50, off, kBytes);
  make_buffer(*g, 51, kBytes, PIPE_BIND_VERTEX_BUFFER);

  // Guest -> host: written in place, no transfer; the copy reads the arena.
  for (uint32_t i = 0; i < kBytes; ++i) a.mem[off + i] = uint8_t(i * 7 + 3);
  copy_buffer(*g, 51, 50, kBytes);
  const auto copied = read_box(*g, 51, Box{0, 0, 0, int(kBytes), 1, 1}, kBytes);
  CHECK(std::equal(copied.begin(), copied.end(), a.mem + off));

  // Host -> guest: the driver writes the arena; after resource_wait the guest sees it.
  std::vector<uint8_t> pattern(kBytes);
  for (uint32_t i = 0; i < kBytes; ++i) pattern[i] = uint8_t(255 - i);
  write_box(*g, 51, Box{0, 0, 0, int(kBytes), 1, 1}, kBytes, pattern);
  copy_buffer(*g, 50, 51, kBytes);
  REQUIRE(wait_idle(*g, 50));
  CHECK(std::equal(pattern.begin(), pattern.end(), a.mem + off));
  REQUIRE(wait_idle(*g, 0));

  // A destroyed buffer's span can hold a new one.
  ObjectDestroy d;
  d.id = 50;
  d.kind = uint8_t(ObjectKind::Resource);
  REQUIRE(g->send(d));
  arena_buffer(*g, 52, off, kBytes);
  REQUIRE(ping(*g, 1));
  // The arena counts against the guest's memory quota.
  CHECK(stats(*g).connection_bytes >= a.answer.size);
  munmap(a.mem, a.answer.size);
}

TEST_CASE("arena buffers must stay inside the arena, aligned, apart from each other; one arena per guest",
          "[compositor][executor][arena][isolation]") {
  Compositor c;
  auto witness = c.connect("witness");
  auto fresh = [&](const char* name) {
    auto g = c.connect(name);
    make_context(*g);
    return g;
  };
  SECTION("no arena") {
    auto g = fresh("no-arena");
    arena_buffer(*g, 50, 0, 64);
    CHECK(poisoned_with(*g, "has no arena"));
  }
  SECTION("misaligned") {
    auto g = fresh("misaligned");
    OpenArena a = open_arena(*g, 64);
    arena_buffer(*g, 50, 4, 64);
    CHECK(poisoned_with(*g, "alignment"));
    munmap(a.mem, a.answer.size);
  }
  SECTION("past the end, counting the driver's slack") {
    auto g = fresh("past-end");
    OpenArena a = open_arena(*g, 64);
    arena_buffer(*g, 50, 0, a.answer.size);
    CHECK(poisoned_with(*g, "pass the arena"));
    munmap(a.mem, a.answer.size);
  }
  SECTION("overlapping a live buffer") {
    auto g = fresh("overlap");
    OpenArena a = open_arena(*g, 64);
    arena_buffer(*g, 50, 0, 4096);
    arena_buffer(*g, 51, 4096 - a.answer.alignment, 64);
    CHECK(poisoned_with(*g, "overlap"));
    munmap(a.mem, a.answer.size);
  }
  SECTION("a second arena") {
    auto g = fresh("two-arenas");
    OpenArena a = open_arena(*g, 64);
    ArenaOpen again;
    again.kib = 64;
    REQUIRE(g->send(again));
    CHECK(poisoned_with(*g, "already open"));
    munmap(a.mem, a.answer.size);
  }
  REQUIRE(ping(*witness, 7));
}

TEST_CASE("the arena is refused beyond the guest's memory quota, past --max-arena-mib, and where it cannot be shared",
          "[compositor][executor][arena]") {
  SECTION("quota") {
    Compositor c("--max-guest-mem-mib 16");
    auto g = c.connect("quota");
    ArenaOpen ask;
    ask.kib = 64 * 1024;
    ArenaOpened answer;
    REQUIRE(g->call(ask, answer));
    CHECK_FALSE(answer.ok);
    CHECK(std::string(answer.reason).find("quota") != std::string::npos);
    REQUIRE(ping(*g, 1));
  }
  SECTION("--max-arena-mib 0") {
    Compositor c("--max-arena-mib 0");
    auto g = c.connect("none");
    ArenaOpen ask;
    ask.kib = 1024;
    ArenaOpened answer;
    REQUIRE(g->call(ask, answer));
    CHECK_FALSE(answer.ok);
    CHECK(std::string(answer.reason).find("--max-arena-mib") != std::string::npos);
  }
  SECTION("arena_grant: a local connection shares no grant pages, bad index refs or not") {
    Compositor c;
    auto g = c.connect("grant");
    const std::vector<uint32_t> refs{8, 9, 0xffffffffu};
    ArenaGrant ask;
    ask.pages = 2048;
    ask.index_refs = std::span<const uint32_t>(refs);
    ArenaOpened answer;
    REQUIRE(g->call(ask, answer));
    CHECK_FALSE(answer.ok);
    CHECK(std::string(answer.reason).find("cannot share memory beyond its rings") != std::string::npos);
    REQUIRE(ping(*g, 1));
    // Refused, the memfd arena is still there to open.
    OpenArena a = open_arena(*g, 1024);
    CHECK(a.answer.size == 1024u * 1024u);
    munmap(a.mem, a.answer.size);
  }
  SECTION("arena_grant past --max-arena-mib") {
    Compositor c("--max-arena-mib 4");
    auto g = c.connect("grant-big");
    const std::vector<uint32_t> refs(2, 8);
    ArenaGrant ask;
    ask.pages = 2048;  // 8 MiB
    ask.index_refs = std::span<const uint32_t>(refs);
    ArenaOpened answer;
    REQUIRE(g->call(ask, answer));
    CHECK_FALSE(answer.ok);
    CHECK(std::string(answer.reason).find("8 MiB is more than the compositor allows (4 MiB") != std::string::npos);
    REQUIRE(ping(*g, 1));
  }
}

namespace {

std::array<uint8_t, 4> centre_after_draw(GuestSession& g) {
  clear_to_blue(g);
  draw_triangle(g);
  return pixel(read_box(g, 10, box2d(0, 0, kSize, kSize), kSize * kSize * 4), kSize / 2, kSize / 2);
}

// Buffer 50: `vertices` at arena offset `span`, bound as vertex buffer 0.
void bind_arena_vertices(GuestSession& g, const OpenArena& a, uint32_t span, const std::vector<uint8_t>& vertices) {
  std::memcpy(a.mem + span, vertices.data(), vertices.size());
  arena_buffer(g, 50, span, uint32_t(vertices.size()));
  SetVertexBuffers vbs;
  const VertexBuffer vb{50, 0, 32, 0};
  vbs.buffers = std::span<const VertexBuffer>(&vb, 1);
  REQUIRE(g.send(vbs));
}

void rebase(GuestSession& g, uint32_t id, uint32_t offset) {
  ResourceRebase r;
  r.id = id;
  r.offset = offset;
  REQUIRE(g.send(r));
}

}  // namespace

TEST_CASE("a rebased arena buffer draws from its new bytes where it is bound; the host counts the rebases it finished",
          "[compositor][executor][arena]") {
  Compositor c;
  auto g = c.connect("rebase");
  REQUIRE(g->info().host_minor >= 7);
  make_context(*g);
  setup_pipeline(*g);
  OpenArena a = open_arena(*g, 1024);
  const uint32_t align = a.answer.alignment;
  const auto red = triangle_vertices(1, 0, 0), green = triangle_vertices(0, 1, 0);
  const uint32_t old_span = 4 * align, new_span = 64 * align, bytes = uint32_t(red.size());
  bind_arena_vertices(*g, a, old_span, red);
  CHECK(centre_after_draw(*g) == std::array<uint8_t, 4>{0, 0, 255, 255});

  // The guest fills fresh bytes without waiting and moves the buffer there:
  // the bound slot follows, and the old bytes are the guest's to reuse once
  // the progress word (the arena's first bytes) counts the rebase.
  std::memcpy(a.mem + new_span, green.data(), bytes);
  rebase(*g, 50, new_span);
  CHECK(centre_after_draw(*g) == std::array<uint8_t, 4>{0, 255, 0, 255});
  CHECK(std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(a.mem)).load() == 1);
  std::memset(a.mem + old_span, 0, bytes);
  arena_buffer(*g, 51, old_span, bytes);  // the old span is free on the host too
  REQUIRE(ping(*g, 1));
  CHECK(centre_after_draw(*g) == std::array<uint8_t, 4>{0, 255, 0, 255});
  munmap(a.mem, a.answer.size);
}

TEST_CASE("a rebase must name an arena buffer and a free, aligned span inside the arena",
          "[compositor][executor][arena][isolation]") {
  Compositor c;
  auto witness = c.connect("witness");
  auto g = c.connect("bad-rebase");
  make_context(*g);
  OpenArena a = open_arena(*g, 64);
  const uint32_t align = a.answer.alignment;
  arena_buffer(*g, 50, align, 4096);
  arena_buffer(*g, 51, 8192, 4096);
  make_buffer(*g, 52, 4096, PIPE_BIND_VERTEX_BUFFER);
  SECTION("a buffer on the host") {
    rebase(*g, 52, 16384);
    CHECK(poisoned_with(*g, "not a buffer in the arena"));
  }
  SECTION("onto a live buffer") {
    rebase(*g, 50, 8192);
    CHECK(poisoned_with(*g, "overlap"));
  }
  SECTION("misaligned") {
    rebase(*g, 50, 16384 + 4);
    CHECK(poisoned_with(*g, "alignment"));
  }
  SECTION("past the end") {
    rebase(*g, 50, a.answer.size - align);
    CHECK(poisoned_with(*g, "pass the arena"));
  }
  munmap(a.mem, a.answer.size);
  REQUIRE(ping(*witness, 7));
}

TEST_CASE("an arena_mark is stored once the draws before it are carried out; the guest then rewrites a bound buffer in place",
          "[compositor][executor][arena]") {
  // llvmpipe reads vertex buffers inside the draw call (the draw module).
  // softpipe would too, but cannot place buffers in given memory: no arena.
  Compositor c;
  auto g = c.connect("mark");
  REQUIRE(g->info().host_minor >= 9);
  make_context(*g);
  setup_pipeline(*g);
  OpenArena a = open_arena(*g, 1024);
  const uint32_t span = 4 * a.answer.alignment;
  const auto red = triangle_vertices(1, 0, 0), green = triangle_vertices(0, 1, 0);
  const uint32_t bytes = uint32_t(red.size());
  bind_arena_vertices(*g, a, span, red);
  clear_to_blue(*g);
  draw_triangle(*g);
  ArenaMark mark;
  mark.seq = 41;
  mark.awake_us = 200;
  REQUIRE(g->send(mark));
  REQUIRE(ping(*g, 1));
  // The progress words: rebases done (none), then the last mark.
  CHECK(std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(a.mem)).load() == 0);
  CHECK(std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(a.mem + 8)).load() == 41);
  // The draw before the mark has its red triangle, although the bytes are
  // green before anything reads the target back.
  std::memcpy(a.mem + span, green.data(), bytes);
  CHECK(pixel(read_box(*g, 10, box2d(0, 0, kSize, kSize), kSize * kSize * 4), kSize / 2, kSize / 2) ==
        std::array<uint8_t, 4>{0, 0, 255, 255});  // BGRA
  CHECK(centre_after_draw(*g) == std::array<uint8_t, 4>{0, 255, 0, 255});
  munmap(a.mem, a.answer.size);
}

TEST_CASE("an arena_mark needs an arena", "[compositor][executor][arena][isolation]") {
  Compositor c;
  auto witness = c.connect("witness");
  auto g = c.connect("mark-without-arena");
  ArenaMark mark;
  mark.seq = 1;
  REQUIRE(g->send(mark));
  CHECK(poisoned_with(*g, "no buffer arena"));
  REQUIRE(ping(*witness, 7));
}
