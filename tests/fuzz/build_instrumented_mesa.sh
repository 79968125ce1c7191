#!/usr/bin/env bash
# Builds the host's Mesa a third time, instrumented, and the sanitized
# compositor and fuzzers again against it, so fuzzing sees inside Mesa:
#   - clang with AddressSanitizer and UndefinedBehaviorSanitizer, so a bad
#     access inside llvmpipe, softpipe, the draw module or gallivm is a
#     report with a stack, not a silent corruption or a crash;
#   - Mesa's asserts on (b_ndebug=false): the release build compiles them
#     out, so an assert the validator leans on is a silent memory bug there;
#     here it is a finding;
#   - libFuzzer's coverage in Mesa's code too, so the fuzzers are guided by
#     the paths they reach inside the driver, not only ours.
#
#   tests/fuzz/build_instrumented_mesa.sh [OUT]     (default: build-fuzz-mesa)
#
# Only the 14 archives the compositor links are built (~25 min on 2 cores,
# minutes with a warm ccache). Mesa's options are the main build's own
# (meson introspect), so the archives match the compositor's link line.
# Outputs the sanitized compositor and fuzzers in OUT/xen3d-build/tests/fuzz/;
# fuzz.sh --build OUT/xen3d-build runs the fuzzers there (docs/hardening.md).
# Not part of CI (it would double CI's build time).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "${1:-$top/build-fuzz-mesa}")
build=$top/build
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
[ -f "$build/build.ninja" ] || { echo "build_instrumented_mesa: configure and build $build first (scripts/setup.sh)" >&2; exit 2; }
command -v clang >/dev/null || { echo "build_instrumented_mesa: clang not found (apt-get install clang libclang-rt-dev)" >&2; exit 2; }
export CCACHE_BASEDIR=$top CCACHE_NOHASHDIR=true

# The link line's Mesa archives, relative to the subproject's build folder.
mapfile -t archives < <(ninja -C "$build" -t commands host/compositor/xen3d-compositor | tail -1 | tr ' ' '\n' |
  sed -n 's@^subprojects/mesa-22.3.6/\(.*\.a\)$@\1@p')
[ ${#archives[@]} -gt 0 ] || { echo "build_instrumented_mesa: no Mesa archives on the compositor's link line" >&2; exit 1; }

if [ ! -f "$out/mesa/build.ninja" ]; then
  say "configuring Mesa 22.3.6 with clang, ASan+UBSan, asserts and fuzzer coverage in $out/mesa"
  mapfile -t options < <(meson introspect "$build" --buildoptions | python3 -c '
import json, sys
for o in json.load(sys.stdin):
    name = o["name"]
    if not name.startswith("upstream-mesa:") or o["section"] != "user":
        continue
    v = o["value"]
    v = ",".join(v) if isinstance(v, list) else ("true" if v is True else "false" if v is False else str(v))
    print("-D" + name.split(":", 1)[1] + "=" + v)')
  mkdir -p "$out"
  CC="ccache clang" CXX="ccache clang++" meson setup "$out/mesa" "$top/subprojects/mesa-22.3.6" --native-file "$top/native.ini" "${options[@]}" \
    -Dbuildtype=debugoptimized -Db_ndebug=false -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args="-fsanitize=fuzzer-no-link -fno-omit-frame-pointer" \
    -Dcpp_args="-fsanitize=fuzzer-no-link -fno-omit-frame-pointer" >"$out/mesa-setup.log" 2>&1 ||
    { tail -30 "$out/mesa-setup.log"; echo "build_instrumented_mesa: meson setup failed (log: $out/mesa-setup.log)" >&2; exit 1; }
fi
say "building the ${#archives[@]} archives the compositor links"
ninja -C "$out/mesa" "${archives[@]}"

say "linking the sanitized compositor and fuzzers against them"
# meson's own command for the sanitized host (its harness list), with the
# outputs moved to $out and the Mesa archives taken from the instrumented build.
read -r -a cmd < <(ninja -C "$build" -t commands tests/fuzz/xen3d-compositor-asan | tail -1)
mkdir -p "$out/xen3d-build/tests/fuzz"
(cd "$build" && XEN3D_MESA_BUILD="$out/mesa" "${cmd[0]}" "${cmd[1]}" "$build" "$out/xen3d-build/tests/fuzz" \
  "$out/xen3d-build/sanitized-host.d" "${cmd[@]:5}")
say "done: run the fuzzers on it with tests/fuzz/fuzz.sh --build $out/xen3d-build [--seconds 3600]"
