#!/usr/bin/env bash
# A Xen domain's X server with the xen3d module on the domain's PV display,
# against xenemu (the EMULATION of the Xen calls: xen/emulation/README.md;
# tests/xen-e2e runs it on a real Xen). Domain 7 has a PV display (its
# desktop, played by xen-pv-display-guest) and a PV keyboard
# (xen-pv-keyboard-guest); a real Xorg with the module runs "in" domain 7 and
# reaches the compositor over the xen transport.
#   - the module attaches to the PV display's desktop (desktop_attach) instead
#     of opening one: a GL window's frames are composited over the scanout at
#     the window's place, and the guest's own X screen never gets them
#     (composited, not read back);
#   - VNC input goes to the PV keyboard, and to the module's X input devices
#     once the PV keyboard is gone;
#   - when the X server goes, the desktop stays (the scanout) without the GL window.
. "$(dirname "$0")/harness.sh"
: "${XENEMU_BROKER:?}" "${XENEMU_CTL:?}" "${PV_DISPLAY_GUEST:?}" "${PV_KEYBOARD_GUEST:?}" "${VNC_INPUT:?}" \
  "${X_WINDOW:?}" "${X_INPUT_PROBE:?}"

start_xenemu
"$XENEMU_CTL" "$emu" create 7 vm-seven >/dev/null || fail "cannot create domain 7"
ctl=$work/control.sock
vnc_with_password 18900
XEN3D_XENEMU_DOMID=0 start_compositor --listen xen --control "$ctl" --output "vnc:$vnc_port" \
  --vnc-password-file "$work/vnc-pass"
. "$(dirname "$0")/guest_xorg.sh"
px() { "$PNG_COMPARE" --pixel "$@"; }
expect_desktop() {  # X Y "R G B" WHAT
  local got=""
  for _ in $(seq 100); do
    ctl screenshot vm-seven "$work/check.png" >/dev/null || fail "screenshot of vm-seven failed"
    got=$(px "$work/check.png" "$1" "$2")
    [ "$got" = "$3" ] && { say "vm-seven ($1,$2) = $got: $4"; return 0; }
    sleep 0.1
  done
  fail "vm-seven at ($1,$2): want $3 ($4), got $got"
}

say "domain 7: a 640x480 PV display (dark blue) and a PV keyboard"
XEN3D_XENEMU_DOMID=0 "$PV_DISPLAY_GUEST" toolstack-add 7 0 640x480 >>"$work/toolstack.log" 2>&1 || fail "vdispl toolstack-add"
XEN3D_XENEMU_DOMID=7 "$PV_DISPLAY_GUEST" front 0 --timeout 200 --fill 0,0,128 --hold 190 >"$work/display.log" 2>&1 &
pids+=($!)
XEN3D_XENEMU_DOMID=0 "$PV_KEYBOARD_GUEST" toolstack-add 7 0 --width 640 --height 480 >>"$work/toolstack.log" 2>&1 || fail "vkbd toolstack-add"
XEN3D_XENEMU_DOMID=7 "$PV_KEYBOARD_GUEST" front 0 --timeout 200 >"$work/kbd.log" 2>&1 &
kbd_pid=$!
pids+=($kbd_pid)
wait_log "$work/display.log" 'holding' 20
wait_log "$work/kbd.log" '^connected' 20
expect_desktop 50 50 "0 0 128" "the PV display's scanout"

say "domain 7's Xorg with the module attaches to that desktop"
XORG_TRANSPORT=xen XORG_DOMID=7 start_xorg guest 640x480
wait_log "$work/xorg-guest.log" "the domain's PV display" 20
grep -q "vm-seven': dom7's window system attached" "$work/compositor.log" || fail "the compositor did not attach the window system"
[ "$(ctl list | grep -c .)" = 1 ] || fail "the module opened a second desktop: $(ctl list)"

say "a GL window in domain 7 is composited over the scanout, not read back"
DISPLAY=$guest_display LD_LIBRARY_PATH="$XEN3D_REMOTE_GL" XEN3D_TRANSPORT=xen XEN3D_XENEMU_DOMID=7 XEN3D_DEBUG=1 \
  "$X_WINDOW" --gl --name green --geometry 160x120+200+100 --color 0,255,0 >"$work/gl.log" 2>&1 &
pids+=($!)
expect_desktop 250 150 "0 255 0" "the GL window, composited"
expect_desktop 50 50 "0 0 128" "the scanout around it"
DISPLAY=$guest_display "$X_GRAB" "$work/guest-screen.png" || fail "cannot grab the guest's own screen"
[ "$(px "$work/guest-screen.png" 250 150)" != "0 255 0" ] || fail "the GL frame was read back into the guest's X screen"
say "the guest's own screen does not have the GL frame: $(px "$work/guest-screen.png" 250 150)"

say "input: to the PV keyboard while it is there, then to the module's X input devices"
DISPLAY=$guest_display "$X_INPUT_PROBE" --geometry 100x80+400+300 >"$work/probe.log" 2>&1 &
pids+=($!)
wait_log "$work/probe.log" '^ready' 10
vnc key:a
wait_log "$work/kbd.log" '^key 30 down$' 10
grep -Eq '^key press' "$work/probe.log" && fail "the module's devices typed too while the PV keyboard is there"
kill -TERM "$kbd_pid"
wait_log "$work/kbd.log" 'closed the device' 10
wait_log "$work/compositor.log" 'pv keyboard dom7/0: the guest closed the device' 10
vnc click:450,340 key:b
wait_log "$work/probe.log" '^button press 1 x=450 y=340 ' 10
wait_log "$work/probe.log" '^key press .* sym=b ' 10
say "the module's devices took over: $(grep -m1 '^key press' "$work/probe.log" | cut -d' ' -f1-4)"

say "the X server goes: the desktop stays, without the GL window"
kill -TERM "$guest_pid"
expect_desktop 250 150 "0 0 128" "the scanout again where the GL window was"
ctl list | grep -q '^vm-seven	' || fail "the PV display's desktop went with the X server"
grep -q 'ERROR\|AddressSanitizer' "$work/compositor.log" && fail "the compositor logged errors: $(grep ERROR "$work/compositor.log")"
say "PASS"
