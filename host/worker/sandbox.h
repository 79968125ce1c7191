// The render worker's sandbox (docs/render-workers.md): entered once the
// worker has opened everything it needs (host screen, guest rings, the
// recording file, the snapshot directory) and before it reads the first
// guest record. From then on the worker can compute, map memory, run
// threads and talk over the descriptors it holds, and nothing else:
//   - no new privileges (PR_SET_NO_NEW_PRIVS), and when started as root an
//     unprivileged uid/gid (nobody) and a network namespace of its own;
//   - RLIMIT_AS: what it maps now plus the guest's memory quota and slack,
//     so a guest that gets past the quota's accounting still cannot take the
//     host's memory; no core dumps, no new descriptors beyond a few;
//   - a seccomp-bpf allowlist (libseccomp) of the system calls llvmpipe and
//     softpipe make while rendering; anything else kills the worker (SIGSYS),
//     which the compositor reports, costing only this guest its context.
//     Files open read-only only; files are written only inside the
//     snapshot directory, through its descriptor, and through the shader
//     cache's descriptors opened before (shader_cache.h).
#pragma once

#include <cstdint>
#include <string>

namespace xen3d::host {

struct SandboxPolicy {
  uint64_t memory_quota_bytes = 0;  // the guest's --max-guest-mem-mib
  int snapshot_dir_fd = -1;         // --snapshot: the one place it may write (-1: none)
  // Started as root with --snapshot or --record: stay root's uid, so files
  // land where the operator's tools read them (debugging and tests; the
  // filter still confines writes to the snapshot directory).
  bool keep_uid = false;
  // A per-VM shader cache is open (shader_cache.h): Mesa's writer locks the
  // file it appends to (flock), and no file the worker writes may grow past
  // this many bytes (RLIMIT_FSIZE; a write beyond fails with EFBIG). 0: no
  // cache, no file limit.
  uint64_t shader_cache_max_bytes = 0;
};

// False with `error` when a step fails (the worker must then not serve).
bool enter_sandbox(const SandboxPolicy& policy, std::string& error);

}  // namespace xen3d::host
