#include "host/executor/context_pool.h"

#include <array>

#include "pipe/p_context.h"
#include "pipe/p_defines.h"
#include "pipe/p_screen.h"
#include "pipe/p_state.h"

namespace xen3d::host {

ContextPool::~ContextPool() {
  for (auto& [flags, pipe] : idle_) pipe->destroy(pipe);
}

pipe_context* ContextPool::take(unsigned flags) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = idle_.begin(); it != idle_.end(); ++it) {
      if (it->first != flags) continue;
      pipe_context* pipe = it->second;
      idle_.erase(it);
      return pipe;
    }
    ++created_;
  }
  return screen_->context_create(screen_, nullptr, flags);
}

void ContextPool::give(pipe_context* pipe, unsigned flags) {
  // Work still queued would run against the next guest's state (llvmpipe
  // keeps scenes with their bindings): finish it now.
  pipe_fence_handle* fence = nullptr;
  pipe->flush(pipe, &fence, 0);
  if (fence) {
    screen_->fence_finish(screen_, pipe, fence, PIPE_TIMEOUT_INFINITE);
    screen_->fence_reference(screen_, &fence, nullptr);
  }
  reset_state(pipe);
  std::lock_guard<std::mutex> lock(mutex_);
  idle_.emplace_back(flags, pipe);
}

void ContextPool::reset_state(pipe_context* pipe) const {
  // The values of a context just created: zero-allocated state, except
  // llvmpipe's sample mask (~0, set by llvmpipe_init_blend_funcs; softpipe
  // ignores the mask) and its queries, enabled (queries_disabled false).
  const pipe_blend_color blend{};
  pipe->set_blend_color(pipe, &blend);
  pipe->set_stencil_ref(pipe, pipe_stencil_ref{});
  pipe->set_sample_mask(pipe, ~0u);
  if (pipe->set_min_samples) pipe->set_min_samples(pipe, 0);
  const pipe_clip_state clip{};
  pipe->set_clip_state(pipe, &clip);
  const pipe_poly_stipple stipple{};
  pipe->set_polygon_stipple(pipe, &stipple);
  const std::array<pipe_viewport_state, PIPE_MAX_VIEWPORTS> viewports{};
  pipe->set_viewport_states(pipe, 0, PIPE_MAX_VIEWPORTS, viewports.data());
  const std::array<pipe_scissor_state, PIPE_MAX_VIEWPORTS> scissors{};
  pipe->set_scissor_states(pipe, 0, PIPE_MAX_VIEWPORTS, scissors.data());
  if (pipe->set_tess_state) {
    const float outer[4] = {}, inner[2] = {};
    pipe->set_tess_state(pipe, outer, inner);
  }
  if (pipe->set_patch_vertices) pipe->set_patch_vertices(pipe, 0);
  if (pipe->set_active_query_state) pipe->set_active_query_state(pipe, true);
}

size_t ContextPool::idle() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return idle_.size();
}

uint64_t ContextPool::created() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return created_;
}

}  // namespace xen3d::host
