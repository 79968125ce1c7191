#!/usr/bin/env bash
# GL from a signal handler while the same thread is inside the driver (a
# handler that shuts the renderer down, as ioquake3's does on SIGTERM): the
# process finishes, quickly; the compositor and another guest go on.
. "$(dirname "$0")/harness.sh"
start_xvfb
start_compositor
start_guest "$work/gears.log" env XEN3D_STATS=frame glxgears
frames() { grep -c '^xen3d: frame' "$1" || true; }
for _ in $(seq 200); do [ "$(frames "$work/gears.log")" -ge 10 ] && break; sleep 0.1; done
[ "$(frames "$work/gears.log")" -ge 10 ] || fail "glxgears did not start drawing: $(tail -3 "$work/gears.log")"

# A handler that returns, a thousand times in 2 s, many of them while the
# main thread waits for a readback holding the driver's lock.
guest timeout -k 5 60 "$SIGNAL_REENTRY" --return >"$work/return.log" 2>&1 ||
  { cat "$work/return.log"; fail "signal-reentry --return failed"; }
cat "$work/return.log"
grep -q '^signal-reentry: done' "$work/return.log" || fail "signal-reentry --return did not finish"
# Otherwise no signal landed inside the driver and nothing was tested.
grep -q 'already inside the driver' "$work/return.log" || fail "no alarm interrupted a call into the driver"

# SIGTERM with a handler that calls GL and exit()s, as games do: gone within a second.
for i in 1 2 3; do
  start_guest "$work/exit$i.log" "$SIGNAL_REENTRY" --exit
  pid=$guest_pid
  for _ in $(seq 200); do grep -q '^signal-reentry: drawing' "$work/exit$i.log" && break; sleep 0.05; done
  grep -q '^signal-reentry: drawing' "$work/exit$i.log" || fail "signal-reentry --exit did not draw: $(tail -3 "$work/exit$i.log")"
  sleep 0.$((2 + i))
  kill -TERM "$pid"
  exits_within "signal-reentry --exit (run $i)" 1 "$pid"
  wait "$pid" && rc=0 || rc=$?
  [ "$rc" = 0 ] || { cat "$work/exit$i.log"; fail "signal-reentry --exit exited with $rc"; }
done
say "GL from signal handlers: the programs finished; $(grep -l 'already inside the driver' "$work"/exit*.log 2>/dev/null | wc -l) of 3 SIGTERMs landed inside the driver"

# A real game: OpenArena quits on SIGTERM and on SIGINT during a demo.
openarena=$(command -v openarena || echo /usr/games/openarena)
[ -x "$openarena" ] || fail "OpenArena is not installed (scripts/setup.sh installs it)"
for sig in TERM INT; do
  rm -rf "$work/oa"
  start_guest "$work/oa-$sig.log" env XEN3D_STATS=frame "$openarena" +set fs_homepath "$work/oa" \
    +set com_hunkmegs 256 +set r_fullscreen 0 +set r_mode -1 +set r_customwidth 320 +set r_customheight 240 \
    +set s_initsound 0 +set com_introplayed 1 +demo demo088-test1
  pid=$guest_pid
  # ioquake3 runs as a child of the openarena wrapper script: signal the game itself.
  game=""
  for _ in $(seq 600); do
    game=$(pgrep -P "$pid" -x ioquake3 || pgrep -f "ioquake3.*$work/oa" | head -1)
    [ -n "$game" ] && [ "$(frames "$work/oa-$sig.log")" -ge 30 ] && break
    sleep 0.1
  done
  [ "$(frames "$work/oa-$sig.log")" -ge 30 ] || { tail -5 "$work/oa-$sig.log"; fail "OpenArena did not draw"; }
  kill -"$sig" "$game"
  exits_within "OpenArena (SIG$sig)" 1 "$game"
  wait "$pid" 2>/dev/null || true
done
say "OpenArena quit within a second of SIGTERM and of SIGINT"

# More real programs, as users run them, each quits within a second of
# SIGTERM and of SIGINT once it draws. They start with SIGINT at its default:
# a shell's background commands inherit it ignored.
quits_on() {  # signal, name, command...
  local sig=$1 name=$2
  shift 2
  start_guest "$work/$name-$sig.log" env --default-signal=INT XEN3D_STATS=frame "$@"
  local pid=$guest_pid
  for _ in $(seq 600); do
    [ "$(frames "$work/$name-$sig.log")" -ge 30 ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ "$(frames "$work/$name-$sig.log")" -ge 30 ] || { tail -5 "$work/$name-$sig.log"; fail "$name did not draw"; }
  kill -"$sig" "$pid"
  exits_within "$name (SIG$sig)" 1 "$pid"
  wait "$pid" 2>/dev/null || true
  no_lost_context "$work/$name-$sig.log"
}
mkdir -p "$work/home"
for sig in TERM INT; do
  quits_on $sig glxgears glxgears
  quits_on $sig glmark2 glmark2 -s 320x240 --run-forever
  quits_on $sig neverball env HOME="$work/home" SDL_AUDIODRIVER=dummy ALSOFT_DRIVERS=null /usr/games/neverball
  quits_on $sig etr env HOME="$work/home" SDL_AUDIODRIVER=dummy ALSOFT_DRIVERS=null /usr/games/etr
done
say "glxgears, glmark2, neverball and etr quit within a second of SIGTERM and of SIGINT"

kill -0 "$comp_pid" || fail "the compositor died"
before=$(frames "$work/gears.log")
sleep 1
[ "$(frames "$work/gears.log")" -gt "$before" ] || fail "glxgears stopped drawing"
no_lost_context "$work/gears.log"
say "ok"
