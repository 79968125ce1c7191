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
  mv "$r" "$dir/shown/"
done
echo "FAIL: ${#reports[@]} sanitizer report(s) (kept in $dir/shown)" >&2
exit 1
