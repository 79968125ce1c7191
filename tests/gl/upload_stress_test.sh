#!/usr/bin/env bash
# Uploads far beyond the bulk heap never drop a record. upload-stress runs on
# a 128 KiB heap: shaders (one larger than the heap), textures, buffers and
# user indices, first with a write map holding part of the heap open, then
# without; every result is read back and checked. Meanwhile glxgears in
# another guest keeps drawing. The guest's XEN3D_STATS must show the long
# paths were taken (payloads staged, uploads split and sent inline).
. "$(dirname "$0")/harness.sh"
start_xvfb
# The "big shader" (a 246 KiB TGSI payload, staged past the heap) takes
# llvmpipe 8.5 s to compile at its first draw on this 2-core machine, past
# the default GPU-time budget beside glxgears: this test is about uploads,
# the watchdog has its own (gl-render-workers).
start_compositor --gpu-budget-ms 180000

start_guest "$work/gears.log" env XEN3D_STATS=frame glxgears
gears_pid=$guest_pid
frames() { grep -c '^xen3d: frame' "$1" || true; }
for _ in $(seq 200); do [ "$(frames "$work/gears.log")" -ge 10 ] && break; sleep 0.1; done
[ "$(frames "$work/gears.log")" -ge 10 ] || fail "glxgears did not start drawing: $(tail -3 "$work/gears.log")"

before=$(frames "$work/gears.log")
t0=$(date +%s.%N)
# The same compile, sharing two cores with glxgears' worker, takes the
# sanitized build past the guest's 30 s answer timeout.
guest env XEN3D_ANSWER_TIMEOUT_S=180 XEN3D_BULK_HEAP_KIB=128 XEN3D_STATS=1 "$UPLOAD_STRESS" >"$work/stress.log" 2>&1 ||
  { cat "$work/stress.log"; fail "upload-stress failed"; }
t1=$(date +%s.%N)
after=$(frames "$work/gears.log")
cat "$work/stress.log"
grep -q '^upload-stress: ok' "$work/stress.log" || fail "upload-stress did not finish"
no_lost_context "$work/stress.log"
heap=$(grep '^xen3d: bulk heap:' "$work/stress.log") || fail "no bulk heap statistics"
num() { sed -n "s/.* \([0-9]*\) $1.*/\1/p" <<<"$heap"; }
[ "$(num 'payloads staged')" -gt 0 ] || fail "no payload was staged: the open map never held the heap? ($heap)"
[ "$(num 'refused (open map)')" -gt 0 ] || fail "the heap never refused an allocation ($heap)"
[ "$(num 'waits for the host')" -gt 0 ] || fail "the guest never waited for heap space ($heap)"
# Whole-buffer writes of the big dynamic vertex buffer move it in the arena,
# and the spans it leaves come back without a wait for the host. A host
# driver that cannot use the arena as buffers (zink: docs/gpu-hosts.md)
# copies only persistent ones: the guest uploads the others.
arena=$(grep '^xen3d: buffer arena:' "$work/stress.log") || fail "no buffer arena statistics"
has_arena=1
[ "$(host_driver)" = zink ] && has_arena=0
moves=$(sed -n 's/.*arena: \([0-9]*\) whole-buffer writes moved.*/\1/p' <<<"$arena")
reused=$(sed -n 's/.*, \([0-9]*\) spans reused.*/\1/p' <<<"$arena")
if [ "$has_arena" = 1 ]; then
  [ "${moves:-0}" -gt 0 ] || fail "no whole-buffer write moved a buffer ($arena)"
  [ "${reused:-0}" -gt 0 ] || fail "no moved-off span was reused ($arena)"
fi
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
say "upload-stress: $secs s; glxgears in the other guest: $((after - before)) frames meanwhile"
# The other guest must not stall: at least 2 frames a second on a loaded machine.
[ "$((after - before))" -ge "$(awk -v s="$secs" 'BEGIN { printf "%d", s * 2 }')" ] || fail "glxgears stalled during the uploads"
kill -0 "$comp_pid" || fail "the compositor died"
no_lost_context "$work/gears.log"

# A buffer rewritten between draws with nothing else sent is written in
# place once the host has stored the arena_mark after the last draw (the
# guest spins briefly for it: on an idle host, so glxgears stops first).
# Every draw must still have read its own write's bytes.
kill "$gears_pid"
wait "$gears_pid" 2>/dev/null || true
guest env XEN3D_STATS=1 "$UPLOAD_STRESS" --rewrites 8 >"$work/rewrites.log" 2>&1 ||
  { cat "$work/rewrites.log"; fail "upload-stress --rewrites failed"; }
arena=$(grep '^xen3d: buffer arena:' "$work/rewrites.log") || fail "no buffer arena statistics"
say "rewrites: $arena"
unwaited=$(sed -n 's/.*, \([0-9]*\) writes in place with the host done.*/\1/p' <<<"$arena")
[ "$has_arena" = 0 ] || [ "${unwaited:-0}" -gt 0 ] || fail "no write went in place with the host done ($arena)"
say "ok"
