#!/usr/bin/env bash
# GL on several threads through the remote driver (issue 22): every frame of
# every thread is read back and checked (threads-gl), and no record may be
# torn: the harness fails the test on any lost context in the compositor's
# log. The same runs on llvmpipe in-process first, so a failure here is the
# remote driver's, not the program's, except where in-process llvmpipe
# itself crashes: two contexts of one X connection on two threads (Mesa
# 22.3's llvmpipe_flush_resource walks every context's scene of the screen
# while their threads change them; Debian's own libGL crashes the same way).
# There the reference's outcome is only reported.
. "$(dirname "$0")/harness.sh"
: "${THREADS_GL:?}"
start_xvfb
start_compositor

run() {  # what, reference (checked|reported), threads-gl arguments...
  local what=$1 reference=$2 rc=0
  shift 2
  direct timeout -k 5 120 "$THREADS_GL" "$@" >"$work/direct.log" 2>&1 || rc=$?
  if [ "$reference" = checked ] && [ $rc != 0 ]; then
    cat "$work/direct.log"
    fail "$what: threads-gl $* failed on llvmpipe in-process (the program's fault)"
  fi
  [ $rc = 0 ] || say "$what: llvmpipe in-process exited with $rc (139: crashed) on the same program"
  guest timeout -k 5 120 "$THREADS_GL" "$@" >"$work/remote.log" 2>&1 ||
    { cat "$work/remote.log"; fail "$what: threads-gl $* failed through the remote driver"; }
  say "$what: $(tail -1 "$work/remote.log")"
}

base=$(settled_host_stat guests)
run "four contexts on four threads, one X connection" reported contexts 4
run "four threads, each with its own X connection" checked own-displays 4
run "shared objects across threads" checked shared
run "a context current on two threads in turn" checked migrate
run "glFinish while another thread renders" checked finish
run "eight contexts on eight threads" reported contexts 8

# Each program left: the compositor holds nothing of theirs.
left=$(settled_host_stat guests)
[ "$left" = "$base" ] || fail "the compositor still counts $left guests (baseline $base) after the programs exited"
say "PASS"
