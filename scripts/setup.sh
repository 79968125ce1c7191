#!/usr/bin/env bash
# Installs what Xen3D needs on Debian 12, fetches Mesa 22.3.6 and builds everything.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

packages=(
  meson ninja-build ccache pkg-config python3-mako bison flex dpkg-dev
  llvm-15-dev libelf-dev zlib1g-dev libzstd-dev libexpat1-dev libunwind-dev libdrm-dev
  libx11-dev libxext-dev libxfixes-dev libx11-xcb-dev libxcb1-dev libxcb-glx0-dev
  libxcb-shm0-dev libxcb-randr0-dev libxcb-xfixes0-dev libxcb-sync-dev libxcb-dri2-0-dev
  libxcb-dri3-dev libxcb-present-dev libxshmfence-dev libxrandr-dev libxxf86vm-dev x11proto-dev
  libpng-dev catch2 xvfb xauth x11-utils mesa-utils glmark2-x11 apitrace piglit
  xserver-xorg-dev xserver-xorg-core xserver-xorg-video-dummy libvncserver-dev vncsnapshot libjpeg-turbo-progs xdotool \
  libxen-dev libseccomp-dev clang libclang-rt-dev libosmesa6 glmark2-es2-x11 waffle-utils openarena neverball extremetuxracer xcvt
  libvulkan1 mesa-vulkan-drivers
  ${XEN3D_EXTRA_PACKAGES:-}
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${#missing[@]} Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd=sudo
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

say "Mesa 22.3.6 source"
scripts/fetch-mesa.sh

if [ ! -f build/build.ninja ]; then
  say "configuring (meson; the first Mesa build takes ~8 min on 2 cores, ~1 min with a warm ccache)"
  meson setup build --native-file native.ini --wrap-mode=nodownload >build-setup.log 2>&1 || {
    tail -30 build-setup.log; echo "meson setup failed; full log: build-setup.log" >&2; exit 1; }
fi
# Hits across clones in different folders (CI uses a fresh clone): paths
# relative to the clone, and the build folder left out of the hash (ccache
# hashes it by default when compiling with -g, so no other folder ever hit).
export CCACHE_BASEDIR="$top" CCACHE_NOHASHDIR=true
say "building"
ninja -C build
