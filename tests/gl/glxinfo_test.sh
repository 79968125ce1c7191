#!/usr/bin/env bash
# glxinfo through the remote driver names the remote renderer and the host
# driver. On llvmpipe (guest shaders lowered to NIR on the host) local guests
# get OpenGL 4.5 (persistent buffers in the shared arena: ARB_buffer_storage)
# and OpenGL ES 3.2; without an arena (XEN3D_ARENA_MIB=0, as on tcp) OpenGL
# 4.3. softpipe, which interprets the validated TGSI itself, offers what it
# runs (no tessellation).
# GLX_MESA_query_renderer tells the same versions before any context exists.
. "$(dirname "$0")/harness.sh"
start_xvfb
start_compositor
guest glxinfo >"$work/glxinfo.txt" 2>&1 || { cat "$work/glxinfo.txt"; fail "glxinfo failed"; }
grep -E "renderer string|version string" "$work/glxinfo.txt"
grep -q "OpenGL renderer string: xen3d (llvmpipe" "$work/glxinfo.txt" || fail "renderer is not the remote driver"
# GLX_MESA_query_renderer (guest/winsys-remote/glx_query_renderer.c): the
# versions a context would get, without making one.
grep -q "Device: xen3d (llvmpipe" "$work/glxinfo.txt" || fail "no GLX_MESA_query_renderer device"
grep -Eq "OpenGL core profile version string: 4\.[5-9]" "$work/glxinfo.txt" || fail "core profile below 4.5"
grep -Eq "OpenGL version string: 4\.[5-9] \(Compatibility" "$work/glxinfo.txt" || fail "compatibility profile below 4.5"
grep -q "GL_ARB_buffer_storage" "$work/glxinfo.txt" || fail "no persistent buffers (ARB_buffer_storage)"
grep -Eq "OpenGL ES profile version string: OpenGL ES 3\.[2-9]" "$work/glxinfo.txt" || fail "OpenGL ES below 3.2"
grep -q "GL_ARB_tessellation_shader" "$work/glxinfo.txt" || fail "no tessellation"
grep -q "GL_KHR_blend_equation_advanced" "$work/glxinfo.txt" || fail "no advanced blending"
grep -Eq "Max core profile version: 4\.[5-9]" "$work/glxinfo.txt" || fail "GLX_MESA_query_renderer: core below 4.5"
grep -Eq "Max GLES\[23\] profile version: 3\.[2-9]" "$work/glxinfo.txt" || fail "GLX_MESA_query_renderer: GLES below 3.2"

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
say "ok"
