#!/usr/bin/env bash
# glxinfo through the remote driver names the remote renderer and the host
# driver; on the NIR shader path guests get OpenGL 4.3 with tessellation.
. "$(dirname "$0")/harness.sh"
start_xvfb
start_compositor
guest glxinfo -B >"$work/glxinfo.txt" 2>&1 || { cat "$work/glxinfo.txt"; fail "glxinfo failed"; }
cat "$work/glxinfo.txt"
grep -q "OpenGL renderer string: xen3d (llvmpipe" "$work/glxinfo.txt" || fail "renderer is not the remote driver"
grep -q "OpenGL version string: [1-9]" "$work/glxinfo.txt" || fail "no GL version"

say "the NIR shader path"
kill "$comp_pid" && wait "$comp_pid" 2>/dev/null
rm -f "$sock"
start_compositor --shader-path nir
guest glxinfo >"$work/glxinfo-nir.txt" 2>&1 || { cat "$work/glxinfo-nir.txt"; fail "glxinfo failed on the NIR path"; }
grep -E "version string|Max (core|compat) profile" "$work/glxinfo-nir.txt"
grep -Eq "OpenGL core profile version string: 4\.[3-9]" "$work/glxinfo-nir.txt" || fail "core profile below 4.3 on the NIR path"
grep -Eq "OpenGL version string: 4\.[3-9] \(Compatibility" "$work/glxinfo-nir.txt" ||
  fail "compatibility profile below 4.3 on the NIR path"
grep -Eq "OpenGL ES profile version string: OpenGL ES 3\.[1-9]" "$work/glxinfo-nir.txt" || fail "GLES below 3.1 on the NIR path"
grep -q "GL_ARB_tessellation_shader" "$work/glxinfo-nir.txt" || fail "no tessellation on the NIR path"
say "ok"
