#!/usr/bin/env bash
# Persistent maps (ARB_buffer_storage) both ways through the buffer arena:
# persistent-maps draws from a ring the app keeps writing, and reads back
# through its maps what the GPU copied and a compute shader wrote, next to
# bytes the app wrote into the same buffer. On llvmpipe the driver uses the
# arena as the buffers; on zink (meson test --setup zink) the host copies each
# way (host/resources/arena_copies.cpp), and the guest must say so.
. "$(dirname "$0")/harness.sh"
start_xvfb
start_compositor
guest env XEN3D_DEBUG=1 "$PERSISTENT_MAPS" --rounds 48 >"$work/maps.log" 2>&1 ||
  { cat "$work/maps.log"; fail "persistent-maps failed"; }
grep -v '^xen3d:' "$work/maps.log"
grep -q '^persistent-maps: ok' "$work/maps.log" || fail "persistent-maps did not finish"
no_lost_context "$work/maps.log"
arena=$(grep 'persistent buffers live in' "$work/maps.log") || fail "the guest has no buffer arena"
say "$arena"
case $(host_driver) in
  zink) grep -q "driver gets copies" <<<"$arena" || fail "zink cannot use the arena as buffers, yet the guest was not told it copies" ;;
  *) if grep -q "driver gets copies" <<<"$arena"; then fail "$(host_driver) copies the arena it can use as buffers"; fi ;;
esac
# Without an arena there are no persistent maps, and the program says so.
rc=0
guest env XEN3D_ARENA_MIB=0 "$PERSISTENT_MAPS" >"$work/noarena.log" 2>&1 || rc=$?
[ "$rc" = 2 ] || { cat "$work/noarena.log"; fail "without an arena persistent-maps exited $rc, not 2 (no ARB_buffer_storage)"; }
kill -0 "$comp_pid" || fail "the compositor died"
say "ok"
