#!/bin/bash
# Xen3D real-Xen end-to-end test (opt-in, not CI): boots Xen 4.17 + a Debian dom0
# under qemu-system-x86_64 (TCG), runs xen3d-compositor --listen xen in dom0 and GL
# programs in a PV domU over the xen transport, and checks the frames that arrive.
# See README.md.   usage: sudo tests/xen-e2e/run.sh   (as root; ~6 min first run)
#
# Environment:
#   XEN3D_BUILD_DIR          meson build dir with our binaries (default: <repo>/build)
#   XEN3D_XEN_E2E_CACHE      cache dir (default /var/cache/xen3d-xen-e2e); never required
#   XEN3D_XEN_E2E_NO_CACHE=1 build everything in the work dir, ignore the cache
#   XEN3D_XEN_E2E_WORK       where run directories go (default /var/tmp/xen3d-xen-e2e)
#   XEN3D_XEN_E2E_KEEP=1     keep the disk images and the domU tree after the run
#   XEN3D_XEN_E2E_VERBOSE=1  echo the serial console while the test runs
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=${XEN3D_BUILD_DIR:-$REPO/build}
CACHE=${XEN3D_XEN_E2E_CACHE:-/var/cache/xen3d-xen-e2e}
WROOT=${XEN3D_XEN_E2E_WORK:-/var/tmp/xen3d-xen-e2e}
T_START=$(date +%s)

declare -A T   # host-side step durations
step_t0=0
begin() { step_t0=$(date +%s); echo "== [$(( step_t0 - T_START ))s] $*"; }
end() { T[$1]=$(( $(date +%s) - step_t0 )); }
die() { echo "xen-e2e: FAIL: $*" >&2; echo "xen-e2e: logs in ${WORK:-?}" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap, chroot, mkfs)"
mkdir -p "$WROOT"
WORK=$WROOT/run-$(date +%Y%m%d-%H%M%S)
mkdir -p "$WORK"
ln -sfn "$WORK" "$WROOT/latest"
exec > >(tee "$WORK/run.log") 2>&1
echo "xen-e2e: work dir $WORK"

# ---- 0. our build (the lead may be rebuilding: wait a little for missing files) ----
need_bins="host/compositor/xen3d-compositor host/worker/xen3d-render-worker tools/xen3dctl guest/winsys-remote/xen3d-info
           guest/winsys-remote/libGL.so.1.5.0 tests/x-window tests/png-compare"
for try in $(seq 36); do
  missing=
  for f in $need_bins; do [ -s "$BUILD/$f" ] || missing="$missing $f"; done
  [ -z "$missing" ] && break
  [ "$try" = 1 ] && echo "waiting for the build ($BUILD):$missing"
  sleep 5
done
[ -z "$missing" ] || die "missing from $BUILD:$missing (build the project first)"

# ---- 1. host tools ----
begin "host tools, packages our binaries need"
pkgs=
for c in qemu-system-x86_64:qemu-system-x86 debootstrap:debootstrap mkfs.ext4:e2fsprogs cpio:cpio \
         gzip:gzip strip:binutils python3:python3 ldconfig:libc-bin flock:util-linux; do
  command -v "${c%%:*}" >/dev/null 2>&1 || pkgs="$pkgs ${c#*:}"
done
if [ -n "$pkgs" ]; then
  echo "installing:$pkgs"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $pkgs >"$WORK/apt-host.log" 2>&1 ||
    { apt-get update -q >>"$WORK/apt-host.log" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $pkgs >>"$WORK/apt-host.log" 2>&1; } ||
    die "apt-get install$pkgs failed (see $WORK/apt-host.log)"
fi

# The Debian packages of the libraries our binaries load (host and rootfs are both bookworm).
extra=$(for f in host/compositor/xen3d-compositor host/worker/xen3d-render-worker guest/winsys-remote/libGL.so.1.5.0 guest/winsys-remote/xen3d-info \
                 tests/x-window tests/png-compare tools/xen3dctl; do
          LD_LIBRARY_PATH=$BUILD/guest/winsys-remote ldd "$BUILD/$f" | awk '/=>/ && $3 ~ /^\// {print $3}'
        done | sort -u | grep -v "^$BUILD" | while read -r l; do
          dpkg -S "$(readlink -f "$l")" 2>/dev/null || dpkg -S "$l" 2>/dev/null || echo "xen-e2e: no package owns $l" >&2
        done | cut -d: -f1 | sort -u | paste -sd, -)
end host_tools

# ---- 2. base system: Debian rootfs, kernel, Xen (cached) ----
begin "base system (debootstrap, kernel, Xen)"
KVER=$("$HERE/kernel-version.sh") || die "cannot tell which kernel Debian's linux-image-amd64 brings"
echo "kernel: $KVER (Debian's linux-image-amd64 now)"
key=$( (cat "$HERE/build-base.sh"; echo "$extra $KVER") | sha256sum | cut -c1-16)
use_cache=1
[ "${XEN3D_XEN_E2E_NO_CACHE:-0}" = 1 ] && use_cache=0
if [ $use_cache = 1 ] && ! mkdir -p "$CACHE" 2>/dev/null; then
  echo "cache dir $CACHE not writable: building without a cache"
  use_cache=0
fi
if [ $use_cache = 1 ]; then
  exec 9>"$CACHE/lock"
  flock -w 1800 9 || die "another xen-e2e run holds $CACHE/lock"
  BASE=$CACHE/base-$key
  DEBS=$CACHE/debs
  if [ -f "$BASE/OK" ]; then
    echo "cached: $BASE"
    T[base_cached]=1
  else
    for old in "$CACHE"/base-*; do [ -e "$old" ] && [ "$old" != "$BASE" ] && rm -rf "$old"; done
    "$HERE/build-base.sh" "$BASE" "$DEBS" "$extra" "$KVER" >"$WORK/build-base.log" 2>&1 ||
      { tail -20 "$WORK/build-base.log"; die "building the base system failed (see $WORK/build-base.log)"; }
    T[base_cached]=0
  fi
else
  BASE=$WORK/base
  DEBS=$WORK/debs
  "$HERE/build-base.sh" "$BASE" "$DEBS" "$extra" "$KVER" >"$WORK/build-base.log" 2>&1 ||
    { tail -20 "$WORK/build-base.log"; die "building the base system failed (see $WORK/build-base.log)"; }
  T[base_cached]=0
fi
end base

# ---- 3. our build into dom0's disk, the domU initramfs ----
begin "images (our build -> dom0 disk, domU initramfs)"
"$HERE/make-images.sh" "$BASE" "$WORK" "$BUILD" >"$WORK/make-images.log" 2>&1 ||
  { tail -20 "$WORK/make-images.log"; die "making the images failed (see $WORK/make-images.log)"; }
grep -E 'initramfs|images ready' "$WORK/make-images.log"
end images

# ---- 4. boot Xen + dom0 under QEMU and run the test ----
begin "Xen under QEMU (TCG): boot, compositor, xl create, frames, xl destroy"
verbose=
[ "${XEN3D_XEN_E2E_VERBOSE:-0}" = 1 ] && verbose=--verbose
timeout -k 10 1500 python3 "$HERE/drive.py" --base "$BASE" --work "$WORK" $verbose
drive_rc=$?
end qemu

# ---- 5. logs back from dom0 (it wrote a tar onto its second disk) ----
mkdir -p "$WORK/logs"
tar -xf "$WORK/results.img" -C "$WORK/logs" 2>/dev/null || echo "(no logs came back from dom0)"
host_check="skipped"
red=$(ls "$WORK"/logs/snap/guest*-win*.png 2>/dev/null | grep -v -- -frame | while read -r f; do
        [ "$("$BUILD/tests/png-compare" --pixel "$f" 0 0 2>/dev/null)" = "200 40 40" ] && echo "$f"; done | head -1)
if [ -n "$red" ]; then
  { printf 'P6\n200 150\n255\n'; head -c $((200 * 150)) /dev/zero | sed 's/\x0/\xc8\x28\x28/g'; } >"$WORK/ref-red.ppm"
  if host_out=$("$BUILD/tests/png-compare" "$red" "$WORK/ref-red.ppm" 2>&1); then host_check="ok ($host_out)"
  else host_check="MISMATCH ($host_out)"; drive_rc=1; fi
fi
if [ "${XEN3D_XEN_E2E_KEEP:-0}" != 1 ]; then
  rm -rf "$WORK/dom0.img" "$WORK/results.img" "$WORK/domu-root" "$WORK/serial.sock"
  [ $use_cache = 0 ] && rm -rf "$WORK/base/rootfs"
fi

# ---- summary ----
TOTAL=$(( $(date +%s) - T_START ))
python3 - "$WORK/drive.json" "$drive_rc" "$TOTAL" "${T[host_tools]:-0}" "${T[base]:-0}" "${T[base_cached]:-0}" \
  "${T[images]:-0}" "${T[qemu]:-0}" "$host_check" "$WORK" <<'PY'
import json, sys
path, rc, total, t_tools, t_base, cached, t_img, t_qemu, host_check, work = sys.argv[1:]
try:
    d = json.load(open(path))
except Exception:
    d = {"passed": False, "results": [["drive.py", False, "no results (crashed or timed out)"]], "timings": {}}
t = d["timings"]
ok = d["passed"] and rc == "0"
print("\n================ xen-e2e summary ================")
for step, passed, detail in d["results"]:
    print(f"  {'PASS' if passed else 'FAIL'}  {step:18s} {detail}")
print(f"  host re-check of the x-window snapshot: {host_check}")
print("timings:")
def row(name, v):
    print(f"  {name:42s} {v}")
row("host tools + package list", f"{t_tools}s")
row("base system" + (" (cached)" if cached == "1" else " (built)"), f"{t_base}s")
row("images", f"{t_img}s")
def s(k):
    return f"{t[k]:.1f}s" if k in t else "-"
row("QEMU start -> dom0 shell (boot)", s("boot_to_dom0_shell"))
row("xl create (command)", s("xl_create"))
row("xl create -> domU init seen by dom0", s("create_to_domu_init_seen"))
row("xl create -> x-window connected", s("create_to_red_connected"))
row("xl create -> first x-window frame", s("create_to_first_red_frame"))
row("xl create -> correct x-window frame checked", s("create_to_correct_red_frame"))
row("glxgears frame check", s("glxgears_frame"))
row("xl create -> PV display desktop listed", s("create_to_pv_desktop_listed"))
row("xl create -> PV display desktop exact", s("create_to_correct_pv_desktop"))
row("click in dom0's window -> domU X client", s("click_to_domu_x_client"))
row("key in dom0's window -> domU X client", s("key_to_domu_x_client"))
row("glxgears composited (FPS, TCG)", f"{t['fps_composited']:.1f}" if "fps_composited" in t else "-")
row("glxgears read back (FPS, TCG)", f"{t['fps_readback']:.1f}" if "fps_readback" in t else "-")
row("xl destroy (command)", s("xl_destroy_command"))
row("xl destroy start -> last connection freed", s("destroy_to_freed"))
row("QEMU session", f"{t_qemu}s")
row("total wall time", f"{total}s")
print(f"logs: {work}  (run.log, serial.log, dom0-commands.log, logs/: compositor.log, guest-xen3d-e2e.log, snap/)")
print("RESULT: " + ("PASS" if ok else "FAIL"))
sys.exit(0 if ok else 1)
PY
