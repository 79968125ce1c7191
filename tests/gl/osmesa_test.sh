#!/usr/bin/env bash
# OSMesa over the remote driver: an off-screen GL program (osmesa-render)
# loads the guest's libOSMesa, renders through the compositor, and its image
# matches the same program on Debian's libOSMesa (llvmpipe in-process).
# GALLIUM_DRIVER=softpipe makes the same library render locally instead.
#
# Needs from meson (besides harness.sh's): OSMESA_RENDER, XEN3D_REMOTE_OSMESA.
. "$(dirname "$0")/harness.sh"
direct_lib=/usr/lib/x86_64-linux-gnu/libOSMesa.so.8
[ -f "$direct_lib" ] || fail "$direct_lib is missing (apt-get install libosmesa6; scripts/setup.sh does)"
start_compositor

say "osmesa-render through the remote driver"
out=$(env XEN3D_TRANSPORT="local:$sock" "$OSMESA_RENDER" --lib "$XEN3D_REMOTE_OSMESA" --out "$work/remote.png" 2>&1) ||
  { echo "$out"; fail "osmesa-render failed through the remote driver"; }
echo "$out"
grep -q "^renderer: xen3d ($(host_driver)" <<<"$out" || fail "the remote libOSMesa did not render on the host's $(host_driver)"
grep -q 'osmesa-render' "$work/compositor.log" || fail "the compositor never saw osmesa-render connect"

say "osmesa-render on llvmpipe directly ($direct_lib)"
out=$(GALLIUM_DRIVER=llvmpipe "$OSMESA_RENDER" --lib "$direct_lib" --out "$work/direct.png" 2>&1) ||
  { echo "$out"; fail "osmesa-render failed on Debian's libOSMesa"; }
grep -q '^renderer: llvmpipe' <<<"$out" || fail "Debian's libOSMesa is not llvmpipe: $out"
matches_llvmpipe "osmesa-render" "$work/remote.png" "$work/direct.png" 0

say "GALLIUM_DRIVER=softpipe: the same library renders in the guest, without the compositor"
out=$(GALLIUM_DRIVER=softpipe XEN3D_TRANSPORT=local:/nonexistent.sock \
  "$OSMESA_RENDER" --lib "$XEN3D_REMOTE_OSMESA" --out "$work/softpipe.png" 2>&1) || { echo "$out"; fail "softpipe run failed"; }
grep -q '^renderer: softpipe' <<<"$out" || fail "GALLIUM_DRIVER=softpipe was not honoured: $out"

say "without a compositor the failure says why"
rc=0
out=$(XEN3D_TRANSPORT=local:/nonexistent.sock "$OSMESA_RENDER" --lib "$XEN3D_REMOTE_OSMESA" --out "$work/x.png" 2>&1) || rc=$?
echo "$out"
# 1: osmesa-render's own error exit (OSMesaCreateContextExt returned NULL), not a crash.
[ "$rc" = 1 ] || fail "osmesa-render without a compositor: exit $rc, wanted 1"
grep -q 'cannot reach the Xen3D compositor' <<<"$out" || fail "no clear reason given"
grep -q 'OSMesaCreateContextExt failed' <<<"$out" || fail "OSMesaCreateContext did not fail cleanly"
say "ok"
