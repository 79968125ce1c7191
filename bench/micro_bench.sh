#!/usr/bin/env bash
# GL microbenchmarks (bench/gl_micro.cpp) on the GL stacks, interleaved rounds:
# draw calls/s with state changes, texture upload Mtexel/s, buffer upload GB/s,
# glReadPixels latency, synchronous round-trip (glFinish) latency, frame rate.
#
#   bench/micro_bench.sh [--rounds N] [--seconds S] [--stacks LIST] [--out DIR]
#
# Output: DIR/micro.md (medians, spread, ratio to direct; for latencies a
# ratio above 1 is slower) and DIR/micro.csv. Default DIR: bench-out/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=3 seconds=1 stacks="direct,remote,virpipe" out=$top/bench-out
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --stacks) stacks=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "micro_bench: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
IFS=, read -r -a stack_list <<<"$stacks"
build=$top/build
micro=$build/bench/gl-micro
[ -x "$micro" ] || { echo "micro_bench: $micro is not built (ninja -C build)" >&2; exit 2; }
mkdir -p "$out"
work=$(mktemp -d /tmp/xen3d-micro-XXXXXX)
stacks_work=$work stacks_build=$build
. "$top/bench/stacks.sh"
trap 'stacks_cleanup; rm -rf "$work"' EXIT
stacks_start_xvfb 250
stacks_start_compositor "$work/compositor.log"
[[ ",$stacks," == *,virpipe,* ]] && stacks_start_virgl "$work/virgl.log"

csv=$out/micro.csv
echo "round,app,stack,value,round_trips_per_frame" >"$csv"
for r in $(seq "$rounds"); do
  for stack in "${stack_list[@]}"; do
    read -r -a envs <<<"$(stacks_env "$stack")"
    log=$work/$stack.log
    if ! env "${envs[@]}" "$micro" --seconds "$seconds" >"$log" 2>&1; then
      echo "micro_bench: gl-micro failed on $stack:" >&2
      tail -5 "$log" >&2
      exit 1
    fi
    awk -v r="$r" -v s="$stack" '$1 == "metric" { printf "%s,%s (%s),%s,%s,-\n", r, $2, $4, s, $3 }' "$log" >>"$csv"
    echo "== round $r $stack: $(awk '$1 == "metric" { printf "%s=%s ", $2, $3 }' "$log")" >&2
  done
done
/usr/bin/python3 "$top/bench/apps_report.py" "$csv" --md "$out/micro.md" --what "GL microbenchmarks"
cat "$out/micro.md"
