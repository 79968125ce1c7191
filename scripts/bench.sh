#!/usr/bin/env bash
# Builds and runs the benchmarks (numbers are ratios against baselines measured in the same run).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/setup.sh >/dev/null
build/bench/ring "$@"
