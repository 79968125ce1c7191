#!/usr/bin/env bash
# glmark2 through Xen3D vs llvmpipe directly, interleaved in one run so both
# see the same machine load. Reports per-configuration scores, the ratio to
# llvmpipe direct, and synchronous round trips per frame.
#
#   bench/glmark2_bench.sh [--rounds N] [--duration S] [--size WxH] [--tcp]
#
# Configurations: "direct" = Debian's system libGL with llvmpipe
# (LIBGL_ALWAYS_SOFTWARE=1, the same Mesa 22.3.6 and LLVM 15), "xen3d-local"
# = our libGL through xen3d-compositor over the local transport (the
# compositor renders on llvmpipe too), and with --tcp "xen3d-tcp" over
# loopback tcp. Scores are glmark2's (mean FPS over the scenes).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=3 duration=1 size=800x600 tcp=0
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --tcp) tcp=1; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "glmark2_bench: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
build=$top/build
work=$(mktemp -d /tmp/xen3d-bench-XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"' EXIT

for n in $(seq 60 99); do [ -e "/tmp/.X11-unix/X$n" ] || break; done
Xvfb ":$n" -screen 0 1280x1024x24 -noreset -nolisten tcp >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X$n" ] && break; sleep 0.1; done
export DISPLAY=":$n"

"$build/host/compositor/xen3d-compositor" --listen "local:$work/c.sock" --listen tcp:127.0.0.1:0 -q \
  >"$work/comp.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$work/c.sock" ] && break; sleep 0.1; done
tcp_spec=$(grep -o 'tcp:127.0.0.1:[0-9]*' "$work/comp.log" | head -1 || true)
if [ "$tcp" = 1 ] && [ -z "$tcp_spec" ]; then
  # -q hides the listening line: ask the compositor for it on a second run would be overkill;
  # restart without -q.
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
  "$build/host/compositor/xen3d-compositor" --listen "local:$work/c.sock" --listen tcp:127.0.0.1:0 \
    >"$work/comp.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do grep -q 'tcp:127.0.0.1:[0-9]' "$work/comp.log" && break; sleep 0.1; done
  tcp_spec=$(grep -o 'tcp:127.0.0.1:[0-9]*' "$work/comp.log" | head -1)
fi

configs=(direct xen3d-local)
[ "$tcp" = 1 ] && configs+=(xen3d-tcp)
run() {  # config -> prints score and round trips per frame
  local log=$work/$1.log
  case $1 in
    direct) env LIBGL_ALWAYS_SOFTWARE=1 GALLIUM_DRIVER=llvmpipe glmark2 -s "$size" -b ":duration=$duration" >"$log" 2>&1 ;;
    xen3d-local) env LD_LIBRARY_PATH="$build/guest/winsys-remote" XEN3D_TRANSPORT="local:$work/c.sock" XEN3D_STATS=1 \
                   glmark2 -s "$size" -b ":duration=$duration" >"$log" 2>&1 ;;
    xen3d-tcp) env LD_LIBRARY_PATH="$build/guest/winsys-remote" XEN3D_TRANSPORT="$tcp_spec" XEN3D_STATS=1 \
                 glmark2 -s "$size" -b ":duration=$duration" >"$log" 2>&1 ;;
  esac
  local score trips
  score=$(sed -n 's/.*glmark2 Score: \([0-9]*\).*/\1/p' "$log")
  trips=$(sed -n 's/.*(\([0-9.]*\) per frame), .*/\1/p' "$log")
  echo "${score:-0} ${trips:--}"
}

printf 'glmark2 %s, scene duration %ss, %s rounds, interleaved\n' "$size" "$duration" "$rounds"
declare -A sum
for r in $(seq "$rounds"); do
  for c in "${configs[@]}"; do
    read -r score trips < <(run "$c")
    printf '  round %d  %-12s score %5d   round trips/frame %s\n' "$r" "$c" "$score" "$trips"
    sum[$c]=$(( ${sum[$c]:-0} + score ))
  done
done
base=$(( sum[direct] / rounds ))
echo "mean scores:"
for c in "${configs[@]}"; do
  mean=$(( sum[$c] / rounds ))
  printf '  %-12s %5d   %s of llvmpipe direct\n' "$c" "$mean" \
    "$(awk -v a="$mean" -v b="$base" 'BEGIN { if (b) printf "%.1f%%", 100*a/b; else print "n/a" }')"
done
