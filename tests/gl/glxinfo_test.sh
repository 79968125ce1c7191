#!/usr/bin/env bash
# glxinfo through the remote driver names the remote renderer and the host driver.
. "$(dirname "$0")/harness.sh"
start_xvfb
start_compositor
guest glxinfo -B >"$work/glxinfo.txt" 2>&1 || { cat "$work/glxinfo.txt"; fail "glxinfo failed"; }
cat "$work/glxinfo.txt"
grep -q "OpenGL renderer string: xen3d (llvmpipe" "$work/glxinfo.txt" || fail "renderer is not the remote driver"
grep -q "OpenGL version string: [1-9]" "$work/glxinfo.txt" || fail "no GL version"
say "ok"
