#!/bin/bash
# Prints the kernel ABI (e.g. 6.1.0-57-amd64) that Debian's linux-image-amd64
# brings now, from the host's package lists (refreshed once if they lack it):
# the dom0/domU kernel follows Debian's updates instead of a pinned version
# that vanishes from the mirror when the next one comes.
set -euo pipefail
abi() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: linux-image-\([0-9][^ ]*-amd64\)$/\1/p' | head -1
}
k=$(abi)
[ -n "$k" ] || { apt-get update -q >/dev/null 2>&1 || true; k=$(abi); }
[ -n "$k" ] || { echo "kernel-version: apt knows no linux-image-amd64 (check the host's apt sources)" >&2; exit 1; }
echo "$k"
