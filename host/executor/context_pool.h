// Host pipe_contexts kept for reuse instead of destroyed (the fuzz harness's
// option: GalliumExecutor::Config::context_pool).
//
// Creating a context is what made a fuzz execution slow: softpipe allocates
// and touches texture tile caches for every sampler view slot of every stage
// (megabytes of page faults per context), llvmpipe sets up its setup and
// draw modules. A fuzzer creates and destroys contexts for every input, so
// the harness keeps them: a context the executor is done with comes here,
// unbound of every guest object by the executor, and give() puts every other
// state a guest can set back to what a new context starts with, so the next
// guest cannot tell a recycled context from a new one.
//
// The compositor itself never pools: a context that served one guest is
// never handed to another outside the fuzzer's process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

struct pipe_context;
struct pipe_screen;

namespace xen3d::host {

class ContextPool {
 public:
  explicit ContextPool(pipe_screen* screen) : screen_(screen) {}
  // Destroys every idle context. The caller holds the driver lock, if any.
  ~ContextPool();
  ContextPool(const ContextPool&) = delete;
  ContextPool& operator=(const ContextPool&) = delete;

  // An idle context created with exactly `flags`, else a new one (nullptr
  // when the driver cannot make one).
  pipe_context* take(unsigned flags);
  // Takes back a context created with `flags` whose guest objects the caller
  // has unbound: finishes its work and resets the rest of its state.
  void give(pipe_context* pipe, unsigned flags);

  size_t idle() const;
  uint64_t created() const;

 private:
  // Every state setter a guest reaches that an unbind does not cover, back to
  // the zeros of a newly allocated context (softpipe and llvmpipe calloc theirs).
  void reset_state(pipe_context* pipe) const;

  pipe_screen* screen_;
  mutable std::mutex mutex_;  // connections on several threads may share one pool
  std::vector<std::pair<unsigned, pipe_context*>> idle_;
  uint64_t created_ = 0;
};

}  // namespace xen3d::host
