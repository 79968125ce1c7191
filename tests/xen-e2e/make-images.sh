#!/bin/bash
# Installs our build into the base rootfs, cuts the domU initramfs out of it and
# writes the dom0 disk image.
# usage: make-images.sh BASE_DIR WORK_DIR BUILD_DIR
#   BASE_DIR   from build-base.sh (rootfs/, xen, vmlinuz, initrd.img, busybox)
#   WORK_DIR   gets dom0.img (ext4 root of dom0) and results.img (raw, dom0 writes a tar)
#   BUILD_DIR  the project's meson build directory
# /opt/xen3d in dom0:  bin/ (compositor, its render worker, xen3dctl, xen3d-info, png-compare),
#                      e2e/ (dom0.sh, domu.cfg, vmlinuz, domu-initrd.cpio.gz, ref-red.ppm)
# The domU initramfs: busybox, Xvfb + xkbcomp + xkb data, glxgears, x-window, our
# libGL (/opt/xen3d/lib), xen3d-info, the Xen libraries, Xorg with modesetting and
# the xen-drm-front kernel module chain (the PV display), and their ldd closure.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BASE=$(cd "$1" && pwd)
WORK=$(cd "$2" && pwd)
BUILD=$(cd "$3" && pwd)
KVER=$(cat "$BASE/kernel-version")  # written by build-base.sh
R=$BASE/rootfs
t0=$(date +%s)

# ---- our build, stripped (the libGL alone is 74 MB with debug info) ----
O=$R/opt/xen3d
rm -rf "$O"
mkdir -p "$O/bin" "$O/lib" "$O/e2e"
for f in host/compositor/xen3d-compositor host/worker/xen3d-render-worker tools/xen3dctl guest/winsys-remote/xen3d-info \
         tests/png-compare tests/x-window tests/x-input-probe tests/x-grab tests/fork-gl; do
  [ -f "$BUILD/$f" ] || { echo "missing $BUILD/$f (is the build complete?)" >&2; exit 1; }
  strip --strip-unneeded -o "$O/bin/$(basename "$f")" "$BUILD/$f"
done
strip --strip-unneeded -o "$O/lib/libGL.so.1.5.0" "$BUILD/guest/winsys-remote/libGL.so.1.5.0"
mkdir -p "$O/xorg"
strip --strip-unneeded -o "$O/xorg/libxen3d.so" "$BUILD/guest/xorg-ext/libxen3d.so"
ln -s libGL.so.1.5.0 "$O/lib/libGL.so.1"
ln -s libGL.so.1 "$O/lib/libGL.so"

# ---- dom0 configuration ----
install -m755 "$HERE/dom0-init.sh" "$R/sbin/e2e-init"
install -m755 "$HERE/dom0.sh" "$O/e2e/dom0.sh"
install -m644 "$HERE/domu.cfg" "$O/e2e/domu.cfg"
cp "$BASE/vmlinuz" "$O/e2e/vmlinuz"
echo dom0 > "$R/etc/hostname"
cat > "$R/root/.bashrc" <<'B'
PS1='dom0# '
export PATH=/opt/xen3d/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
stty -echo 2>/dev/null
bind 'set enable-bracketed-paste off' 2>/dev/null
B
echo '. /root/.bashrc' > "$R/root/.profile"
sed -i '/^XENCONSOLED_ARGS=/d' "$R/etc/default/xen"
echo 'XENCONSOLED_ARGS="--log=guest --log-dir=/var/log/xen/console"' >> "$R/etc/default/xen"
# The expected frame: 200x150 of (200,40,40), as a PPM (png-compare reads both).
{ printf 'P6\n200 150\n255\n'; head -c $((200 * 150)) /dev/zero | sed 's/\x0/\xc8\x28\x28/g'; } > "$O/e2e/ref-red.ppm"
[ "$(stat -c %s "$O/e2e/ref-red.ppm")" = $((15 + 200 * 150 * 3)) ] || { echo "bad reference PPM" >&2; exit 1; }

# ---- domU initramfs ----
D=$WORK/domu-root
rm -rf "$D"
mkdir -p "$D"/usr/{bin,sbin,lib/modules,lib64} "$D"/{proc,sys,dev,tmp,root,etc,var/lib/xkb,opt}
# merged /usr, like the rootfs
ln -s usr/bin "$D/bin"; ln -s usr/sbin "$D/sbin"; ln -s usr/lib "$D/lib"; ln -s usr/lib64 "$D/lib64"
install -m755 "$BASE/busybox" "$D/usr/bin/busybox"
install -m755 "$HERE/domu-init.sh" "$D/init"
cp -a "$O/lib" "$D/opt/xen3d-lib-tmp" && mkdir -p "$D/opt/xen3d" && mv "$D/opt/xen3d-lib-tmp" "$D/opt/xen3d/lib"
mkdir -p "$D/opt/xen3d/bin"
cp -a "$O/bin/x-window" "$O/bin/x-input-probe" "$O/bin/x-grab" "$O/bin/png-compare" "$O/bin/xen3d-info" "$O/bin/fork-gl" "$D/opt/xen3d/bin/"
cp -a "$O/xorg" "$D/opt/xen3d/xorg"

# Copies rootfs path $1 (following symlinks; keeping the link names) into the initramfs.
copy_from_root() {
  local p=$1 real
  real=$(chroot "$R" readlink -f "$p")
  [ -e "$R$real" ] || { echo "not in rootfs: $p" >&2; return 1; }
  mkdir -p "$D$(dirname "$real")"
  [ -e "$D$real" ] || cp -a "$R$real" "$D$real"
  if [ "$real" != "$p" ] && [ ! -e "$D$p" ] && [ ! -L "$D$p" ]; then
    mkdir -p "$D$(dirname "$p")"
    ln -s "$real" "$D$p"
  fi
}
progs="/usr/bin/Xvfb /usr/bin/xkbcomp /usr/bin/glxgears /usr/lib/xorg/Xorg"
# Xorg's modesetting driver on xen-drm-front's DRM device (no glamor, no GLX
# module), and evdev on xen-kbdfront's keyboard and pointer.
xorgmods="/usr/lib/xorg/modules/drivers/modesetting_drv.so /usr/lib/xorg/modules/libshadow.so /usr/lib/xorg/modules/input/evdev_drv.so"
for x in xenstore-read xenstore-ls xenstore-list; do
  p=$(chroot "$R" sh -c "command -v $x" || true)
  [ -n "$p" ] && progs="$progs $p"
done
# Loaded with dlopen() by the xen transport: ldd cannot see them.
xenlibs=$(cd "$R" && ls usr/lib/x86_64-linux-gnu/libxengnttab.so.1 usr/lib/x86_64-linux-gnu/libxenevtchn.so.1 \
                     usr/lib/x86_64-linux-gnu/libxenstore.so.4 | sed 's|^|/|' | tr '\n' ' ')
for p in $progs $xenlibs $xorgmods; do copy_from_root "$p"; done
# Our binaries go to the rootfs copy under /opt/xen3d for ldd, which runs in the chroot.
need=$(chroot "$R" env LD_LIBRARY_PATH=/opt/xen3d/lib sh -c \
  "for f in $progs $xenlibs $xorgmods /opt/xen3d/bin/x-window /opt/xen3d/bin/x-input-probe /opt/xen3d/bin/x-grab /opt/xen3d/bin/png-compare /opt/xen3d/bin/xen3d-info /opt/xen3d/bin/fork-gl /opt/xen3d/lib/libGL.so.1 /opt/xen3d/xorg/libxen3d.so; do ldd \$f; done" |
  awk '/=>/ && $3 ~ /^\// {print $3} /^\t\/lib64/ {print $1}' | sort -u | grep -v '^/opt/xen3d/')
for p in $need; do copy_from_root "$p"; done
if [ -d "$R/usr/share/X11/xkb" ]; then
  mkdir -p "$D/usr/share/X11"
  cp -a "$R/usr/share/X11/xkb" "$D/usr/share/X11/"
  rm -rf "$D/usr/share/X11/xkb/compiled" && ln -s /var/lib/xkb "$D/usr/share/X11/xkb/compiled"
fi
[ -f "$R/usr/lib/xorg/protocol.txt" ] && mkdir -p "$D/usr/lib/xorg" && cp "$R/usr/lib/xorg/protocol.txt" "$D/usr/lib/xorg/"
for m in xen-evtchn xen-gntdev xen-gntalloc; do
  f=$(find "$R/lib/modules/$KVER" -name "$m.ko*" | head -1)
  [ -n "$f" ] || { echo "no module $m in the rootfs" >&2; exit 1; }
  case $f in
    *.xz) xz -dc "$f" > "$D/lib/modules/$m.ko" ;;
    *.zst) zstd -qdc "$f" > "$D/lib/modules/$m.ko" ;;
    *) cp "$f" "$D/lib/modules/$m.ko" ;;
  esac
done
# Module chains, numbered in load order: xen-drm-front and the DRM modules it
# needs (the PV display); evdev (the PV keyboard's /dev/input; xen-kbdfront
# itself is built into Debian's kernel, where the chain is empty).
chain() {  # DIR MODULE...
  local dir=$D/lib/modules/$1 i=10 f m
  shift
  mkdir -p "$dir"
  for f in $(chroot "$R" modprobe -S "$KVER" --show-depends "$@" | awk '$1 == "insmod" {print $2}'); do
    m=$(basename "$f"); m=${m%%.ko*}
    ls "$dir" | grep -q -- "-$m.ko$" && continue
    case $f in
      *.xz) xz -dc "$R$f" > "$dir/$i-$m.ko" ;;
      *.zst) zstd -qdc "$R$f" > "$dir/$i-$m.ko" ;;
      *) cp "$R$f" "$dir/$i-$m.ko" ;;
    esac
    i=$((i + 1))
  done
}
chain drm drm_xen_front
chain input xen_kbdfront
chain input evdev
ls "$D/lib/modules/input" | grep -q evdev || { echo "no evdev module in the rootfs" >&2; exit 1; }
ls "$D/lib/modules/drm" | grep -q drm_xen_front || { echo "no drm_xen_front module in the rootfs" >&2; exit 1; }
mkdir -p "$D/etc/X11" "$D/var/log"
cat > "$D/etc/X11/xen3d-pv.conf" <<'X'
# Xorg on the domU's Xen PV display (xen-drm-front): the compositor in dom0 is its
# backend. With the xen3d module, which attaches to the PV display's desktop: GL
# windows are composited in dom0, not read back.
Section "Files"
  ModulePath "/opt/xen3d/xorg"
  ModulePath "/usr/lib/xorg/modules"
EndSection
Section "Module"
  Load "xen3d"
EndSection
Section "ServerFlags"
  Option "AutoAddDevices" "false"
  Option "AutoEnableDevices" "false"
EndSection
Section "Device"
  Identifier "pv-display"
  Driver "modesetting"
  Option "kmsdev" "/dev/dri/card0"
  Option "AccelMethod" "none"
EndSection
Section "Screen"
  Identifier "pv-screen"
  Device "pv-display"
  DefaultDepth 24
EndSection
# The PV keyboard (xen-kbdfront): /init links its two event devices by name.
Section "InputDevice"
  Identifier "pv-keyboard"
  Driver "evdev"
  Option "Device" "/dev/input/xen-keyboard"
EndSection
Section "InputDevice"
  Identifier "pv-pointer"
  Driver "evdev"
  Option "Device" "/dev/input/xen-pointer"
EndSection
Section "ServerLayout"
  Identifier "pv"
  Screen "pv-screen"
  InputDevice "pv-keyboard" "CoreKeyboard"
  InputDevice "pv-pointer" "CorePointer"
EndSection
X
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$D/etc/passwd"
printf 'root:x:0:\n' > "$D/etc/group"
printf '/usr/lib/x86_64-linux-gnu\n/opt/xen3d/lib\n' > "$D/etc/ld.so.conf"
ldconfig -r "$D" 2>/dev/null || true
(cd "$D" && find . | cpio -H newc -o --quiet | gzip -1) > "$O/e2e/domu-initrd.cpio.gz"
echo "domU initramfs: $(du -sm "$D" | cut -f1) MiB unpacked, $(( $(stat -c %s "$O/e2e/domu-initrd.cpio.gz") / 1048576 )) MiB gzipped"

# ---- dom0 disk ----
rm -f "$WORK/dom0.img" "$WORK/results.img"
size_mb=$(( $(du -sm "$R" | cut -f1) * 13 / 10 + 512 ))
mkfs.ext4 -q -F -L dom0root -E lazy_itable_init=1 -d "$R" "$WORK/dom0.img" "${size_mb}M"
truncate -s 256M "$WORK/results.img"
echo "images ready in $(( $(date +%s) - t0 ))s: dom0.img ${size_mb} MiB"
