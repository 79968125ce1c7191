#!/usr/bin/env bash
# A GL window's frames reach its X window straight from the memory the host
# renders them in (frame_share, then MIT-SHM with file descriptors; the local
# transport): the right pixels in the right places, after a resize too (new
# buffers are shared again), and the same image as frames read back
# (XEN3D_PRESENT=readback). XEN3D_STATS counts which way every frame went.
. "$(dirname "$0")/harness.sh"
: "${X_WINDOW:?}"
start_xvfb
# Window buffers in memfds are the software drivers' winsys (zink's are
# Vulkan memory, read back: docs/gpu-hosts.md).
start_compositor --driver llvmpipe

colour="30 140 220" inverse="225 115 35"
w=417 h=255  # odd sizes: rows are padded in the host's memory

# Waits until window $1's grab ($2) is $w x $h with the marker in place.
grab_resized() {
  local name=$1 png=$2
  for _ in $(seq 100); do
    if "$X_GRAB" --name "$name" "$png" 2>/dev/null &&
       [ "$(python3 -c "import struct; print('%dx%d' % struct.unpack('>II', open('$png','rb').read(24)[16:24]))")" = "${w}x$h" ] &&
       [ "$("$PNG_COMPARE" --pixel "$png" 2 2)" = "$inverse" ]; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

expect_pixel() {  # png x y "R G B"
  local got
  got=$("$PNG_COMPARE" --pixel "$1" "$2" "$3")
  [ "$got" = "$4" ] || fail "$(basename "$1"): pixel $2,$3 is ($got), expected ($4)"
}

for mode in shared readback; do
  say "$mode: x-window resized from 301x203 to ${w}x$h"
  extra=()
  [ "$mode" = readback ] && extra=(XEN3D_PRESENT=readback)
  start_guest "$work/$mode.log" env XEN3D_DEBUG=1 XEN3D_STATS=1 "${extra[@]}" \
    "$X_WINDOW" --gl --marker --name "$mode" --geometry 301x203+0+0 --color "${colour// /,}" --resize "${w}x$h@20"
  pid=$guest_pid
  grab_resized "$mode" "$work/$mode.png" || { cat "$work/$mode.log"; fail "$mode: the resized window never showed its frame"; }
  # The quarter's edges (GL's scissor rows count from the bottom) and the far corners.
  expect_pixel "$work/$mode.png" $((w / 2 - 1)) $((h / 2 - 1)) "$inverse"
  expect_pixel "$work/$mode.png" $((w / 2)) $((h / 2 - 1)) "$colour"
  expect_pixel "$work/$mode.png" $((w / 2 - 1)) $((h / 2)) "$colour"
  expect_pixel "$work/$mode.png" $((w - 1)) $((h - 1)) "$colour"
  expect_pixel "$work/$mode.png" 0 $((h - 1)) "$colour"
  expect_pixel "$work/$mode.png" $((w - 1)) 0 "$colour"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  no_lost_context "$work/$mode.log"
  frames=$(sed -n 's/^xen3d: frames: \([0-9]*\) shown from the host.s memory, \([0-9]*\) read back.*/\1 \2/p' "$work/$mode.log")
  [ -n "$frames" ] || { cat "$work/$mode.log"; fail "$mode: no frame counts in the guest's stats"; }
  read -r shared readback <<<"$frames"
  say "$mode: $shared frames shown from the host's memory, $readback read back"
  if [ "$mode" = shared ]; then
    grep -q "frames are shown from the memory the host renders them in" "$work/$mode.log" ||
      { cat "$work/$mode.log"; fail "the guest did not share its frames with the X server"; }
    [ "$readback" -eq 0 ] && [ "$shared" -gt 20 ] || fail "shared: frames went another way (after the resize?)"
  else
    [ "$shared" -eq 0 ] && [ "$readback" -gt 20 ] || fail "readback: XEN3D_PRESENT=readback still shared frames"
  fi
done
"$PNG_COMPARE" "$work/shared.png" "$work/readback.png" || fail "shared and read-back frames differ"
say "PASS"
