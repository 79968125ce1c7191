// xen3d-render-worker's command line: one table that parses it, prints its
// --help, and builds it (the compositor spawns each worker with its own
// per-guest settings), so the two programs cannot disagree on a flag.
#pragma once

#include <string>
#include <vector>

#include "host/compositor/guest_connection.h"

namespace xen3d::host {

struct WorkerOptions {
  int link_fd = 3;  // the socketpair to the compositor
  std::string driver = "llvmpipe";
  bool sandbox = true;  // --no-sandbox: debugging the worker under gdb or strace
  std::string shader_cache;  // --shader-cache: the root of the per-VM caches ("" none; host/worker/shader_cache.h)
  ConnectionOptions connection;  // the per-guest limits, --record, --snapshot, --trace
};

enum class OptionsResult { Run, Exit, Usage };
// Exit: --help or --version was printed. Usage: `error` says what is wrong.
OptionsResult parse_worker_options(int argc, char** argv, WorkerOptions& out, std::string& error);
// The arguments (after the program name) that parse back into `o`.
std::vector<std::string> worker_arguments(const WorkerOptions& o);

}  // namespace xen3d::host
