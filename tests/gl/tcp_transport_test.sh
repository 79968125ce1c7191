#!/usr/bin/env bash
# The same GL programs over the tcp transport: glxgears presents frames the
# compositor snapshots, and glmark2's validated scenes pass.
. "$(dirname "$0")/harness.sh"
start_xvfb
start_compositor --listen tcp:127.0.0.1:0
tcp=$(grep -o 'tcp:127.0.0.1:[0-9]*' "$work/compositor.log" | head -1)
[ -n "$tcp" ] || fail "the compositor did not report its tcp port"
say "guests connect to $tcp"

env LD_LIBRARY_PATH="$XEN3D_REMOTE_GL" XEN3D_TRANSPORT="$tcp" XEN3D_STATS=frame glxgears >"$work/gears.log" 2>&1 &
gears=$!
pids+=($gears)
for _ in $(seq 100); do [ "$(grep -c '^xen3d: frame' "$work/gears.log")" -ge 30 ] && break; sleep 0.1; done
kill "$gears"
frames=$(grep -c '^xen3d: frame' "$work/gears.log" || true)
[ "$frames" -ge 30 ] || fail "glxgears over tcp presented only $frames frames: $(tail -3 "$work/gears.log")"
"$PNG_COMPARE" --not-blank "$(ls "$snap"/guest*-win*.png | head -1)"

env LD_LIBRARY_PATH="$XEN3D_REMOTE_GL" XEN3D_TRANSPORT="$tcp" \
  glmark2 --validate -s 320x240 -b texture -b shading:shading=phong -b bump:bump-render=normals -b desktop \
  >"$work/validate.log" 2>&1 || { tail "$work/validate.log"; fail "glmark2 over tcp exited $?"; }
grep 'Validation:' "$work/validate.log"
[ "$(grep -c 'Validation: Success' "$work/validate.log")" -eq 4 ] || fail "not every scene validated over tcp"
say "ok: $frames frames over tcp, 4 scenes validated"
