#!/usr/bin/env bash
# Runs piglit (Debian's package) under a private Xvfb with one of three GL stacks:
#
#   direct   Debian's libGL, llvmpipe in-process (the baseline)
#   remote   our libGL: Mesa's GL state tracker over the remote pipe driver,
#            rendered by xen3d-compositor on llvmpipe (local transport)
#   virpipe  the peer: Debian's libGL with Mesa's virpipe driver against
#            virgl_test_server --use-egl-surfaceless (virglrenderer)
#   direct-zink  Debian's libGL, zink in-process (the baseline for remote
#            with XEN3D_DRIVER=zink, which puts the compositor on zink)
#
#   tests/conformance/piglit_run.sh --driver D --results DIR
#       [--profile quick_gl] [--test-list FILE] [-j N] [--build DIR] [--egl]
#
# --egl: tests make their contexts through X11 EGL (waffle's x11_egl), the way
# OpenGL ES programs do; remote is then Mesa's libEGL with our swrast_dri.so.
# (Debian's piglit helpers also link glvnd's libGL: docs/frontends.md.)
#
# Results are piglit's (DIR/results.json.bz2); read them with piglit_compare.py.
# The compositor / virgl_test_server logs are kept in DIR/ for failures.
# The stacks are bench/stacks.sh's.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
driver="" results="" profile=quick_gl test_list="" jobs=$(nproc) build=$top/build egl=0
usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --driver) driver=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    --profile) profile=$2; shift 2 ;;
    --test-list) test_list=$2; shift 2 ;;
    -j) jobs=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --egl) egl=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "piglit_run: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case $driver in direct|direct-zink|remote|virpipe) ;; *) echo "piglit_run: --driver must be direct, direct-zink, remote or virpipe" >&2; exit 2 ;; esac
[ -n "$results" ] || { echo "piglit_run: --results DIR is required" >&2; exit 2; }
command -v piglit >/dev/null || { echo "piglit_run: piglit is not installed (apt-get install piglit)" >&2; exit 2; }
rm -rf "$results"
mkdir -p "$results"
results=$(cd "$results" && pwd)
stacks_work=$(mktemp -d /tmp/xen3d-piglit-XXXXXX)
# Absolute: piglit runs each test from its own directory, where a relative
# LD_LIBRARY_PATH would silently fall back to the system libGL.
build=$(cd "$build" && pwd) || { echo "piglit_run: no build directory '$build'" >&2; exit 2; }
stacks_build=$build
. "$top/bench/stacks.sh"
trap 'stacks_cleanup; rm -rf "$stacks_work"' EXIT
stacks_start_xvfb 150
case $driver in
  remote) stacks_start_compositor "$results/compositor.log" ;;
  virpipe) stacks_start_virgl "$results/virgl_test_server.log" ;;
esac
stack=$driver
[ "$egl" = 1 ] && [ "$driver" = remote ] && stack=remote-egl
read -r -a envs <<<"$(stacks_env "$stack")"

# One window system per run, never waffle's mixed default (GLX, and X11 EGL
# for tests that can use GLES): each stack's libGL and libEGL come as a pair.
if [ "$egl" = 1 ]; then
  [ "$driver" = virpipe ] && { echo "piglit_run: --egl is for direct and remote" >&2; exit 2; }
  export PIGLIT_PLATFORM=x11_egl
else
  export PIGLIT_PLATFORM=glx
fi
args=(run "$profile" -l dummy -j "$jobs" --timeout 120 -n "$driver")
[ -n "$test_list" ] && args+=(--test-list "$test_list")
echo "piglit_run: $stack ($PIGLIT_PLATFORM), profile $profile${test_list:+, list $test_list}, $jobs jobs, DISPLAY=$DISPLAY -> $results"
start=$(date +%s)
# piglit exits non-zero when tests fail; the results say how many.
env "${envs[@]}" piglit "${args[@]}" "$results" >"$results/piglit.log" 2>&1 || true
[ -f "$results/results.json.bz2" ] || [ -f "$results/results.json" ] || {
  tail -20 "$results/piglit.log"; echo "piglit_run: piglit wrote no results" >&2; exit 1; }
echo "piglit_run: $driver done in $(( $(date +%s) - start )) s"
# A compositor that died part-way turns every later test into a failure or
# skip that says nothing about it: say so, with how it went.
if [ "$driver" = remote ] && ! kill -0 "${stacks_pids[-1]}" 2>/dev/null; then
  wait "${stacks_pids[-1]}" 2>/dev/null && status=0 || status=$?
  tail -20 "$results/compositor.log"
  echo "piglit_run: FAIL: the compositor died during the run (exit status $status$([ $status -gt 128 ] && echo ", signal $((status - 128))")); every test after that point is void; its log: $results/compositor.log" >&2
  exit 1
fi
