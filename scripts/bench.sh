#!/usr/bin/env bash
# Builds Xen3D and runs the benchmarks: every number is a ratio against a
# baseline measured in the same run (llvmpipe in-process), interleaved.
#
#   scripts/bench.sh [--rounds N] [--tcp] [--quick]
#
# Writes bench-out/apps.md + apps.png (glmark2, glretrace, OpenArena timedemo,
# glxgears on direct / remote (render workers) / inproc (--render-workers off)
# / virpipe), bench-out/micro.md (draw calls, uploads, readback and
# round-trip latency), bench-out/multi-guest.md (four guests at once) and
# prints the ring transport benchmark. Takes about 35 minutes with 3 rounds.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
rounds=3 tcp=() quick=()
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --tcp) tcp=(--tcp); shift ;;
    --quick) quick=(--quick); shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
XEN3D_EXTRA_PACKAGES="virgl-server openarena python3-matplotlib" scripts/setup.sh >/dev/null
if pgrep -x xen3d-composito >/dev/null || pgrep -x virgl_test_serv >/dev/null; then
  echo "bench: note: another xen3d-compositor or virgl_test_server is running and will skew the numbers" >&2
fi
printf '\033[1m==> transport: ring throughput\033[0m\n'
build/bench/ring
printf '\033[1m==> GL microbenchmarks\033[0m\n'
bench/micro_bench.sh --rounds "$rounds"
printf '\033[1m==> GL applications\033[0m\n'
bench/apps_bench.sh --rounds "$rounds" --stacks direct,remote,inproc,virpipe "${tcp[@]}" "${quick[@]}"
printf '\033[1m==> four guests at once\033[0m\n'
bench/multi_guest_bench.sh --rounds "$rounds"
printf '\033[1m==> host composition vs readback\033[0m\n'
bench/desktop_bench.sh --rounds "$rounds"
echo "bench: results in bench-out/ (apps.md, apps.png, micro.md, multi-guest.md, desktop.md, raw CSVs)"
