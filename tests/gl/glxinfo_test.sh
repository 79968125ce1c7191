#!/usr/bin/env bash
# glxinfo through the remote driver names the remote renderer and the host
# driver. On llvmpipe (guest shaders lowered to NIR on the host) local guests
# get OpenGL 4.5 (persistent buffers in the shared arena: ARB_buffer_storage)
# and OpenGL ES 3.2; without an arena (XEN3D_ARENA_MIB=0, as on tcp) OpenGL
# 4.3. zink (over lavapipe here: docs/gpu-hosts.md) cannot use guest memory
# as buffers, so the host copies its guests' persistent buffers: they get
# what zink in-process offers (OpenGL 4.6, GLES 3.2). softpipe, which interprets the validated TGSI
# itself, offers what it runs (no tessellation).
# GLX_MESA_query_renderer tells the same versions before any context exists.
# The first compositor runs on XEN3D_DRIVER's driver (meson test --setup zink).
. "$(dirname "$0")/harness.sh"
start_xvfb

# $1: glxinfo's output, $2: the host driver, $3: the least core version, $4: arena (1/0)
check_nir_host() {
  local out=$1 driver=$2 version=$3 arena=$4
  grep -q "OpenGL renderer string: xen3d ($driver" "$out" || fail "renderer is not the remote driver on $driver"
  # GLX_MESA_query_renderer (guest/winsys-remote/glx_query_renderer.c): the
  # versions a context would get, without making one.
  grep -q "Device: xen3d ($driver" "$out" || fail "no GLX_MESA_query_renderer device on $driver"
  local at_least="4\\.[${version#4.}-9]"
  grep -Eq "OpenGL core profile version string: $at_least" "$out" || fail "$driver: core profile below $version"
  grep -Eq "OpenGL version string: $at_least \\(Compatibility" "$out" || fail "$driver: compatibility profile below $version"
  grep -Eq "Max core profile version: $at_least" "$out" || fail "$driver: GLX_MESA_query_renderer: core below $version"
  grep -Eq "OpenGL ES profile version string: OpenGL ES 3\\.[2-9]" "$out" || fail "$driver: OpenGL ES below 3.2"
  grep -Eq "Max GLES\\[23\\] profile version: 3\\.[2-9]" "$out" || fail "$driver: GLX_MESA_query_renderer: GLES below 3.2"
  grep -q "GL_ARB_tessellation_shader" "$out" || fail "$driver: no tessellation"
  grep -q "GL_KHR_blend_equation_advanced" "$out" || fail "$driver: no advanced blending"
  if [ "$arena" = 1 ]; then
    grep -q "GL_ARB_buffer_storage" "$out" || fail "$driver: no persistent buffers (ARB_buffer_storage)"
  elif grep -q "GL_ARB_buffer_storage" "$out"; then
    fail "$driver: ARB_buffer_storage without an arena"
  fi
}

start_compositor
guest glxinfo >"$work/glxinfo.txt" 2>&1 || { cat "$work/glxinfo.txt"; fail "glxinfo failed"; }
grep -E "renderer string|version string" "$work/glxinfo.txt"
# $1: the remote glxinfo on zink: the versions zink gives a program in-process.
same_as_zink_in_process() {
  env -u LD_LIBRARY_PATH LIBGL_ALWAYS_SOFTWARE=1 MESA_LOADER_DRIVER_OVERRIDE=zink glxinfo >"$work/glxinfo-zink-direct.txt" 2>&1 ||
    fail "glxinfo on zink in-process failed: $(tail -3 "$work/glxinfo-zink-direct.txt")"
  local what
  for what in "OpenGL core profile version string" "OpenGL version string" "OpenGL ES profile version string"; do
    local here there
    here=$(grep "^$what:" "$1" | sed 's/(.*//')
    there=$(grep "^$what:" "$work/glxinfo-zink-direct.txt" | sed 's/(.*//')
    [ -n "$there" ] && [ "$here" = "$there" ] || fail "zink: remote \"$here\", in-process \"$there\""
  done
  say "zink: $(grep '^OpenGL core profile version string:' "$1"), as in-process"
}

if [ "${XEN3D_DRIVER:-}" = zink ]; then
  check_nir_host "$work/glxinfo.txt" zink 4.6 1
  same_as_zink_in_process "$work/glxinfo.txt"
  say "ok"
  exit 0
fi
check_nir_host "$work/glxinfo.txt" llvmpipe 4.5 1

say "no arena: OpenGL 4.3, no ARB_buffer_storage"
XEN3D_ARENA_MIB=0 guest glxinfo >"$work/glxinfo-noarena.txt" 2>&1 || fail "glxinfo failed without an arena"
grep -E "version string" "$work/glxinfo-noarena.txt"
grep -Eq "OpenGL core profile version string: 4\.3" "$work/glxinfo-noarena.txt" || fail "not OpenGL 4.3 without an arena"
grep -q "GL_ARB_tessellation_shader" "$work/glxinfo-noarena.txt" || fail "no tessellation without an arena"
if grep -q "GL_ARB_buffer_storage" "$work/glxinfo-noarena.txt"; then fail "ARB_buffer_storage without an arena"; fi

say "softpipe: the driver takes the validated TGSI, and guests see what it runs"
kill "$comp_pid" && wait "$comp_pid" 2>/dev/null
rm -f "$sock"
start_compositor --driver softpipe
grep -q "guest shaders reach it as TGSI" "$work/compositor.log" ||
  fail "softpipe does not get TGSI: $(grep 'host driver' "$work/compositor.log")"
guest glxinfo >"$work/glxinfo-softpipe.txt" 2>&1 || { cat "$work/glxinfo-softpipe.txt"; fail "glxinfo failed on softpipe"; }
grep -E "renderer string|version string" "$work/glxinfo-softpipe.txt"
grep -q "OpenGL renderer string: xen3d (softpipe" "$work/glxinfo-softpipe.txt" || fail "renderer is not softpipe"
grep -Eq "OpenGL version string: [1-9]" "$work/glxinfo-softpipe.txt" || fail "no GL version on softpipe"
if grep -q "GL_ARB_tessellation_shader" "$work/glxinfo-softpipe.txt"; then fail "tessellation offered on softpipe's TGSI"; fi

say "llvmpipe's TGSI path is gone: --shader-path is refused"
if "$XEN3D_COMPOSITOR" --shader-path tgsi --self-test >"$work/option.log" 2>&1; then fail "--shader-path was accepted"; fi
grep -q "shader-path" "$work/option.log" || fail "the refusal does not name the option: $(cat "$work/option.log")"

say "zink (on lavapipe without a GPU): OpenGL 4.6, as in-process"
kill "$comp_pid" && wait "$comp_pid" 2>/dev/null
rm -f "$sock"
start_compositor --driver zink
guest glxinfo >"$work/glxinfo-zink.txt" 2>&1 || { cat "$work/glxinfo-zink.txt"; fail "glxinfo failed on zink"; }
grep -E "renderer string|version string" "$work/glxinfo-zink.txt"
check_nir_host "$work/glxinfo-zink.txt" zink 4.6 1
same_as_zink_in_process "$work/glxinfo-zink.txt"
say "ok"
