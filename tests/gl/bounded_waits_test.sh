#!/usr/bin/env bash
# Every wait in the guest ends (issue 22): a guest whose host stops (the
# compositor and its render workers SIGSTOPped) while it streams uploads gets
# a clear error within its answer timeout and finishes, on the local
# transport and on tcp (where a full socket used to block a send for ever);
# a process that exits while one of its threads waits for a stopped host is
# gone at once, and GL in its exit handlers waits at most a second; a host that dies while a guest waits for it is noticed at
# once, long before the answer timeout.
. "$(dirname "$0")/harness.sh"
: "${UPLOAD_STRESS:?}" "${EXIT_GL:?}"
start_xvfb

# The compositor and every render worker it runs.
signal_host() { kill -"$1" "$comp_pid" $(pgrep -P "$comp_pid") 2>/dev/null || true; }
lost_line() { grep -m1 -E "^xen3d: rendering stopped" "$1" || true; }

# streams TRANSPORT NAME [env...]: upload-stress --stream with a 2 s answer
# timeout; the host stops under it; the error must come within 5 s and the
# program must then finish on its own within 10 s more.
streams() {
  local transport=$1 name=$2
  shift 2
  env LD_LIBRARY_PATH="$XEN3D_REMOTE_GL" XEN3D_TRANSPORT="$transport" XEN3D_ANSWER_TIMEOUT_S=2 "$@" \
    "$UPLOAD_STRESS" --stream 1000 >"$work/$name.log" 2>&1 &
  local pid=$!
  pids+=($pid)
  wait_log "$work/$name.log" "streamed 200 uploads" 60
  signal_host STOP
  local i
  for i in $(seq 50); do [ -n "$(lost_line "$work/$name.log")" ] && break; sleep 0.1; done
  [ -n "$(lost_line "$work/$name.log")" ] || { signal_host CONT; fail "$name: no error 5 s after the host stopped: $(tail -2 "$work/$name.log")"; }
  say "$name: after $(( i / 10 )).$(( i % 10 )) s: $(lost_line "$work/$name.log")"
  exits_within "upload-stress --stream ($name)" 10 "$pid"
  signal_host CONT
  wait "$pid" || fail "$name: upload-stress exited with $?"
  grep -q "streamed 1000 uploads, done" "$work/$name.log" || fail "$name: the program did not finish its loop"
}

start_compositor --listen tcp:127.0.0.1:0
tcp=$(grep -o 'tcp:127.0.0.1:[0-9]*' "$work/compositor.log" | head -1)
[ -n "$tcp" ] || fail "the compositor did not report its tcp port"
streams "local:$sock" local
# Rings far bigger than the socket's buffers: the guest's sends fill the
# socket long before its heap runs out.
streams "$tcp" tcp XEN3D_CMD_RING_KIB=16384 XEN3D_BULK_HEAP_KIB=65536
grep -q "read nothing for 2 s" "$work/tcp.log" || say "(tcp: the heap filled before the socket did this time)"

mkfifo "$work/go"
exec 3<>"$work/go"  # read-write: opening it blocks neither side
# leaves_with_host_stopped MODE SECONDS [PATTERN]: exit-gl MODE draws, the
# host stops, a line on its stdin makes it exit (once PATTERN is in its log);
# it must be gone within SECONDS.
leaves_with_host_stopped() {
  local mode=$1 secs=$2 pattern=${3:-}
  # (not start_guest: a background command's stdin is /dev/null unless its own line redirects it)
  guest "$EXIT_GL" "$mode" <"$work/go" >"$work/$mode.log" 2>&1 &
  local pid=$!
  pids+=($pid)
  wait_log "$work/$mode.log" "^exit-gl: drew" 20
  signal_host STOP
  echo go >&3
  [ -z "$pattern" ] || wait_log "$work/$mode.log" "$pattern" 10
  exits_within "exit-gl $mode" "$secs" "$pid"
  signal_host CONT
  wait "$pid" || fail "exit-gl $mode exited with $?"
}

say "exit() while another thread waits for a stopped host (the default 30 s answer timeout)"
leaves_with_host_stopped thread-waiting 1 "the renderer waits for the host"

say "exit handlers that call GL while the host is stopped (the default 30 s answer timeout)"
leaves_with_host_stopped exit-handler 3
grep -q "did not answer within 1 s while the process exits" "$work/exit-handler.log" ||
  fail "no message saying why the exit handler's GL stopped: $(cat "$work/exit-handler.log")"
say "  $(grep "exit handler's GL returned" "$work/exit-handler.log")"

say "a host that dies while a guest waits for it (the default 30 s answer timeout)"
start_guest "$work/dies.log" "$UPLOAD_STRESS" --stream 1000
dies=$guest_pid
wait_log "$work/dies.log" "streamed 200 uploads" 60
signal_host STOP
sleep 1  # the guest is waiting now: its heap is full or its answer is late
signal_host KILL
wait_log "$work/dies.log" "^xen3d: rendering stopped: lost the compositor" 1
exits_within "upload-stress after the host died" 10 "$dies"
say "PASS"
