#!/usr/bin/env bash
# Builds Xen3D (installing what it needs) and runs every test suite.
#   scripts/test.sh             what CI runs (three passes, below)
#   scripts/test.sh ARGS...     just `meson test -C build ARGS...`
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
case ${1:-} in
  -h|--help) sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
scripts/setup.sh
if [ $# -gt 0 ]; then
  exec meson test -C build --print-errorlogs "$@"
fi
rc=0
printf '\033[1m==> running the tests on the release compositor (all but the conformance subset)\033[0m\n'
meson test -C build --print-errorlogs --no-suite conformance || rc=1
# The end-to-end tests again, and the piglit conformance subset (~6 min), on
# the ASan+UBSan compositor; the last test fails on any sanitizer report.
printf '\033[1m==> running the e2e tests and the conformance subset on the sanitized compositor\033[0m\n'
rm -rf build/meson-logs/sanitizer-reports
meson test -C build --print-errorlogs --setup sanitized --suite e2e --suite conformance || rc=1
# The e2e tests and the piglit subsets (their own baselines) once more with
# the compositor on zink over lavapipe, the GPU host's path (docs/gpu-hosts.md);
# tests/meson.build says what the two left-out suites are.
printf '\033[1m==> running the e2e tests and the conformance subsets with the compositor on zink (lavapipe)\033[0m\n'
meson test -C build --print-errorlogs --setup zink --suite e2e --suite conformance \
  --no-suite llvmpipe-only --no-suite zink-slow || rc=1
exit $rc
