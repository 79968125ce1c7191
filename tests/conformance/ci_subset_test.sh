#!/usr/bin/env bash
# CI conformance through the remote driver; fails on any regression against
# the baseline and on any new crash.
#   ci_subset_test.sh          GLX: a fixed, representative subset of piglit's
#                              quick_gl (every 8th test by name, 970 tests:
#                              ci-subset.txt, made by
#                              `piglit_compare.py list RESULTS --every 8`,
#                              plus the buffer-storage and map-alignment
#                              tests, and one test for each host check
#                              relaxed to what st/mesa sends and each
#                              NIR-path feature since (docs/hardening.md,
#                              docs/shaders.md): 1,007),
#                              baseline-remote.txt.
#   ci_subset_test.sh --gles   OpenGL ES: every GLES test of quick_gl
#                              (ci-subset-gles.txt, 138 tests), in GLES
#                              contexts of our libGL (GLX ES profiles),
#                              baseline-remote-gles.txt. Not through our EGL:
#                              Debian's piglit GLES helpers link glvnd's
#                              libGL.so.1 and call GLX, so next to a non-glvnd
#                              libEGL their GL calls reach glvnd's no-op
#                              dispatch (docs/frontends.md).
#
# Needs from meson: XEN3D_BUILD (the build directory).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v piglit >/dev/null || { echo "FAIL: piglit is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
list=$here/ci-subset.txt baseline=$here/baseline-remote.txt flaky=$here/flaky-remote.txt
case "${1:-}" in
  --gles) list=$here/ci-subset-gles.txt baseline=$here/baseline-remote-gles.txt ;;
  "") ;;
  *) echo "ci_subset_test: unknown option '$1'" >&2; exit 2 ;;
esac
# A compositor on zink (meson test --setup zink) has baselines of its own:
# baseline-remote-zink.txt, baseline-remote-gles-zink.txt.
if [ "${XEN3D_DRIVER:-}" = zink ]; then
  baseline=${baseline%.txt}-zink.txt
  [ -f "$baseline" ] || { echo "FAIL: no baseline for zink: $baseline" >&2; exit 1; }
fi
results=$(mktemp -d /tmp/xen3d-piglit-ci-XXXXXX)
"$here/piglit_run.sh" --driver remote --build "${XEN3D_BUILD:?}" --test-list "$list" --results "$results/remote"
if "$here/piglit_compare.py" check "$results/remote" "$baseline" --flaky "$flaky"; then
  rm -rf "$results"
else
  echo "--- compositor log (last 30 lines) ---"
  tail -30 "$results/remote/compositor.log"
  echo "--- results kept in $results/remote ---"
  exit 1
fi
