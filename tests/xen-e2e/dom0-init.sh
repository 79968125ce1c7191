#!/bin/sh
# init of the test's dom0 (no systemd: much faster under TCG). Installed as /sbin/e2e-init.
export PATH=/opt/xen3d/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=${TERM:-vt100}
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -o remount,rw /
hostname dom0
for m in xenfs xen-privcmd xen-evtchn xen-gntdev xen-gntalloc xen-blkback; do modprobe $m; done
mountpoint -q /proc/xen || mount -t xenfs xenfs /proc/xen
mkdir -p /var/log/xen/console /run/xen /root/logs
rm -f /var/log/xen/console/*.log
/etc/init.d/xen start
echo "DOM0_READY uptime=$(cut -d' ' -f1 /proc/uptime)"
while true; do setsid -c /bin/bash -l </dev/hvc0 >/dev/hvc0 2>&1; done
