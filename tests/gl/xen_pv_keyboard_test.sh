#!/usr/bin/env bash
# Xen PV keyboards (kbdif, the protocol of Linux's xen-kbdfront) as the input
# of Xen domains' desktops, against xenemu (the EMULATION of the Xen calls:
# xen/emulation/README.md). Two domains, each with a PV display (its desktop)
# and a PV keyboard; xen-pv-keyboard-guest plays libxl and xen-kbdfront.
#   - keys, clicks and the wheel from a VNC viewer (with the password) reach
#     the selected domain's keyboard, the pointer scaled to the device's range;
#   - the other domain gets nothing, until it is selected;
#   - a guest that breaks its event ring is cut off alone; one that stops
#     reading loses input and nothing else.
. "$(dirname "$0")/harness.sh"
: "${XENEMU_BROKER:?}" "${XENEMU_CTL:?}" "${XEN3DCTL:?}" "${PV_DISPLAY_GUEST:?}" "${PV_KEYBOARD_GUEST:?}" "${VNC_INPUT:?}"

start_xenemu
"$XENEMU_CTL" "$emu" create 7 vm-seven >/dev/null || fail "cannot create domain 7"
"$XENEMU_CTL" "$emu" create 8 vm-eight >/dev/null || fail "cannot create domain 8"
ctl=$work/control.sock
vnc_with_password 17900
XEN3D_XENEMU_DOMID=0 start_compositor --listen xen --control "$ctl" --output "vnc:$vnc_port" \
  --vnc-password-file "$work/vnc-pass"
grep -q "PV keyboard backend: serving" "$work/compositor.log" || fail "no PV keyboard backend"
ctl() { "$XEN3DCTL" --socket "$ctl" "$@"; }

# Each domain: a 320x200 PV display (its desktop) and a PV keyboard whose
# absolute range is the connector's size.
for d in 7 8; do
  XEN3D_XENEMU_DOMID=0 "$PV_DISPLAY_GUEST" toolstack-add $d 0 320x200 >>"$work/toolstack.log" 2>&1 || fail "vdispl toolstack-add $d"
  XEN3D_XENEMU_DOMID=$d "$PV_DISPLAY_GUEST" front 0 --timeout 120 --fill 0,0,128 --hold 110 >"$work/display-$d.log" 2>&1 &
  pids+=($!)
  XEN3D_XENEMU_DOMID=0 "$PV_KEYBOARD_GUEST" toolstack-add $d 0 --width 320 --height 200 >>"$work/toolstack.log" 2>&1 ||
    fail "vkbd toolstack-add $d"
done
XEN3D_XENEMU_DOMID=7 "$PV_KEYBOARD_GUEST" front 0 --timeout 100 >"$work/kbd-7.log" 2>&1 &
pids+=($!)
XEN3D_XENEMU_DOMID=8 "$PV_KEYBOARD_GUEST" front 0 --timeout 100 --attack cons >"$work/kbd-8.log" 2>&1 &
pids+=($!)
wait_log "$work/kbd-7.log" '^connected' 20
wait_log "$work/kbd-8.log" '^connected' 20
for vm in vm-seven vm-eight; do
  for _ in $(seq 50); do ctl list | grep -q "^$vm	" && break; sleep 0.1; done
done
ctl list | grep -q "^vm-eight	" || fail "the PV display desktops did not open: $(ctl list)"
say "two domains with a PV display and a PV keyboard each"

say "vm-seven selected: a VNC click at (100,50), the key 'a', a wheel notch"
ctl switch vm-seven >/dev/null
vnc click:100,50 key:a wheel-up:100,50
# The pixel's centre in the device's [0,320] x [0,200]: (100.5 * 321 / 320, 50.5 * 201 / 200).
wait_log "$work/kbd-7.log" '^pos 100 50 0$' 10
wait_log "$work/kbd-7.log" '^key 272 down$' 5   # BTN_LEFT
wait_log "$work/kbd-7.log" '^key 272 up$' 5
wait_log "$work/kbd-7.log" '^key 30 down$' 5    # KEY_A
wait_log "$work/kbd-7.log" '^key 30 up$' 5
wait_log "$work/kbd-7.log" '^pos 100 50 -1$' 5  # the wheel, one notch up (xen-kbdfront reports -rel_z)
grep -Eq '^(key|pos)' "$work/kbd-8.log" && fail "vm-eight, not selected, got input: $(cat "$work/kbd-8.log")"
say "vm-seven's keyboard got them, scaled; vm-eight got nothing"

say "the far corner lands on the device's far corner"
vnc move:319,199
wait_log "$work/kbd-7.log" '^pos 320 200 0$' 10

say "vm-eight selected: it breaks its event ring after the first event and is cut off alone"
ctl switch vm-eight >/dev/null
vnc key:b sleep:100 key:c
wait_log "$work/kbd-8.log" '^attacked' 10
wait_log "$work/compositor.log" 'pv keyboard dom8/0: the guest broke its event ring' 10
wait_log "$work/kbd-8.log" '^closed' 10
kill -0 "$comp_pid" || fail "the compositor died"
ctl switch vm-seven >/dev/null
vnc key:d
wait_log "$work/kbd-7.log" '^key 32 down$' 10   # KEY_D
say "vm-seven still types after vm-eight was cut off"

say "a keyboard that stops reading loses input, nothing else"
XEN3D_XENEMU_DOMID=0 "$PV_KEYBOARD_GUEST" toolstack-add 8 1 --width 320 --height 200 >>"$work/toolstack.log" 2>&1 || fail "vkbd toolstack-add 8 1"
XEN3D_XENEMU_DOMID=8 "$PV_KEYBOARD_GUEST" front 1 --timeout 60 --attack stall >"$work/kbd-8-stall.log" 2>&1 &
pids+=($!)
wait_log "$work/kbd-8-stall.log" '^connected' 20
ctl switch vm-eight >/dev/null
keys=()
for _ in $(seq 40); do keys+=(key:e); done   # 80 events: more than the ring's 51
vnc "${keys[@]}"
wait_log "$work/compositor.log" 'pv keyboard dom8/1: the guest reads no input' 10
kill -0 "$comp_pid" || fail "the compositor died"
ctl switch vm-seven >/dev/null
vnc key:f
wait_log "$work/kbd-7.log" '^key 33 down$' 10   # KEY_F
grep -q 'ERROR\|AddressSanitizer' "$work/compositor.log" && fail "the compositor logged errors: $(grep ERROR "$work/compositor.log")"
say "PASS"
