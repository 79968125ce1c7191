#!/usr/bin/env bash
# glmark2 through the remote driver: every scene of the default set passes
# glmark2's own pixel validation (frames read back through the remote driver
# and checked against glmark2's reference values), then the default benchmark
# set runs to completion (short durations) without a scene failing.
. "$(dirname "$0")/harness.sh"
start_xvfb
start_compositor

say "glmark2 --validate"
guest glmark2 --validate >"$work/validate.log" 2>&1 || { tail -20 "$work/validate.log"; fail "glmark2 --validate exited $?"; }
grep 'Validation:' "$work/validate.log"
passed=$(grep -c 'Validation: Success' "$work/validate.log" || true)
if grep -qE 'Validation: Failure|rendering stopped|Set up failed' "$work/validate.log"; then
  fail "a scene failed validation or set-up"
fi
[ "$passed" -ge 20 ] || fail "only $passed scenes validated"

say "glmark2 default scene set"
XEN3D_STATS=1 guest glmark2 -s 320x240 -b :duration=0.3 >"$work/run.log" 2>&1 || { tail -20 "$work/run.log"; fail "glmark2 exited $?"; }
grep -E '^\[|Score|xen3d: stats' "$work/run.log"
scenes=$(grep -c 'FPS:' "$work/run.log" || true)
if grep -qE 'rendering stopped|Set up failed|Error:' "$work/run.log"; then fail "a scene failed"; fi
[ "$scenes" -ge 30 ] || fail "only $scenes scenes ran"
grep -q 'glmark2 Score' "$work/run.log" || fail "no score"
say "ok: $passed scenes validated, $scenes scenes ran"
