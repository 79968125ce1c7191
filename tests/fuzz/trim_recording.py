#!/usr/bin/env python3
"""Cuts a recording (xen3d-compositor --record) down to a fuzz seed.

usage: trim_recording.py IN.x3drec OUT.x3drec [--presents N] [--max-bytes B] [--raw OUT.raw]

Keeps everything up to and including the Nth present (default 2), stops
earlier when the file would pass B bytes (default 512 KiB), and ends with the
guest's goodbye. --raw also writes the kept records back to back, the way
they lay in the command ring (a seed for xen3d-fuzz-raw).
"""
import argparse
import struct
import sys

MAGIC = b'XEN3DREC'
CLIENT, RECORD, BULK = 1, 2, 3
PRESENT_OPCODES = set()
GOODBYE = None


def opcodes(toml_path):
    import tomllib
    with open(toml_path, 'rb') as fh:
        spec = tomllib.load(fh)
    return {c['name']: c['opcode'] for c in spec['command']}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('input')
    ap.add_argument('output')
    ap.add_argument('--presents', type=int, default=2)
    ap.add_argument('--max-bytes', type=int, default=512 * 1024)
    ap.add_argument('--raw')
    ap.add_argument('--spec', default=__file__.rsplit('/', 3)[0] + '/proto/commands.toml')
    a = ap.parse_args()
    ops = opcodes(a.spec)
    presents = {ops['present'], ops['present_readback'], ops['present_shared']}
    data = open(a.input, 'rb').read()
    if data[:8] != MAGIC:
        sys.exit(f'{a.input}: not a Xen3D recording')
    entries, at = [], 16
    while at + 8 <= len(data):
        kind, n = struct.unpack_from('<II', data, at)
        entries.append((kind, data[at + 8:at + 8 + n]))
        at += 8 + n
    # Steps: a record and the bulk spans its execution read.
    steps = []
    for kind, body in entries:
        if kind == RECORD:
            steps.append([(kind, body)])
        elif kind == BULK and steps:
            steps[-1].append((kind, body))
    out, size, seen = [], 16, 0
    for step in steps:
        step_bytes = sum(8 + len(body) for _, body in step)
        if size + step_bytes > a.max_bytes:
            break
        out += step
        size += step_bytes
        if struct.unpack_from('<H', step[0][1])[0] in presents:
            seen += 1
            if seen >= a.presents:
                break
    goodbye = struct.pack('<HHI', ops['goodbye'], 0, 8)
    out.append((RECORD, goodbye))
    with open(a.output, 'wb') as fh:
        fh.write(data[:16])
        for kind, body in out:
            fh.write(struct.pack('<II', kind, len(body)) + body)
    if a.raw:
        with open(a.raw, 'wb') as fh:
            for kind, body in out:
                if kind == RECORD:
                    fh.write(body)
    records = sum(1 for k, _ in out if k == RECORD)
    print(f'{a.output}: {records} records, {seen} presents, {size} bytes')


if __name__ == '__main__':
    main()
