#include "host/compositor/xen_guest_setup.h"

namespace xen3d::host {

std::string xen_guest_setup_text() {
  // Pages per GL connection with the xen defaults (xen/transport_xen.cpp):
  // 128 KiB commands + 256 KiB replies + 1 MiB bulk + control + index page.
  return R"(# Xen3D over Xen: what a domU needs for xen3d-compositor --listen xen
#
# --- dom0 (where this compositor runs, as root) ---
#   modprobe xen-gntdev xen-evtchn
#   xen3d-compositor --listen xen [--output vnc] [--snapshot DIR]
#
# --- the domU's xl config (/etc/xen/<vm>.cfg) ---
# Nothing extra for GL: the rings are grant pages the guest shares with dom0,
# found through xenstore (data/xen3d/ under the guest's own directory).
#   type   = "pv"          # or "pvh"/"hvm" with PV drivers; the guest kernel needs
#                          # CONFIG_XEN_GNTDEV_ALLOC (xen-gntalloc) and xen-evtchn
#   memory = 1024          # guest RAM; the rings take ~1.4 MiB per GL program
# The guest's 2D desktop: a PV display whose backend is this compositor (start it
# before the domain: xl waits for the backend). It becomes the VM desktop named
# after the domain; xl starts no QEMU for it.
#   vdispl = [ "backend=Domain-0,be-alloc=0,connectors=c0:1024x768" ]
# Its keyboard and pointer: a PV keyboard whose backend is this compositor too
# (backend-type=linux: no QEMU). Keys and the pointer from the host window and
# VNC reach the guest's xen-kbdfront when its desktop is selected; give the
# connector's size so the pointer lands on the right pixel.
#   vkb = [ "backend=Domain-0,backend-type=linux,feature-abs-pointer=1,width=1024,height=768" ]
#
# --- inside the domU (as root, e.g. from /etc/rc.local) ---
#   modprobe xen-evtchn xen-gntalloc
#   # gntalloc grants 1024 pages (4 MiB) per domain by default; each GL program
#   # uses 354 pages with the default ring sizes, a guest desktop ~1100 more:
#   echo 65536 > /sys/module/xen_gntalloc/parameters/limit
#   #   (or boot the guest kernel with xen_gntalloc.limit=65536)
#   apt-get install libxengnttab1 libxenevtchn1 libxenstore4   # dlopen()ed by libGL
#   # /dev/xen/gntalloc is root-only: let a group of GL users share grants
#   echo 'KERNEL=="gntalloc", GROUP="video", MODE="0660"' > /etc/udev/rules.d/60-xen3d.rules
#   echo 'KERNEL=="evtchn", GROUP="video", MODE="0660"'  >> /etc/udev/rules.d/60-xen3d.rules
#   # the PV display: xen-drm-front (Debian's kernel has it as a module) gives
#   # /dev/dri/card0; run Xorg with Driver "modesetting" on it (AccelMethod none).
#   # With the xen3d module loaded in that Xorg (Load "xen3d", XEN3D_TRANSPORT=xen
#   # in its environment) GL windows are composited here, not read back.
#   modprobe drm_xen_front
#   # the PV keyboard: xen-kbdfront gives two /dev/input/event* devices
#   # (keyboard, absolute pointer), which Xorg's libinput or evdev driver reads
#   modprobe xen_kbdfront
#
# --- environment of GL programs in the domU ---
export XEN3D_TRANSPORT=xen
export LD_LIBRARY_PATH=/opt/xen3d/lib    # where Xen3D's libGL.so.1 is installed
#   then run any GL program: glxgears, glmark2, ...
#   xen3d-info --transport xen   checks the connection
)";
}

}  // namespace xen3d::host
