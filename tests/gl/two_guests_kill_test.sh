#!/usr/bin/env bash
# Two GL apps against one compositor; one is SIGKILLed mid-frame. The other
# keeps rendering, and the compositor frees everything the dead one owned:
# its object count goes back to what the survivor alone holds, then to the
# baseline once the survivor exits.
. "$(dirname "$0")/harness.sh"
start_xvfb
start_compositor
base=$(host_stat objects)
say "baseline: $base host objects"

start_guest "$work/a.log" env XEN3D_STATS=frame glxgears
a=$guest_pid
start_guest "$work/b.log" env XEN3D_STATS=frame glxgears
b=$guest_pid

frames() { grep -c '^xen3d: frame' "$1" || true; }
for _ in $(seq 200); do
  [ "$(frames "$work/a.log")" -ge 20 ] && [ "$(frames "$work/b.log")" -ge 20 ] && break
  sleep 0.1
done
[ "$(frames "$work/a.log")" -ge 20 ] || fail "guest A did not render 20 frames: $(tail -3 "$work/a.log")"
[ "$(frames "$work/b.log")" -ge 20 ] || fail "guest B did not render 20 frames: $(tail -3 "$work/b.log")"
both=$(settled_host_stat objects)
say "both running: $both host objects"

kill -9 "$a"
wait "$a" 2>/dev/null || true
say "guest A killed after $(frames "$work/a.log") frames"
for _ in $(seq 100); do grep -q "freed" "$work/compositor.log" && break; sleep 0.1; done
grep "freed" "$work/compositor.log" || fail "the compositor did not report freeing guest A's objects"

before=$(frames "$work/b.log")
sleep 1.5
after=$(frames "$work/b.log")
say "guest B: $before -> $after frames in 1.5 s after the kill"
[ "$after" -gt $((before + 5)) ] || fail "guest B stopped rendering after guest A was killed"
kill -0 "$comp_pid" || fail "the compositor died"
one=$(settled_host_stat objects)
say "guest B alone: $one host objects"
[ "$one" -lt "$both" ] || fail "guest A's objects were not freed ($one >= $both)"

kill -TERM "$b"
wait "$b" 2>/dev/null || true
for _ in $(seq 100); do [ "$(host_stat objects)" = "$base" ] && break; sleep 0.1; done
end=$(host_stat objects)
[ "$end" = "$base" ] || fail "after both guests left, $end host objects remain (baseline $base)"
say "ok: back to baseline ($end objects)"
