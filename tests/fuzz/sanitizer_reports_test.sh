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
# Render workers' reports are not symbolized (the sandbox refuses the
# symbolizer's fork): their frames are "(module+0xOFFSET)", read here.
symbolize() {
  local line module offset where
  while IFS= read -r line; do
    if [[ "$line" =~ ^\ *#[0-9]+\ 0x[0-9a-f]+\ +\(([^+\)]+)\+(0x[0-9a-f]+)\) ]]; then
      module=${BASH_REMATCH[1]} offset=${BASH_REMATCH[2]}
      where=$(addr2line -f -C -i -e "$module" "$offset" 2>/dev/null | paste -sd' ' | cut -c1-200)
      echo "$line  ${where:+-> $where}"
    else
      echo "$line"
    fi
  done
}
for r in "${reports[@]}"; do
  echo "=== $r"
  head -60 "$r" | symbolize
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
  symbolize <"$r" | grep -E '^ *#[0-9]+ .*/(host|proto|guest|xen)/' | head -6 || true
  mv "$r" "$dir/shown/"
done
echo "FAIL: ${#reports[@]} sanitizer report(s) (kept in $dir/shown)" >&2
exit 1
