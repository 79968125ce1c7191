#!/usr/bin/env bash
# Builds Xen3D (installing what it needs) and runs every test suite.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/setup.sh
printf '\033[1m==> running the tests\033[0m\n'
# Everything, the piglit conformance subset included (suite "conformance",
# about 5 minutes): meson test -C build --suite conformance runs it alone.
meson test -C build --print-errorlogs "$@"
