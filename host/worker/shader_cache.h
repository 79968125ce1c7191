// A render worker's on-disk shader cache, one per VM (docs/render-workers.md,
// "Shader cache"): the driver's machine code for the shaders a VM's guests
// have used, kept between their connections as llvmpipe in-process keeps it
// in ~/.cache. Each VM has a directory of its own under the compositor's
// --shader-cache root, named by the host's identity for the VM (the Xen
// domain's name, else the peer the transport saw), never by anything the
// guest says; so no VM reads code another VM's guests made.
//
// Opened before the sandbox: Mesa's single-file cache (fossilize) opens its
// files when llvmpipe's late init creates the cache (at the first context),
// then reads and appends through those descriptors, which the sandbox lets
// it keep (flock included). RLIMIT_FSIZE bounds the file (sandbox.h).
#pragma once

#include <cstdint>
#include <string>

#include "proto/transport.h"

struct pipe_screen;

namespace xen3d::host {

// The largest a VM's cache grows: Mesa's own default for its cache. A cache
// found at 90 % of it or more is emptied when a worker opens it.
inline constexpr uint64_t kShaderCacheMaxBytes = uint64_t{1} << 30;

// The directory name for the VM behind `info`: letters, digits, '.', '-'
// and '_' only, e.g. "vm-debian12", "uid-1000", "tcp-10.0.0.7".
std::string shader_cache_vm_name(const proto::SessionInfo& info);

struct VmShaderCache {
  std::string dir;         // ROOT/<vm name>
  uint64_t bytes = 0;      // its size when opened
  bool emptied = false;    // it was full and is now empty
};

// Creates ROOT/<vm name> and has `screen` open its cache there. Needs the
// screen's threads sized already (llvmpipe_threads.h): it makes and
// destroys a context to run llvmpipe's late init. False with `error` where
// the driver keeps no cache this way (drivers other than llvmpipe) or the
// directory cannot be made; the worker then serves without a cache.
bool open_vm_shader_cache(pipe_screen* screen, const std::string& root, const proto::SessionInfo& info,
                          VmShaderCache& out, std::string& error);

}  // namespace xen3d::host
