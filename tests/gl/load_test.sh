#!/usr/bin/env bash
# Load: N GL programs (glxgears) on one compositor for S seconds.
#   load_test.sh [--apps N] [--seconds S]      (defaults 8 and 30; CI runs these)
#   the issue's long run: meson test -C build gl-load --test-args='--seconds 600' -t 3
# Checks that every program keeps running and making frames, that none gets
# less than a third of the mean frame count (fair progress), that the
# compositor's RSS does not grow after warm-up (sampled from S/5, or from when
# every program has drawn 50 frames if that is later, to the end: at most
# max(24 MiB, 10 %)), and that everything is freed when the programs
# exit. Prints the frames of each program and the RSS samples.
. "$(dirname "$0")/harness.sh"
apps=8 seconds=30
while [ $# -gt 0 ]; do
  case $1 in
    --apps) apps=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    *) fail "unknown option '$1'" ;;
  esac
done
[ "$seconds" -ge 10 ] || fail "--seconds must be at least 10"
start_xvfb
"$XEN3D_COMPOSITOR" --listen "local:$sock" --control none -q >"$work/compositor.log" 2>&1 &
comp_pid=$!
pids+=($comp_pid)
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || fail "the compositor did not start: $(cat "$work/compositor.log")"
rss() { awk '/^VmRSS:/ { print int($2 / 1024) }' "/proc/$comp_pid/status"; }

say "$apps glxgears for $seconds s on one compositor"
app_pids=()
for i in $(seq "$apps"); do
  start_guest "$work/app$i.log" env XEN3D_STATS=frame glxgears -geometry "200x200+$(( (i - 1) % 4 * 210 ))+$(( (i - 1) / 4 * 230 ))"
  app_pids+=("$guest_pid")
done
warmup=$(( seconds / 5 ))
samples=() t=0 warm_at=
step=$(( seconds / 10 ))
# Warm when every program has drawn a few frames: each guest's contexts,
# shaders and JIT code exist (on a loaded machine or the sanitized
# compositor that takes longer than S/5).
all_drawing() {
  local i
  for i in $(seq "$apps"); do [ "$(grep -c '^xen3d: frame' "$work/app$i.log" || true)" -ge 50 ] || return 1; done
}
while [ $t -lt "$seconds" ]; do
  sleep "$step"
  t=$(( t + step ))
  [ -z "$warm_at" ] && [ $t -ge $warmup ] && all_drawing && warm_at=$t
  [ -n "$warm_at" ] && samples+=("$(rss)")
  for i in $(seq "$apps"); do
    kill -0 "${app_pids[$((i - 1))]}" 2>/dev/null || fail "glxgears $i exited at ${t} s: $(tail -3 "$work/app$i.log")"
  done
done
frames=()
for i in $(seq "$apps"); do frames+=("$(grep -c '^xen3d: frame' "$work/app$i.log" || true)"); done
for p in "${app_pids[@]}"; do kill "$p" 2>/dev/null || true; done
for p in "${app_pids[@]}"; do wait "$p" 2>/dev/null || true; done

total=0 min=${frames[0]} max=${frames[0]}
for f in "${frames[@]}"; do
  total=$(( total + f ))
  [ "$f" -lt "$min" ] && min=$f
  [ "$f" -gt "$max" ] && max=$f
done
mean=$(( total / apps ))
echo "frames per program: ${frames[*]} (total $total, mean $mean, min $min, max $max; $(( total / seconds )) frames/s in all)"
[ ${#samples[@]} -ge 3 ] || fail "the programs were not all drawing until ${warm_at:-the end}: too little time left to measure (frames: ${frames[*]})"
echo "compositor RSS (MiB) from $warm_at s to $seconds s: ${samples[*]}"
first=${samples[0]} last=${samples[-1]}
allowed=$(( first / 10 > 24 ? first / 10 : 24 ))
[ "$min" -ge 10 ] || fail "a program made only $min frames"
[ $(( min * 3 )) -ge "$mean" ] || fail "unfair: a program made $min frames against a mean of $mean"
[ $(( last - first )) -le "$allowed" ] || fail "the compositor grew from $first to $last MiB under steady load"
for _ in $(seq 50); do [ "$(host_stat objects)" = 0 ] && break; sleep 0.1; done
[ "$(host_stat objects)" = 0 ] || fail "$(host_stat objects) host objects left after every program exited"
kill -0 "$comp_pid" || fail "the compositor died"
say "ok: fair progress, no growth, everything freed"
