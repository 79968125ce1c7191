#!/usr/bin/env bash
# Shader caches on both sides, so a program's second run compiles less, as
# on llvmpipe in-process:
# - the guest's libGL keeps what st/mesa makes of an application's GLSL in
#   Mesa's shader cache, as Debian's libGL does (our screen's
#   get_disk_shader_cache, guest/pipe-remote/remote_screen.cpp);
# - on the NIR shader path, render workers keep the driver's machine code in
#   a cache per VM (host/worker/shader_cache.h): a second run finds its
#   shaders compiled, and another VM (here: a tcp peer) has a cache of its own.
. "$(dirname "$0")/harness.sh"
start_xvfb
host_cache="$work/host-cache"
# Only llvmpipe opens its cache once the worker knows its VM.
start_compositor --driver llvmpipe --shader-cache "$host_cache" --listen tcp:127.0.0.1:0
tcp=$(grep -o 'tcp:127.0.0.1:[0-9]*' "$work/compositor.log" | head -1)
[ -n "$tcp" ] || fail "the compositor did not report its tcp port"

# "<found> <compiled>" from the worker's report for the run that wrote log line $1 onwards.
worker_cache_report() {
  local line
  for _ in $(seq 50); do
    line=$(tail -n +"$1" "$work/compositor.log" | grep -m1 'shader cache .*shaders found compiled' || true)
    [ -n "$line" ] && break
    sleep 0.1
  done
  [ -n "$line" ] || { cat "$work/compositor.log"; fail "no worker reported its shader cache"; }
  say "worker: ${line#*: }" >&2
  echo "$line" | sed -n 's/.*: \([0-9]*\) shaders found compiled, \([0-9]*\) compiled$/\1 \2/p'
}
run_shading() {  # $1: log name; the rest: environment
  local log=$1
  shift
  env LD_LIBRARY_PATH="$XEN3D_REMOTE_GL" XEN3D_TRANSPORT="local:$sock" "$@" \
    glmark2 --off-screen -s 200x200 -b shading:duration=0.5 >"$work/$log" 2>&1 ||
    { cat "$work/$log"; fail "glmark2 failed"; }
  no_lost_context "$work/$log"
}

say "glmark2's shading scene (GLSL) with empty caches"
from=$(( $(wc -l <"$work/compositor.log") + 1 ))
run_shading glmark2.log XDG_CACHE_HOME="$work/guest-cache"
kept=$(find "$work/guest-cache/mesa_shader_cache" -type f ! -name index 2>/dev/null | wc -l)
say "$kept entries in the guest's shader cache"
[ "$kept" -gt 0 ] || fail "the guest's libGL kept nothing in its shader cache"
read -r found1 compiled1 < <(worker_cache_report "$from")
[ "$found1" = 0 ] && [ "$compiled1" -gt 0 ] || fail "an empty host cache: expected 0 found and some compiled, got $found1/$compiled1"
vm_dir=$(find "$host_cache" -mindepth 1 -maxdepth 1 -type d -name 'uid-*')
[ -n "$vm_dir" ] || fail "no per-VM directory under $host_cache: $(ls "$host_cache")"
[ -n "$(find "$vm_dir" -name '*.foz' -size +0)" ] || fail "the worker stored nothing in $vm_dir"
[ "$(stat -c %a "$host_cache")" = 700 ] || fail "$host_cache is readable by others: $(stat -c %a "$host_cache")"

say "the same program again: the host finds its shaders compiled"
from=$(( $(wc -l <"$work/compositor.log") + 1 ))
run_shading glmark2-again.log XDG_CACHE_HOME="$work/guest-cache"
read -r found2 compiled2 < <(worker_cache_report "$from")
[ "$found2" -gt 0 ] && [ "$compiled2" -lt "$compiled1" ] ||
  fail "the second run found $found2 and compiled $compiled2 (the first compiled $compiled1)"

say "another VM (a tcp peer) does not see that cache"
from=$(( $(wc -l <"$work/compositor.log") + 1 ))
env LD_LIBRARY_PATH="$XEN3D_REMOTE_GL" XEN3D_TRANSPORT="$tcp" XDG_CACHE_HOME="$work/guest-cache" \
  glmark2 --off-screen -s 200x200 -b shading:duration=0.5 >"$work/glmark2-tcp.log" 2>&1 ||
  { cat "$work/glmark2-tcp.log"; fail "glmark2 over tcp failed"; }
read -r found3 compiled3 < <(worker_cache_report "$from")
[ "$found3" = 0 ] && [ "$compiled3" -gt 0 ] || fail "the tcp peer found $found3 shaders in a cache of its own"
[ -d "$host_cache/tcp-127.0.0.1" ] || fail "no cache directory for the tcp peer: $(ls "$host_cache")"
say "PASS"
