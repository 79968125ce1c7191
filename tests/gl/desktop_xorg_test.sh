#!/usr/bin/env bash
# Two guest desktops, each a real Xorg (dummy video driver) with the xen3d
# module, each with a GL window partly covered by a 2D window. The compositor
# composites both on the host: the GL pixels are at the window's place, the
# covering window is on top, and moves, resizes, unmaps and maps update the
# composition. `xen3dctl switch` changes what the window output (on a host
# Xvfb) and the VNC output show; a real VNC client's capture matches the
# headless screenshot. No pixels are read back into the guests.
. "$(dirname "$0")/harness.sh"
: "${X_WINDOW:?}"

start_xvfb
host_display=$DISPLAY
ctl=$work/control.sock
vnc_port=$((15900 + $$ % 1000))
start_compositor ${XEN3D_TEST_COMP_ARGS:-} --control "$ctl" --output window --output "vnc:$vnc_port" --output "png:$work/png" --max-fps 30
. "$(dirname "$0")/guest_xorg.sh"

# Starts x-window on a guest display in the background.
on_vm() {
  local display=$1 log=$2
  shift 2
  DISPLAY=$display LD_LIBRARY_PATH="$XEN3D_REMOTE_GL" XEN3D_TRANSPORT="local:$sock" XEN3D_DEBUG=1 \
    "$X_WINDOW" "$@" >"$log" 2>&1 &
  pids+=($!)
}

px() { "$PNG_COMPARE" --pixel "$@"; }
shot() { ctl screenshot "$1" "$2" >/dev/null || fail "xen3dctl screenshot $1 failed"; }
# expect VM X Y "R G B" WHAT: the composed desktop shows that colour there (composition is asynchronous).
expect() {
  local vm=$1 x=$2 y=$3 want=$4 what=$5 got=""
  for _ in $(seq 100); do
    shot "$vm" "$work/check.png"
    got=$(px "$work/check.png" "$x" "$y")
    [ "$got" = "$want" ] && { say "$vm ($x,$y) = $got: $what"; return 0; }
    sleep 0.1
  done
  cp "$work/check.png" "$work/failed-$vm.png"
  fail "$vm at ($x,$y): want $want ($what), got $got (see $work/failed-$vm.png)"
}

green="0 255 0" red="255 0 0" blue="0 0 255" yellow="255 255 0" black="0 0 0"

start_xorg alpha
start_xorg beta
wait_vm alpha
wait_vm beta
say "desktops: $(ctl list | tr '\n' ' ')"

# alpha: GL 240x160 at (100,80); a red 2D window over its bottom-right corner.
# Each 2D window opens once its GL window shows: mapped later (a loaded
# machine starts the GL program slowly), the GL window would be on top.
on_vm "$alpha_display" "$work/alpha-gl.log" --gl --name alpha-gl --geometry 240x160+100+80 --color 0,255,0
expect alpha 300 200 "$green" "GL window, before the 2D window opens"
on_vm "$alpha_display" "$work/alpha-2d.log" --name alpha-2d --geometry 200x120+260+180 --color 255,0,0
# beta: GL 200x150 at (50,50); a yellow 2D window over part of it.
on_vm "$beta_display" "$work/beta-gl.log" --gl --name beta-gl --geometry 200x150+50+50 --color 0,0,255
expect beta 200 130 "$blue" "beta's GL window, before its 2D window opens"
on_vm "$beta_display" "$work/beta-2d.log" --name beta-2d --geometry 200x100+150+100 --color 255,255,0

expect alpha 150 100 "$green" "GL window, visible part"
expect alpha 300 200 "$red" "GL window under the 2D window"
expect alpha 400 280 "$red" "2D window alone"
expect alpha 20 20 "$black" "root window"
expect beta 100 80 "$blue" "beta's GL window"
expect beta 200 130 "$yellow" "beta's 2D window on top of its GL window"
grep -q "composited on the host" "$work/alpha-gl.log" || fail "alpha's GL app did not join the desktop: $(cat "$work/alpha-gl.log")"

# No readback: the GL window in the guest's own X server stays black.
DISPLAY=$alpha_display "$X_GRAB" --name alpha-gl "$work/alpha-guest-window.png" || fail "cannot grab alpha-gl in the guest"
[ "$(px "$work/alpha-guest-window.png" 50 20)" = "$black" ] || fail "the GL frame was read back into the guest X window"
say "the guest's own X window holds no GL pixels (nothing read back)"

# Move, resize, unmap, map.
DISPLAY=$alpha_display xdotool search --name '^alpha-gl$' windowmove 20 300
expect alpha 100 350 "$green" "GL window at its new place"
expect alpha 150 100 "$black" "where the GL window was"
expect alpha 300 200 "$red" "2D window unchanged"
DISPLAY=$alpha_display xdotool search --name '^alpha-gl$' windowsize 320 100
expect alpha 300 350 "$green" "GL window resized wider"
expect alpha 100 420 "$black" "below the resized GL window"
DISPLAY=$alpha_display xdotool search --name '^alpha-gl$' windowunmap
expect alpha 100 350 "$black" "GL window unmapped"
DISPLAY=$alpha_display xdotool search --name '^alpha-gl$' windowmap
expect alpha 100 350 "$green" "GL window mapped again"

# Outputs follow the selected VM: the window output on the host display and VNC.
vnc_shot() {
  vncsnapshot -quiet -nocursor -quality 100 "127.0.0.1::$vnc_port" "$work/vnc.jpg" >/dev/null 2>&1 || fail "vncsnapshot could not capture the VNC output"
  djpeg -pnm "$work/vnc.jpg" >"$work/vnc.ppm" || fail "djpeg failed"
}
window_shot() {
  local title
  title=$(ctl list | awk -F'\t' '$NF == "selected" {print $1}')
  DISPLAY=$host_display "$X_GRAB" --name "Xen3D - $title" "$work/window.png" || fail "no window output titled 'Xen3D - $title' on the host display"
}
for vm in alpha beta; do
  ctl switch "$vm" >/dev/null || fail "xen3dctl switch $vm failed"
  [ "$(ctl list | awk -F'\t' '$NF == "selected" {print $1}')" = "$vm" ] || fail "xen3dctl list does not show $vm selected"
  sleep 1
  shot "$vm" "$work/$vm.png"
  for _ in $(seq 50); do
    window_shot
    "$PNG_COMPARE" "$work/window.png" "$work/$vm.png" --tolerance 0 >/dev/null && break
    sleep 0.2
  done
  "$PNG_COMPARE" "$work/window.png" "$work/$vm.png" || fail "the window output does not show $vm"
  say "window output shows $vm"
  for _ in $(seq 20); do
    vnc_shot
    "$PNG_COMPARE" "$work/vnc.ppm" "$work/$vm.png" --tolerance 24 --max-differing 200 >/dev/null && break
    sleep 0.3
  done
  "$PNG_COMPARE" "$work/vnc.ppm" "$work/$vm.png" --tolerance 24 --max-differing 200 || fail "the VNC capture does not match $vm's screenshot"
  say "VNC client (vncsnapshot) sees $vm"
done
[ -s "$work/png/alpha.png" ] && [ -s "$work/png/beta.png" ] || fail "the PNG output wrote no alpha.png/beta.png"

# The window output's hotkey: Ctrl+Alt+Right goes to the next VM (beta -> alpha).
selected() { ctl list | awk -F'\t' '$NF == "selected" {print $1}'; }
DISPLAY=$host_display xdotool search --name '^Xen3D - beta$' windowfocus --sync key ctrl+alt+Right
for _ in $(seq 50); do [ "$(selected)" = alpha ] && break; sleep 0.1; done
[ "$(selected)" = alpha ] || fail "Ctrl+Alt+Right in the window output did not switch to alpha (selected: $(selected))"
say "Ctrl+Alt+Right in the host window switched to alpha"

ctl stats | tee "$work/stats.txt"
# The GL frames came from render workers, which say what taking each one cost.
presents=$(sed -n 's/^alpha\t.*presents=\([0-9]*\).*/\1/p' "$work/stats.txt")
present_ms=$(sed -n 's/^alpha\t.*present_ms_avg=\([0-9.]*\).*/\1/p' "$work/stats.txt")
[ "${presents:-0}" -gt 0 ] || fail "alpha's stats show no GL frames taken into the desktop"
awk -v m="${present_ms:-0}" 'BEGIN { exit !(m > 0) }' || fail "alpha's present_ms_avg is ${present_ms:-missing}: the workers' copy time is not counted"
kill -0 "$comp_pid" || fail "the compositor died"
say "OK"
