#!/usr/bin/env bash
# Real games from Debian's packages play through the remote driver, at the
# same time, for $GAME_SECONDS (60) each, and nothing they do harms the
# compositor. neverball used to kill it within seconds (llvmpipe's TGSI path
# compiling an anisotropic sampler: docs/hardening.md). For each game:
#   - it is still running when its time is up (it neither crashed nor quit);
#   - the compositor presented a steady stream of its frames (its count at
#     the guest's disconnect) and its last frame is a real picture;
#   - no context was lost (harness.sh fails the test on any);
# and the compositor is alive afterwards and serves a new guest.
# GAMES="neverball etr" picks the games (each must be installed).
. "$(dirname "$0")/harness.sh"
seconds=${GAME_SECONDS:-60}
games=${GAMES:-neverball etr}
# Frames each game must have presented: 1 per 4 s is far below what either
# draws even on the sanitized compositor, far above a game stuck on a frame.
min_frames=$(( seconds / 4 ))

# The command line of each game: a private home, a window, no sound.
game_command() {
  case $1 in
    neverball) echo /usr/games/neverball ;;
    etr) echo /usr/games/etr ;;
    *) fail "unknown game $1" ;;
  esac
}

start_xvfb
start_compositor
declare -A game_pid
for g in $games; do
  cmd=$(game_command "$g")
  [ -x "$cmd" ] || fail "$g is not installed (scripts/setup.sh installs it)"
  mkdir -p "$work/home-$g"
  say "$g: starting through the remote driver for $seconds s"
  start_guest "$work/$g.log" env HOME="$work/home-$g" SDL_AUDIODRIVER=dummy ALSOFT_DRIVERS=null "$cmd"
  game_pid[$g]=$guest_pid
done

for _ in $(seq "$seconds"); do
  sleep 1
  kill -0 "$comp_pid" 2>/dev/null || fail "the compositor died while the games played"
done
for g in $games; do
  kill -0 "${game_pid[$g]}" 2>/dev/null || { tail -20 "$work/$g.log"; fail "$g exited before its $seconds s were up"; }
  kill "${game_pid[$g]}"
done
for g in $games; do
  for _ in $(seq 100); do kill -0 "${game_pid[$g]}" 2>/dev/null || break; sleep 0.1; done
  kill -9 "${game_pid[$g]}" 2>/dev/null || true
done

# The executor logs each guest's presented frames when it frees the guest.
for _ in $(seq 50); do
  [ "$(grep -c 'presented [0-9]* frames' "$work/compositor.log")" -ge "$(wc -w <<<"$games")" ] && break
  sleep 0.2
done
for g in $games; do
  id=$(sed -n "s/.*info: guest \([0-9]*\) ($g, pid ${game_pid[$g]}, .*connected$/\1/p" "$work/compositor.log" | head -1)
  [ -n "$id" ] || fail "$g never connected to the compositor"
  frames=$(sed -n "s/.*guest $id: freed .*; presented \([0-9]*\) frames$/\1/p" "$work/compositor.log" | tail -1)
  [ -n "$frames" ] || fail "$g (guest $id): the compositor did not report its frames"
  [ "$frames" -ge "$min_frames" ] || fail "$g presented $frames frames in $seconds s (expected at least $min_frames)"
  shot=$(ls -t "$snap"/guest"$id"-win*.png 2>/dev/null | head -1)
  [ -n "$shot" ] || fail "$g: the compositor kept no frame of it"
  "$PNG_COMPARE" --not-blank "$shot" || fail "$g: its last frame is blank ($shot)"
  say "$g: $frames frames presented in $seconds s, last frame $(basename "$shot") is a picture"
done

kill -0 "$comp_pid" 2>/dev/null || fail "the compositor died when the games left"
guest glxinfo -B >"$work/after.log" 2>&1 || { cat "$work/after.log"; fail "the compositor does not serve a new guest"; }
say "ok"
