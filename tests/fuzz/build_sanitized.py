#!/usr/bin/env python3
"""Builds the host side with clang, AddressSanitizer and UndefinedBehaviorSanitizer.

usage: build_sanitized.py BUILD_DIR OUT_DIR DEPFILE HARNESS.cpp...

Meson drives one C++ compiler (gcc, which also builds Mesa), but libFuzzer
needs clang's coverage instrumentation. So the sources of the host's own
libraries (proto/, common/, every room of host/, the Xen backends they include) are
compiled again here with clang, with exactly the flags meson gave gcc
(compile_commands.json), plus -fsanitize=address,undefined and libFuzzer's
coverage, and linked with the link line of xen3d-compositor (ninja -t
commands) against the same gcc-built Mesa archives. Outputs in OUT_DIR:

  xen3d-compositor-asan   the compositor, sanitized (tests run under it)
  xen3d-render-worker     its render worker, sanitized (beside it, where it looks)
  xen3d-fuzz-raw          libFuzzer: raw bytes as a command ring
  xen3d-fuzz-stream       libFuzzer: structure-aware, recorded streams, one reused connection
  xen3d-fuzz-teardown     libFuzzer: the same inputs, each on a new connection destroyed after it

Mesa itself is not instrumented here: ASan still catches our code's bad
accesses into Mesa's memory, and a crash inside Mesa is still a crash. With
XEN3D_MESA_BUILD set (tests/fuzz/build_instrumented_mesa.sh) Mesa's archives
come from that folder instead: Mesa built with clang, ASan, UBSan, asserts
and coverage.
"""
import concurrent.futures
import json
import os
import shlex
import shutil
import subprocess
import sys

MESA_SUBPROJECT = 'subprojects/mesa-22.3.6/'
# The compositor's own objects (main.cpp), and those of the libraries it links
# that are ours: proto/, common/ and the host's rooms (host/*/, meson.build).
COMPOSITOR = 'host/compositor/xen3d-compositor'
MAIN_UNITS = COMPOSITOR + '.p/'
WORKER = 'host/worker/xen3d-render-worker'
WORKER_UNITS = WORKER + '.p/'
LIB_DIRS = ('proto/', 'common/', 'host/')

SANITIZE = ['-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-fno-omit-frame-pointer']
COVERAGE = ['-fsanitize=fuzzer-no-link']
# host/shader builds NIR, whose instructions Mesa 22.3's gc allocator places
# on 4-byte boundaries when Mesa is built without asserts (gc_block_header in
# src/util/ralloc.c loses its canary under NDEBUG): every access to them
# would be reported as misaligned. The rest of UBSan stays on there.
NIR_UNITS = ('host/shader/',)
NIR_SANITIZE = ['-fno-sanitize=alignment']
DROP_WITH_VALUE = {'-o', '-MQ', '-MF', '-MT'}
DROP = {'-MD', '-MMD', '-fdiagnostics-color=always', '-O2', '-O3'}


def lib_unit(output):
    """An object of one of our static libraries (DIR/libNAME.a.p/OBJ)."""
    return output.startswith(LIB_DIRS) and '/lib' in output and '.a.p/' in output


def unit(output):
    return output.startswith((MAIN_UNITS, WORKER_UNITS)) or lib_unit(output)


def our_archive(arg):
    return arg.startswith(LIB_DIRS) and arg.endswith('.a') and os.path.basename(arg).startswith('libxen3d_')


def say(msg):
    print(f'build_sanitized: {msg}', flush=True)


def compiler_for(arg):
    return 'clang' if os.path.basename(arg) in ('cc', 'gcc') else 'clang++'


def clean_args(args):
    """meson's compiler flags without its outputs; (flags, source)."""
    out, src, skip = [], None, False
    for i, a in enumerate(args):
        if skip:
            skip = False
            continue
        if a == '-c':
            src = args[i + 1]
            skip = True
            continue
        if a in DROP_WITH_VALUE:
            skip = True
            continue
        if a in DROP:
            continue
        out.append(a)
    return out, src


def parse_depfile(path):
    try:
        text = open(path).read().replace('\\\n', ' ')
    except OSError:
        return None
    _, _, deps = text.partition(':')
    return [d for d in deps.split() if d]


def stale(obj, dep, cwd):
    if not os.path.exists(obj):
        return True
    deps = parse_depfile(dep)
    if deps is None:
        return True
    t = os.path.getmtime(obj)
    for d in deps:
        p = os.path.join(cwd, d)
        if not os.path.exists(p) or os.path.getmtime(p) > t:
            return True
    return False


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    build, out_dir, depfile = (os.path.abspath(a) for a in sys.argv[1:4])
    # build_instrumented_mesa.sh: link Mesa's archives from its ASan build instead.
    mesa_build = os.environ.get('XEN3D_MESA_BUILD')
    harness = [os.path.abspath(a) for a in sys.argv[4:]]
    for tool in ('clang', 'clang++'):
        if not shutil.which(tool):
            sys.exit(f'build_sanitized: {tool} not found (Debian: apt-get install clang libclang-rt-dev)')
    obj_dir = os.path.join(out_dir, 'obj')
    os.makedirs(obj_dir, exist_ok=True)
    ccache = ['ccache'] if shutil.which('ccache') else []

    with open(os.path.join(build, 'compile_commands.json')) as fh:
        db = json.load(fh)
    jobs = []  # (name, argv, obj, dep)
    template = None
    for e in db:
        if not unit(e['output']):
            continue
        args = shlex.split(e['command'])
        if args[0] == 'ccache':
            args = args[1:]
        compiler = compiler_for(args[0])
        flags, src = clean_args(args[1:])
        name = e['output'].replace('/', '_')
        obj = os.path.join(obj_dir, name)
        dep = obj + '.d'
        sanitize = SANITIZE + (NIR_SANITIZE if e['output'].startswith(NIR_UNITS) else [])
        argv = ccache + [compiler] + flags + ['-O1', '-w'] + sanitize + COVERAGE + ['-MD', '-MF', dep, '-c', src, '-o', obj]
        jobs.append((e['output'], argv, obj, dep))
        if e['file'].endswith('guest_connection.cpp'):
            template = (compiler, flags)
    if template is None:
        sys.exit('build_sanitized: guest_connection.cpp is not in compile_commands.json (configure the build first)')
    harness_objs = {}
    for src in harness:
        base = os.path.splitext(os.path.basename(src))[0]
        obj = os.path.join(obj_dir, 'harness_' + base + '.o')
        dep = obj + '.d'
        argv = ccache + ['clang++'] + template[1] + ['-O1', '-w'] + SANITIZE + COVERAGE + ['-MD', '-MF', dep, '-c', src, '-o', obj]
        jobs.append((os.path.relpath(src, os.path.dirname(build)), argv, obj, dep))
        harness_objs[base] = obj

    todo = [j for j in jobs if stale(j[2], j[3], build)]
    if todo:
        say(f'compiling {len(todo)} of {len(jobs)} files with clang (ASan+UBSan+coverage)')

    def run(job):
        name, argv, obj, dep = job
        p = subprocess.run(argv, cwd=build, capture_output=True, text=True)
        return name, p.returncode, p.stdout + p.stderr

    failed = False
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for name, rc, text in pool.map(run, todo):
            if rc != 0:
                failed = True
                sys.stderr.write(f'build_sanitized: {name} failed:\n{text}\n')
    if failed:
        sys.exit(1)

    def link_parts(target):
        """What meson links `target` with, less its own objects: (our archives, the rest)."""
        link = subprocess.run(['ninja', '-C', build, '-t', 'commands', target],
                              capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        link_args = shlex.split(link)
        if link_args[0] == 'ccache':
            link_args = link_args[1:]
        archives, rest, skip = [], [], False
        for a in link_args[1:]:
            if skip:
                skip = False
                continue
            if a == '-o':
                skip = True
                continue
            if a.startswith((MAIN_UNITS, WORKER_UNITS)):
                continue
            if our_archive(a):
                archives.append(a)  # its objects, sanitized, are linked below
                continue
            if mesa_build and a.startswith(MESA_SUBPROJECT) and a.endswith('.a'):
                a = os.path.join(mesa_build, a[len(MESA_SUBPROJECT):])  # the instrumented archive
            rest.append(a)
        if mesa_build:
            rest = [a for a in rest if a not in ('-Wl,--no-undefined', '-Wl,-z,defs')]
        return archives, rest

    def archive_objs(archives):
        return [j[2] for j in jobs if lib_unit(j[0]) and any(j[0].startswith(a + '.p/') for a in archives)]

    main_objs = [j[2] for j in jobs if j[0].startswith(MAIN_UNITS)]
    worker_objs = [j[2] for j in jobs if j[0].startswith(WORKER_UNITS)]
    fuzz_common = [harness_objs['fuzz_host'], harness_objs['stream_mutator'], harness_objs['stream_input']]
    fuzzer = SANITIZE + ['-fsanitize=fuzzer']
    compositor_link = link_parts(COMPOSITOR)
    worker_link = link_parts(WORKER)
    # target: (its own objects, sanitizer flags, meson's link of the same program)
    targets = {
        'xen3d-compositor-asan': (main_objs, SANITIZE, compositor_link),
        'xen3d-render-worker': (worker_objs, SANITIZE, worker_link),
        'xen3d-fuzz-raw': ([harness_objs['fuzz_raw']] + fuzz_common, fuzzer, compositor_link),
        'xen3d-fuzz-stream': ([harness_objs['fuzz_stream']] + fuzz_common, fuzzer, compositor_link),
        'xen3d-fuzz-teardown': ([harness_objs['fuzz_teardown']] + fuzz_common, fuzzer, compositor_link),
    }
    for target, (objs, flags, (archives, rest)) in targets.items():
        exe = os.path.join(out_dir, target)
        lib_objs = archive_objs(archives)
        inputs = objs + lib_objs
        if os.path.exists(exe) and all(os.path.getmtime(o) <= os.path.getmtime(exe) for o in inputs) and not todo:
            continue
        argv = ['clang++'] + flags + ['-o', exe] + objs + lib_objs + rest
        p = subprocess.run(argv, cwd=build, capture_output=True, text=True)
        if p.returncode != 0:
            sys.stderr.write(f'build_sanitized: linking {target} failed:\n{p.stdout}{p.stderr}\n')
            sys.exit(1)
        say(f'linked {os.path.relpath(exe, build)}')

    # Everything the outputs depend on, for meson's depfile.
    deps = set()
    for _, _, obj, dep in jobs:
        for d in parse_depfile(dep) or []:
            deps.add(os.path.normpath(os.path.join(build, d)))
    with open(depfile, 'w') as fh:
        fh.write(os.path.relpath(os.path.join(out_dir, 'xen3d-compositor-asan'), build) + ': ' +
                 ' '.join(d.replace(' ', '\\ ') for d in sorted(deps)) + '\n')


if __name__ == '__main__':
    main()
