#!/usr/bin/env bash
# The three-way piglit comparison: llvmpipe direct, our remote driver, and
# virpipe + virgl_test_server, on the same test list, one after another.
# Regenerates docs/conformance.md (the table) and, with --write-baseline,
# the remote driver's baseline used by the CI subset.
#
#   tests/conformance/compare_stacks.sh [--profile quick_gl] [--results DIR]
#       [--write-baseline] [--stacks LIST] [--test-list FILE]
#
# quick_gl takes about 15 minutes per stack on 2 cores (virpipe: about 40);
# --test-list tests/conformance/ci-subset.txt runs the CI subset (~2 min each).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
profile=quick_gl results=$top/conformance-out write_baseline=0 stacks="direct remote virpipe" list=()
while [ $# -gt 0 ]; do
  case $1 in
    --profile) profile=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    --write-baseline) write_baseline=1; shift ;;
    --stacks) stacks=${2//,/ }; shift 2 ;;
    --test-list) list=(--test-list "$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"); shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare_stacks: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$results"
runs=()
for s in $stacks; do
  "$here/piglit_run.sh" --driver "$s" --profile "$profile" "${list[@]}" --results "$results/$s"
  runs+=("$results/$s:$s")
done
doc=$top/docs/conformance.md
{
  cat "$here/conformance_header.md"
  echo
  echo "Profile \`$profile\`${list[1]:+ (test list \`${list[1]#"$top"/}\`)}, piglit $(dpkg-query -W -f='${Version}' piglit 2>/dev/null || echo '?'), generated $(date -u +%Y-%m-%d) by \`tests/conformance/compare_stacks.sh\`."
  echo
  "$here/piglit_compare.py" table "${runs[@]}"
  echo
  cat "$here/conformance_notes.md"
} >"$doc.tmp"
mv "$doc.tmp" "$doc"
echo "compare_stacks: wrote $doc"
if [ "$write_baseline" = 1 ] && [ ${#list[@]} -eq 0 ]; then
  "$here/piglit_compare.py" write-baseline "$results/remote" "$here/baseline-remote.txt"
fi
