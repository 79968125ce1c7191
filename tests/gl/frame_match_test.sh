#!/usr/bin/env bash
# Presented frames match llvmpipe rendering the same GL calls directly.
#
# Real programs animate with the clock, so each one is first recorded with
# apitrace; the recording is then replayed twice: through the remote driver
# (the compositor snapshots the N-th presented frame) and on Mesa's own xlib
# libGL with llvmpipe (glretrace snapshots frame N-1, counted from 0). Same
# Mesa, same LLVM, same calls. The fixed-function and simple-shader programs
# must be exact but for one level on a few pixels (matches_llvmpipe). The glmark2 scenes may differ by a few levels on a few
# pixels: guests ship TGSI (st/mesa runs nir_to_tgsi), which llvmpipe compiles
# through its TGSI front end, while direct llvmpipe compiles NIR; the two
# round some float expressions differently, and a refracted or reflected
# lookup can land on the other side of an edge. At most 0.5% of pixels may
# differ at all, and at most 0.05% by more than 4 levels per channel. The
# failures remoting can cause (lost uploads, wrong state, stale buffers) hit
# whole objects, far beyond either bound.
. "$(dirname "$0")/harness.sh"
start_xvfb
start_compositor --snapshot-frames 1,2,3,4,5,6,7,8,9,10,11,12

check() {  # name, frame, tolerance (levels), command...
  local name=$1 frame=$2 tol=$3
  shift 3
  say "$name: record"
  # Recorded for a few seconds, then trimmed to $frame frames. On a loaded
  # machine the first frames (shader compiles on both sides) take longer:
  # then the recording is made again, for longer.
  local frames secs
  for secs in 3 20; do
    timeout -s INT "$secs" env XEN3D_TRANSPORT="local:$sock" LD_LIBRARY_PATH="$XEN3D_REMOTE_GL" \
      apitrace trace -o "$work/$name.full.trace" "$@" >"$work/$name.trace.log" 2>&1 || true
    apitrace trim --frames="0-$((frame - 1))" -o "$work/$name.trace" "$work/$name.full.trace" >/dev/null 2>&1 ||
      fail "$name: could not trim the recording"
    frames=$(apitrace info "$work/$name.trace" | sed -n 's/.*"FramesCount": \([0-9]*\).*/\1/p')
    [ "$frames" = "$frame" ] && break
    say "$name: only $frames of $frame frames in ${secs} s; recording again"
  done
  [ "$frames" = "$frame" ] || fail "$name: recorded $frames frames, wanted $frame"

  say "$name: replay on llvmpipe directly"
  direct glretrace --call-nos=false -s "$work/$name-ref-" -S "frame" "$work/$name.trace" >"$work/$name.ref.log" 2>&1 ||
    { cat "$work/$name.ref.log"; fail "$name: direct replay failed"; }
  local ref
  ref=$(printf '%s/%s-ref-%010d.png' "$work" "$name" $((frame - 1)))
  [ -f "$ref" ] || fail "$name: no reference snapshot $ref"

  say "$name: replay through the remote driver"
  rm -f "$snap"/*.png
  guest glretrace "$work/$name.trace" >"$work/$name.remote.log" 2>&1 ||
    { cat "$work/$name.remote.log"; fail "$name: remote replay failed"; }
  local got
  got=$(ls "$snap"/guest*-frame"$frame".png 2>/dev/null | head -1)
  [ -n "$got" ] || fail "$name: the compositor kept no frame $frame ($(ls "$snap"))"
  matches_llvmpipe "$name: frame $frame" "$got" "$ref" "$tol"
}

check glxgears 10 0 glxgears
check glxdemo 1 0 glxdemo
check glxheads 3 0 glxheads
check glmark2-texture 8 4 glmark2 -s 320x240 -b texture:duration=4
check glmark2-shading 8 4 glmark2 -s 320x240 -b shading:shading=phong:duration=4
check glmark2-refract 8 4 glmark2 -s 320x240 -b refract:duration=4
say "ok"
