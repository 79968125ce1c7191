#!/usr/bin/env bash
# Fetch Debian 12's Mesa 22.3.6 source (orig tarball), verify it, and put it where
# subprojects/upstream-mesa.wrap finds it with --wrap-mode=nodownload.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
want=737cb8e5d380ce1a0ad01fb8b74db7f27303435c353e753d2302e8cf3927bad2
tarball=mesa_22.3.6.orig.tar.gz
cache=$top/subprojects/packagecache
dest=$cache/$tarball

mkdir -p "$cache"
# The tree is unpacked here, not by meson: subprojects/mesa-egl (the second
# Mesa configuration, meson.build: mesa_egl) is a symlink to it, and meson only
# sees subproject folders that exist when it starts.
unpack() {
  if [ ! -f "$top/subprojects/mesa-22.3.6/meson.build" ]; then
    echo "fetch-mesa: unpacking $tarball into subprojects/mesa-22.3.6"
    rm -rf "$top/subprojects/mesa-22.3.6"
    tar -xzf "$dest" -C "$top/subprojects"
  fi
  ln -sfn mesa-22.3.6 "$top/subprojects/mesa-egl"
  # zink's meson.build finds Vulkan's registry at meson.source_root(), which
  # in a subproject is our top folder, not Mesa's: a link puts it there
  # (instead of patching Mesa). Ignored by git.
  mkdir -p "$top/src/vulkan/registry"
  ln -sfn ../../../subprojects/mesa-22.3.6/src/vulkan/registry/vk.xml "$top/src/vulkan/registry/vk.xml"
}

if [ -f "$dest" ] && echo "$want  $dest" | sha256sum -c --quiet - 2>/dev/null; then
  echo "fetch-mesa: $tarball present and verified"
  unpack
  exit 0
fi

# apt-get source needs deb-src entries; Debian 12 images often ship only 'deb'.
if ! grep -rqs '^\s*\(Types:.*deb-src\|deb-src\)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "fetch-mesa: enabling Debian source package entries (deb-src)"
  cat > /etc/apt/sources.list.d/xen3d-deb-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update -qq
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fetch-mesa: downloading Debian's mesa source package (apt-get source --download-only)"
(cd "$work" && apt-get source --download-only mesa >/dev/null)
if [ ! -f "$work/$tarball" ]; then
  echo "fetch-mesa: error: apt-get source did not produce $tarball (got: $(ls "$work"))" >&2
  exit 1
fi
if ! echo "$want  $work/$tarball" | sha256sum -c --quiet -; then
  echo "fetch-mesa: error: $tarball checksum mismatch (expected $want)" >&2
  exit 1
fi
mv "$work/$tarball" "$dest"
echo "fetch-mesa: $tarball verified -> $dest"
unpack
