# Shared set-up for the GL tests (sourced): a private Xvfb, a compositor on a
# private socket with snapshots on, and helpers to run GL programs either
# through the remote driver (guest) or on llvmpipe directly (reference).
#
# Needs from meson: XEN3D_COMPOSITOR, XEN3D_INFO, XEN3D_REMOTE_GL, XEN3D_DIRECT_GL,
# PNG_COMPARE, X_GRAB.
set -euo pipefail

work=$(mktemp -d /tmp/xen3d-gltest-XXXXXX)
snap=$work/snap
mkdir -p "$snap"
sock=$work/compositor.sock
pids=()

# Tests whose guests are meant to lose their context (hostile or broken
# streams) set this; in every other test a lost context fails the test, even
# when everything it checked looked right.
allow_lost_contexts=${allow_lost_contexts:-0}

cleanup() {
  local rc=$?
  # A stopped process (a test's SIGSTOP) gets its SIGTERM only once
  # continued; one that ignores SIGTERM gets SIGKILL after 5 s.
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; kill -CONT "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  local lost="its context is now lost|its driver lost its context"
  if [ $rc -eq 0 ] && [ "$allow_lost_contexts" != 1 ] && grep -qE "$lost" "$work/compositor.log" 2>/dev/null; then
    echo "FAIL: a guest lost its context:" >&2
    grep -E "$lost" "$work/compositor.log" | head -5 >&2
    rc=1
  fi
  if [ $rc -ne 0 ]; then
    echo "--- compositor log (failure) ---"
    tail -40 "$work/compositor.log" 2>/dev/null || true
    echo "--- kept $work for inspection ---"
  else
    rm -rf "$work"
  fi
  exit $rc
}
trap cleanup EXIT

say() { printf '== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# A private X server: -noreset, or short GL programs fail at random when the
# server resets between clients.
start_xvfb() {
  local n
  for n in $(seq 90 140); do
    [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] && continue
    Xvfb ":$n" -screen 0 1024x768x24 -noreset -nolisten tcp >"$work/xvfb.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do
      [ -e "/tmp/.X11-unix/X$n" ] && { export DISPLAY=":$n"; return 0; }
      sleep 0.1
    done
  done
  fail "could not start Xvfb"
}

# Where sanitized processes write their reports (ASAN_OPTIONS' log_path).
sanitizer_reports_dir() {
  dirname "$(sed 's/.*log_path=\([^:]*\).*/\1/' <<<"$ASAN_OPTIONS")"
}

start_compositor() {
  # XEN3D_COMPOSITOR_ARGS: more options for every test's compositor, e.g.
  # --render-workers on to run a whole suite on render workers.
  # The sanitized compositor and workers run Mesa's C code several times
  # slower: the GPU-time budget grows with them, as test timeouts do (a real
  # game's first frames, shaders compiled, took 10 s on the sanitized worker:
  # neverball in gl-games). Tests of the budget pass their own, which wins.
  local budget=()
  [[ "${ASAN_OPTIONS:-}" == *log_path=* ]] && budget=(--gpu-budget-ms 60000)
  # shellcheck disable=SC2086
  "$XEN3D_COMPOSITOR" --listen "local:$sock" --snapshot "$snap" "${budget[@]}" ${XEN3D_COMPOSITOR_ARGS:-} "$@" \
    >"$work/compositor.log" 2>&1 &
  comp_pid=$!
  pids+=($comp_pid)
  # Which test a sanitizer report (named by pid) came from: see sanitizer_reports_test.sh.
  if [[ "${ASAN_OPTIONS:-}" == *log_path=* ]]; then
    local reports
    reports=$(sanitizer_reports_dir)
    mkdir -p "$reports" && echo "$comp_pid $(basename "$0" .sh)" >>"$reports/index"
    # Render workers run as nobody and write their own reports here.
    chmod 1777 "$reports"
  fi
  # "ready" comes after every listener (local, tcp, xen) is up and logged; the
  # local socket alone appears first, so tests reading the log raced it.
  for _ in $(seq 100); do
    [ -S "$sock" ] && grep -q " info: ready$" "$work/compositor.log" && return 0
    kill -0 "$comp_pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$work/compositor.log"
  fail "compositor did not start"
}

# The host driver the compositor opened (llvmpipe, softpipe, zink, ...).
host_driver() { sed -n 's/.* info: host driver: \([a-z]*\).*/\1/p' "$work/compositor.log" | head -1; }

# Runs a GL program through the remote driver.
guest() { env LD_LIBRARY_PATH="$XEN3D_REMOTE_GL" XEN3D_TRANSPORT="local:$sock" "$@"; }
# Starts a GL program through the remote driver in the background, output to
# $1; sets guest_pid to the program itself (not a subshell), so it can be killed.
start_guest() {
  local log=$1
  shift
  env LD_LIBRARY_PATH="$XEN3D_REMOTE_GL" XEN3D_TRANSPORT="local:$sock" "$@" >"$log" 2>&1 &
  guest_pid=$!
  pids+=($guest_pid)
}
# Runs a GL program on Mesa's own xlib libGL with llvmpipe (the reference).
direct() { env LD_LIBRARY_PATH="$XEN3D_DIRECT_GL" GALLIUM_DRIVER=llvmpipe "$@"; }

# xenemu, the EMULATION of the Xen calls (xen/emulation/README.md): starts its
# broker at $emu and points this shell's Xen programs at it (XEN3D_XENEMU).
start_xenemu() {  # [broker options...]
  emu=$work/xenemu.sock
  "$XENEMU_BROKER" --socket "$emu" "$@" >"$work/broker.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$emu" ] && break; sleep 0.1; done
  [ -S "$emu" ] || { cat "$work/broker.log"; fail "xenemu broker did not start"; }
  export XEN3D_XENEMU=$emu
}

# Prints a compositor statistic (objects, bytes, guests).
host_stat() { XEN3D_TRANSPORT="local:$sock" "$XEN3D_INFO" --stats | sed -n "s/^$1=//p"; }

# host_stat once it holds still: render workers report their counts every
# 100 ms, so a worker that just started may not be counted yet. Waits until
# two reads 300 ms apart agree (at most 3 s).
settled_host_stat() {
  local prev now
  prev=$(host_stat "$1")
  for _ in $(seq 10); do
    sleep 0.3
    now=$(host_stat "$1")
    [ "$now" = "$prev" ] && break
    prev=$now
  done
  echo "$prev"
}

# Waits until process $3 is gone, at most $2 seconds, or kills it and fails
# naming $1. A process that exited but was not reaped yet (a zombie) counts
# as gone.
exits_within() {
  local what=$1 secs=$2 pid=$3 state
  for _ in $(seq $((secs * 20))); do
    state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || true
    [ -z "$state" ] || [ "$state" = Z ] && return 0
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null
  fail "$what was still running ${secs} s later (hung?)"
}

# Checks an image rendered remote against llvmpipe's: what, got.png, ref.png,
# tolerance. Tolerance 0: exact but for one-level rounding. Otherwise (shaders the host compiles
# from TGSI, where direct llvmpipe compiles NIR: frame_match_test.sh says why)
# at most 0.5% of pixels may differ, and 0.05% by more than `tolerance` levels.
matches_llvmpipe() {
  local what=$1 got=$2 ref=$3 tol=$4
  "$PNG_COMPARE" --not-blank "$got" || fail "$what: blank"
  local px
  px=$(python3 -c "from struct import unpack; f=open('$got','rb').read(24); w,h=unpack('>II', f[16:24]); print(w*h)")
  if [ "$tol" -eq 0 ]; then
    # Exact but for rounding: no pixel off by more than one level, and at
    # most 0.01% off at all. Guests' TGSI and direct llvmpipe's NIR can
    # round a lit vertex's colour differently (glxgears at one angle in
    # several hundred: one pixel, one level); what remoting breaks is
    # whole objects.
    "$PNG_COMPARE" "$got" "$ref" --tolerance 1 || fail "$what differs from llvmpipe"
    "$PNG_COMPARE" "$got" "$ref" --max-differing $((px / 10000)) || fail "$what: too many pixels differ from llvmpipe"
  else
    # At most 0.05% beyond the tolerance, and at most 0.5% off by more than
    # the one level TGSI and NIR round apart (OpenArena's frame 1700 once had
    # 341 pixels of 64,000 off, 295 of them by one level: noise spread over
    # the floor, where a broken draw changes whole surfaces by far more).
    "$PNG_COMPARE" "$got" "$ref" --tolerance "$tol" --max-differing $((px / 2000)) ||
      fail "$what differs from llvmpipe beyond $tol levels"
    "$PNG_COMPARE" "$got" "$ref" --tolerance 1 --max-differing $((px / 200)) ||
      fail "$what: too many pixels differ from llvmpipe"
  fi
}

# Runs an EGL / OpenGL ES program through the remote driver: Mesa's libEGL
# and libGLESv2 with our swrast_dri.so (guest/winsys-remote/egl).
guest_egl() {
  env LD_LIBRARY_PATH="$XEN3D_REMOTE_EGL" LIBGL_DRIVERS_PATH="$XEN3D_REMOTE_EGL" XEN3D_TRANSPORT="local:$sock" "$@"
}
# Runs it on Debian's EGL with llvmpipe (the reference). meson test puts the
# folders of the test's libraries, ours included, on LD_LIBRARY_PATH.
direct_egl() { env -u LD_LIBRARY_PATH -u LIBGL_DRIVERS_PATH GALLIUM_DRIVER=llvmpipe "$@"; }

# Fails when a guest's log ($1) says its rendering stopped (a lost context).
no_lost_context() {
  if grep -q '^xen3d: rendering stopped' "$1"; then
    grep '^xen3d: rendering stopped' "$1" | head -3 >&2
    fail "the guest lost its context ($1)"
  fi
}

# Fails unless a guest run with XEN3D_STATS=1 (log $1) presented at least $2
# frames: a program that stops drawing still "finishes", with fewer frames.
presented_at_least() {
  local got
  got=$(sed -n 's/^xen3d: stats: \([0-9]*\) frames.*/\1/p' "$1" | tail -1)
  [ -n "$got" ] || fail "no XEN3D_STATS summary in $1"
  [ "$got" -ge "$2" ] || fail "the guest presented $got frames, the program drew $2 ($1)"
}

# Waits up to $2 seconds for a file to appear.
# wait_log FILE PATTERN SECONDS: FILE gets a line matching the extended regex
# PATTERN within SECONDS, or the test fails showing FILE's and the compositor's tail.
wait_log() {
  for _ in $(seq $(( $3 * 10 ))); do grep -Eq "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "--- $1:"; tail -8 "$1"; echo "--- compositor:"; tail -8 "$work/compositor.log"
  fail "no '$2' in $(basename "$1") after $3 s"
}

# vnc_with_password BASE: a VNC port near BASE and a password file, for
# --output "vnc:$vnc_port" --vnc-password-file "$work/vnc-pass"; then
# `vnc ACTION...` types and clicks through vnc-input ($VNC_INPUT) with it.
vnc_with_password() {
  vnc_port=$(( $1 + $$ % 1000 ))
  printf 'test-pass\n' >"$work/vnc-pass"
  chmod 600 "$work/vnc-pass"
}
vnc() { "$VNC_INPUT" "127.0.0.1:$vnc_port" "$work/vnc-pass" "$@" >>"$work/vnc.log" 2>&1 || fail "vnc-input $*: $(tail -3 "$work/vnc.log")"; }

wait_file() {
  for _ in $(seq $(( $2 * 10 ))); do [ -s "$1" ] && return 0; sleep 0.1; done
  return 1
}
