#!/bin/busybox sh
# /init of the test's PV domU (busybox initramfs built by make-images.sh).
# Everything it prints goes to hvc0, which xenconsoled logs in dom0
# (/var/log/xen/console/guest-<name>.log); dom0 reads its markers from there.
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin:/sbin:/usr/sbin
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu
export HOME=/root
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /tmp/.X11-unix /var/lib/xkb /root
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
chmod 1777 /tmp /tmp/.X11-unix
hostname domu
say() { echo "E2E-DOMU $*"; }
up() { cut -d' ' -f1 /proc/uptime; }

say "UP uptime=$(up)"
insmod /lib/modules/xen-evtchn.ko 2>&1 || say "insmod xen-evtchn failed"
insmod /lib/modules/xen-gntdev.ko 2>&1 || say "insmod xen-gntdev failed"
insmod /lib/modules/xen-gntalloc.ko limit=65536 2>&1 || say "insmod xen-gntalloc failed"
# The Xen transport's rings are grant pages; gntalloc allows 1024 per guest by default.
echo 65536 > /sys/module/xen_gntalloc/parameters/limit || say "cannot raise the gntalloc limit"
say "modules: $(ls /dev/xen | tr '\n' ' ') gntalloc-limit=$(cat /sys/module/xen_gntalloc/parameters/limit 2>/dev/null)"
say "domid=$(xenstore-read domid 2>&1) name=$(xenstore-read name 2>&1) mem=$(grep MemTotal /proc/meminfo | tr -s ' ')"

Xvfb :0 -noreset -nolisten tcp -screen 0 640x480x24 >/tmp/xvfb.log 2>&1 &
i=0
while [ ! -e /tmp/.X11-unix/X0 ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
if [ -e /tmp/.X11-unix/X0 ]; then
  say "XVFB_READY uptime=$(up) ($(dmesg | grep -o 'crng init done' || echo 'crng not ready'))"
else
  say "XVFB_FAILED"
  sed 's/^/[xvfb] /' /tmp/xvfb.log
fi
export DISPLAY=:0
GL=/opt/xen3d/lib:$LD_LIBRARY_PATH

# Transport smoke test without GL: handshake, round trips, a bulk transfer.
say "INFO_START uptime=$(up)"
XEN3D_TRANSPORT=xen LD_LIBRARY_PATH=$GL timeout 120 /opt/xen3d/bin/xen3d-info --transport xen --pings 20 \
  --bulk-check 262144 --timeout 60000 2>&1 | sed 's/^/[xen3d-info] /'
say "INFO_DONE uptime=$(up)"

(
  XEN3D_TRANSPORT=xen LD_LIBRARY_PATH=$GL /opt/xen3d/bin/x-window --gl --name red \
    --geometry 200x150+0+0 --color 200,40,40 2>&1
  echo "exited rc=$?"
) | sed 's/^/[x-window] /' &
say "X_WINDOW_STARTED uptime=$(up)"
(
  XEN3D_TRANSPORT=xen XEN3D_DEBUG=1 LD_LIBRARY_PATH=$GL glxgears -geometry 300x300+220+0 2>&1
  echo "exited rc=$?"
) | sed 's/^/[glxgears] /' &
say "GLXGEARS_STARTED uptime=$(up)"

# The PV display: xen-drm-front gives a DRM device whose scanout buffers dom0's
# compositor maps (displif); Xorg's modesetting runs on it. A 2D window, and a GL
# window. Xorg runs the xen3d module, which attaches to the PV display's desktop:
# the GL window's frames are composited in dom0 and never reach the scanout.
# Its keyboard and pointer are the PV keyboard, whose backend is the compositor too.
for m in /lib/modules/drm/*.ko; do insmod "$m" 2>&1 || say "insmod $m failed"; done
# The PV keyboard: xen-kbdfront's two event devices, linked by name for Xorg's evdev.
for m in /lib/modules/input/*.ko; do insmod "$m" 2>&1 || say "insmod $m failed"; done
i=0
while [ $i -lt 300 ]; do
  for e in /sys/class/input/event*; do
    case "$(cat "$e/device/name" 2>/dev/null)" in
      "Xen Virtual Keyboard") ln -sf "/dev/input/${e##*/}" /dev/input/xen-keyboard ;;
      "Xen Virtual Pointer") ln -sf "/dev/input/${e##*/}" /dev/input/xen-pointer ;;
    esac
  done
  [ -e /dev/input/xen-keyboard ] && [ -e /dev/input/xen-pointer ] && break
  sleep 0.1; i=$((i + 1))
done
if [ -e /dev/input/xen-keyboard ] && [ -e /dev/input/xen-pointer ]; then
  say "PV_KEYBOARD_READY uptime=$(up) $(readlink /dev/input/xen-keyboard) $(readlink /dev/input/xen-pointer)"
else
  say "PV_KEYBOARD_MISSING"
  dmesg | grep -i -E 'kbd|input' | tail -10
fi
i=0
while [ ! -e /dev/dri/card0 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
if [ -e /dev/dri/card0 ]; then
  say "PV_DISPLAY_READY uptime=$(up) $(cat /sys/class/drm/card0-*/modes 2>/dev/null | head -1)"
  XEN3D_TRANSPORT=xen /usr/lib/xorg/Xorg :1 -config /etc/X11/xen3d-pv.conf -noreset -nolisten tcp -novtswitch \
    -sharevts >/tmp/xorg.log 2>&1 &
  i=0
  while [ ! -e /tmp/.X11-unix/X1 ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
  if [ -e /tmp/.X11-unix/X1 ]; then
    say "XORG_READY uptime=$(up)"
    (DISPLAY=:1 /opt/xen3d/bin/x-window --name blue --geometry 160x120+20+20 --color 30,60,220 2>&1;
     echo "exited rc=$?") | sed 's/^/[x-window-2d] /' &
    (DISPLAY=:1 XEN3D_TRANSPORT=xen LD_LIBRARY_PATH=$GL /opt/xen3d/bin/x-window --gl --name green \
       --geometry 160x120+220+20 --color 40,200,40 2>&1; echo "exited rc=$?") | sed 's/^/[x-window-pv] /' &
    # What an X client in the domU sees of the keys and clicks dom0 sends it.
    # (busybox sed holds lines back in a pipe: each line goes out with echo)
    (DISPLAY=:1 /opt/xen3d/bin/x-input-probe --geometry 200x150+420+300 2>&1; echo "exited rc=$?") |
      tee /tmp/probe.log | while IFS= read -r l; do echo "[x-input-probe] $l"; done &
    # The guest's own screen where the GL window is: with the module its frames
    # are composited in dom0, so the scanout there is the window's background.
    (sleep 20
     grep -a 'xen3d:\|(EE)\|evdev' /var/log/Xorg.1.log | sed 's/^/[xorg] /' | head -20
     while true; do
       /opt/xen3d/bin/x-grab /tmp/screen.png >/dev/null 2>&1 &&
         say "GUEST_SCREEN (300,80) = $(/opt/xen3d/bin/png-compare --pixel /tmp/screen.png 300 80)"
       sleep 10
     done) &
    # Frame rates: glxgears composited (the module), then read back into the
    # guest's X window (XEN3D_PRESENT=readback), one after the other, 36 s
    # each: its first FPS line holds the start (10 s and more under TCG).
    (sleep 30
     DISPLAY=:1 XEN3D_TRANSPORT=xen LD_LIBRARY_PATH=$GL timeout 36 glxgears -geometry 200x200+420+20 2>&1 |
       while IFS= read -r l; do echo "[gears-composited] $l"; done
     DISPLAY=:1 XEN3D_TRANSPORT=xen XEN3D_PRESENT=readback LD_LIBRARY_PATH=$GL timeout 36 glxgears \
       -geometry 200x200+420+20 2>&1 | while IFS= read -r l; do echo "[gears-readback] $l"; done
     say "GEARS_DONE"
     # fork() after GL: the parent exits while its child sleeps 40 s; dom0's
     # compositor must see the parent leave long before the child does.
     XEN3D_TRANSPORT=xen LD_LIBRARY_PATH=$GL /opt/xen3d/bin/fork-gl parent-exits 40 >/tmp/fork.log 2>&1
     child=$(sed -n 's/^parent: child \([0-9]*\) sleeps.*/\1/p' /tmp/fork.log)
     while IFS= read -r l; do echo "[fork-gl] $l"; done </tmp/fork.log
     say "FORK_PARENT_EXITED child=$child uptime=$(up)"
     while kill -0 "$child" 2>/dev/null; do sleep 1; done
     say "FORK_CHILD_EXITED uptime=$(up)") &
  else
    say "XORG_FAILED"
    sed 's/^/[xorg] /' /tmp/xorg.log /var/log/Xorg.1.log 2>/dev/null | tail -40
  fi
else
  say "PV_DISPLAY_MISSING"
  dmesg | grep -i -E 'xen|drm' | tail -20
fi

# Stay up (until xl destroy); report now and then that the guest is alive.
n=0
while true; do
  sleep 30
  n=$((n + 30))
  say "ALIVE t=${n}s uptime=$(up) $(ps | grep -c '[x]-window\|[g]lxgears') gl procs, input probe: $(ps | grep -c '[x]-input-probe') running, $(wc -l </tmp/probe.log 2>/dev/null) lines"
done
