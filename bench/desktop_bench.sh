#!/usr/bin/env bash
# What host-side composition costs and saves. One guest desktop (a real Xorg
# with the xen3d module, dummy video driver) runs glxgears in a fixed-size
# window, alternately
#   composited  frames stay on the host and are composited into the desktop
#   readback    the fallback: every frame is read back into the guest's X
#               window (XEN3D_PRESENT=readback), as on a desktop without the module
# and reports per mode the frame rate (median over rounds), and for the
# composited mode the host's cost per frame taken into the desktop
# (present_ms_avg), per composition (compose_ms_avg; compositions are capped
# at --max-fps) and the readback bandwidth it saves (frames x frame bytes).
#
#   bench/desktop_bench.sh [--rounds N] [--seconds S] [--size WxH] [--out DIR]
#
# XEN3D_COMPOSITOR_ARGS adds compositor options, e.g. "--render-workers off"
# to measure composition from guests served inside the compositor.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=3 seconds=10 size=640x480 out=$top/bench-out
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "desktop_bench: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
build=$top/build
[ -x "$build/host/compositor/xen3d-compositor" ] || { echo "build first: scripts/setup.sh" >&2; exit 1; }
mkdir -p "$out"
work=$(mktemp -d /tmp/xen3d-desktop-bench-XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT
ctl() { "$build/tools/xen3dctl" --socket "$work/ctl.sock" "$@"; }

"$build/host/compositor/xen3d-compositor" --listen "local:$work/c.sock" --control "$work/ctl.sock" ${XEN3D_COMPOSITOR_ARGS:-} \
  2>"$work/compositor.log" &
pids+=($!)
for _ in $(seq 100); do [ -S "$work/c.sock" ] && [ -S "$work/ctl.sock" ] && break; sleep 0.1; done
for n in $(seq 60 99); do [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] || break; done
"$top/guest/xorg-ext/guest-xorg-conf.sh" "$build/guest/xorg-ext" 1024x768 >"$work/xorg.conf"
XEN3D_TRANSPORT="local:$work/c.sock" XEN3D_VM_NAME=bench \
  Xorg ":$n" -config "$work/xorg.conf" -noreset -nolisten tcp -logfile "$work/xorg.log" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do ctl list 2>/dev/null | grep -q '^bench	' && break; sleep 0.1; done
ctl list | grep -q '^bench	' || { tail "$work/xorg.log"; echo "the guest desktop did not open" >&2; exit 1; }

w=${size%x*} h=${size#*x}
stat_of() { ctl stats | sed -n "s/^bench	.*$1=\([0-9.]*\).*/\1/p"; }
# run MODE: glxgears for $seconds; prints its mean fps after the first 5-second report.
run() {
  local mode=$1 env=()
  [ "$mode" = readback ] && env=(XEN3D_PRESENT=readback)
  env "${env[@]}" DISPLAY=":$n" LD_LIBRARY_PATH="$build/guest/winsys-remote" XEN3D_TRANSPORT="local:$work/c.sock" \
    stdbuf -oL glxgears -geometry "${w}x${h}+0+0" >"$work/gears.log" 2>&1 &
  local pid=$!
  sleep "$seconds"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  awk '/frames in/ {n++; if (n > 1) {s += $(NF-1); k++}} END {if (k) printf "%.1f", s/k; else print "nan"}' "$work/gears.log"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

: >"$work/composited" ; : >"$work/readback"
p0=$(stat_of presents); s0=$(stat_of readback_bytes_saved)
for r in $(seq "$rounds"); do
  for mode in composited readback; do
    fps=$(run "$mode")
    echo "$fps" >>"$work/$mode"
    echo "round $r $mode: $fps fps" >&2
  done
done
presents=$(( $(stat_of presents) - p0 ))
saved=$(( $(stat_of readback_bytes_saved) - s0 ))
c=$(median <"$work/composited") b=$(median <"$work/readback")
frame_bytes=$(( w * h * 4 ))
{
  echo "# Host composition vs readback ($size glxgears window on a 1024x768 guest desktop, $rounds rounds of ${seconds}s, $(date -u +%F))"
  echo
  echo "| mode | fps (median) | frames/s read back into the guest | readback bandwidth |"
  echo "|---|---:|---:|---:|"
  printf '| composited on the host | %s | 0 | 0 MB/s (saves %.0f MB/s) |\n' "$c" "$(awk -v f="$c" -v b="$frame_bytes" 'BEGIN {print f * b / 1e6}')"
  printf '| readback (fallback) | %s | %s | %.0f MB/s |\n' "$b" "$b" "$(awk -v f="$b" -v b="$frame_bytes" 'BEGIN {print f * b / 1e6}')"
  echo
  echo "per round (fps): composited $(paste -sd' ' "$work/composited"); readback $(paste -sd' ' "$work/readback")"
  printf 'composited/readback fps: %.2f\n' "$(awk -v c="$c" -v b="$b" 'BEGIN {print c / b}')"
  echo "host cost per GL frame taken into the desktop (copy + wait): $(stat_of present_ms_avg) ms"
  echo "host cost per desktop composition (2D upload + window blits + readout for the outputs): $(stat_of compose_ms_avg) ms ($(stat_of compositions) compositions, at most 60/s)"
  echo "GL frames composited during the run: $presents ($saved bytes of readback avoided)"
} | tee "$out/desktop.md"
