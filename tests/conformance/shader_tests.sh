#!/usr/bin/env bash
# piglit's tessellation and compute execution tests (shader_runner), which
# the quick_gl CI subset does not hold, through the remote driver on
# XEN3D_DRIVER's host (meson test --setup zink: zink): every one listed in
# shader-tests.txt must pass. They cover what the host translator
# (host/shader) builds for those stages: tessellation levels in both
# stages, barrier(), shared memory, patch varyings, compute ids.
# (gs-primitiveid-instanced is left out: it fails on zink in-process too.)
# Needs from meson what tests/gl/harness.sh needs.
. "$(dirname "$0")/../gl/harness.sh"
here=$(cd "$(dirname "$0")" && pwd)
piglit_tests=/usr/lib/x86_64-linux-gnu/piglit/tests/spec
runner=/usr/lib/x86_64-linux-gnu/piglit/bin/shader_runner
[ -x "$runner" ] || fail "piglit's shader_runner is not installed (scripts/setup.sh installs piglit)"
start_xvfb
start_compositor
failed=() n=0
while read -r t; do
  [ -n "$t" ] || continue
  n=$((n + 1))
  out=$(guest timeout 120 "$runner" "$piglit_tests/$t" -auto -fbo 2>&1) || true
  result=$(sed -n 's/.*"result": "\([a-z]*\)".*/\1/p' <<<"$out" | tail -1)
  [ "$result" = pass ] || { failed+=("$t: ${result:-no result}"); tail -5 <<<"$out"; }
done <"$here/shader-tests.txt"
kill -0 "$comp_pid" || fail "the compositor died"
say "$((n - ${#failed[@]})) of $n shader tests pass on $(host_driver)"
[ ${#failed[@]} = 0 ] || fail "$(printf '%s; ' "${failed[@]}")"
