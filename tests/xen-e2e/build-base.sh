#!/bin/bash
# Builds the part of the Xen test stack that does not depend on our build:
#   DIR/rootfs/      Debian bookworm (minbase) for dom0: xen-utils-4.17, the dom0/domU
#                    kernel, Xvfb, Xorg (modesetting and evdev, for the domU's PV display
#                    and PV keyboard), glxgears, xkbcomp, xdotool and the libraries our
#                    binaries use
#                    (the domU initramfs is cut out of this tree later)
#   DIR/xen          Xen 4.17 hypervisor, uncompressed (QEMU's multiboot loader needs that)
#   DIR/vmlinuz, DIR/initrd.img   the kernel and a small initramfs-tools initrd
#   DIR/busybox      static busybox for the domU
#   DIR/OK           written last: the directory is complete
#   DIR/kernel-version  the kernel's ABI (KVER), for make-images.sh
# usage: build-base.sh DIR DEB_CACHE EXTRA_PACKAGES(comma-separated) KVER (kernel-version.sh)
# Takes ~2-4 min (download + debootstrap + kernel). run.sh caches DIR.
set -euo pipefail
DIR=$1
DEBS=$2
EXTRA=$3
KVER=$4
mkdir -p "$DIR" "$DEBS"
DIR=$(cd "$DIR" && pwd)
DEBS=$(cd "$DEBS" && pwd)
R=$DIR/rootfs
rm -rf "$R" "$DIR/OK"

# The Debian mirrors the host's apt is configured with (no other internet here).
mirror() {  # $1: security|main
  local want=$1 u
  u=$( (grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
        grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}') |
      if [ "$want" = security ]; then grep security; else grep -v security; fi | head -1 || true)
  if [ -z "$u" ]; then
    [ "$want" = security ] && u=http://deb.debian.org/debian-security || u=http://deb.debian.org/debian
  fi
  echo "$u"
}
MIRROR=$(mirror main)
echo "mirror: $MIRROR"

t=$(date +%s)
PKGS=xen-utils-4.17,kmod,busybox,initramfs-tools,linux-base,procps,xvfb,xserver-xorg-core,xserver-xorg-input-evdev,mesa-utils,x11-xkb-utils,xkb-data,xdotool
[ -n "$EXTRA" ] && PKGS=$PKGS,$EXTRA
debootstrap --variant=minbase --cache-dir="$DEBS" --include="$PKGS" bookworm "$R" "$MIRROR"
echo "debootstrap took $(( $(date +%s) - t ))s"

# The hypervisor must match the tools debootstrap installed (main and security differ).
XENVER=$(chroot "$R" dpkg-query -W -f '${Version}' xen-utils-4.17)
echo "xen-utils-4.17 $XENVER"
# apt-get download with the host's package lists (refreshed once if they lack it).
dl() { apt-get download -q -o APT::Sandbox::User=root "$1" || { apt-get update -q && apt-get download -q -o APT::Sandbox::User=root "$1"; }; }
(
  cd "$DEBS"
  ls xen-hypervisor-4.17-amd64_"${XENVER//:/%3a}"_amd64.deb >/dev/null 2>&1 || dl "xen-hypervisor-4.17-amd64=$XENVER"
  ls busybox-static_*.deb >/dev/null 2>&1 || dl busybox-static
  # The newest kernel is often only in bookworm-security: the host's apt fetches it.
  ls linux-image-"$KVER"_*.deb >/dev/null 2>&1 || dl "linux-image-$KVER"
)
HV=$(ls "$DEBS"/xen-hypervisor-4.17-amd64_"${XENVER//:/%3a}"_amd64.deb)
rm -rf "$DIR/hv" && mkdir "$DIR/hv" && dpkg -x "$HV" "$DIR/hv"
zcat "$DIR"/hv/boot/xen-4.17-amd64.gz > "$DIR/xen"
rm -rf "$DIR/hv"
dpkg-deb --fsys-tarfile "$(ls "$DEBS"/busybox-static_*.deb | tail -1)" | tar -xO ./bin/busybox > "$DIR/busybox"
chmod 755 "$DIR/busybox"

# Kernel: a small initrd (virtio disk + ext4 only) is quicker to build and boot.
t=$(date +%s)
sed -i 's/^MODULES=.*/MODULES=list/' "$R/etc/initramfs-tools/initramfs.conf"
printf 'virtio_pci\nvirtio_blk\next4\n' >> "$R/etc/initramfs-tools/modules"
printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"
chmod +x "$R/usr/sbin/policy-rc.d"
cp "$(ls "$DEBS"/linux-image-"$KVER"_*.deb | tail -1)" "$R/tmp/kernel.deb"
mount --bind /proc "$R/proc"
mount --bind /sys "$R/sys"
mount --bind /dev "$R/dev"
trap 'umount "$R/proc" "$R/sys" "$R/dev" 2>/dev/null || true' EXIT
DEBIAN_FRONTEND=noninteractive chroot "$R" dpkg -i /tmp/kernel.deb
umount "$R/proc" "$R/sys" "$R/dev"
trap - EXIT
rm -f "$R/tmp/kernel.deb"
echo "kernel install took $(( $(date +%s) - t ))s"
cp "$R/boot/vmlinuz-$KVER" "$DIR/vmlinuz"
cp "$R/boot/initrd.img-$KVER" "$DIR/initrd.img"
echo "$KVER" > "$DIR/kernel-version"

# Slim the tree: the dom0 image is rebuilt on every run.
M=$R/lib/modules/$KVER/kernel
rm -rf "$M"/sound "$M"/drivers/{media,infiniband,staging,bluetooth,iio,isdn,hid,usb,net/wireless,net/ethernet,comedi,mtd,scsi}
# Of the input drivers only evdev (/dev/input for the domU's PV keyboard; xen-kbdfront is built in).
find "$M/drivers/input" -type f ! -name 'evdev.ko*' -delete
# Of the GPU drivers only DRM's core and xen-drm-front (the domU's PV display).
find "$M/drivers/gpu" -mindepth 1 -maxdepth 1 ! -name drm -exec rm -rf {} +
find "$M/drivers/gpu/drm" -mindepth 1 -maxdepth 1 -type d ! -name xen -exec rm -rf {} +
rm -rf "$R"/usr/share/{doc,man,info,locale} "$R"/var/cache/apt/*.bin "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/* "$R"/boot/*
chroot "$R" depmod "$KVER"
touch "$DIR/OK"
echo "base ready in $DIR"
