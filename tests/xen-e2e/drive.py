#!/usr/bin/env python3
"""Boots Xen 4.17 + the test dom0 under qemu-system-x86_64 (TCG), drives dom0's
serial console and runs the test steps of dom0.sh (see README.md).

usage: drive.py --base BASE_DIR --work WORK_DIR [--verbose]
Writes WORK/serial.log (everything from the console), WORK/qemu.log and
WORK/drive.json (results + timings). Exit status 0 only if every step passed.
"""
import argparse
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--base", required=True)
ap.add_argument("--work", required=True)
ap.add_argument("--mem", default="4096", help="QEMU memory (MiB)")
ap.add_argument("--smp", default="2")
# +rdrand: without a hardware RNG the domU's kernel needs ~1 min of TCG time to
# seed its CRNG, and Xvfb blocks in getrandom() until then.
ap.add_argument("--cpu", default="qemu64,+rdrand", help="-cpu max crashes dom0 (SMEP/SMAP); max,-smap,-smep works")
ap.add_argument("--dom0-mem", default="1280M")
ap.add_argument("--boot-timeout", type=int, default=480)
ap.add_argument("--create-timeout", type=int, default=300)
ap.add_argument("--frame-timeout", type=int, default=480)
ap.add_argument("--gears-timeout", type=int, default=240)
ap.add_argument("--desktop-timeout", type=int, default=300)
ap.add_argument("--destroy-timeout", type=int, default=120)
ap.add_argument("--verbose", action="store_true", help="echo the serial console")
args = ap.parse_args()

BASE, WORK = os.path.abspath(args.base), os.path.abspath(args.work)
SOCK = os.path.join(WORK, "serial.sock")
# gnttab_max_frames: the domU's five GL programs need more grants than Xen's
# default 64 frames per domain (domu.cfg max_grant_frames).
xen_cmdline = ("loglvl=all guest_loglvl=all console=com1 com1=115200,8n1 noreboot bootscrub=false gnttab_max_frames=128 "
               f"dom0_mem={args.dom0_mem},max:{args.dom0_mem} dom0_max_vcpus={args.smp} console_timestamps=boot")
dom0_cmdline = "root=/dev/vda rw console=hvc0 init=/sbin/e2e-init quiet"
qemu = ["qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-cpu", args.cpu,
        "-smp", args.smp, "-m", args.mem, "-display", "none", "-no-reboot", "-monitor", "none",
        # A unix-socket chardev: -serial stdio fed from a pipe does not reach dom0.
        "-chardev", f"socket,id=s0,path={SOCK},server=on,wait=on", "-serial", "chardev:s0",
        "-kernel", f"{BASE}/xen", "-append", xen_cmdline,
        "-initrd", f"{BASE}/vmlinuz {dom0_cmdline},{BASE}/initrd.img",
        "-drive", f"file={WORK}/dom0.img,if=virtio,format=raw,cache=unsafe",
        "-drive", f"file={WORK}/results.img,if=virtio,format=raw,cache=unsafe"]

T0 = time.time()
timings = {}     # name -> seconds
marks = {}       # E2E-MARK name -> time first seen
mark_text = {}   # E2E-MARK name -> the rest of its line
results = []     # (step, ok, detail)
log = open(os.path.join(WORK, "serial.log"), "wb")
buf = b""
linebuf = b""


def now():
    return time.time() - T0


def say(msg):
    print(f"[{now():6.1f}s] {msg}", flush=True)


def record(step, ok, detail=""):
    results.append((step, ok, detail))
    say(f"{'PASS' if ok else 'FAIL'} {step}{': ' + detail if detail else ''}")


if os.path.exists(SOCK):
    os.unlink(SOCK)
qemu_log = open(os.path.join(WORK, "qemu.log"), "wb")
p = subprocess.Popen(qemu, stdin=subprocess.DEVNULL, stdout=qemu_log, stderr=subprocess.STDOUT)
con = socket.socket(socket.AF_UNIX)
for _ in range(300):
    try:
        con.connect(SOCK)
        break
    except OSError:
        if p.poll() is not None:
            break
        time.sleep(0.1)
else:
    p.kill()
    sys.exit("drive.py: cannot connect to QEMU's serial socket")
if p.poll() is not None:
    sys.exit(f"drive.py: QEMU exited at once (rc={p.returncode}); see {WORK}/qemu.log")


class Stop(Exception):
    pass


def on_term(signum, frame):
    raise Stop(f"killed by signal {signum} (overall time limit?)")


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)


def pump(t):
    global buf, linebuf
    r, _, _ = select.select([con], [], [], t)
    if not r:
        return
    d = con.recv(65536)
    if not d:
        raise Stop(f"QEMU closed the console (rc={p.poll()})")
    log.write(d)
    log.flush()
    buf += d
    if args.verbose:
        sys.stdout.write(d.decode("utf-8", "replace"))
        sys.stdout.flush()
    linebuf += d
    *lines, linebuf = linebuf.split(b"\n")
    for ln in lines:
        m = re.search(rb"E2E-MARK (\w+)(.*)", ln)
        if m:
            name = m.group(1).decode()
            if name not in marks:
                marks[name] = time.time()
                mark_text[name] = m.group(2).decode("utf-8", "replace").strip()
                say(f"  mark {name}{m.group(2).decode('utf-8', 'replace').rstrip()}")


def expect(pattern, timeout):
    global buf
    rx = re.compile(pattern)
    end = time.time() + timeout
    while True:
        m = rx.search(buf)
        if m:
            buf = buf[m.end():]
            return m
        if p.poll() is not None:
            raise Stop(f"QEMU exited (rc={p.returncode})")
        if time.time() > end:
            raise Stop(f"timeout ({timeout}s) waiting for {pattern!r}")
        pump(0.5)


def send(text):
    data = text.encode()
    for i in range(0, len(data), 16):  # Xen's serial input path is small: feed slowly
        con.sendall(data[i:i + 16])
        time.sleep(0.05)
        pump(0)


n = [0]


def run(cmd, timeout=120):
    """Runs cmd in dom0's shell; returns (output, rc)."""
    n[0] += 1
    k = n[0]
    send(f"{cmd}; echo CMD_DONE_{k}_$((40+2))_rc=$?\r")
    m = expect(rb"([\s\S]*?)CMD_DONE_%d_42_rc=(\d+)" % k, timeout)
    out = m.group(1).decode("utf-8", "replace").replace("\r", "").replace("dom0# ", "")
    with open(os.path.join(WORK, "dom0-commands.log"), "a") as f:
        f.write(f"### [{now():.1f}s] {cmd}  (rc={m.group(2).decode()})\n{out}\n")
    return out, int(m.group(2))


def step(name, cmd, timeout):
    """Runs a dom0.sh step; passes if it prints E2E-OK <name>."""
    t = time.time()
    out, _ = run(f"/opt/xen3d/e2e/dom0.sh {cmd}", timeout + 60)
    timings[name] = time.time() - t
    okm = re.search(r"E2E-OK \S+ ?(.*)", out)
    bad = re.search(r"E2E-FAIL \S+ ?(.*)", out)
    detail = (okm or bad).group(1).strip() if (okm or bad) else "no result line"
    record(name, bool(okm) and not bad, detail)
    if not okm or bad:
        for ln in out.strip().splitlines()[-25:]:
            print("    | " + ln)
    return bool(okm) and not bad, out


shell = False
base_guests = "0"
try:
    say(f"QEMU started (pid {p.pid}); booting Xen + dom0 (TCG)")
    expect(rb"Xen version 4\.17", 120)
    timings["xen_banner"] = now()
    expect(rb"about to get started|Linux version", args.boot_timeout)
    timings["dom0_kernel"] = now()
    expect(rb"DOM0_READY", args.boot_timeout)
    time.sleep(1)
    pump(0.5)
    send("\r")
    # Quiet shell: no echo of what we type, no bracketed-paste escapes.
    run("stty -echo; bind 'set enable-bracketed-paste off'; PS1='dom0# '; export PATH=/opt/xen3d/bin:$PATH", 120)
    run("echo hello", 120)
    shell = True
    timings["boot_to_dom0_shell"] = now()
    record("boot", True, f"dom0 shell after {now():.0f}s")
    out, _ = run("uname -r; xl info | grep -E '^(xen_version|total_memory|free_memory|nr_cpus)'; ls /dev/xen | tr '\\n' ' '")
    say("  dom0: " + " | ".join(l.strip() for l in out.strip().splitlines()))

    ok, out = step("start_compositor", "start-compositor", 180)
    if not ok:
        raise Stop("the compositor did not start")
    m = re.search(r"guests=(\d+)", out)
    base_guests = m.group(1) if m else "0"

    t_create = time.time()
    ok, out = step("xl_create", "create", args.create_timeout)
    if not ok:
        raise Stop("xl create failed")

    ok_red, out = step("red_frame", f"wait-red {args.frame_timeout}", args.frame_timeout)
    for ln in out.splitlines():
        if "first frame" in ln or "pixels differ" in ln or re.match(r"\s*\d+ \d+ \d+\s*$", ln):
            say("  " + ln.strip())
    if "red_first_snapshot" in marks:
        timings["create_to_first_red_frame"] = marks["red_first_snapshot"] - t_create
    if "red_connected" in marks:
        timings["create_to_red_connected"] = marks["red_connected"] - t_create
    if "domu_init" in marks:
        timings["create_to_domu_init_seen"] = marks["domu_init"] - t_create
    if ok_red:
        timings["create_to_correct_red_frame"] = time.time() - t_create

    step("glxgears_frame", f"wait-gears {args.gears_timeout if ok_red else 30}", args.gears_timeout)

    ok_desk, out = step("pv_desktop", f"wait-desktop {args.desktop_timeout}", args.desktop_timeout)
    if "desktop_seen" in marks:
        timings["create_to_pv_desktop_listed"] = marks["desktop_seen"] - t_create
    if ok_desk:
        timings["create_to_correct_pv_desktop"] = time.time() - t_create

    if ok_desk:
        step("module_composited", f"composited {args.desktop_timeout}", args.desktop_timeout)
        step("pv_input", f"input {args.desktop_timeout}", args.desktop_timeout)
        step("fps", "fps 150", 150)
        step("fork_parent_exits", "fork 120", 120)
        for k in ("fps_composited", "fps_readback"):
            m = re.match(r"([\d.]+)", mark_text.get(k, ""))
            if m:
                timings[k] = float(m.group(1))
        for k, name in (("input_click", "click_to_domu_x_client"), ("input_key", "key_to_domu_x_client")):
            m = re.match(r"([\d.]+) s", mark_text.get(k, ""))
            if m:
                timings[name] = float(m.group(1))

    out, _ = run("/opt/xen3d/e2e/dom0.sh inspect", 120)
    print("    | " + "\n    | ".join(out.strip().splitlines()[-60:]))

    ok, out = step("destroy_frees", f"destroy {base_guests} {args.destroy_timeout}", args.destroy_timeout)
    if "destroy_start" in marks and "destroy_settled" in marks:
        timings["destroy_to_settled_seen"] = marks["destroy_settled"] - marks["destroy_start"]
    for k, name in (("destroy_returned", "xl_destroy_command"), ("freed_after", "destroy_to_freed")):
        m = re.match(r"(?:after )?([\d.]+) s", mark_text.get(k, ""))
        if m:
            timings[name] = float(m.group(1))
    for ln in out.splitlines():
        if "went away" in ln or "freed" in ln or "guests now" in ln:
            say("  " + ln.strip())
except Stop as e:
    record("harness", False, str(e))
except Exception as e:  # keep the logs whatever happens
    record("harness", False, f"{type(e).__name__}: {e}")
finally:
    if shell and p.poll() is None:
        try:
            out, _ = run("/opt/xen3d/e2e/dom0.sh collect", 180)
            if "E2E-OK collect" not in out:
                say("  collecting logs failed: " + out.strip()[-300:])
        except Exception as e:
            say(f"  collecting logs failed: {e}")
    if p.poll() is None:
        p.kill()
    p.wait()
    log.close()
    timings["total_qemu"] = now()
    passed = bool(results) and all(ok for _, ok, _ in results)
    with open(os.path.join(WORK, "drive.json"), "w") as f:
        json.dump({"passed": passed, "results": results, "timings": timings}, f, indent=1)
    sys.exit(0 if passed else 1)
