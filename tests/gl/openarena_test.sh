#!/usr/bin/env bash
# A real game keeps rendering to the end: OpenArena's timedemo (its bundled
# demo088-test1, Debian's openarena) at 320x200, first on llvmpipe in-process,
# then through the remote driver. Through the remote driver:
#   - no context is lost (the game loads its level while drawing: the most
#     uploads of any moment; a dropped record used to freeze it there);
#   - every frame the game swapped was presented (XEN3D_STATS), and it drew
#     as many demo frames as on llvmpipe;
#   - frames 900 and 1700 ($OA_FRAME), from the middle of the demo, match
#     llvmpipe's within the bounds gl-frame-match uses for shaders compiled
#     from TGSI.
# Timedemo frames are deterministic (each frame advances the demo 50 ms), and
# libframe-grab.so (tests/gl/frame_grab.cpp) saves the same frames on both
# stacks. The 2D HUD is off (cg_draw2D 0): its 3D head turns at random, as
# do some explosions' particles (frames chosen without them). So are the
# console's notify lines (con_notifytime 0): they expire in real time, so a
# slower stack (the sanitized compositor) shows fewer of them. Prints both timedemo rates (an observation; bench/apps_bench.sh
# measures).
. "$(dirname "$0")/harness.sh"
openarena=$(command -v openarena || echo /usr/games/openarena)
[ -x "$openarena" ] || fail "openarena is not installed (scripts/setup.sh installs it)"
size=${OA_SIZE:-320x200} frame=${OA_FRAME:-900,1700}
start_xvfb
start_compositor

# run STACK: the timedemo on one stack (direct or remote), log in $work/STACK.log.
run() {
  local stack=$1 home=$work/oa-$1
  mkdir -p "$home" "$work/$stack"
  local -a env=(SDL_VIDEO_GL_DRIVER="$FRAME_GRAB" SDL_OPENGL_LIBRARY="$FRAME_GRAB" XEN3D_GRAB_FRAMES="$frame" XEN3D_GRAB_DIR="$work/$stack")
  if [ "$stack" = direct ]; then
    env+=(LD_LIBRARY_PATH="$XEN3D_DIRECT_GL" GALLIUM_DRIVER=llvmpipe)
  else
    env+=(LD_LIBRARY_PATH="$XEN3D_REMOTE_GL" XEN3D_TRANSPORT="local:$sock" XEN3D_STATS=1)
  fi
  say "$stack: timedemo demo088-test1 at $size"
  env "${env[@]}" timeout -k 10 600 "$openarena" +set fs_homepath "$home" +set com_hunkmegs 256 \
    +set r_fullscreen 0 +set r_mode -1 +set r_customwidth "${size%x*}" \
    +set r_customheight "${size#*x}" +set s_initsound 0 +set com_introplayed 1 +set in_nograb 1 +set cg_draw2D 0 +set con_notifytime 0 \
    +set timedemo 1 +set nextdemo quit +demo demo088-test1 </dev/null >"$work/$stack.log" 2>&1 ||
    { tail -20 "$work/$stack.log"; fail "$stack: openarena exited with an error"; }
}
# ioquake3 prints "3398 frames 174.7 seconds 19.5 fps min/avg/max/dev ms".
demo_frames() { sed -n 's/^\([0-9]*\) frames,\{0,1\} [0-9.]* seconds.*/\1/p' "$1" | tail -1; }
demo_fps() { sed -n 's/^[0-9]* frames,\{0,1\} [0-9.]* seconds:\{0,1\} \([0-9.]*\) fps.*/\1/p' "$1" | tail -1; }
swapped() { sed -n 's/^frame-grab: \([0-9]*\) frames swapped/\1/p' "$1" | tail -1; }

run direct
ref_frames=$(demo_frames "$work/direct.log")
[ -n "$ref_frames" ] || { tail -20 "$work/direct.log"; fail "direct: the timedemo did not finish"; }
for f in ${frame//,/ }; do [ -f "$work/direct/frame$f.png" ] || fail "direct: frame $f was not saved"; done

run remote
no_lost_context "$work/remote.log"
got_frames=$(demo_frames "$work/remote.log")
[ -n "$got_frames" ] || { tail -20 "$work/remote.log"; fail "remote: the timedemo did not finish"; }
[ "$got_frames" = "$ref_frames" ] || fail "remote: the demo ran $got_frames frames, on llvmpipe $ref_frames"
swaps=$(swapped "$work/remote.log")
[ -n "$swaps" ] || fail "remote: frame-grab did not report"
presented_at_least "$work/remote.log" "$swaps"
grep '^xen3d: bulk heap' "$work/remote.log" || true
for f in ${frame//,/ }; do
  [ -f "$work/remote/frame$f.png" ] || fail "remote: frame $f was not saved"
  matches_llvmpipe "frame $f" "$work/remote/frame$f.png" "$work/direct/frame$f.png" 4
done
say "timedemo at $size: llvmpipe in-process $(demo_fps "$work/direct.log") fps, remote $(demo_fps "$work/remote.log") fps ($got_frames demo frames, $swaps swaps, all presented)"
say "ok"
