#!/usr/bin/env bash
# The main job: build, start the compositor on the host driver (llvmpipe), and
# run a real GL program (glxgears) in a "guest" X server through the remote
# pipe driver over the default local transport. Leaves the presented frame as
# a PNG (compositor side) and a grab of the guest's X window (guest side).
#
#   XEN3D_DEMO_APP="glxgears"   the GL program to run (any command line)
#   XEN3D_DEMO_SECONDS=6        how long it runs
#   XEN3D_OUT=demo-out          where the PNGs and logs go
#   DISPLAY                     set: show the app on that X server; unset: a private Xvfb
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/setup.sh
out=${XEN3D_OUT:-$top/demo-out}
app=${XEN3D_DEMO_APP:-glxgears}
seconds=${XEN3D_DEMO_SECONDS:-6}
mkdir -p "$out"
rm -f "$out"/guest*.png
comp=build/host/compositor/xen3d-compositor
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT

say "compositor self-test on the host driver"
"$comp" --self-test --snapshot "$out"

if [ -z "${DISPLAY:-}" ]; then
  for n in $(seq 50 99); do [ -e "/tmp/.X11-unix/X$n" ] || break; done
  Xvfb ":$n" -screen 0 1024x768x24 -noreset -nolisten tcp >"$out/xvfb.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X$n" ] && break; sleep 0.1; done
  export DISPLAY=":$n"
  say "guest X server: Xvfb $DISPLAY"
fi

sock=$(mktemp -u /tmp/xen3d-demo-XXXXXX.sock)
say "starting xen3d-compositor on local:$sock (snapshots in $out)"
"$comp" --listen "local:$sock" --snapshot "$out" 2>"$out/compositor.log" &
pids+=($!)
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { cat "$out/compositor.log"; echo "compositor did not start" >&2; exit 1; }
export XEN3D_TRANSPORT="local:$sock"
export LD_LIBRARY_PATH="$top/build/guest/winsys-remote${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

say "glxinfo through the remote driver"
glxinfo -B | grep -E "renderer string|version string"

say "running '$app' through the remote driver for ${seconds}s"
XEN3D_STATS=frame $app >"$out/app.log" 2>&1 &
app_pid=$!
pids+=($app_pid)
sleep "$seconds"
frames=$(grep -c '^xen3d: frame' "$out/app.log" || true)
name=${app%% *}
build/tests/x-grab --name "$(basename "$name")" "$out/guest-window.png" 2>/dev/null ||
  build/tests/x-grab "$out/guest-window.png"
kill "$app_pid" 2>/dev/null || true
wait "$app_pid" 2>/dev/null || true
grep -v '^xen3d: frame' "$out/app.log" | tail -5 || true
[ "$frames" -gt 0 ] || { tail "$out/compositor.log"; echo "no frame was presented" >&2; exit 1; }
trips=$(grep '^xen3d: frame' "$out/app.log" | tail -n +3 | awk '{s+=$4; n++} END {if (n) printf "%.2f", s/n; else print "n/a"}')
say "done: $frames frames presented ($trips synchronous round trips per frame)"
ls "$out"/guest[0-9]*-win*.png | sed 's/^/    compositor snapshot: /'
echo "    guest X window:      $out/guest-window.png"
echo "    compositor log:      $out/compositor.log"
