#!/usr/bin/env bash
# The compositor goes away under running GL programs. Each gets a clear error
# within a bounded time and keeps running (its context is lost, it is not
# hung), and programs started afterwards render on a restarted compositor.
#   - a compositor that stops answering (SIGSTOP): the guests' answer timeout
#     (XEN3D_ANSWER_TIMEOUT_S, 3 s here) calls it lost;
#   - a compositor that dies (SIGKILL): noticed at once.
# With --render-workers (XEN3D_COMPOSITOR_ARGS) a stopped compositor does not
# stop its guests: each keeps rendering in its worker until the compositor
# dies, and its worker with it.
. "$(dirname "$0")/harness.sh"
start_xvfb

lost_line() { grep -m1 -E "lost the compositor|did not answer" "$1" || true; }
# Waits up to $2 s for the lost-compositor error in log $1, then checks that the
# program still runs and still prints (its frame counter: XEN3D_STATS=frame).
expect_lost() {
  local log=$1 limit=$2 pid=$3 i
  for i in $(seq $(( limit * 10 ))); do [ -n "$(lost_line "$log")" ] && break; sleep 0.1; done
  [ -n "$(lost_line "$log")" ] || fail "no lost-compositor error within $limit s: $(tail -3 "$log")"
  say "  after $(( i / 10 )).$(( i % 10 )) s: $(lost_line "$log")"
  kill -0 "$pid" 2>/dev/null || fail "the program exited instead of carrying on: $(tail -3 "$log")"
  local before after
  before=$(wc -l <"$log")
  sleep 6  # glxgears prints its frame rate every 5 s
  after=$(wc -l <"$log")
  kill -0 "$pid" 2>/dev/null || fail "the program died after losing the compositor: $(tail -3 "$log")"
  [ "$after" -gt "$before" ] || fail "the program is hung after losing the compositor: $(tail -3 "$log")"
}
frames() { grep -c '^xen3d: frame' "$1" || true; }
wait_frames() {  # log, count
  for _ in $(seq 200); do [ "$(frames "$1")" -ge "$2" ] && return 0; sleep 0.1; done
  fail "only $(frames "$1") frames: $(tail -3 "$1")"
}

say "a compositor that stops answering (SIGSTOP)"
start_compositor
start_guest "$work/stopped.log" env XEN3D_ANSWER_TIMEOUT_S=3 XEN3D_STATS=frame glxgears
stopped_app=$guest_pid
wait_frames "$work/stopped.log" 10
kill -STOP "$comp_pid"
if grep -q "served by render worker" "$work/compositor.log"; then
  # Its own process serves it (--render-workers): it does not need the
  # stopped compositor, and keeps rendering until the compositor dies.
  n=$(frames "$work/stopped.log")
  sleep 2
  [ "$(frames "$work/stopped.log")" -gt $((n + 10)) ] || fail "a guest served by a render worker stopped with the compositor"
  say "  served by a render worker: $(( $(frames "$work/stopped.log") - n )) more frames in 2 s"
  kill -KILL "$comp_pid"
  expect_lost "$work/stopped.log" 10 "$stopped_app"
else
  expect_lost "$work/stopped.log" 10 "$stopped_app"
  kill -KILL "$comp_pid"
fi
kill -CONT "$comp_pid" 2>/dev/null || true
wait "$comp_pid" 2>/dev/null || true
kill "$stopped_app"

say "a restarted compositor serves new programs; then it dies (SIGKILL)"
rm -f "$sock"
mv "$work/compositor.log" "$work/compositor-1.log"
start_compositor
start_guest "$work/killed.log" env XEN3D_STATS=frame glxgears
killed_app=$guest_pid
wait_frames "$work/killed.log" 10
kill -KILL "$comp_pid"
wait "$comp_pid" 2>/dev/null || true
expect_lost "$work/killed.log" 3 "$killed_app"
kill "$killed_app"

say "and once more: a new compositor, a new program"
rm -f "$sock"
mv "$work/compositor.log" "$work/compositor-2.log"
start_compositor
start_guest "$work/third.log" env XEN3D_STATS=frame glxgears
wait_frames "$work/third.log" 10
say "PASS"
