#!/usr/bin/env bash
# Leaving with GL in use (issue 22): exit() and _exit() with a context
# current and work in flight, exit() while another thread renders, and
# dlclose() of libGL followed by XCloseDisplay (which crashes Debian's own
# libGL: GLX's close hook on the display points into the unloaded library;
# ours stays loaded, -z nodelete). Each program must be gone within a second
# of starting to leave, exit 0, and leave nothing behind in the compositor.
. "$(dirname "$0")/harness.sh"
: "${EXIT_GL:?}"
start_xvfb
start_compositor
guests=$(settled_host_stat guests)
objects=$(settled_host_stat objects)

leaves() {  # mode, seconds from "drew" to gone
  local mode=$1 secs=$2 rc=0
  start_guest "$work/$mode.log" "$EXIT_GL" "$mode"
  local pid=$guest_pid
  wait_log "$work/$mode.log" "^exit-gl: drew" 20
  exits_within "exit-gl $mode" "$secs" "$pid"
  wait "$pid" || rc=$?
  [ $rc = 0 ] || { cat "$work/$mode.log"; fail "exit-gl $mode exited with $rc"; }
  no_lost_context "$work/$mode.log"
  # Everything it had is freed (counts are the compositor's, across its workers).
  local g o
  g=$(settled_host_stat guests)
  o=$(settled_host_stat objects)
  [ "$g" = "$guests" ] && [ "$o" = "$objects" ] ||
    fail "after exit-gl $mode the compositor holds $g guests and $o objects (before: $guests, $objects)"
  say "$mode: gone within $secs s, exit 0, the compositor freed everything"
}

leaves exit 1
leaves _exit 1
leaves thread-rendering 1
grep -q "the renderer drew [1-9]" "$work/thread-rendering.log" || fail "the rendering thread drew nothing before exit"
leaves dlclose 3
leaves dlclose-current 3
for m in dlclose dlclose-current; do
  grep -q "^exit-gl: returning from main" "$work/$m.log" || fail "exit-gl $m did not get past XCloseDisplay"
done
kill -0 "$comp_pid" || fail "the compositor died"
say "PASS"
