#!/usr/bin/env bash
# CI conformance through the remote driver; fails on any regression against
# the baseline and on any new crash.
#   ci_subset_test.sh          GLX: a fixed, representative subset of piglit's
#                              quick_gl (every 8th test by name, 970 tests:
#                              ci-subset.txt, made by
#                              `piglit_compare.py list RESULTS --every 8`),
#                              baseline-remote.txt.
#   ci_subset_test.sh --egl    EGL + OpenGL ES: every GLES and EGL test of
#                              quick_gl (ci-subset-gles.txt) through Mesa's
#                              libEGL and our swrast_dri.so, baseline-remote-gles.txt.
#
# Needs from meson: XEN3D_BUILD (the build directory).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v piglit >/dev/null || { echo "FAIL: piglit is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
list=$here/ci-subset.txt baseline=$here/baseline-remote.txt flaky=$here/flaky-remote.txt egl=()
if [ "${1:-}" = --egl ]; then
  list=$here/ci-subset-gles.txt baseline=$here/baseline-remote-gles.txt egl=(--egl)
fi
results=$(mktemp -d /tmp/xen3d-piglit-ci-XXXXXX)
"$here/piglit_run.sh" --driver remote "${egl[@]}" --build "${XEN3D_BUILD:?}" --test-list "$list" --results "$results/remote"
if "$here/piglit_compare.py" check "$results/remote" "$baseline" --flaky "$flaky"; then
  rm -rf "$results"
else
  echo "--- compositor log (last 30 lines) ---"
  tail -30 "$results/remote/compositor.log"
  echo "--- results kept in $results/remote ---"
  exit 1
fi
