#!/usr/bin/env bash
# Render workers (docs/render-workers.md): every GL connection is served by a
# xen3d-render-worker process of its own.
#   - a guest whose one draw runs far past the GPU-time budget has its worker
#     killed and its context reset within budget + 1 s, while glxgears in
#     another guest keeps at least half its frame rate over the 5 s from
#     the draw's start;
#   - a worker killed by SIGSEGV (SIGILL when sanitized) or SIGKILL costs only its guest: the guest is
#     told, the compositor says why, the other guest keeps presenting, and
#     the host's objects return to what the survivor holds;
#   - the compositor serves new guests afterwards;
#   - a worker that breaks its sandbox (XEN3D_WORKER_SANDBOX_PROBE makes it
#     open a file for writing) is killed by the kernel (SIGSYS), creates
#     nothing, and costs only its guest;
#   - sanitized build only: a worker's leak check at exit runs to its end in
#     the sandbox and writes its report (XEN3D_WORKER_LEAK_PROBE leaks 43210
#     bytes on purpose; the report is checked, then removed).
allow_lost_contexts=1  # the runaway draw's and the killed workers' guests
. "$(dirname "$0")/harness.sh"
: "${GPU_HOG:?}"
budget_ms=2000
start_xvfb
start_compositor --render-workers on --gpu-budget-ms "$budget_ms"
base=$(host_stat objects)

frames() { grep -c '^xen3d: frame' "$1" || true; }
wait_frames() {  # log, count
  for _ in $(seq 300); do [ "$(frames "$1")" -ge "$2" ] && return 0; sleep 0.1; done
  fail "only $(frames "$1") frames: $(tail -3 "$1")"
}
worker_of() {  # a guest's pid -> its render worker's pid
  sed -n "s/.*, pid $1[,)].*: served by render worker \([0-9]*\).*/\1/p" "$work/compositor.log" | tail -1
}
# Frames a log gains in N seconds.
frames_in() {  # log, seconds
  local before
  before=$(frames "$1")
  sleep "$2"
  echo $(($(frames "$1") - before))
}

say "glxgears in guest A, served by a render worker"
start_guest "$work/a.log" env XEN3D_STATS=frame glxgears
a=$guest_pid
wait_frames "$work/a.log" 30
wa=$(worker_of "$a")
[ -n "$wa" ] || fail "the compositor did not say which render worker serves guest A"
kill -0 "$wa" || fail "guest A's render worker $wa is not running"
alone=$(frames_in "$work/a.log" 5)
say "guest A alone: $alone frames in 5 s"
[ "$alone" -gt 50 ] || fail "guest A renders only $alone frames in 5 s alone"

say "guest B draws once for far longer than the $budget_ms ms budget"
start_guest "$work/hog.log" "$GPU_HOG" --iterations 2000000000 --size 1024x768
hog=$guest_pid
for _ in $(seq 100); do grep -q "drawing" "$work/hog.log" && break; sleep 0.1; done
grep -q "drawing" "$work/hog.log" || fail "gpu-hog did not start drawing: $(cat "$work/hog.log")"
during=$(frames_in "$work/a.log" 5)
say "guest A in the 5 s from B's draw: $during frames"
[ $((during * 2)) -ge "$alone" ] || fail "guest A fell to $during frames in 5 s (alone: $alone)"
for _ in $(seq 50); do grep -q "^draw:" "$work/hog.log" && break; sleep 0.1; done
grep -q "^draw:" "$work/hog.log" || fail "gpu-hog's draw never ended: $(tail -3 "$work/hog.log")"
ms=$(sed -n 's/^draw: \([0-9]*\) ms.*/\1/p' "$work/hog.log")
say "gpu-hog: $(grep '^draw:' "$work/hog.log")"
[ "$ms" -le $((budget_ms + 1000)) ] || fail "gpu-hog's reset came after $ms ms (budget $budget_ms ms + 1 s)"
grep -q "in one [a-z_]* record, past the GPU-time budget" "$work/compositor.log" ||
  fail "the compositor did not say it stopped guest B, and in which record: $(grep 'GPU-time' "$work/compositor.log")"
say "$(grep -o 'busy for .* record' "$work/compositor.log" | head -1)"
grep -qi "context.*lost\|lost.*context" "$work/hog.log" || fail "guest B was not told its context is lost: $(cat "$work/hog.log")"
# The app itself sees it as GL_ARB_robustness promises (a robust GLX context).
grep -q "^draw: .*reset status: guilty" "$work/hog.log" || fail "gpu-hog's GL did not report a guilty context reset: $(grep '^draw:' "$work/hog.log")"
wait "$hog" 2>/dev/null || true
kill -0 "$a" || fail "guest A died"

# Under the sanitized build, ASan turns a SIGSEGV into a report of its own
# (which the sanitizer-reports test would rightly count): there the crash is
# a SIGILL, which ASan leaves alone.
crash=SEGV
[[ "${ASAN_OPTIONS:-}" == *log_path=* ]] && crash=ILL
for sig in $crash KILL; do
  say "guest C's render worker is killed by SIG$sig"
  before=$(host_stat objects)
  start_guest "$work/c-$sig.log" env XEN3D_STATS=frame glxgears
  c=$guest_pid
  wait_frames "$work/c-$sig.log" 20
  wc=$(worker_of "$c")
  [ -n "$wc" ] || fail "no render worker named for guest C"
  # Workers report their totals every 100 ms: wait until C's objects count
  # (with cached shaders C reaches 20 frames before its first report).
  for _ in $(seq 50); do [ "$(host_stat objects)" -gt "$before" ] && break; sleep 0.1; done
  both=$(host_stat objects)
  [ "$both" -gt "$before" ] || fail "guest C's objects never counted ($before before it, $both with it)"
  kill -"$sig" "$wc"
  for _ in $(seq 50); do grep -q "render worker killed by SIG$sig" "$work/compositor.log" && break; sleep 0.1; done
  grep -q "render worker killed by SIG$sig" "$work/compositor.log" || fail "the compositor did not log the SIG$sig"
  for _ in $(seq 50); do grep -qi "lost" "$work/c-$sig.log" && break; sleep 0.1; done
  grep -qi "lost" "$work/c-$sig.log" || fail "guest C was not told: $(tail -3 "$work/c-$sig.log")"
  kill -9 "$c" 2>/dev/null || true
  wait "$c" 2>/dev/null || true
  n=$(frames "$work/a.log")
  sleep 1
  [ "$(frames "$work/a.log")" -gt $((n + 5)) ] || fail "guest A stopped presenting after C's worker died"
  for _ in $(seq 50); do [ "$(host_stat objects)" -lt "$both" ] && break; sleep 0.1; done
  [ "$(host_stat objects)" -lt "$both" ] || fail "guest C's objects still count after its worker died"
done

say "a new guest is served afterwards"
guest "$XEN3D_INFO" >"$work/info.log" 2>&1 || fail "xen3d-info failed after the workers died: $(cat "$work/info.log")"
kill -TERM "$a"
wait "$a" 2>/dev/null || true
for _ in $(seq 100); do [ "$(host_stat objects)" = "$base" ] && break; sleep 0.1; done
[ "$(host_stat objects)" = "$base" ] || fail "objects remain after every guest left: $(host_stat objects) (baseline $base)"
kill -0 "$comp_pid" || fail "the compositor died"

say "a worker that breaks its sandbox (opens a file for writing) dies of it, alone"
kill -TERM "$comp_pid"
wait "$comp_pid" 2>/dev/null || true
mv "$work/compositor.log" "$work/compositor-1.log"
XEN3D_WORKER_SANDBOX_PROBE=$work/sandbox-escape start_compositor --render-workers on
if guest "$XEN3D_INFO" >"$work/probe.log" 2>&1; then fail "a guest was served by a worker that broke its sandbox"; fi
for _ in $(seq 50); do grep -q "render worker killed by SIGSYS" "$work/compositor.log" && break; sleep 0.1; done
grep -q "render worker killed by SIGSYS" "$work/compositor.log" || fail "the compositor did not report the SIGSYS"
[ ! -e "$work/sandbox-escape" ] || fail "the sandboxed worker created a file"
grep -q "the sandbox let the worker" "$work/compositor.log" && fail "the sandbox let the worker open a file for writing"
kill -0 "$comp_pid" || fail "the compositor died with its worker"

if [[ "${ASAN_OPTIONS:-}" == *log_path=* ]]; then
  say "sanitized: a sandboxed worker's leak check finishes and reports"
  kill -TERM "$comp_pid"
  wait "$comp_pid" 2>/dev/null || true
  mv "$work/compositor.log" "$work/compositor-2.log"
  XEN3D_WORKER_LEAK_PROBE=1 start_compositor --render-workers on
  guest "$XEN3D_INFO" >"$work/leak.log" 2>&1 || fail "xen3d-info failed: $(cat "$work/leak.log")"
  reports=$(sanitizer_reports_dir)
  probe_reports() {  # reports of the probe's leak alone (ASan's or UBSan's log_path)
    local r
    for r in "$reports"/asan.* "$reports"/ubsan.*; do
      [ -f "$r" ] && grep -q "SUMMARY: AddressSanitizer: 43210 byte(s) leaked in 1 allocation(s)" "$r" && echo "$r"
    done
    return 0
  }
  found=""
  for _ in $(seq 100); do
    found=$(probe_reports | head -1)
    [ -n "$found" ] && break
    sleep 0.1
  done
  [ -n "$found" ] || fail "no leak report from the worker (its leak check did not finish, or could not write)"
  grep -q "did not exit within" "$work/compositor.log" && fail "a sanitized worker was killed during its leak check"
  kill -TERM "$comp_pid"
  wait "$comp_pid" 2>/dev/null || true
  # Spare workers leak the probe too as they exit. Only reports of the probe
  # alone go: anything else stays for the sanitizer-reports test.
  probe_workers() {
    local p
    for p in $(pgrep -f xen3d-render-worker); do
      tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -q '^XEN3D_WORKER_LEAK_PROBE=' && echo "$p"
    done
    return 0
  }
  for _ in $(seq 150); do [ -z "$(probe_workers)" ] && break; sleep 0.1; done
  probe_reports | xargs -r rm -f
fi
say "ok: render workers contain a runaway draw, a crashed worker and a sandbox violation"
