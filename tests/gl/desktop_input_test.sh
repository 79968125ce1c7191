#!/usr/bin/env bash
# Input into VM desktops: two guest Xorgs with the xen3d module, a program in
# each printing what input it gets (x-input-probe). Keys and clicks made into
# the compositor's window output (xdotool on the host's X server) and from a
# VNC viewer that logs in with the password (vnc-input, libvncclient) reach
# the selected VM's X clients at the right place, through the module's X
# input devices; the other VM gets nothing; keys held when a hotkey switches
# VMs are released in the VM left behind; a viewer with a wrong password is
# refused. Prints the VNC-to-guest-X-client latency.
. "$(dirname "$0")/harness.sh"
: "${X_INPUT_PROBE:?}" "${VNC_INPUT:?}"
command -v xdotool >/dev/null || fail "xdotool is not installed"

start_xvfb
ctl=$work/control.sock
vnc_port=$((16900 + $$ % 1000))
printf 'sekrit42\n' >"$work/vnc-pass"
printf 'wrong\n' >"$work/vnc-wrong"
chmod 600 "$work/vnc-pass" "$work/vnc-wrong"
start_compositor ${XEN3D_TEST_COMP_ARGS:-} --control "$ctl" --output window --output "vnc:$vnc_port" \
  --vnc-password-file "$work/vnc-pass" --max-fps 30
. "$(dirname "$0")/guest_xorg.sh"

start_xorg alpha
start_xorg beta
wait_vm alpha
wait_vm beta
for vm in alpha beta; do
  grep -q 'input devices "xen3d keyboard" and "xen3d pointer"' "$work/xorg-$vm.log" ||
    { grep xen3d "$work/xorg-$vm.log"; fail "$vm's Xorg has no xen3d input devices"; }
done
say "both guest X servers have the xen3d keyboard and pointer"

probe() {  # VM: starts x-input-probe on the VM's display, logging to $work/VM-input.log
  local display_var=$1_display
  DISPLAY=${!display_var} "$X_INPUT_PROBE" >"$work/$1-input.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do grep -q '^ready' "$work/$1-input.log" && return 0; sleep 0.1; done
  cat "$work/$1-input.log"
  fail "x-input-probe did not start on $1"
}
# seen VM PATTERN WHAT: the VM's probe reports a line matching PATTERN (input is asynchronous).
seen() {
  for _ in $(seq 100); do
    grep -Eq "$2" "$work/$1-input.log" && { say "$1 got $3: $(grep -Em1 "$2" "$work/$1-input.log" | cut -d' ' -f1-5)"; return 0; }
    sleep 0.1
  done
  echo "--- $1's probe:"; tail -20 "$work/$1-input.log"
  echo "--- compositor:"; tail -20 "$work/compositor.log"
  fail "$1 did not get $3"
}
clicks_and_keys() { grep -Ec '^(key|button) ' "$work/$1-input.log" || true; }

probe alpha
probe beta
ctl switch alpha >/dev/null || fail "xen3dctl switch alpha failed"

# The window output: the compositor's window on the host display.
win=$(xdotool search --classname xen3d-compositor | head -1)
[ -n "$win" ] || fail "no compositor window on the host display"
xdotool windowfocus --sync "$win" || fail "xdotool could not focus the compositor's window"
xdotool mousemove --window "$win" 123 45 click 1
seen alpha '^button press 1 x=123 y=45 ' "a click at (123,45) made into the host window"
xdotool key a
seen alpha '^key press .* sym=a ' "the key 'a' typed into the host window"
seen alpha '^key release .* sym=a ' "its release"
xdotool mousemove --window "$win" 300 200
seen alpha '^motion x=300 y=200 ' "the pointer moved to (300,200)"
[ "$(clicks_and_keys beta)" = 0 ] || { cat "$work/beta-input.log"; fail "beta, not selected, got input"; }
say "beta (not selected) got nothing"

# Ctrl+Alt+Right switches VMs: it stays with the compositor, and the Ctrl
# and Alt that alpha saw go down are released there.
xdotool key ctrl+alt+Right
for _ in $(seq 50); do ctl list | grep -q "^beta	.*selected" && break; sleep 0.1; done
ctl list | grep -q "^beta	.*selected" || { ctl list; fail "Ctrl+Alt+Right did not switch to beta"; }
seen alpha '^key release .* sym=Control_L ' "Ctrl released when the hotkey switched away"
seen alpha '^key release .* sym=Alt_L ' "Alt released when the hotkey switched away"
grep -Eq '^key .* sym=Right ' "$work/alpha-input.log" "$work/beta-input.log" && fail "the hotkey's Right key reached a VM"
say "the hotkey switched to beta and reached no VM"

# VNC: a wrong password is refused and types nothing.
before_beta=$(clicks_and_keys beta)
if "$VNC_INPUT" "127.0.0.1:$vnc_port" "$work/vnc-wrong" key:c >"$work/vnc-wrong.log" 2>&1; then
  fail "the VNC output let a viewer in with a wrong password"
fi
say "VNC refused a viewer with a wrong password"
"$VNC_INPUT" "127.0.0.1:$vnc_port" "$work/vnc-pass" click:200,100 key:b wheel-up:200,100 >"$work/vnc.log" 2>&1 ||
  { cat "$work/vnc.log"; fail "the VNC viewer could not log in with the password"; }
seen beta '^button press 1 x=200 y=100 ' "a VNC click at (200,100)"
seen beta '^key press .* sym=b ' "the key 'b' from VNC"
seen beta '^button press 4 ' "a wheel notch up from VNC"
grep -Eq '^key .* sym=c ' "$work/beta-input.log" && fail "the refused viewer's key reached beta"
alpha_after=$(clicks_and_keys alpha)
sleep 0.3
[ "$(clicks_and_keys alpha)" = "$alpha_after" ] || fail "alpha, not selected, got VNC input"

sent=$(sed -n 's/^sent key:b t=//p' "$work/vnc.log")
got=$(sed -n 's/^key press .* sym=b t=\([0-9]*\).*/\1/p' "$work/beta-input.log" | head -1)
[ -n "$sent" ] && [ -n "$got" ] || fail "no timestamps for the latency"
latency_us=$(( (got - sent) / 1000 ))
say "VNC key to the guest's X client: ${latency_us} us"
[ "$latency_us" -lt 500000 ] || fail "input took ${latency_us} us to reach the guest (over 0.5 s)"
grep -q 'ERROR\|AddressSanitizer' "$work/compositor.log" && { grep 'ERROR' "$work/compositor.log"; fail "the compositor logged errors"; }
say "PASS"
