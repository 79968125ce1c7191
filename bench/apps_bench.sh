#!/usr/bin/env bash
# Real GL applications on three GL stacks, interleaved (A B C A B C ...) so
# every stack sees the same machine load, with medians and spread per cell.
#
#   bench/apps_bench.sh [--rounds N] [--apps LIST] [--stacks LIST] [--tcp]
#                       [--out DIR] [--quick] [--baseline STACK]
#
# Stacks:  direct   Debian's libGL, llvmpipe in-process (the baseline)
#          direct-nocache  the same, Mesa's shader cache off (every shader compiled)
#          direct-zink  Debian's libGL, zink in-process (bench/gpu_host.sh's baseline)
#          remote   our libGL through xen3d-compositor (local transport; each
#                   guest in its own render worker, the default)
#          readback remote, but window frames read back through the reply ring
#                   (XEN3D_PRESENT=readback), not shown from the host's memory
#          inproc   the same, served inside the compositor (--render-workers off)
#          virpipe  Debian's libGL, Mesa's virpipe driver against
#                   virgl_test_server --use-egl-surfaceless (the peer)
#          tcp      our libGL over the tcp transport on loopback (--tcp adds it;
#                   reported in its own table)
# Apps:    glmark2    fixed scene list, --off-screen, score (mean fps)
#          glretrace  glretrace --benchmark of a trace recorded here from glmark2
#          openarena  timedemo of OpenArena's bundled demo088-test1 (fps)
#          glxgears   fps over a 5 s window after 5 s warm-up
# Output:  DIR/apps.md (tables, ratios of medians to the baseline stack,
#          direct unless --baseline names another, and remote/baseline
#          within each round), DIR/apps.png (bar chart of
#          remote/direct and virpipe/direct), DIR/raw.csv. Default DIR: bench-out/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=3 apps="glmark2,glretrace,openarena,glxgears" stacks="direct,remote,virpipe" tcp=0 out=$top/bench-out
quick=0 baseline=direct
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --apps) apps=$2; shift 2 ;;
    --stacks) stacks=$2; shift 2 ;;
    --tcp) tcp=1; shift ;;
    --out) out=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --baseline) baseline=$2; shift 2 ;;
    -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "apps_bench: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ "$tcp" = 1 ] && stacks="$stacks,tcp"
IFS=, read -r -a app_list <<<"$apps"
IFS=, read -r -a stack_list <<<"$stacks"
build=$top/build
for tool in glmark2 glretrace apitrace glxgears Xvfb; do
  command -v "$tool" >/dev/null || { echo "apps_bench: $tool is missing (scripts/setup.sh installs it)" >&2; exit 2; }
done
# Debian installs games outside root's PATH.
openarena=$(command -v openarena || echo /usr/games/openarena)
if [[ " ${app_list[*]} " == *" openarena "* ]] && [ ! -x "$openarena" ]; then
  echo "apps_bench: openarena is missing (apt-get install openarena)" >&2; exit 2
fi
mkdir -p "$out/cache"
out=$(cd "$out" && pwd)
work=$(mktemp -d /tmp/xen3d-apps-XXXXXX)
stacks_work=$work stacks_build=$build
. "$top/bench/stacks.sh"
trap 'stacks_cleanup; rm -rf "$work"' EXIT
say() { printf '== %s\n' "$*" >&2; }

# Scene lengths: --quick is for trying the script, not for numbers.
gm_dur=2 gears_warm=5 oa_size=640x480
[ "$quick" = 1 ] && gm_dur=0.5 gears_warm=0
gm_scenes=(build:use-vbo=true texture:texture-filter=linear shading:shading=phong
           bump:bump-render=high-poly "effect2d:kernel=0,1,0;1,-4,1;0,1,0;" pulsar:quads=5
           function:fragment-complexity=medium conditionals:vertex-steps=5 jellyfish)

stacks_start_xvfb 200
stacks_start_compositor "$work/compositor.log"
[[ ",$stacks," == *,virpipe,* ]] && stacks_start_virgl "$work/virgl.log"
[[ ",$stacks," == *,inproc,* ]] && stacks_start_compositor_inproc "$work/compositor-inproc.log"

# The glretrace trace: recorded once on llvmpipe directly, then cached.
trace=$out/cache/glmark2-ideas-jellyfish.trace
if [[ " ${app_list[*]} " == *" glretrace "* ]] && [ ! -s "$trace" ]; then
  say "recording the glretrace trace (once): glmark2 ideas + jellyfish + terrain, 3 s each"
  env LIBGL_ALWAYS_SOFTWARE=1 apitrace trace -o "$trace.tmp" glmark2 -s 800x600 \
    -b ideas:duration=3 -b jellyfish:duration=3 -b terrain:duration=3 >"$work/trace.log" 2>&1 \
    || { tail "$work/trace.log"; echo "apps_bench: recording the trace failed" >&2; exit 1; }
  mv "$trace.tmp" "$trace"
fi

# Runs one app on one stack; prints "VALUE TRIPS" (TRIPS: synchronous round
# trips per frame from XEN3D_STATS, "-" for other stacks). VALUE 0 = failed.
run_one() {
  local app=$1 stack=$2 log=$work/$1-$2.log value="" trips
  local -a envs
  # glxgears only stops by signal, so no exit summary: per-frame stats instead.
  local stats=1
  [ "$app" = glxgears ] && stats=frame
  read -r -a envs <<<"$(stacks_env "$stack") XEN3D_STATS=$stats"
  case $app in
    glmark2)
      local args=(--off-screen -s 800x600)
      for s in "${gm_scenes[@]}"; do args+=(-b "$s:duration=$gm_dur"); done
      env "${envs[@]}" glmark2 "${args[@]}" >"$log" 2>&1 || true
      value=$(sed -n 's/.*glmark2 Score: \([0-9]*\).*/\1/p' "$log") ;;
    glretrace)
      env "${envs[@]}" glretrace --benchmark "$trace" >"$log" 2>&1 || true
      value=$(sed -n 's/.*average of \([0-9.]*\) fps.*/\1/p' "$log") ;;
    openarena)
      local w=${oa_size%x*} h=${oa_size#*x}
      rm -rf "$work/oa"
      env "${envs[@]}" timeout -k 10 900 "$openarena" +set fs_homepath "$work/oa" +set com_hunkmegs 256 \
        +set r_fullscreen 0 +set r_mode -1 +set r_customwidth "$w" +set r_customheight "$h" \
        +set s_initsound 0 +set com_introplayed 1 +set timedemo 1 +set nextdemo quit \
        +demo demo088-test1 </dev/null >"$log" 2>&1 || true
      # ioquake3 prints "3398 frames 174.7 seconds 19.5 fps min/avg/max/dev ms".
      value=$(sed -n 's/^[0-9]* frames,\{0,1\} [0-9.]* seconds:\{0,1\} \([0-9.]*\) fps.*/\1/p' "$log" | tail -1) ;;
    glxgears)
      env "${envs[@]}" timeout $((gears_warm + 6)) glxgears -geometry 300x300 >"$log" 2>&1 || true
      value=$(sed -n 's/.* = \([0-9.]*\) FPS/\1/p' "$log" | tail -1) ;;
  esac
  trips=$(sed -n 's/.*(\([0-9.]*\) per frame), .*/\1/p' "$log" | tail -1)
  case $app in
    glmark2)  # --off-screen presents nothing: frames are glmark2's (fps x scene length)
      trips=$(awk -v d="$gm_dur" '/FPS: / { for (i = 1; i < NF; i++) if ($i == "FPS:") f += $(i + 1) * d }
                /xen3d: stats:/ { t = $5 } END { if (f > 0 && t != "") printf "%.2f", t / f }' "$log") ;;
    glxgears)  # the median frame (the present's own round trip included)
      trips=$(sed -n 's/^xen3d: frame [0-9]*: \([0-9]*\) round trips.*/\1/p' "$log" | sort -n |
              awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }') ;;
  esac
  # A guest that stopped drawing still "finishes", often faster: its number
  # is no result. Lost contexts, and fewer frames presented than drawn, fail.
  local problem="" drawn="" presented
  presented=$(sed -n 's/^xen3d: stats: \([0-9]*\) frames.*/\1/p' "$log" | tail -1)
  case $app in
    openarena) drawn=$(sed -n 's/^\([0-9]*\) frames,\{0,1\} [0-9.]* seconds.*/\1/p' "$log" | tail -1) ;;
    glretrace) drawn=$(sed -n 's/^Rendered \([0-9]*\) frames.*/\1/p' "$log" | tail -1) ;;
  esac
  if grep -q '^xen3d: rendering stopped' "$log"; then
    problem="lost its context: $(grep -m1 '^xen3d: rendering stopped' "$log")"
  elif [ -n "$drawn" ] && [ -n "$presented" ] && [ "$presented" -lt "$drawn" ]; then
    problem="presented $presented frames of the $drawn it drew"
  fi
  if [ -n "$problem" ]; then
    say "$app on $stack $problem"
    cp "$log" "$out/failed-$app-$stack.log"
    echo "$app $stack: $problem" >>"$work/problems"
    value=""
  fi
  if [ -z "$value" ]; then
    say "$app on $stack produced no result; log tail:"
    tail -5 "$log" | sed 's/^/   /' >&2
    cp "$log" "$out/failed-$app-$stack.log"
  fi
  echo "${value:-0} ${trips:--}"
}

csv=$out/raw.csv
echo "round,app,stack,value,round_trips_per_frame" >"$csv"
say "rounds: $rounds, apps: ${app_list[*]}, stacks: ${stack_list[*]}, DISPLAY=$DISPLAY"
for r in $(seq "$rounds"); do
  for app in "${app_list[@]}"; do
    for stack in "${stack_list[@]}"; do
      read -r value trips < <(run_one "$app" "$stack")
      say "round $r  $app  $stack: $value (round trips/frame $trips)"
      echo "$r,$app,$stack,$value,$trips" >>"$csv"
    done
  done
done
/usr/bin/python3 "$top/bench/apps_report.py" "$csv" --baseline "$baseline" --md "$out/apps.md" --png "$out/apps.png"
cat "$out/apps.md"
if [ -s "$work/problems" ]; then
  say "FAILED: a guest stopped drawing (logs in $out/failed-*.log):"
  sed 's/^/   /' "$work/problems" >&2
  exit 1
fi
