#!/usr/bin/env bash
# Builds Xen3D (installing what it needs) and runs every test suite.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/setup.sh
printf '\033[1m==> running the tests\033[0m\n'
# The piglit subset (suite "conformance") is not in CI yet: it finds an
# intermittent compositor crash that is still open (docs/conformance.md).
# Run it with: meson test -C build --suite conformance
meson test -C build --print-errorlogs --no-suite conformance "$@"
