#!/usr/bin/env bash
# Four guests at once on one compositor: two glxgears and two glmark2 run
# side by side, on each stack in turn (interleaved over rounds), against the
# same four programs on llvmpipe in-process. What render workers buy: guests
# no longer take turns on one screen under one lock.
#
#   bench/multi_guest_bench.sh [--rounds N] [--seconds S] [--stacks LIST] [--out DIR]
#
# Stacks: direct (llvmpipe in-process, the baseline), remote (render workers,
# the default), inproc (--render-workers off). Per program: glxgears' mean
# FPS over its reports, glmark2's score. Total throughput of a stack: the
# mean over the four programs of its value / the same program's on direct.
# A run counts only if every program drew: glxgears reported FPS (on our
# stacks: and presented frames), glmark2 printed a score, no guest lost its
# context. Output: DIR/multi-guest.md and DIR/multi-guest.csv (default bench-out/).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=3 seconds=20 stacks="direct,remote,inproc" out=$top/bench-out
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --stacks) stacks=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "multi_guest_bench: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for tool in glmark2 glxgears Xvfb; do
  command -v "$tool" >/dev/null || { echo "multi_guest_bench: $tool is missing (scripts/setup.sh installs it)" >&2; exit 2; }
done
IFS=, read -r -a stack_list <<<"$stacks"
[[ ",$stacks," == *,direct,* ]] || { echo "multi_guest_bench: the direct stack is the baseline and must be in the run" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d /tmp/xen3d-multi-XXXXXX)
stacks_work=$work stacks_build=$top/build
. "$top/bench/stacks.sh"
trap 'stacks_cleanup; rm -rf "$work"' EXIT
say() { printf '== %s\n' "$*" >&2; }

stacks_start_xvfb 240
stacks_start_compositor "$work/compositor.log"
[[ ",$stacks," == *,inproc,* ]] && stacks_start_compositor_inproc "$work/compositor-inproc.log"

# glmark2's scenes, each seconds/4 long: the run lasts about as long as glxgears'.
scene_s=$(awk -v s="$seconds" 'BEGIN { printf "%.1f", s / 4 }')
scenes=(-b "build:use-vbo=true:duration=$scene_s" -b "texture:texture-filter=linear:duration=$scene_s"
        -b "shading:shading=phong:duration=$scene_s" -b "jellyfish:duration=$scene_s")

csv=$out/multi-guest.csv
echo "round,stack,program,value" >"$csv"
problems=$work/problems
: >"$problems"

# One round on one stack: the four programs at once; appends to the csv.
run_round() {
  local r=$1 stack=$2 i pids=() envs
  read -r -a envs <<<"$(stacks_env "$stack")"
  for i in 1 2; do
    env "${envs[@]}" XEN3D_STATS=frame timeout $((seconds + 1)) glxgears -geometry 300x300 \
      >"$work/gears$i.log" 2>&1 &
    pids+=($!)
    env "${envs[@]}" XEN3D_STATS=1 glmark2 --off-screen -s 400x300 "${scenes[@]}" >"$work/glmark$i.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || true; done
  for i in 1 2; do
    local fps frames score
    fps=$(sed -n 's/.* = \([0-9.]*\) FPS/\1/p' "$work/gears$i.log" | awk '{ s += $1; n++ } END { if (n) printf "%.1f", s / n }')
    frames=$(grep -c '^xen3d: frame' "$work/gears$i.log" || true)
    score=$(sed -n 's/.*glmark2 Score: \([0-9]*\).*/\1/p' "$work/glmark$i.log")
    if grep -q '^xen3d: rendering stopped' "$work/gears$i.log" "$work/glmark$i.log"; then
      echo "round $r $stack: a guest lost its context" >>"$problems"
      cp "$work/gears$i.log" "$work/glmark$i.log" "$out/" 2>/dev/null || true
      fps="" score=""
    fi
    if [ "$stack" != direct ] && [ -n "$fps" ] && [ "$frames" -lt "$(awk -v f="$fps" -v s="$seconds" 'BEGIN { printf "%d", f * s / 4 }')" ]; then
      echo "round $r $stack: glxgears $i reported $fps FPS but presented only $frames frames" >>"$problems"
      fps=""
    fi
    [ -n "$fps" ] || echo "round $r $stack: glxgears $i drew nothing measurable" >>"$problems"
    [ -n "$score" ] || echo "round $r $stack: glmark2 $i printed no score" >>"$problems"
    echo "$r,$stack,glxgears-$i,${fps:-0}" >>"$csv"
    echo "$r,$stack,glmark2-$i,${score:-0}" >>"$csv"
    say "round $r  $stack  glxgears-$i: ${fps:-failed} fps  glmark2-$i: ${score:-failed}"
  done
}

say "rounds: $rounds, $seconds s each, stacks: ${stack_list[*]}, DISPLAY=$DISPLAY, $(nproc) cores"
for r in $(seq "$rounds"); do
  for stack in "${stack_list[@]}"; do run_round "$r" "$stack"; done
done

/usr/bin/python3 - "$csv" "$out/multi-guest.md" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
stacks, programs, vals = [], [], {}
for r in rows:
    if r["stack"] not in stacks: stacks.append(r["stack"])
    if r["program"] not in programs: programs.append(r["program"])
    vals.setdefault((r["stack"], r["program"]), []).append(float(r["value"]))
med = {k: statistics.median(v) for k, v in vals.items()}
lines = ["| program | " + " | ".join(f"{s} median" for s in stacks) + " | " +
         " | ".join(f"{s}/direct" for s in stacks if s != "direct") + " |",
         "|---|" + "---:|" * (2 * len(stacks) - 1)]
totals = {s: [] for s in stacks if s != "direct"}
for p in programs:
    base = med.get(("direct", p), 0)
    cells = [f"{med.get((s, p), 0):.1f}" for s in stacks]
    ratios = []
    for s in stacks:
        if s == "direct": continue
        r = med.get((s, p), 0) / base if base else 0
        totals[s].append(r)
        ratios.append(f"{r:.2f}")
    lines.append(f"| {p} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
lines.append("| **total throughput** | " + " | ".join("" for _ in stacks) + " | " +
             " | ".join(f"**{statistics.mean(totals[s]):.2f}**" for s in stacks if s != "direct") + " |")
text = "Four guests at once (2 glxgears, 2 glmark2), medians over rounds:\n\n" + "\n".join(lines) + "\n"
open(sys.argv[2], "w").write(text)
print(text)
EOF
if [ -s "$problems" ]; then
  say "FAILED: some programs drew nothing measurable:"
  sed 's/^/   /' "$problems" >&2
  exit 1
fi
