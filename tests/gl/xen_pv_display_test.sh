#!/usr/bin/env bash
# Xen PV displays (displif, the protocol of Linux's xen-drm-front) shown as VM
# desktops, against xenemu (the EMULATION of the Xen grant-table,
# event-channel and xenstore calls: xen/emulation/README.md; tests/xen-e2e
# runs the real xen-drm-front on a real Xen). xen-pv-display-guest
# (tests/xen/) writes libxl's vdispl nodes as the toolstack in dom0 and plays
# xen-drm-front in the guest's domain.
#   - the scanout arrives exact, flips and drawing without a flip included;
#   - hostile requests get error statuses and a corrupt ring cuts only that
#     device off: the other VM's desktop is untouched;
#   - a guest that closes its display, or a destroyed domain, loses its
#     desktop and every grant page the compositor had mapped from it.
. "$(dirname "$0")/harness.sh"
: "${XENEMU_BROKER:?}" "${XENEMU_CTL:?}" "${XEN3DCTL:?}" "${PV_DISPLAY_GUEST:?}"

start_xenemu
"$XENEMU_CTL" "$emu" create 7 vm-seven >/dev/null || fail "cannot create domain 7"
"$XENEMU_CTL" "$emu" create 8 vm-eight >/dev/null || fail "cannot create domain 8"
ctl=$work/control.sock
XEN3D_XENEMU_DOMID=0 start_compositor --listen xen --control "$ctl"
grep -q "PV display backend: serving" "$work/compositor.log" || fail "no PV display backend"

ctl() { "$XEN3DCTL" --socket "$ctl" "$@"; }
toolstack() { XEN3D_XENEMU_DOMID=0 "$PV_DISPLAY_GUEST" "$@" >>"$work/toolstack.log" 2>&1 || fail "toolstack $*"; }
start_front() {  # domid, log, front options...: xen-drm-front's part, in the background
  local d=$1 log=$2
  shift 2
  XEN3D_XENEMU_DOMID=$d "$PV_DISPLAY_GUEST" front 0 --timeout 20 "$@" >"$log" 2>&1 &
  front_pid=$!
  pids+=($front_pid)
}
wait_line() {  # log, text, seconds
  for _ in $(seq $(( $3 * 10 ))); do grep -q "$2" "$1" && return 0; sleep 0.1; done
  fail "no '$2' in $1 after $3 s: $(tail -5 "$1")"
}
# KiB of guest grant pages the compositor has mapped (xenemu maps them from memfds).
mapped_kib() {
  local kib=0 range perms off dev inode path
  while read -r range perms off dev inode path; do
    case $path in *xenemu-grant*) kib=$(( kib + (0x${range#*-} - 0x${range%-*}) / 1024 )) ;; esac
  done <"/proc/$comp_pid/maps"
  echo "$kib"
}
# `ctl list` names the VM desktop $1 (or not, with $2 = gone) within 5 s.
wait_desktop() {
  for _ in $(seq 50); do
    if ctl list | cut -f1 | grep -qx "$1"; then [ "${2:-}" != gone ] && return 0
    else [ "${2:-}" = gone ] && return 0; fi
    sleep 0.1
  done
  fail "desktop $1 ${2:-did not appear}: $(ctl list)"
}
pixel_is() {  # png, x, y, "R G B"
  local px
  px=$("$PNG_COMPARE" --pixel "$1" "$2" "$3")
  [ "$px" = "$4" ] || fail "$(basename "$1") has ($px) at $2,$3, expected ($4)"
}
base_kib=$(mapped_kib)

say "vm-seven: a 320x200 PV display, blue with a red rectangle, three flips"
toolstack toolstack-add 7 0 320x200
start_front 7 "$work/seven.log" --fill 0,0,128 --rect 10,20,30,40,200,40,40 --flips 3 \
  --after-rect 100,100,20,10,0,255,0 --hold 600
seven=$front_pid
wait_line "$work/seven.log" "holding" 20
grep -q "flip 3 done" "$work/seven.log" || fail "the third flip was not completed: $(cat "$work/seven.log")"
wait_desktop vm-seven
ctl list | grep "^vm-seven" | grep -q "320x200" || fail "vm-seven is not 320x200: $(ctl list)"
# The after-rect was drawn with no request at all, as Xorg draws into its
# front buffer: the backend's refresh has to find it.
for _ in $(seq 30); do
  ctl screenshot vm-seven "$work/seven.png" >/dev/null || fail "screenshot of vm-seven failed"
  [ "$("$PNG_COMPARE" --pixel "$work/seven.png" 105 105)" = "0 255 0" ] && break
  sleep 0.1
done
pixel_is "$work/seven.png" 5 5 "0 0 128"
pixel_is "$work/seven.png" 15 25 "200 40 40"
pixel_is "$work/seven.png" 39 59 "200 40 40"
pixel_is "$work/seven.png" 40 60 "0 0 128"
pixel_is "$work/seven.png" 105 105 "0 255 0"
pixel_is "$work/seven.png" 319 199 "0 0 128"
seven_kib=$(mapped_kib)
[ "$seven_kib" -ge $(( base_kib + 250 )) ] || fail "the compositor maps only $seven_kib KiB (base $base_kib) for a 250 KiB scanout"

say "vm-eight: hostile requests are refused; the device keeps working"
toolstack toolstack-add 8 0 64x64
for attack in bad-op huge-dbuf bad-gref short-dbuf dup-cookie; do
  XEN3D_XENEMU_DOMID=8 "$PV_DISPLAY_GUEST" front 0 --timeout 20 --attack "$attack" >"$work/attack-$attack.log" 2>&1 ||
    fail "attack $attack: $(tail -5 "$work/attack-$attack.log")"
done
grep -q "refused" "$work/compositor.log" || fail "the compositor logged no refusal"

say "vm-eight: a corrupt request ring cuts its device off, and only it"
XEN3D_XENEMU_DOMID=8 "$PV_DISPLAY_GUEST" front 0 --timeout 20 --attack ring-prod >"$work/attack-ring.log" 2>&1 ||
  fail "attack ring-prod: $(tail -5 "$work/attack-ring.log")"
grep -q "broke its request ring" "$work/compositor.log" || fail "the compositor did not report the broken ring"
kill -0 "$comp_pid" || fail "the compositor died"
ctl screenshot vm-seven "$work/seven-after.png" >/dev/null || fail "screenshot of vm-seven failed after the attack"
pixel_is "$work/seven-after.png" 15 25 "200 40 40"
pixel_is "$work/seven-after.png" 105 105 "0 255 0"

say "vm-eight: a destroyed domain loses its desktop and its mappings"
start_front 8 "$work/eight.log" --fill 10,200,10 --hold 600
wait_line "$work/eight.log" "holding" 20
wait_desktop vm-eight
"$XENEMU_CTL" "$emu" destroy 8 >/dev/null || fail "cannot destroy domain 8"
toolstack toolstack-remove 8 0  # libxl removes the device with the domain
wait_desktop vm-eight gone
for _ in $(seq 50); do [ "$(mapped_kib)" -le "$seven_kib" ] && break; sleep 0.1; done
[ "$(mapped_kib)" -le "$seven_kib" ] || fail "vm-eight's pages are still mapped: $(mapped_kib) KiB, was $seven_kib"

say "vm-seven: the guest closes its display"
kill -TERM "$seven"
wait "$seven" || fail "the vm-seven frontend failed: $(tail -5 "$work/seven.log")"
wait_desktop vm-seven gone
for _ in $(seq 50); do [ "$(mapped_kib)" -le "$base_kib" ] && break; sleep 0.1; done
[ "$(mapped_kib)" -le "$base_kib" ] || fail "grant pages left mapped: $(mapped_kib) KiB, base $base_kib"
kill -0 "$comp_pid" || fail "the compositor died"
say "PASS"
