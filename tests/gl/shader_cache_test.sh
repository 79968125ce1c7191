#!/usr/bin/env bash
# The guest's libGL keeps what st/mesa makes of an application's GLSL in
# Mesa's shader cache, as Debian's libGL does (our screen's
# get_disk_shader_cache, guest/pipe-remote/remote_screen.cpp): the next run
# of the program skips that compile. Host screens keep no cache.
. "$(dirname "$0")/harness.sh"
start_xvfb
start_compositor

say "glmark2's shading scene (GLSL) with an empty cache"
guest env XDG_CACHE_HOME="$work/guest-cache" glmark2 --off-screen -s 200x200 -b shading:duration=0.5 >"$work/glmark2.log" 2>&1 ||
  { cat "$work/glmark2.log"; fail "glmark2 failed"; }
no_lost_context "$work/glmark2.log"
kept=$(find "$work/guest-cache/mesa_shader_cache" -type f ! -name index 2>/dev/null | wc -l)
say "$kept entries in the guest's shader cache"
[ "$kept" -gt 0 ] || fail "the guest's libGL kept nothing in its shader cache"
say "PASS"
