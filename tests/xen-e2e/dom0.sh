#!/bin/bash
# Test steps inside dom0, called over the serial console by drive.py.
# Every step prints "E2E-MARK <name> ..." lines (drive.py timestamps them on
# arrival) and ends with "E2E-OK <step> ..." or "E2E-FAIL <step> <why>".
# Installed as /opt/xen3d/e2e/dom0.sh.
set -u
E=/opt/xen3d/e2e
BIN=/opt/xen3d/bin
LOGS=/root/logs
SNAP=/root/snap
CLOG=$LOGS/compositor.log
SOCK=/run/xen3d.sock
CTL=/run/xen3d-control.sock
DOMU=xen3d-e2e
CONLOG=/var/log/xen/console/guest-$DOMU.log
mkdir -p "$LOGS" "$SNAP"

mark() { echo "E2E-MARK $*"; }
ok() { echo "E2E-OK $*"; }
bad() { echo "E2E-FAIL $*"; }
stats() { "$BIN/xen3d-info" --transport "local:$SOCK" --timeout 20000 --stats 2>&1 | tr '\n' ' '; }
stat_of() { "$BIN/xen3d-info" --transport "local:$SOCK" --timeout 20000 --stats 2>/dev/null | sed -n "s/^$1=//p"; }
comp_pid() { cat /run/xen3d-compositor.pid 2>/dev/null; }
comp_alive() { local p; p=$(comp_pid); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
# Connection ids of the guests called $1 (program name) in the compositor log.
# (glxgears is a link to glxgears.x86_64-linux-gnu, the name the guest reports.)
conn_ids() { sed -n "s/.*guest \([0-9]*\) ($1[^ ,]*, pid .*, xen) connected\$/\1/p" "$CLOG" | sort -un; }
# The newest latest-frame snapshot of connection $1.
snap_of() { ls -t "$SNAP"/guest"$1"-win*.png 2>/dev/null | grep -v -- '-frame' | head -1; }
domid() { xl domid "$DOMU" 2>/dev/null; }
# Whether program $1 in the domU has exited (domu-init.sh prints "[prog] exited rc=N").
guest_exited() { grep -q "^\[$1\] exited rc=" "$CONLOG" 2>/dev/null; }
since() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN { printf "%.2f", a - b }'; }
# await_domu MARK STEP WHY PREFIX: waits until the domU console shows
# "E2E-DOMU MARK" (until $end), or fails STEP with WHY after showing the
# console's last PREFIX lines; then prints the PREFIX lines.
await_domu() {
  until grep -aq "E2E-DOMU $1" "$CONLOG"; do
    [ "$(date +%s)" -lt "$end" ] || { grep -a "^$4" "$CONLOG" | tail; bad "$2" "$3"; exit 1; }
    sleep 1
  done
  grep -a "^$4" "$CONLOG"
}

case "$1" in
start-compositor)
  # Xen listener for the domU, plus a local socket so xen3d-info --stats can
  # count the compositor's guests and objects from dom0. Under QEMU's TCG
  # llvmpipe compiles glxgears' first shaders for over 10 s: the GPU-time
  # watchdog's default budget would end them. dom0's own display (Xvfb) gets
  # the window output, which xdotool types into (the `input` step).
  Xvfb :0 -noreset -nolisten tcp -screen 0 1024x768x24 >"$LOGS/xvfb-dom0.log" 2>&1 &
  for _ in $(seq 100); do [ -e /tmp/.X11-unix/X0 ] && break; sleep 0.1; done
  DISPLAY=:0 "$BIN/xen3d-compositor" --listen xen --listen "local:$SOCK" --control "$CTL" --output window \
    --snapshot "$SNAP" --snapshot-frames 1 --gpu-budget-ms 300000 -v >"$CLOG" 2>&1 &
  echo $! >/run/xen3d-compositor.pid
  for _ in $(seq 1200); do
    grep -q 'ready' "$CLOG" && break
    comp_alive || break
    sleep 0.1
  done
  if grep -q 'ready' "$CLOG" && comp_alive; then
    grep -E 'listening|host driver|ready' "$CLOG"
    ok start-compositor "pid=$(comp_pid) $(stats)"
  else
    cat "$CLOG"
    bad start-compositor "the compositor did not report ready"
  fi
  ;;

create)
  xl create "$E/domu.cfg" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then ok create "domid=$(domid)"; else bad create "xl create failed rc=$rc"; fi
  ;;

# wait-red TIMEOUT: the x-window window's snapshot is 200x150 of (200,40,40).
wait-red)
  end=$(( $(date +%s) + $2 ))
  seen_up= seen_conn= seen_snap= last=
  while [ "$(date +%s)" -lt "$end" ]; do
    [ -z "$seen_up" ] && grep -q 'E2E-DOMU UP' "$CONLOG" 2>/dev/null && { seen_up=1; mark domu_init; }
    # x-window also runs on the PV display's Xorg (green): any of them may be the red one.
    for id in $(conn_ids x-window); do
      [ -z "$seen_conn" ] && { seen_conn=1; mark red_connected "id=$id"; }
      f=$(snap_of "$id")
      if [ -n "$f" ]; then
        [ -z "$seen_snap" ] && { seen_snap=1; mark red_first_snapshot "$f"; }
        last=$("$BIN/png-compare" "$f" "$E/ref-red.ppm" 2>&1) && {
          echo "$last"
          "$BIN/png-compare" --pixel "$f" 100 75
          f1=$(ls "$SNAP"/guest"$id"-win*-frame1.png 2>/dev/null | head -1)
          if [ -n "$f1" ]; then
            r1=$("$BIN/png-compare" "$f1" "$E/ref-red.ppm" 2>&1) && r1="match: $r1" || r1="no match: $r1"
            echo "first frame ($f1): $r1"
          fi
          ok wait-red "id=$id file=$f"
          exit 0
        }
      fi
    done
    comp_alive || { bad wait-red "the compositor died"; tail -30 "$CLOG"; exit 1; }
    guest_exited x-window && { sleep 2; grep '^\[x-window\]' "$CONLOG" | tail -15; bad wait-red "x-window exited in the domU (its output is above)"; exit 1; }
    sleep 1
  done
  echo "last comparison: ${last:-none}"
  bad wait-red "no correct x-window frame within $2 s (domU up: ${seen_up:-no}, connected: ${seen_conn:-no}, snapshot: ${seen_snap:-no})"
  ;;

# wait-gears TIMEOUT: glxgears presented a frame that is not blank, and has a buffer arena.
wait-gears)
  end=$(( $(date +%s) + $2 ))
  while [ "$(date +%s)" -lt "$end" ]; do
    id=$(conn_ids glxgears | head -1)  # the first: the later ones are the fps runs on the PV display
    f=${id:+$(snap_of "$id")}
    if [ -n "$f" ] && "$BIN/png-compare" --not-blank "$f"; then
      # Its buffer arena is grant pages of the domU's, mapped by the compositor (docs/xen.md).
      arena=$(grep -a '^\[glxgears\] xen3d: .*persistent buffers' "$CONLOG" | tail -1)
      case $arena in
        *"live in a 32 MiB arena"*) ok wait-gears "id=$id file=$f; ${arena#\[glxgears\] }"; exit 0 ;;
        *) bad wait-gears "glxgears drew, without a buffer arena: ${arena:-no arena line in the domU console}"; exit 1 ;;
      esac
    fi
    comp_alive || { bad wait-gears "the compositor died"; exit 1; }
    guest_exited glxgears && { sleep 2; grep '^\[glxgears\]' "$CONLOG" | tail -15; bad wait-gears "glxgears exited in the domU (its output is above)"; exit 1; }
    sleep 1
  done
  bad wait-gears "no glxgears snapshot within $2 s (connection: ${id:-none})"
  ;;

# wait-desktop TIMEOUT: the domU's PV display (xen-drm-front, Xorg) is the VM
# desktop named after the domain: its 2D window and its GL window (read back into
# the guest's X server, then scanned out) have their exact colours.
wait-desktop)
  end=$(( $(date +%s) + $2 ))
  seen= b= g=
  while [ "$(date +%s)" -lt "$end" ]; do
    if "$BIN/xen3dctl" --socket "$CTL" list 2>/dev/null | cut -f1 | grep -qx "$DOMU"; then
      [ -z "$seen" ] && { seen=1; mark desktop_seen; "$BIN/xen3dctl" --socket "$CTL" list; }
      if "$BIN/xen3dctl" --socket "$CTL" screenshot "$DOMU" "$SNAP/desktop.png" >/dev/null 2>&1; then
        b=$("$BIN/png-compare" --pixel "$SNAP/desktop.png" 100 80)
        g=$("$BIN/png-compare" --pixel "$SNAP/desktop.png" 300 80)
        if [ "$b" = "30 60 220" ] && [ "$g" = "40 200 40" ]; then
          grep -i 'pv display\|PV display' "$CLOG" | head -10
          ok wait-desktop "2D (100,80)=($b) GL (300,80)=($g) in $SNAP/desktop.png"
          exit 0
        fi
      fi
    fi
    comp_alive || { bad wait-desktop "the compositor died"; tail -30 "$CLOG"; exit 1; }
    sleep 1
  done
  grep -E 'PV_DISPLAY|XORG|\[xorg\]|\[x-window-(2d|pv)\]' "$CONLOG" | tail -30
  grep -i 'pv display' "$CLOG" | tail -20
  xenstore-ls -f /local/domain/0/backend/vdispl 2>&1 | head -20
  bad wait-desktop "no VM desktop with both windows within $2 s (desktop listed: ${seen:-no}, 2D pixel: ${b:-none}, GL pixel: ${g:-none})"
  ;;

# Evidence while the domU is alive: its xenstore directory, its console.
composited)
  # The domU's Xorg runs the xen3d module, attached to its PV display's
  # desktop: the GL window (green, at 300,80 on the desktop: wait-desktop) is
  # composited here, and the guest's own screen there is not green.
  end=$(( $(date +%s) + $2 ))
  grep -q "'$DOMU': dom[0-9]*'s window system attached" "$CLOG" ||
    { grep -a '^\[xorg\]' "$CONLOG" | tail; bad composited "the domU's module did not attach to the PV display's desktop"; exit 1; }
  until px=$(grep -a 'GUEST_SCREEN (300,80) = ' "$CONLOG" | tail -1 | sed 's/.* = //') && [ -n "$px" ]; do
    [ "$(date +%s)" -lt "$end" ] || { bad composited "the domU reported no pixel of its own screen"; exit 1; }
    sleep 1
  done
  grep -a '^\[xorg\]' "$CONLOG" | head -4
  if [ "$px" = "40 200 40" ]; then bad composited "the GL frame is in the guest's own screen (read back)"; exit 1; fi
  ok composited "GL window composited in dom0 (desktop (300,80) = 40 200 40); the guest's own screen there = $px"
  ;;

fps)
  # glxgears in the domU, composited (the module) and then read back
  # (XEN3D_PRESENT=readback), 36 s each: glxgears' last FPS line of each.
  end=$(( $(date +%s) + $2 ))
  await_domu GEARS_DONE fps "the glxgears runs did not finish" '\[gears-'
  # The last FPS line of each, never its first: that one counts the start.
  steady() { grep -a "^\[gears-$1\] .* FPS" "$CONLOG" | sed -n '2,$p' | tail -1 | sed 's/.*= *\([0-9.]*\) FPS.*/\1/'; }
  c=$(steady composited)
  r=$(steady readback)
  [ -n "$c" ] && [ -n "$r" ] ||
    { bad fps "no steady FPS line from one of the runs (composited: ${c:-none}, readback: ${r:-none}): it drew too few frames"; exit 1; }
  mark fps_composited "$c"
  mark fps_readback "$r"
  ok fps "glxgears composited $c FPS, read back $r FPS"
  ;;

fork)
  # fork() after GL in the domU (domu-init.sh, after the fps runs): the
  # parent exits while its child sleeps 40 s. The child let go of its copies
  # of the grant pages and of gntalloc's descriptor, so the parent's
  # connection ends with the parent: the compositor must log it going away
  # before the child exits.
  end=$(( $(date +%s) + $2 ))
  await_domu FORK_PARENT_EXITED fork "fork-gl did not run in the domU" '\[fork-gl\]'
  parent=$(grep -a '^\[fork-gl\] parent: child' "$CONLOG" | sed 's/.*parent pid \([0-9]*\).*/\1/')
  [ -n "$parent" ] || { bad fork "fork-gl printed no parent pid"; exit 1; }
  t0=$(date +%s.%N)
  # (the label reads "guest N (fork-gl, pid P in VM (domD), xen)")
  until grep -qE "guest [0-9]+ \(fork-gl, pid $parent[ ,].*\) (went away|said goodbye)" "$CLOG"; do
    if grep -aq 'E2E-DOMU FORK_CHILD_EXITED' "$CONLOG" || [ "$(date +%s)" -ge "$end" ]; then
      grep 'fork-gl' "$CLOG" | tail -5
      bad fork "the compositor did not see fork-gl's parent leave while its child lived"; exit 1
    fi
    sleep 0.2
  done
  grep "fork-gl, pid $parent" "$CLOG" | tail -2
  ok fork "the compositor saw the parent (pid $parent) leave $(since "$t0") s after the domU reported its exit, its child still alive"
  ;;

input)
  # A click and a key made into the compositor's window on dom0's display
  # (xdotool, real X input) reach the X client in the domU through its PV
  # keyboard, at the pixel clicked (x-input-probe's window is 200x150+420+300).
  end=$(( $(date +%s) + $2 ))
  export DISPLAY=:0
  "$BIN/xen3dctl" --socket "$CTL" switch "$DOMU" >/dev/null || { bad input "xen3dctl switch $DOMU failed"; exit 1; }
  until grep -aq '^\[x-input-probe\] ready' "$CONLOG" 2>/dev/null; do
    [ "$(date +%s)" -lt "$end" ] || { grep -aE 'PV_KEYBOARD|XORG|ALIVE|\[x-input-probe\]|\[xorg\]' "$CONLOG" | tail -30; bad input "x-input-probe did not start in the domU"; exit 1; }
    sleep 1
  done
  grep -i 'pv keyboard' "$CLOG" | head -5
  win=$(xdotool search --classname xen3d-compositor | head -1)
  [ -n "$win" ] || { bad input "no compositor window on dom0's display"; exit 1; }
  xdotool windowfocus --sync "$win"
  # wait_console PATTERN: prints the seconds until the domU console shows it (0.1 s polls).
  wait_console() {
    local t0
    t0=$(date +%s.%N)
    while ! grep -aEq "$1" "$CONLOG"; do
      [ "$(date +%s)" -lt "$end" ] || return 1
      sleep 0.1
    done
    since "$t0"
  }
  xdotool mousemove --window "$win" 500 360 click 1
  click_s=$(wait_console '^\[x-input-probe\] button press 1 x=500 y=360 ') || {
    grep -a '^\[x-input-probe\]' "$CONLOG" | tail; grep -i 'keyboard\|input' "$CLOG" | tail -5
    bad input "the click at (500,360) did not reach the domU's X client"; exit 1; }
  xdotool key a
  key_s=$(wait_console '^\[x-input-probe\] key press .* sym=a ') || {
    grep -a '^\[x-input-probe\]' "$CONLOG" | tail
    bad input "the key 'a' did not reach the domU's X client"; exit 1; }
  grep -a '^\[x-input-probe\] \(button\|key\) press' "$CONLOG" | head -4
  mark input_click "$click_s s"
  mark input_key "$key_s s"
  ok input "a click at (500,360) reached the domU's X client at (500,360) in $click_s s, the key 'a' in $key_s s"
  ;;

inspect)
  D=$(domid)
  echo "--- xl list"; xl list
  echo "--- xenstore-ls -f /local/domain/$D/data"; xenstore-ls -f "/local/domain/$D/data" 2>&1 | cut -c1-300
  echo "--- PV keyboard: backend and frontend nodes"
  xenstore-ls -f /local/domain/0/backend 2>&1 | grep -i "kbd\\|vinput" | cut -c1-200
  xenstore-ls -f "/local/domain/$D/device" 2>&1 | grep -i kbd | cut -c1-200
  echo "--- PV display: backend and frontend nodes"
  xenstore-ls -f /local/domain/0/backend/vdispl 2>&1 | cut -c1-200
  xenstore-ls -f "/local/domain/$D/device/vdispl" 2>&1 | cut -c1-200
  echo "--- compositor stats: $(stats)"
  echo "--- xen3dctl list/stats"
  "$BIN/xen3dctl" --socket "$CTL" list 2>&1
  "$BIN/xen3dctl" --socket "$CTL" stats 2>&1
  echo "--- domU console (tail)"; tail -25 "$CONLOG" 2>/dev/null
  ok inspect
  ;;

# destroy TIMEOUT: xl destroy; the compositor notices, frees the guest's
# connections (log + guest count back to the baseline) and keeps running.
destroy)
  base=$2
  timeout_s=$3
  ids=$( (conn_ids x-window; conn_ids glxgears) | sort -un | tr '\n' ' ')
  D=$(domid)
  echo "GL connections of dom$D: $ids; guests before: $(stat_of guests) (baseline $base)"
  t0=$(date +%s.%N)
  mark destroy_start
  xl destroy "$DOMU" 2>&1 || { bad destroy "xl destroy failed"; exit 1; }
  mark destroy_returned "after $(since "$t0") s"
  end=$(( $(date +%s) + timeout_s ))
  while [ "$(date +%s)" -lt "$end" ]; do
    missing=
    for id in $ids; do
      grep -q "guest $id (.*went away" "$CLOG" || missing="$missing gone:$id"
      grep -q "guest $id: freed" "$CLOG" || missing="$missing freed:$id"
    done
    g=$(stat_of guests)
    "$BIN/xen3dctl" --socket "$CTL" list 2>/dev/null | cut -f1 | grep -qx "$DOMU" && missing="$missing desktop"
    [ -z "$missing" ] && [ "$g" = "$base" ] && break
    comp_alive || break
    sleep 0.5
  done
  mark destroy_settled
  # Exact: from the start of xl destroy to the compositor's last "freed" line (both dom0 clocks).
  last_freed=
  for id in $ids; do
    t=$(sed -n "s/^\[\([0-9:.]*\)\].*guest $id: freed.*/\1/p" "$CLOG" | tail -1)
    [ -n "$t" ] && [[ "$t" > "$last_freed" ]] && last_freed=$t
  done
  if [ -n "$last_freed" ]; then
    d0=$(date -d "@${t0%.*}" +%F)
    echo "E2E-MARK freed_after $(awk -v a="$(date -d "$d0 $last_freed" +%s.%N)" -v b="$t0" 'BEGIN { printf "%.2f", a - b }') s (last freed at $last_freed)"
  fi
  for id in $ids; do grep -E "guest $id( \(|:)" "$CLOG" | grep -E 'went away|freed|said goodbye|broke|connection closed'; done
  echo "guests now: $(stat_of guests) (baseline $base); $(stats)"
  if ! comp_alive; then
    bad destroy "the compositor died"; tail -30 "$CLOG"
  elif [ -z "$ids" ]; then
    bad destroy "no GL connections of the domU were ever seen"
  elif [ -n "$missing" ]; then
    bad destroy "within $timeout_s s the compositor did not log for every GL connection that it went away and was freed:$missing"
  # (each query is a guest itself, which under TCG takes ~0.5 s to close: 2 s apart)
  elif ! for _ in 1 2 3 4 5 6; do [ "$(stat_of guests)" = "$base" ] && break; sleep 2; done ||
       { sleep 2; [ "$(stat_of guests)" != "$base" ]; }; then
    bad destroy "the compositor still counts $(stat_of guests) guests (baseline $base)"
  elif "$BIN/xen3dctl" --socket "$CTL" list 2>/dev/null | cut -f1 | grep -qx "$DOMU"; then
    bad destroy "the domain's PV display desktop is still listed: $("$BIN/xen3dctl" --socket "$CTL" list)"
  else
    sleep 2
    if comp_alive && stats | grep -q guests=; then ok destroy "freed connections:$ids"; else bad destroy "compositor unresponsive after the destroy"; fi
  fi
  ;;

# collect: logs and snapshots onto the results disk (/dev/vdb, a raw tar).
collect)
  cp /var/log/xen/console/*.log "$LOGS"/ 2>/dev/null
  cp /var/log/xen/*.log "$LOGS"/ 2>/dev/null
  dmesg >"$LOGS/dom0-dmesg.txt" 2>&1
  xl dmesg >"$LOGS/xl-dmesg.txt" 2>&1
  xenstore-ls -f >"$LOGS/xenstore.txt" 2>&1
  xl list >"$LOGS/xl-list.txt" 2>&1
  cp -a "$SNAP" "$LOGS"/snap 2>/dev/null
  sync
  tar -C "$LOGS" -cf /dev/vdb . && sync && ok collect "$(du -sk "$LOGS" | cut -f1) KiB"
  ;;

*)
  echo "usage: dom0.sh start-compositor|create|wait-red T|wait-gears T|wait-desktop T|inspect|destroy BASE T|collect"
  exit 2
  ;;
esac
