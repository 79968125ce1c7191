#!/usr/bin/env bash
# How big the bulk heap must be: real programs through the remote driver at
# several heap sizes, each with XEN3D_STATS (peak heap in use, largest
# payload, waits for the host, payloads staged, bytes sent inline) and its own
# rate, so the defaults can be chosen from numbers.
#
#   bench/heap_sizing.sh [--sizes KIB,KIB,...] [--apps LIST] [--out DIR]
#
# Apps:   openarena  timedemo demo088-test1 at 640x480 (fps)
#         glmark2    texture, build, shading, refract, jellyfish, terrain at 800x600 (score)
#         piglit     texsubimage, streaming-texture-leak, max-texture-size-level,
#                    gl-3.0-texture-integer, copypixels-draw-sync (passes, seconds)
# Output: DIR/heap.md (one row per app and size) and the logs. Default DIR:
# bench-out/heap/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
sizes="256,1024,4096,16384,65536" apps="openarena,glmark2,piglit" out=$top/bench-out/heap
while [ $# -gt 0 ]; do
  case $1 in
    --sizes) sizes=$2; shift 2 ;;
    --apps) apps=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "heap_sizing: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
IFS=, read -r -a size_list <<<"$sizes"
IFS=, read -r -a app_list <<<"$apps"
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d /tmp/xen3d-heap-XXXXXX)
stacks_work=$work stacks_build=$top/build
. "$top/bench/stacks.sh"
trap 'stacks_cleanup; rm -rf "$work"' EXIT
say() { printf '== %s\n' "$*" >&2; }
openarena=$(command -v openarena || echo /usr/games/openarena)
piglit_bin=/usr/lib/x86_64-linux-gnu/piglit/bin

stacks_start_xvfb 250
# Guests may ask for up to 256 MiB (the compositor's --max-bulk-heap-kib default).
stacks_start_compositor "$work/compositor.log"

# run APP KIB: prints "VALUE" and leaves the log in $out/APP-KIB.log.
run() {
  local app=$1 kib=$2 log=$out/$1-$2.log value=""
  local -a envs
  read -r -a envs <<<"$(stacks_env remote) XEN3D_STATS=1 XEN3D_BULK_HEAP_KIB=$kib"
  case $app in
    openarena)
      rm -rf "$work/oa"
      env "${envs[@]}" timeout 900 "$openarena" +set fs_homepath "$work/oa" +set com_hunkmegs 256 \
        +set r_fullscreen 0 +set r_mode -1 +set r_customwidth 640 +set r_customheight 480 \
        +set s_initsound 0 +set com_introplayed 1 +set timedemo 1 +set nextdemo quit \
        +demo demo088-test1 </dev/null >"$log" 2>&1 || true
      value=$(sed -n 's/^[0-9]* frames,\{0,1\} [0-9.]* seconds:\{0,1\} \([0-9.]*\) fps.*/\1/p' "$log" | tail -1) ;;
    glmark2)
      env "${envs[@]}" glmark2 -s 800x600 -b texture:duration=2 -b build:use-vbo=false:duration=2 \
        -b shading:shading=phong:duration=2 -b refract:duration=2 -b jellyfish:duration=2 \
        -b terrain:duration=2 >"$log" 2>&1 || true
      value=$(sed -n 's/.*glmark2 Score: \([0-9]*\).*/\1/p' "$log") ;;
    piglit)
      : >"$log"
      local pass=0 t t0
      t0=$(date +%s.%N)
      for t in "texsubimage -auto" "streaming-texture-leak -auto" "max-texture-size-level -auto" \
               "gl-3.0-texture-integer -auto" "copypixels-draw-sync -auto"; do
        # shellcheck disable=SC2086
        if env "${envs[@]}" timeout 300 "$piglit_bin"/$t >>"$log" 2>&1; then pass=$((pass + 1)); fi
      done
      value="$pass/5 in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s" ;;
  esac
  echo "${value:-failed}"
}

md=$out/heap.md
{
  echo "| app | heap KiB | result | peak in use KiB | largest payload KiB | waits | refused (open map) | staged | inline KiB | lost |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
} >"$md"
for app in "${app_list[@]}"; do
  for kib in "${size_list[@]}"; do
    value=$(run "$app" "$kib")
    log=$out/$app-$kib.log
    # Sum the bulk heap lines of every process the app ran (piglit runs several).
    row=$(awk '/^xen3d: bulk heap:/ {
        for (i = 1; i <= NF; i++) {
          if ($(i+1) == "KiB" && $(i+2) == "in") peak = ($i > peak ? $i : peak)
          if ($i == "payload") big = ($(i+1) > big ? $(i+1) : big)
          if ($(i+1) == "waits") w += $i
          if ($(i+1) == "refused") r += $i
          if ($(i+1) == "payloads") s += $i
          if ($(i+1) == "KiB" && $(i+2) == "inline") inl += $i
        } }
        END { printf "%d | %d | %d | %d | %d | %d", peak, big, w, r, s, inl }' "$log")
    lost=$(grep -c '^xen3d: rendering stopped' "$log" || true)
    say "$app, heap $kib KiB: $value ($row, lost $lost)"
    echo "| $app | $kib | $value | $row | $lost |" >>"$md"
  done
done
cat "$md"
