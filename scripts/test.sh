#!/usr/bin/env bash
# Builds Xen3D (installing what it needs) and runs every test suite.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/setup.sh
printf '\033[1m==> running the tests\033[0m\n'
meson test -C build --print-errorlogs "$@"
