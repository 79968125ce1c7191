#!/usr/bin/env bash
# Makes the fuzz seeds in tests/fuzz/seeds/ from real GL programs: each runs
# through the remote driver on a compositor recording its stream
# (--record), and the recording is cut to its first presents
# (trim_recording.py). stream/ holds recordings (xen3d-fuzz-stream), raw/
# the same records back to back (xen3d-fuzz-raw).
#
#   tests/fuzz/make_seeds.sh [BUILD_DIR]      (default: build)
#
# The seeds are committed; run this again when the wire protocol changes.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
export XEN3D_COMPOSITOR=$build/host/compositor/xen3d-compositor
export XEN3D_INFO=$build/guest/winsys-remote/xen3d-info
export XEN3D_REMOTE_GL=$build/guest/winsys-remote
export XEN3D_DIRECT_GL=$build/subprojects/mesa-22.3.6/src/gallium/targets/libgl-xlib
export PNG_COMPARE=$build/tests/png-compare X_GRAB=$build/tests/x-grab
x_window=$build/tests/x-window
piglit=/usr/lib/x86_64-linux-gnu/piglit
. "$top/tests/gl/harness.sh"
start_xvfb
start_compositor --record "$work/rec" -q

run() {  # name timeout_s command...
  local name=$1 t=$2
  shift 2
  say "recording $name"
  guest timeout "$t" "$@" >"$work/$name.log" 2>&1 || true
}
run x-window 3 "$x_window" --gl --name seed --geometry 64x48+0+0 --color 200,40,40
run glxgears 2 glxgears
run fbo-generatemipmap 20 "$piglit/bin/fbo-generatemipmap" -auto -fbo
run occlusion-query 20 "$piglit/bin/occlusion_query" -auto -fbo
run draw-elements 20 "$piglit/bin/draw-elements" -auto -fbo
run compute 20 "$piglit/bin/arb_compute_shader-indirect-compute" -auto -fbo
run xfb 20 "$piglit/bin/ext_transform_feedback-interleaved" -auto -fbo
run texture-shader 20 "$piglit/bin/shader_runner" \
  "$piglit/tests/spec/glsl-1.30/execution/vs-textureLod-miplevels-biased.shader_test" -auto -fbo
run image-store 20 "$piglit/bin/arb_shader_image_load_store-level" -auto -fbo
kill "$comp_pid"; wait "$comp_pid" 2>/dev/null || true

out=$top/tests/fuzz/seeds
rm -rf "$out"
mkdir -p "$out/stream" "$out/raw"
for rec in "$work"/rec/*.x3drec; do
  name=$(basename "$rec" .x3drec)
  name=${name#guest*-}
  python3 "$top/tests/fuzz/trim_recording.py" "$rec" "$out/stream/$name.x3drec" --raw "$out/raw/$name.raw" \
    --presents 2 --max-bytes $((256 * 1024))
done
du -sh "$out"
