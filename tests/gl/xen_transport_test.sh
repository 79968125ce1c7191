#!/usr/bin/env bash
# GL programs over the xen transport, against xenemu (the EMULATION of the Xen
# grant-table, event-channel and xenstore calls: xen/emulation/README.md;
# tests/xen-e2e runs the same on a real Xen). Each guest is a process in an
# emulated domain; the compositor is in dom0 and also listens locally, so
# host_stat can count its objects.
#   - glxgears renders and its frames arrive; a one-colour GL window arrives exact;
#   - a domain out of grant pages gets an error that says how to raise the limit;
#   - a guest killed mid-frame is noticed at once (notify-on-unmap) and freed;
#   - a destroyed domain is noticed (@releaseDomain) and its guests freed;
#   - the compositor keeps serving a new domain afterwards;
#   - a domain whose grant limit leaves no room for a buffer arena runs without.
. "$(dirname "$0")/harness.sh"
: "${XENEMU_BROKER:?}" "${XENEMU_CTL:?}" "${X_WINDOW:?}"
start_xvfb

start_xenemu
"$XENEMU_CTL" "$emu" create 3 vm-gears >/dev/null || fail "cannot create domain 3"
"$XENEMU_CTL" "$emu" create 5 vm-red >/dev/null || fail "cannot create domain 5"
XEN3D_XENEMU_DOMID=0 start_compositor --listen xen
grep -q "xenemu" "$work/compositor.log" || fail "the compositor does not say it is on the emulation"
base=$(host_stat objects)

in_domain() {  # domid, log, command...: a guest program in domain $1, in the background
  local d=$1 log=$2
  shift 2
  env LD_LIBRARY_PATH="$XEN3D_REMOTE_GL" XEN3D_TRANSPORT=xen XEN3D_XENEMU_DOMID="$d" "$@" >"$log" 2>&1 &
  guest_pid=$!
  pids+=($guest_pid)
}
frames() { grep -c '^xen3d: frame' "$1" || true; }
wait_frames() {  # log, count
  for _ in $(seq 200); do [ "$(frames "$1")" -ge "$2" ] && return 0; sleep 0.1; done
  fail "only $(frames "$1") frames over xen: $(tail -3 "$1")"
}

say "glxgears in domain 3"
in_domain 3 "$work/gears.log" env XEN3D_STATS=frame glxgears
gears=$guest_pid
wait_frames "$work/gears.log" 30
grep -q "in vm-gears (dom3), xen" "$work/compositor.log" || fail "the compositor did not name the guest's VM"
# Its own render worker maps the domain's grants and binds its event channel.
grep -q "in vm-gears (dom3), xen): served by render worker" "$work/compositor.log" ||
  [ "${XEN3D_COMPOSITOR_ARGS:-}" = "--render-workers off" ] || fail "the Xen guest was not handed to a render worker"
"$PNG_COMPARE" --not-blank "$(ls "$snap"/guest*-win*.png | head -1)"

say "a third GL connection in domain 3 runs out of grant pages (default limit: 1024, 354 each)"
in_domain 3 "$work/gears-b.log" env XEN3D_STATS=frame glxgears
gears_b=$guest_pid
wait_frames "$work/gears-b.log" 5
if env LD_LIBRARY_PATH="$XEN3D_REMOTE_GL" XEN3D_TRANSPORT=xen XEN3D_XENEMU_DOMID=3 "$XEN3D_INFO" >"$work/limit.log" 2>&1; then
  fail "a third connection fit in the grant limit"
fi
kill "$gears_b"
wait "$gears_b" 2>/dev/null || true
grep -q "out of grant pages.*gntalloc limit is 1024 pages.*xen_gntalloc/parameters/limit" "$work/limit.log" ||
  fail "no useful grant-limit error: $(cat "$work/limit.log")"

say "a one-colour GL window in domain 5"
in_domain 5 "$work/red.log" env XEN3D_STATS=frame "$X_WINDOW" --gl --name red --geometry 64x48+0+0 --color 200,40,40
red=$guest_pid
wait_frames "$work/red.log" 5
id=$(sed -n 's/.*guest \([0-9]*\) (x-window.*/\1/p' "$work/compositor.log" | head -1)
red_png=$(ls "$snap"/guest"$id"-win*.png | head -1)
px=$("$PNG_COMPARE" --pixel "$red_png" 10 10)
[ "$px" = "200 40 40" ] || fail "the red window's frame has ($px) at 10,10"

say "kill glxgears mid-frame"
both=$(host_stat objects)
kill -9 "$gears"
for _ in $(seq 50); do grep -q "guest unmapped its rings" "$work/compositor.log" && break; sleep 0.1; done
grep -q "guest unmapped its rings" "$work/compositor.log" || fail "the compositor did not notice the killed guest"
for _ in $(seq 50); do [ "$(host_stat objects)" -lt "$both" ] && break; sleep 0.1; done
[ "$(host_stat objects)" -lt "$both" ] || fail "the killed guest's objects were not freed"
before=$(frames "$work/red.log"); sleep 1; after=$(frames "$work/red.log")
[ "$after" -gt "$before" ] || fail "the other guest stopped rendering"

say "destroy domain 5 under a running guest"
"$XENEMU_CTL" "$emu" destroy 5 >/dev/null || fail "cannot destroy domain 5"
for _ in $(seq 50); do grep -q "domain was destroyed" "$work/compositor.log" && break; sleep 0.1; done
grep -q "domain was destroyed" "$work/compositor.log" || fail "the compositor did not notice the destroyed domain"
kill -9 "$red" 2>/dev/null || true
for _ in $(seq 100); do [ "$(host_stat objects)" = "$base" ] && break; sleep 0.1; done
[ "$(host_stat objects)" = "$base" ] || fail "objects of the destroyed domain remain: $(host_stat objects) (baseline $base)"
kill -0 "$comp_pid" || fail "the compositor died"

say "a new domain still gets served"
"$XENEMU_CTL" "$emu" create 4 vm-blue >/dev/null || fail "cannot create domain 4"
in_domain 4 "$work/gears2.log" env XEN3D_STATS=frame glxgears
wait_frames "$work/gears2.log" 10
grep -q "in vm-blue (dom4), xen" "$work/compositor.log" || fail "domain 4's guest was not served"

say "a guest whose grant limit leaves no room for a buffer arena runs without one, and says how to raise the limit"
env LD_LIBRARY_PATH="$XEN3D_REMOTE_GL" XEN3D_TRANSPORT=xen XEN3D_XENEMU_DOMID=4 XEN3D_DEBUG=1 glxinfo -B >"$work/noarena.log" 2>&1 ||
  fail "glxinfo failed: $(tail -5 "$work/noarena.log")"
grep -q "no persistent buffers (ARB_buffer_storage): the guest's gntalloc limit of 1024 grant pages leaves no room for 16 MiB.*xen_gntalloc/parameters/limit" \
  "$work/noarena.log" || fail "no useful reason for the missing arena: $(grep -i 'arena\|persistent' "$work/noarena.log")"
grep -q "core profile version string: 4.3" "$work/noarena.log" || fail "not OpenGL 4.3 without an arena"

say "a guest asks for a bigger bulk heap (XEN3D_BULK_HEAP_KIB) and gets it, within the grant limit"
env XEN3D_TRANSPORT=xen XEN3D_XENEMU_DOMID=4 XEN3D_BULK_HEAP_KIB=2048 "$XEN3D_INFO" --bulk-check 3000000 \
  >"$work/bigheap.log" 2>&1 || fail "a 2 MiB bulk heap: $(cat "$work/bigheap.log")"
grep -q "bulk heap 2048 KiB" "$work/bigheap.log" || fail "the heap is not 2 MiB: $(cat "$work/bigheap.log")"
grep -q "checksums match" "$work/bigheap.log" || fail "bulk check failed: $(cat "$work/bigheap.log")"
if env XEN3D_TRANSPORT=xen XEN3D_XENEMU_DOMID=4 XEN3D_BULK_HEAP_KIB=8192 "$XEN3D_INFO" >"$work/hugeheap.log" 2>&1; then
  fail "an 8 MiB bulk heap fit in 1024 grant pages"
fi
grep -q "out of grant pages" "$work/hugeheap.log" || fail "no grant-limit error for 8 MiB: $(cat "$work/hugeheap.log")"
say "ok: xen transport over the emulation"
