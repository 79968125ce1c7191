#!/usr/bin/env bash
# EGL + OpenGL ES over the remote driver: Mesa's own libEGL / libGLESv2 load
# our swrast_dri.so, whose screen is the remoting pipe driver.
#   - es2_info on an X11 EGL window, and wflinfo on the surfaceless and X11
#     platforms with OpenGL ES 2 and 3, report the remote renderer;
#   - es2tri's frame in its X window equals Debian's EGL on llvmpipe, pixel
#     for pixel; es2gears animates;
#   - glmark2-es2 runs scenes and scores, and its own validation finds their
#     pixels right;
#   - GALLIUM_DRIVER=softpipe makes the same libraries render in the guest.
#
# Needs from meson (besides harness.sh's): XEN3D_REMOTE_EGL.
. "$(dirname "$0")/harness.sh"
start_xvfb
start_compositor

say "es2_info (X11 EGL window)"
out=$(guest_egl es2_info 2>&1) || { echo "$out"; fail "es2_info failed through the remote driver"; }
grep -E '^(EGL_VERSION|EGL_VENDOR|GL_VERSION|GL_RENDERER)' <<<"$out"
grep -q "^GL_RENDERER: xen3d ($(host_driver)" <<<"$out" || fail "es2_info: not rendered by the remote driver"
grep -q '^GL_VERSION: OpenGL ES 3\.' <<<"$out" || fail "es2_info: no OpenGL ES 3 context"
grep -q 'es2_info' "$work/compositor.log" || fail "the compositor never saw es2_info connect"

# waffle's wflinfo makes a context on a given platform and API, as piglit does.
for pa in surfaceless_egl:gles3 surfaceless_egl:gles2 x11_egl:gles3 x11_egl:gles2; do
  say "wflinfo: platform ${pa%%:*}, API ${pa##*:}"
  out=$(guest_egl wflinfo -p "${pa%%:*}" -a "${pa##*:}" 2>&1) || { echo "$out"; fail "wflinfo $pa failed"; }
  grep -E 'renderer|version string' <<<"$out"
  grep -q "OpenGL renderer string: xen3d ($(host_driver)" <<<"$out" || fail "wflinfo $pa: not the remote driver"
done

say "GALLIUM_DRIVER=softpipe: Mesa's driver in the guest instead"
out=$(guest_egl env GALLIUM_DRIVER=softpipe es2_info 2>&1) || { echo "$out"; fail "es2_info failed on softpipe"; }
grep -q '^GL_RENDERER: softpipe' <<<"$out" || fail "GALLIUM_DRIVER=softpipe was not honoured: $(grep GL_RENDERER <<<"$out")"

# es2tri draws one still triangle: the frame, read back into its X window
# through the remote driver, equals Debian's EGL on llvmpipe in the same window.
grab_es2tri() {  # out.png, env arguments...
  local out=$1
  shift
  env "$@" es2tri >"$out.log" 2>&1 &
  local pid=$!
  pids+=($pid)
  for _ in $(seq 50); do
    sleep 0.2
    "$X_GRAB" --name "OpenGL ES 2.x tri" "$out" 2>/dev/null && "$PNG_COMPARE" --not-blank "$out" >/dev/null 2>&1 && break
  done
  sleep 0.5  # a last frame may still be on its way: grab again once it settled
  "$X_GRAB" --name "OpenGL ES 2.x tri" "$out" || { cat "$out.log"; fail "no es2tri window to grab"; }
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
say "es2tri: through the remote driver, then on llvmpipe directly"
grab_es2tri "$work/es2tri-remote.png" LD_LIBRARY_PATH="$XEN3D_REMOTE_EGL" LIBGL_DRIVERS_PATH="$XEN3D_REMOTE_EGL" \
  XEN3D_TRANSPORT="local:$sock"
grab_es2tri "$work/es2tri-direct.png" -u LD_LIBRARY_PATH -u LIBGL_DRIVERS_PATH GALLIUM_DRIVER=llvmpipe
matches_llvmpipe "es2tri" "$work/es2tri-remote.png" "$work/es2tri-direct.png" 0

say "es2gears: 6 seconds"
timeout -s INT 6 env LD_LIBRARY_PATH="$XEN3D_REMOTE_EGL" LIBGL_DRIVERS_PATH="$XEN3D_REMOTE_EGL" \
  XEN3D_TRANSPORT="local:$sock" stdbuf -oL es2gears_x11 >"$work/es2gears.log" 2>&1 || true
cat "$work/es2gears.log"
frames=$(sed -n 's/^\([0-9]*\) frames in .*/\1/p' "$work/es2gears.log" | head -1)
[ -n "$frames" ] && [ "$frames" -gt 0 ] || fail "es2gears drew no frames through the remote driver"

say "glmark2-es2: two scenes"
out=$(guest_egl glmark2-es2 -s 320x240 -b build:duration=2 -b shading:shading=phong:duration=2 2>&1) ||
  { echo "$out"; fail "glmark2-es2 failed through the remote driver"; }
grep -E 'GL_RENDERER|\[build\]|\[shading\]|Score' <<<"$out"
grep -q "GL_RENDERER: *xen3d ($(host_driver)" <<<"$out" || fail "glmark2-es2 did not render remote"
score=$(sed -n 's/.*glmark2 Score: \([0-9]*\).*/\1/p' <<<"$out")
[ -n "$score" ] && [ "$score" -gt 0 ] || fail "glmark2-es2 gave no score"
# A score counts frames, not what they hold: glmark2 checks the same scenes' pixels.
out=$(guest_egl glmark2-es2 -s 320x240 --validate -b build -b shading:shading=phong 2>&1) ||
  { echo "$out"; fail "glmark2-es2 --validate failed through the remote driver"; }
grep 'Validation' <<<"$out"
[ "$(grep -c 'Validation: Success' <<<"$out")" = 2 ] || fail "glmark2-es2's frames are not what its scenes draw"
say "ok"
