#!/usr/bin/env bash
# The main job: build, start the compositor on the host driver, and connect a
# guest to it over the default local transport.
#
# Today (issue 2) the compositor renders its self-test frame through the
# pipe-loader (llvmpipe) and a guest tool checks the link; the GL demo through
# the remote pipe driver follows with the driver itself (issue 3).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/setup.sh
out=${XEN3D_OUT:-$top/demo-out}
mkdir -p "$out"
comp=build/host/compositor/xen3d-compositor
info=build/guest/winsys-remote/xen3d-info

printf '\033[1m==> compositor self-test on the host driver\033[0m\n'
"$comp" --self-test --snapshot "$out"

sock=$(mktemp -u /tmp/xen3d-demo-XXXXXX.sock)
printf '\033[1m==> starting xen3d-compositor on local:%s\033[0m\n' "$sock"
"$comp" --listen "local:$sock" --listen tcp:127.0.0.1:0 2>"$out/compositor.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { cat "$out/compositor.log"; echo "compositor did not start" >&2; exit 1; }

printf '\033[1m==> a guest connects over the local transport\033[0m\n'
XEN3D_TRANSPORT="local:$sock" "$info"
tcp=$(grep -o 'tcp:127.0.0.1:[0-9]*' "$out/compositor.log" | head -1)
printf '\033[1m==> and over tcp (%s)\033[0m\n' "$tcp"
"$info" --transport "$tcp" --pings 20
printf '\033[1m==> done: frame in %s/self-test.png, compositor log in %s/compositor.log\033[0m\n' "$out" "$out"
