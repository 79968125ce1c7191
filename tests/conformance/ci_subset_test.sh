#!/usr/bin/env bash
# CI conformance: a fixed, representative subset of piglit's quick_gl (every
# 8th test by name, 970 tests: ci-subset.txt, made by
# `piglit_compare.py list RESULTS --every 8`) through the remote driver.
# Fails on any regression against baseline-remote.txt and on any new crash.
#
# Needs from meson: XEN3D_BUILD (the build directory).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v piglit >/dev/null || { echo "FAIL: piglit is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
results=$(mktemp -d /tmp/xen3d-piglit-ci-XXXXXX)
"$here/piglit_run.sh" --driver remote --build "${XEN3D_BUILD:?}" --test-list "$here/ci-subset.txt" --results "$results/remote"
if "$here/piglit_compare.py" check "$results/remote" "$here/baseline-remote.txt" --flaky "$here/flaky-remote.txt"; then
  rm -rf "$results"
else
  echo "--- compositor log (last 30 lines) ---"
  tail -30 "$results/remote/compositor.log"
  echo "--- results kept in $results/remote ---"
  exit 1
fi
