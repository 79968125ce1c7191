#!/usr/bin/env bash
# Fails when a sanitized process (meson test --setup sanitized) wrote an
# AddressSanitizer, LeakSanitizer or UBSan report into DIR during the run:
# the compositor is often killed at a test's end, where nobody would see its
# leak report. Shown reports move to DIR/shown/ so the next run starts clean.
set -euo pipefail
dir=${1:?usage: sanitizer_reports_test.sh DIR}
mkdir -p "$dir/shown"
shopt -s nullglob
reports=("$dir"/asan* "$dir"/ubsan*)
if [ ${#reports[@]} -eq 0 ]; then
  echo "no sanitizer reports in $dir"
  exit 0
fi
for r in "${reports[@]}"; do
  echo "=== $r"
  head -60 "$r"
done
# Last, one short block per report (CI may keep only the end of the output):
# the test that started the process (tests/gl/harness.sh writes $dir/index),
# the sanitizer's summary and the first frames in Xen3D's own code.
echo
echo "=== summary"
for r in "${reports[@]}"; do
  pid=${r##*.}
  test=$(awk -v p="$pid" '$1 == p { print $2 }' "$dir/index" 2>/dev/null | tail -1)
  echo "--- $(basename "$r") (from ${test:-a test that did not register its pid: compositor_tests?})"
  grep -m1 -E '^(SUMMARY|.*ERROR): ' "$r" || true
  grep -m1 'SUMMARY' "$r" || true
  grep -E '^ *#[0-9]+ .*/(host|proto|guest|xen)/' "$r" | head -6 || true
  mv "$r" "$dir/shown/"
done
echo "FAIL: ${#reports[@]} sanitizer report(s) (kept in $dir/shown)" >&2
exit 1
