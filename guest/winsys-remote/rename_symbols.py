#!/usr/bin/env python3
"""Copy a (possibly thin) static library with some symbols renamed.

usage: rename_symbols.py IN.a OUT.a OLD=NEW [OLD=NEW ...]

objcopy cannot rewrite meson's thin archives, so each member object is
renamed on its own and packed into a normal archive.
"""
import os
import subprocess
import sys
import tempfile


def main():
    src, dst, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
    members = subprocess.run(['ar', 't', src], check=True, capture_output=True, text=True).stdout.split()
    thin = open(src, 'rb').read(8) == b'!<thin>\n'
    base = os.path.dirname(os.path.abspath(src))
    args = []
    for p in pairs:
        args += ['--redefine-sym', p]
    with tempfile.TemporaryDirectory() as tmp:
        objs = []
        for i, m in enumerate(members):
            out = os.path.join(tmp, f'{i}_{os.path.basename(m)}')
            if thin:
                # binutils prints thin members as it stored them: relative to
                # the archive's folder, or as given when the archive was made.
                obj = m if os.path.exists(m) else os.path.join(base, m)
            else:
                subprocess.run(['ar', 'x', os.path.abspath(src), m], check=True, cwd=tmp)
                obj = os.path.join(tmp, m)
            subprocess.run(['objcopy', *args, obj, out], check=True)
            objs.append(out)
        if os.path.exists(dst):
            os.unlink(dst)
        subprocess.run(['ar', 'rcs', dst, *objs], check=True)


if __name__ == '__main__':
    main()
