#!/usr/bin/env bash
# fork() after GL initialisation through the remote driver (issue 22): the
# child never touches the parent's connection (GL on the parent's context
# returns at once and draws nothing, with a clear message), a child that
# opens its own X connection gets GL of its own, the parent draws on
# correctly, system() between frames is harmless, and a parent that exits
# while its child lives is seen leaving by the compositor at once (the child
# let go of its copies of the connection's descriptors).
# The same over the xen transport (xenemu, the EMULATION of Xen's calls): the
# child lets go of its copies of the grant pages and of the handles'
# descriptors, so the parent's grants end with the parent.
. "$(dirname "$0")/harness.sh"
: "${FORK_GL:?}" "${XENEMU_BROKER:?}" "${XENEMU_CTL:?}"
start_xvfb
start_xenemu
"$XENEMU_CTL" "$emu" create 3 vm-fork >/dev/null || fail "cannot create domain 3"
XEN3D_XENEMU_DOMID=0 start_compositor --listen xen

say "the child calls GL on the parent's context, then makes its own"
guest "$FORK_GL" child-uses-gl >"$work/child.log" 2>&1 || { cat "$work/child.log"; fail "fork-gl child-uses-gl"; }
cat "$work/child.log"
grep -q "rendering stopped: this process is a fork" "$work/child.log" || fail "the child got no message saying why its GL stopped"
grep -q "child, own context: .* ok" "$work/child.log" || fail "the child's own context did not draw"
grep -q "parent, after the child: .* ok" "$work/child.log" || fail "the parent's GL broke after the fork"

say "system() between frames"
guest "$FORK_GL" system >"$work/system.log" 2>&1 || { tail "$work/system.log"; fail "fork-gl system"; }
[ "$(grep -c 'between system() calls: .* ok' "$work/system.log")" = 20 ] || fail "not every frame between system() calls was right"

# parent_exits TRANSPORT...: fork-gl parent-exits in that environment; the
# compositor must see the parent leave within 3 s while its child lives.
parent_exits() {
  local base child left
  base=$(settled_host_stat guests)
  env "$@" "$FORK_GL" parent-exits >"$work/parent-exits.log" 2>&1 || { cat "$work/parent-exits.log"; fail "fork-gl parent-exits ($*)"; }
  child=$(sed -n 's/^parent: child \([0-9]*\) sleeps.*/\1/p' "$work/parent-exits.log")
  [ -n "$child" ] && kill -0 "$child" 2>/dev/null || fail "the child is not alive to hold anything"
  pids+=("$child")
  # (each query is a connection too, which takes a moment to close: 0.5 s apart)
  left=
  for _ in $(seq 6); do
    sleep 0.5
    [ "$(host_stat guests)" = "$base" ] && { left=1; break; }
  done
  [ -n "$left" ] || fail "the compositor still counts the parent's connection while its child lives ($(host_stat guests) guests, baseline $base; $*)"
  kill -0 "$child" 2>/dev/null || fail "the child should still be alive"
  kill "$child"
}

say "a parent that exits while its child lives"
parent_exits LD_LIBRARY_PATH="$XEN3D_REMOTE_GL" XEN3D_TRANSPORT="local:$sock"
say "the compositor saw the parent leave within 3 s, its child still alive"

say "over the xen transport (xenemu): the child's GL, then a parent that exits while its child lives"
in_xen=(LD_LIBRARY_PATH="$XEN3D_REMOTE_GL" XEN3D_TRANSPORT=xen XEN3D_XENEMU_DOMID=3)
env "${in_xen[@]}" "$FORK_GL" child-uses-gl >"$work/xen-child.log" 2>&1 || { cat "$work/xen-child.log"; fail "fork-gl child-uses-gl over xen"; }
grep -q "child, own context: .* ok" "$work/xen-child.log" || fail "the child's own context did not draw over xen"
grep -q "parent, after the child: .* ok" "$work/xen-child.log" || fail "the parent's GL broke after the fork over xen"
parent_exits "${in_xen[@]}"
say "over xen too"
say "PASS"
