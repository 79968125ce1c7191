# The GL stacks that benchmarks and conformance runs compare (sourced):
#
#   direct   Debian's libGL, llvmpipe in-process (the baseline)
#   direct-nocache  the same with Mesa's shader cache off: every shader
#            compiled, as render workers compile every TGSI shader (llvmpipe
#            22.3 caches only NIR)
#   remote   our libGL through xen3d-compositor, local transport
#   readback remote, with every window frame read back through the reply
#            ring (XEN3D_PRESENT=readback: the path tcp and Xen guests without
#            the Xorg module take) instead of shown from the host's memory
#   tcp      our libGL through xen3d-compositor, tcp on loopback
#   inproc   our libGL through a second xen3d-compositor that serves guests
#            in its own process (--render-workers off: the executor without
#            render workers, every guest on one screen under one lock)
#   virpipe  Debian's libGL, Mesa's virpipe driver against virgl_test_server
#            --use-egl-surfaceless (virglrenderer; its glx mode fails under Xvfb)
#   direct-zink  Debian's libGL, zink in-process on the machine's Vulkan
#            driver (lavapipe without a GPU): the baseline for a compositor
#            on zink (XEN3D_DRIVER=zink, docs/gpu-hosts.md)
#
# The caller sets `stacks_work` (a private folder) and `stacks_build` (our
# build directory), and kills "${stacks_pids[@]}" on exit (stacks_cleanup).
stacks_pids=()

stacks_cleanup() {
  for p in "${stacks_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${stacks_pids[@]}"; do wait "$p" 2>/dev/null || true; done
}

# A private Xvfb on the first free display at or above $1; exports DISPLAY.
# -noreset: without it short GL programs fail at random when the server resets.
stacks_start_xvfb() {
  local n
  for n in $(seq "$1" $(( $1 + 49 ))); do
    [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] && continue
    Xvfb ":$n" -screen 0 1280x1024x24 -noreset -nolisten tcp >"$stacks_work/xvfb.log" 2>&1 &
    stacks_pids+=($!)
    for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X$n" ] && break; sleep 0.1; done
    [ -e "/tmp/.X11-unix/X$n" ] && { export DISPLAY=":$n"; return 0; }
  done
  echo "could not start Xvfb" >&2
  return 1
}

# xen3d-compositor on a private local socket and an ephemeral loopback tcp
# port; logs to $1. Sets stacks_tcp_spec.
stacks_start_compositor() {
  # XEN3D_COMPOSITOR picks another build of it (meson test --setup sanitized).
  local log=$1 comp=${XEN3D_COMPOSITOR:-$stacks_build/host/compositor/xen3d-compositor}
  [ -x "$comp" ] || { echo "$comp is not built (run scripts/setup.sh)" >&2; return 1; }
  # XEN3D_COMPOSITOR_ARGS: more options, e.g. --render-workers on.
  # shellcheck disable=SC2086
  "$comp" --listen "local:$stacks_work/c.sock" --listen tcp:127.0.0.1:0 ${XEN3D_COMPOSITOR_ARGS:-} >"$log" 2>&1 &
  stacks_pids+=($!)
  for _ in $(seq 100); do
    [ -S "$stacks_work/c.sock" ] && grep -q 'tcp:127.0.0.1:[0-9]' "$log" && break
    sleep 0.1
  done
  [ -S "$stacks_work/c.sock" ] || { cat "$log"; echo "the compositor did not start" >&2; return 1; }
  stacks_tcp_spec=$(grep -o 'tcp:127.0.0.1:[0-9]*' "$log" | head -1)
}

# A second compositor with more options ($3...) on its own socket,
# $stacks_work/$1.sock, for the stacks that compare host settings; logs to $2.
stacks_start_compositor_on() {
  local name=$1 log=$2 comp=${XEN3D_COMPOSITOR:-$stacks_build/host/compositor/xen3d-compositor}
  shift 2
  "$comp" --listen "local:$stacks_work/$name.sock" --control none "$@" >"$log" 2>&1 &
  stacks_pids+=($!)
  for _ in $(seq 100); do grep -q ' info: ready' "$log" && return 0; sleep 0.1; done
  cat "$log"
  echo "the $name compositor ($*) did not start" >&2
  return 1
}
# The inproc stack's (every guest inside the compositor).
stacks_start_compositor_inproc() { stacks_start_compositor_on inproc "$1" --render-workers off; }

# virgl_test_server for the virpipe stack; logs to $1.
stacks_start_virgl() {
  command -v virgl_test_server >/dev/null || { echo "virgl_test_server is missing (apt-get install virgl-server)" >&2; return 1; }
  # Mesa 22.3.6's vtest winsys only knows this socket, so one server at a time.
  if pgrep -x virgl_test_serv >/dev/null; then echo "a virgl_test_server is already running; stop it first" >&2; return 1; fi
  rm -f /tmp/.virgl_test
  virgl_test_server --use-egl-surfaceless --multi-clients >"$1" 2>&1 &
  stacks_pids+=($!)
  for _ in $(seq 100); do [ -S /tmp/.virgl_test ] && return 0; sleep 0.1; done
  cat "$1"
  echo "virgl_test_server did not start" >&2
  return 1
}

# The environment (NAME=VALUE words) that selects a stack for a GL program.
stacks_env() {
  case $1 in
    direct) echo "LIBGL_ALWAYS_SOFTWARE=1 GALLIUM_DRIVER=llvmpipe" ;;
    direct-nocache) echo "$(stacks_env direct) MESA_SHADER_CACHE_DISABLE=true" ;;
    # zink takes a CPU Vulkan device (lavapipe) only when told to; a GPU's
    # first when there is one (XEN3D_ZINK_CPU=0).
    direct-zink) echo "GALLIUM_DRIVER=zink NODEVICE_SELECT=1$([ "${XEN3D_ZINK_CPU:-1}" = 1 ] && echo " LIBGL_ALWAYS_SOFTWARE=1")" ;;
    virpipe) echo "LIBGL_ALWAYS_SOFTWARE=1 GALLIUM_DRIVER=virpipe" ;;
    remote) echo "LD_LIBRARY_PATH=$stacks_build/guest/winsys-remote XEN3D_TRANSPORT=local:$stacks_work/c.sock" ;;
    readback) echo "$(stacks_env remote) XEN3D_PRESENT=readback" ;;
    tcp) echo "LD_LIBRARY_PATH=$stacks_build/guest/winsys-remote XEN3D_TRANSPORT=$stacks_tcp_spec" ;;
    inproc) echo "LD_LIBRARY_PATH=$stacks_build/guest/winsys-remote XEN3D_TRANSPORT=local:$stacks_work/inproc.sock" ;;
    # EGL / OpenGL ES programs: Mesa's libEGL with our swrast_dri.so.
    remote-egl) local d=$stacks_build/guest/winsys-remote/egl
      echo "LD_LIBRARY_PATH=$d LIBGL_DRIVERS_PATH=$d XEN3D_TRANSPORT=local:$stacks_work/c.sock" ;;
    *) echo "unknown stack '$1' (direct, direct-nocache, direct-zink, remote, readback, inproc, remote-egl, tcp, virpipe)" >&2; return 1 ;;
  esac
}
