#!/usr/bin/env bash
# Record and replay: xen3d-compositor --record writes each guest's command
# stream; xen3d-replay re-executes it on a private headless compositor.
#   - a one-colour GL window replays to the exact colour;
#   - glxgears' 30th frame replays pixel-identical to the one it presented live;
#   - a recording cut short is refused; a recording whose record was tampered
#     with is replayed up to that record and rejected there, with the reason.
. "$(dirname "$0")/harness.sh"
: "${XEN3D_REPLAY:?}" "${X_WINDOW:?}"
start_xvfb
start_compositor --record "$work/rec" --snapshot-frames 30
grep -q "" "$work/compositor.log"

frames() { grep -c '^xen3d: frame' "$1" || true; }
wait_frames() {  # log, count
  for _ in $(seq 300); do [ "$(frames "$1")" -ge "$2" ] && return 0; sleep 0.1; done
  fail "only $(frames "$1") frames: $(tail -3 "$1")"
}

say "record a one-colour GL window and glxgears"
start_guest "$work/red.log" env XEN3D_STATS=frame "$X_WINDOW" --gl --name red --geometry 64x48+0+0 --color 200,40,40
red=$guest_pid
wait_frames "$work/red.log" 5
kill "$red"; wait "$red" 2>/dev/null || true
start_guest "$work/gears.log" env XEN3D_STATS=frame glxgears
gears=$guest_pid
wait_frames "$work/gears.log" 40
kill "$gears"; wait "$gears" 2>/dev/null || true
grep -q "recording its commands" "$work/compositor.log" || fail "the compositor does not say it records"
red_rec=$(ls "$work"/rec/guest*-x-window.x3drec)
gears_rec=$(ls "$work"/rec/guest*-glxgears*.x3drec)
live30=$(ls "$snap"/guest*-win*-frame30.png | grep -v "$(basename "$red_rec" | cut -d- -f1)-" | head -1)
[ -s "$live30" ] || fail "glxgears presented no 30th frame live"

say "replay them"
"$XEN3D_REPLAY" --snapshot "$work/r-red" "$red_rec" >"$work/replay-red.log" 2>&1 || fail "replay: $(cat "$work/replay-red.log")"
grep -q ": ok$" "$work/replay-red.log" || fail "replay did not say ok: $(cat "$work/replay-red.log")"
px=$("$PNG_COMPARE" --pixel "$(ls "$work"/r-red/guest*-win*.png | head -1)" 10 10)
[ "$px" = "200 40 40" ] || fail "the replayed red window has ($px)"
"$XEN3D_REPLAY" --snapshot "$work/r-gears" --snapshot-frames 30 "$gears_rec" >"$work/replay-gears.log" 2>&1 ||
  fail "replay: $(cat "$work/replay-gears.log")"
cat "$work/replay-gears.log"
"$PNG_COMPARE" "$live30" "$(ls "$work"/r-gears/guest*-win*-frame30.png | head -1)" ||
  fail "glxgears' replayed 30th frame differs from the live one"

say "a recording cut short, and one with a tampered record"
head -c 1000 "$gears_rec" >"$work/cut.x3drec"
if "$XEN3D_REPLAY" "$work/cut.x3drec" >"$work/cut.log" 2>&1; then fail "a cut recording replayed"; fi
grep -q "cut short" "$work/cut.log" || fail "no useful message for a cut recording: $(cat "$work/cut.log")"
# Entry 2 is the first record; set its opcode to one no guest may send.
python3 - "$red_rec" "$work/bad.x3drec" <<'PY'
import struct, sys
data = bytearray(open(sys.argv[1], 'rb').read())
pos, n = 16, 0
while pos < len(data):
    kind, length = struct.unpack_from('<II', data, pos)
    if kind == 2:
        n += 1
        if n == 3:
            struct.pack_into('<H', data, pos + 8, 0x7abc)
            break
    pos += 8 + length
open(sys.argv[2], 'wb').write(data)
PY
if "$XEN3D_REPLAY" "$work/bad.x3drec" >"$work/bad.log" 2>&1; then fail "a tampered recording replayed cleanly"; fi
grep -q "stopped at record .*rejected .*unknown opcode" "$work/bad.log" || fail "the tampered record was not named: $(cat "$work/bad.log")"
say "PASS"
