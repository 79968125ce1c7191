# Guest desktops for the desktop tests: a real Xorg (dummy video driver) with
# the xen3d module per VM, on the compositor's socket. Sourced after
# harness.sh; needs XEN3DCTL, XEN3D_XORG_MODULE_DIR and $ctl (the control socket).
: "${XEN3DCTL:?}" "${XEN3D_XORG_MODULE_DIR:?}"
command -v Xorg >/dev/null || fail "Xorg is not installed (xserver-xorg-core)"
[ -e /usr/lib/xorg/modules/drivers/dummy_drv.so ] || fail "the dummy video driver is not installed (xserver-xorg-video-dummy)"

ctl() { "$XEN3DCTL" --socket "$ctl" "$@"; }

# start_xorg NAME [WIDTHxHEIGHT]: Xorg on a free display; sets ${NAME}_display and
# ${NAME}_pid. XORG_TRANSPORT: the module's compositor (default local:$sock);
# XORG_DOMID: its xenemu domain, for XORG_TRANSPORT=xen.
start_xorg() {
  local name=$1 size=${2:-640x480} n conf
  for n in $(seq 20 80); do
    [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] || break
  done
  conf=$work/xorg-$name.conf
  "$(dirname "$0")/../../guest/xorg-ext/guest-xorg-conf.sh" "$XEN3D_XORG_MODULE_DIR" "$size" >"$conf"
  XEN3D_TRANSPORT="${XORG_TRANSPORT:-local:$sock}" XEN3D_XENEMU_DOMID="${XORG_DOMID:-${XEN3D_XENEMU_DOMID:-}}" \
    XEN3D_VM_NAME=$name \
    Xorg ":$n" -config "$conf" -noreset -nolisten tcp -br -logfile "$work/xorg-$name.log" >"$work/xorg-$name.out" 2>&1 &
  pids+=($!)
  eval "${name}_pid=$!"
  for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X$n" ] && break; sleep 0.1; done
  [ -e "/tmp/.X11-unix/X$n" ] || { tail -20 "$work/xorg-$name.log"; fail "Xorg for $name did not start"; }
  eval "${name}_display=:$n"
}

# wait_vm NAME: the VM's desktop is open on the compositor.
wait_vm() {
  for _ in $(seq 100); do ctl list 2>/dev/null | grep -q "^$1	" && return 0; sleep 0.1; done
  ctl list || true
  grep xen3d "$work/xorg-$1.log" || true
  fail "VM '$1' did not open its desktop"
}
