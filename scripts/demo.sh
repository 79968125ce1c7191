#!/usr/bin/env bash
# The main job: build, start the compositor on the host driver (llvmpipe),
# start guest desktops (real Xorg servers with the xen3d module, one per "VM"),
# run a real GL program in each through the remote pipe driver over the
# default local transport, and show the composited VM desktops: in a window
# on $DISPLAY when there is one, else over VNC; PNG files either way.
#
#   XEN3D_DEMO_APP="glxgears"   the GL program to run in each VM (any command line)
#   XEN3D_DEMO_VMS=2            how many VM desktops (1-4)
#   XEN3D_DEMO_SECONDS=12       how long it runs; "forever" runs until Ctrl+C
#   XEN3D_VNC_PORT=5900         the VNC output's port (localhost only; the password
#                               viewers type with is in $XEN3D_OUT/vnc-password)
#   XEN3D_OUT=demo-out          where screenshots and logs go
#   DISPLAY                     set: the window output opens there (Ctrl+Alt+Left/Right
#                               switch VMs, F12 the VM picker; keys and clicks go to the VM)
set -euo pipefail
case ${1:-} in
  "") ;;
  -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "demo: no arguments (got '$1'); it is set up by the environment variables in --help" >&2; exit 2 ;;
esac
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/setup.sh
out=${XEN3D_OUT:-$top/demo-out}
app=${XEN3D_DEMO_APP:-glxgears}
vms=${XEN3D_DEMO_VMS:-2}
seconds=${XEN3D_DEMO_SECONDS:-12}
vnc_port=${XEN3D_VNC_PORT:-5900}
mkdir -p "$out"
rm -rf "$out"/*.png "$out"/desktops
comp=build/host/compositor/xen3d-compositor
ctl_bin=build/tools/xen3dctl
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }
[[ "$vms" =~ ^[1-4]$ ]] || die "XEN3D_DEMO_VMS must be 1..4"

pids=()
run_dir=$(mktemp -d /tmp/xen3d-demo-XXXXXX)
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$run_dir"' EXIT

say "compositor self-test on the host driver"
"$comp" --self-test --snapshot "$out"

sock=$run_dir/compositor.sock
ctl=$run_dir/control.sock
outputs=(--output "png:$out/desktops")
if [ -n "${DISPLAY:-}" ] && xdpyinfo >/dev/null 2>&1; then
  outputs+=(--output window)
  where="a window on $DISPLAY (Ctrl+Alt+Left/Right switch VMs, F12 opens the VM picker)"
else
  # Viewers that give the password type and point into the selected VM.
  [ -s "$out/vnc-password" ] || { (umask 077; head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$out/vnc-password"); }
  outputs+=(--output "vnc:$vnc_port" --vnc-password-file "$out/vnc-password")
  where="VNC at 127.0.0.1:$vnc_port (e.g. gvncviewer 127.0.0.1::$vnc_port; password: $(cat "$out/vnc-password"))"
fi
say "starting xen3d-compositor on local:$sock; desktops shown in $where"
"$comp" --listen "local:$sock" --control "$ctl" "${outputs[@]}" 2>"$out/compositor.log" &
pids+=($!)
for _ in $(seq 100); do [ -S "$sock" ] && [ -S "$ctl" ] && break; sleep 0.1; done
[ -S "$sock" ] || { cat "$out/compositor.log"; die "the compositor did not start"; }
ctl() { "$ctl_bin" --socket "$ctl" "$@"; }

# One guest desktop: Xorg (dummy video driver) with the xen3d module.
start_vm() {
  local name=$1 n conf
  for n in $(seq 30 99); do [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] || break; done
  conf=$run_dir/xorg-$name.conf
  "$(dirname "$0")/../guest/xorg-ext/guest-xorg-conf.sh" "$top/build/guest/xorg-ext" 800x600 >"$conf"
  XEN3D_TRANSPORT="local:$sock" XEN3D_VM_NAME=$name \
    Xorg ":$n" -config "$conf" -noreset -nolisten tcp -logfile "$out/xorg-$name.log" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do ctl list 2>/dev/null | grep -q "^$name	" && break; sleep 0.1; done
  ctl list | grep -q "^$name	" || { tail -20 "$out/xorg-$name.log"; die "guest desktop $name did not come up (Xorg needs root here)"; }
  say "VM $name: Xorg :$n with the xen3d module"
  # Something 2D on the desktop, then the GL app in a window of its own.
  DISPLAY=":$n" build/tests/x-window --name "$name 2D" --geometry 260x90+500+460 --color 70,110,180 >/dev/null 2>&1 &
  pids+=($!)
  # Debian's games live in /usr/games, which root's PATH lacks (XEN3D_DEMO_APP=neverball).
  DISPLAY=":$n" LD_LIBRARY_PATH="$top/build/guest/winsys-remote" XEN3D_TRANSPORT="local:$sock" \
    PATH="$PATH:/usr/games" XEN3D_STATS=1 $app >"$out/app-$name.log" 2>&1 &
  pids+=($!)
}

for i in $(seq 1 "$vms"); do start_vm "vm$i"; done

say "running '$app' in $vms VM(s) for ${seconds}s; try: $ctl_bin --socket $ctl list | switch vm2 | stats"
if [ "$seconds" = forever ]; then
  wait
fi
half=$(( seconds / 2 ))
sleep "$half"
for i in $(seq 1 "$vms"); do ctl screenshot "vm$i" "$out/desktop-vm$i.png" >/dev/null; done
[ "$vms" -gt 1 ] && { ctl switch vm2 >/dev/null; say "switched the outputs to vm2"; }
sleep $(( seconds - half ))
ctl list | sed 's/^/    /'
ctl stats | tee "$out/stats.txt" | sed 's/^/    /'

ok=1
for i in $(seq 1 "$vms"); do
  presents=$(sed -n "s/^vm$i	.*presents=\([0-9]*\).*/\1/p" "$out/stats.txt")
  [ "${presents:-0}" -gt 0 ] || { echo "demo: vm$i presented no GL frame into its desktop" >&2; ok=0; }
  build/tests/png-compare --not-blank "$out/desktop-vm$i.png" >/dev/null || { echo "demo: vm$i's desktop is blank" >&2; ok=0; }
done
[ "$ok" = 1 ] || { tail -20 "$out/compositor.log"; exit 1; }
say "done: composited VM desktops"
ls "$out"/desktop-vm*.png | sed 's/^/    screenshot: /'
echo "    live PNG output:  $out/desktops/"
echo "    compositor log:   $out/compositor.log"
