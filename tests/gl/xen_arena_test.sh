#!/usr/bin/env bash
# The buffer arena over the xen transport, against xenemu (the EMULATION of
# the Xen calls: xen/emulation/README.md). A xen guest shares grant pages of
# its own as the arena (arena_grant) and the compositor maps them:
#   - a guest with room in its grant limit gets an arena and OpenGL 4.5
#     (4.6 on zink, whose host copies the arena's buffers:
#     host/resources/arena_copies.cpp);
#   - persistent and coherent maps (piglit's ARB_buffer_storage tests and
#     persistent-maps) draw and read through it;
#   - an arena larger than the compositor allows is refused with the reason.
. "$(dirname "$0")/harness.sh"
: "${XENEMU_BROKER:?}" "${XENEMU_CTL:?}" "${PIGLIT_BIN:?}"
start_xvfb
export PIGLIT_PLATFORM=glx

# 65536 pages: what tests/xen-e2e sets in its guest (docs/xen.md says why).
start_xenemu --grant-limit 65536
"$XENEMU_CTL" "$emu" create 3 vm-arena >/dev/null || fail "cannot create domain 3"
# On XEN3D_DRIVER's driver (meson test --setup zink: zink, which copies).
XEN3D_XENEMU_DOMID=0 start_compositor --listen xen --max-arena-mib 48
base=$(host_stat objects)

in_domain() {  # domid, command...: a guest program in domain $1, XEN3D_DEBUG on
  local d=$1
  shift
  env LD_LIBRARY_PATH="$XEN3D_REMOTE_GL" XEN3D_TRANSPORT=xen XEN3D_XENEMU_DOMID="$d" XEN3D_DEBUG=1 "$@"
}

# The default arena on xen, 32 MiB, is 8192 pages: more than the emulation
# maps in one request (4096), so the compositor's map of it comes in pieces.
say "glxinfo in domain 3: an arena of grant pages, and OpenGL 4.5 or later"
in_domain 3 glxinfo -B >"$work/info.log" 2>&1 || fail "glxinfo failed: $(tail -5 "$work/info.log")"
grep -q "persistent buffers live in a 32 MiB arena shared with the host" "$work/info.log" ||
  fail "no arena over xen: $(grep -i 'arena\|persistent' "$work/info.log")"
grep -Eq "core profile version string: 4\.[5-9]" "$work/info.log" ||
  fail "not OpenGL 4.5 or later with an arena: $(grep 'version string' "$work/info.log")"

say "persistent and coherent maps draw and read through the guest's pages"
for t in "draw" "draw coherent" "read" "read coherent"; do
  # shellcheck disable=SC2086 # the test's arguments are words
  in_domain 3 "$PIGLIT_BIN/bufferstorage-persistent" $t -auto -fbo >"$work/piglit.log" 2>&1
  grep -q "PIGLIT: {\"result\": \"pass\"" "$work/piglit.log" ||
    fail "bufferstorage-persistent $t over xen: $(tail -5 "$work/piglit.log")"
done
in_domain 3 "$PERSISTENT_MAPS" --rounds 24 >"$work/maps.log" 2>&1 ||
  fail "persistent-maps over xen: $(grep -v '^xen3d:' "$work/maps.log" | tail -5)"

say "an arena larger than --max-arena-mib is refused, and the guest runs without"
in_domain 3 env XEN3D_ARENA_MIB=64 glxinfo -B >"$work/toobig.log" 2>&1 || fail "glxinfo failed: $(tail -5 "$work/toobig.log")"
grep -q "no persistent buffers.*64 MiB is more than the compositor allows (48 MiB, --max-arena-mib)" "$work/toobig.log" ||
  fail "no reason for the refused arena: $(grep -i 'arena\|persistent' "$work/toobig.log")"
grep -q "core profile version string: 4.3" "$work/toobig.log" || fail "not OpenGL 4.3 without an arena"
grep -q "no buffer arena: an arena of 64 MiB" "$work/compositor.log" || fail "the compositor did not log the refusal"

kill -0 "$comp_pid" || fail "the compositor died"
[ "$(settled_host_stat objects)" = "$base" ] || fail "objects remain after the guests exited: $(host_stat objects) (baseline $base)"
say "ok: the buffer arena over xen"
