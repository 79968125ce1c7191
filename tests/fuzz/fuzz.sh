#!/usr/bin/env bash
# Runs the libFuzzer harnesses over the sanitized host (docs/hardening.md).
#
#   tests/fuzz/fuzz.sh [--seconds N] [--which stream|raw|teardown|all]
#                      [--driver softpipe|llvmpipe|both] [--corpus DIR] [--build DIR]
#
# First every committed input runs once on each driver (tests/fuzz/regressions:
# what fuzzing found before, and the seeds), then the fuzzers run for N seconds
# in all (default 120), split between them (stream 1/2, raw 1/4, teardown 1/4:
# the stream fuzzer reaches the most) and between the drivers (default both).
# --corpus keeps the grown corpus in DIR/stream, DIR/raw and DIR/teardown for
# the next run (default: a temporary one). Exit 1 on any finding (crash,
# sanitizer report, leak, an input slower than 30 s, over 3 GiB), with the
# input kept and the command that replays it; 2 on usage errors.
# CI runs it for 120 s in all (meson test fuzz-smoke); a long run:
#   tests/fuzz/fuzz.sh --seconds 7200 --corpus /var/tmp/xen3d-corpus
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
seconds=120 which=all corpus= driver=both build=$top/build
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=${2:?}; shift 2 ;;
    --which) which=${2:?}; shift 2 ;;
    --corpus) corpus=${2:?}; shift 2 ;;
    --driver) driver=${2:?}; shift 2 ;;
    --build) build=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fuzz.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case $which in stream|raw|teardown) fuzzers=("$which") ;; all) fuzzers=(stream raw teardown) ;;
  *) echo "fuzz.sh: --which must be stream, raw, teardown or all" >&2; exit 2 ;; esac
case $driver in softpipe|llvmpipe) drivers=("$driver") ;; both) drivers=(softpipe llvmpipe) ;;
  *) echo "fuzz.sh: --driver must be softpipe, llvmpipe or both" >&2; exit 2 ;; esac
# Each fuzzer's share of the time, in quarters, and the total of the shares run.
share() { case $1 in stream) echo 2 ;; *) echo 1 ;; esac; }
quarters=0
for f in "${fuzzers[@]}"; do quarters=$((quarters + $(share "$f"))); done
work=$(mktemp -d /tmp/xen3d-fuzz-XXXXXX)
[ -n "$corpus" ] || corpus=$work/corpus
export LSAN_OPTIONS=suppressions=$here/lsan.supp:print_suppressions=0
# Mesa's reviewed harmless undefined behaviour, for build_instrumented_mesa.sh's
# build (ours is built not to recover from any).
export UBSAN_OPTIONS=suppressions=$here/ubsan-mesa.supp:print_stacktrace=1:halt_on_error=1
rc=0
for d in "${drivers[@]}"; do
  export XEN3D_FUZZ_DRIVER=$d
  for f in "${fuzzers[@]}"; do
    bin=$build/tests/fuzz/xen3d-fuzz-$f
    [ -x "$bin" ] || { echo "fuzz.sh: $bin is not built (ninja -C $build)" >&2; exit 2; }
    # The teardown fuzzer takes the stream fuzzer's inputs.
    kind=$([ "$f" = raw ] && echo raw || echo stream)
    ext=$([ "$f" = raw ] && echo raw || echo x3drec)
    run=$f-$d
    mkdir -p "$corpus/$f" "$work/artifacts-$run"
    common=(-timeout=30 -rss_limit_mb=3072 -max_len=300000 -artifact_prefix="$work/artifacts-$run/")
    inputs=("$here"/seeds/"$kind"/*."$ext")
    shopt -s nullglob
    regressions=("$here"/regressions/*."$ext")
    shopt -u nullglob
    # Committed inputs once each; the teardown fuzzer runs them as the
    # stream fuzzer does (the guest sees the same), only slower.
    if [ "$f" != teardown ]; then
      echo "== xen3d-fuzz-$f on $d: ${#regressions[@]} regression inputs and ${#inputs[@]} seeds, once each"
      if ! "$bin" "${common[@]}" "${regressions[@]}" "${inputs[@]}" >"$work/$run-once.log" 2>&1; then
        tail -40 "$work/$run-once.log"
        echo "FAIL: a committed input fails on $d (log above; artifacts in $work/artifacts-$run)" >&2
        rc=1
        continue
      fi
    fi
    budget=$(( seconds * $(share "$f") / quarters / ${#drivers[@]} ))
    [ "$budget" -ge 1 ] || budget=1
    echo "== xen3d-fuzz-$f: fuzzing for $budget s on $d"
    start=$(date +%s)
    set +e
    "$bin" "${common[@]}" -max_total_time="$budget" -print_final_stats=1 "$corpus/$f" "$here/seeds/$kind" \
      >"$work/$run.log" 2>&1
    status=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$run.log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$run.log" | tail -1)
    grep -E "^#[0-9]+ +DONE|^Done" "$work/$run.log" | tail -2 || true
    echo "xen3d-fuzz-$f on $d: ${execs:-?} executions (${rate:-?}/s) in $(( $(date +%s) - start )) s," \
         "corpus $(ls "$corpus/$f" | wc -l) inputs"
    # An input that only runs long (a huge dispatch or draw, a long shader
    # loop) is the known open problem of GPU time without preemption
    # (docs/hardening.md): reported with its input, not a failure. Crashes,
    # sanitizer reports and leaks still fail.
    shopt -s nullglob
    found=("$work/artifacts-$run"/*)
    shopt -u nullglob
    # libFuzzer keeps such an input twice: as slow-unit-* once it passes
    # -report_slow_units (10 s), and as timeout-* at -timeout.
    if [ $status -ne 0 ] && [ ${#found[@]} -gt 0 ] && [ -z "$(ls "$work/artifacts-$run" | grep -vE '^(timeout|slow-unit)-')" ] &&
       ! grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error" "$work/$run.log"; then
      mkdir -p "$corpus/slow-$f"
      cp "${found[@]}" "$corpus/slow-$f/"
      echo "SLOW INPUT (not failing: no GPU-time preemption yet, docs/hardening.md): kept in $corpus/slow-$f/;" \
           "replay: XEN3D_FUZZ_DRIVER=$d $bin ${found[0]}"
      status=0
    fi
    # Every fuzzer must have run more than its seeds (a broken harness runs
    # nothing); the teardown fuzzer, a new driver context per input, may
    # manage little more than that in its share.
    least=$([ "$f" = teardown ] && echo $(( ${#inputs[@]} + 1 )) || echo 20)
    if [ $status -ne 0 ]; then
      grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$work/$run.log" | head -20
      tail -60 "$work/$run.log"
      for a in "$work/artifacts-$run"/*; do
        echo "FAIL: finding kept in $a; replay it: XEN3D_FUZZ_DRIVER=$d $bin $a" >&2
      done
      rc=1
    elif [ "${execs:-0}" -lt "$least" ]; then
      tail -20 "$work/$run.log"
      echo "FAIL: only ${execs:-0} executions of xen3d-fuzz-$f on $d: the harness is not running inputs" >&2
      rc=1
    fi
  done
done
[ $rc -eq 0 ] && rm -rf "$work"
exit $rc
