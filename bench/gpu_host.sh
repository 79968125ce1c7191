#!/usr/bin/env bash
# The compositor on a GPU: zink on the GPU's Vulkan driver, measured against
# the same programs on the GPU's GL in-process, in one run.
#
#   bench/gpu_host.sh [--rounds N] [--apps LIST] [--out DIR] [--cpu] [--quick] [--no-piglit]
#
# On a machine with a GPU and its Vulkan driver (NVIDIA's, headless, or
# mesa-vulkan-drivers' radv/anv), after scripts/setup.sh:
#   1. apps: glmark2, glretrace (a trace recorded here), OpenArena's timedemo
#      and glxgears (bench/apps_bench.sh, every frame checked as drawn), on
#        direct-zink  Debian's libGL, zink in-process on the GPU: the GPU's
#                     GL through Mesa, the baseline
#        remote       our libGL through xen3d-compositor --driver zink on the
#                     same GPU (render workers, local transport)
#        direct       llvmpipe in-process, for scale
#      -> DIR/apps.md: medians, ratios to direct-zink.
#   2. piglit: the CI subset (tests/conformance/ci-subset.txt) on remote and
#      on direct-zink -> DIR/piglit.md: counts, and every test whose result
#      differs (regressions against the driver in-process).
# --cpu runs the same on zink over lavapipe (no GPU needed: what CI has and
# what the numbers in docs/performance.md's "zink host" section come from).
# A vendor's own libGL (NVIDIA's) needs an X server running its driver; under
# Xvfb every stack's GL is Mesa's, so the GPU's GL here is zink in-process.
# Default DIR: bench-out/gpu-host. Exit 1 when a program stopped drawing.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=3 out=$top/bench-out/gpu-host cpu=0 quick=0 piglit=1 apps=glmark2,glretrace,openarena,glxgears
usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --apps) apps=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --cpu) cpu=1; shift ;;
    --quick) quick=1; shift ;;
    --no-piglit) piglit=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu_host: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
comp=$top/build/host/compositor/xen3d-compositor
[ -x "$comp" ] || { echo "gpu_host: $comp is not built (run scripts/setup.sh)" >&2; exit 2; }
say() { printf '== %s\n' "$*" >&2; }

# What zink will run on: the compositor lists the Vulkan devices.
drivers=$("$comp" --list-drivers)
zink=$(sed -n 's/^zink *//p' <<<"$drivers")
say "zink here: $zink"
case $zink in
  unavailable*) echo "gpu_host: zink cannot run here: $zink" >&2; exit 2 ;;
esac
if [ "$cpu" = 0 ] && ! grep -Eq '\((discrete|integrated|virtual) GPU\)' <<<"$zink"; then
  echo "gpu_host: no GPU Vulkan device (only: $zink); --cpu measures zink over lavapipe instead" >&2
  exit 2
fi
export XEN3D_DRIVER=zink XEN3D_ZINK_CPU=$cpu
mkdir -p "$out"
out=$(cd "$out" && pwd)
{
  echo "# bench/gpu_host.sh, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- zink on: $zink"
  echo "- CPU: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
  command -v nvidia-smi >/dev/null && echo "- GPU: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)"
  echo
} >"$out/summary.md"

say "apps: direct-zink (baseline), remote on zink, direct (llvmpipe)"
quick_arg=()
[ "$quick" = 1 ] && quick_arg=(--quick)
rc=0
"$top/bench/apps_bench.sh" --rounds "$rounds" --apps "$apps" --stacks direct-zink,remote,direct --baseline direct-zink \
  --out "$out" "${quick_arg[@]}" || rc=1
cat "$out/apps.md" >>"$out/summary.md"

if [ "$piglit" = 1 ]; then
  say "piglit CI subset: remote on zink and zink in-process"
  list=$top/tests/conformance/ci-subset.txt
  "$top/tests/conformance/piglit_run.sh" --driver remote --test-list "$list" --results "$out/piglit-remote" || rc=1
  "$top/tests/conformance/piglit_run.sh" --driver direct-zink --test-list "$list" --results "$out/piglit-direct-zink" || rc=1
  "$top/tests/conformance/piglit_compare.py" table "$out/piglit-direct-zink:direct-zink" "$out/piglit-remote:remote" \
    --out "$out/piglit.md"
  { echo; echo "piglit CI subset, remote on zink against zink in-process:"; echo; cat "$out/piglit.md"; } >>"$out/summary.md"
fi
say "results: $out/summary.md"
exit $rc
