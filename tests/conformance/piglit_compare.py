#!/usr/bin/env python3
"""Reads piglit results and compares GL stacks, or checks a run against a baseline.

  piglit_compare.py table DIR:NAME [DIR:NAME ...] [--out FILE.md] [--only LIST]
      Markdown table of pass/fail/crash/skip/timeout per stack (piglit counts:
      each subtest is one result), plus the tests where the second and later
      stacks differ from the first (the baseline stack). --only keeps the tests
      named in LIST (one per line), e.g. the CI subset.

  piglit_compare.py write-baseline DIR BASELINE
      Writes the results in DIR as the baseline file (one "status name" line each).

  piglit_compare.py check DIR BASELINE [--flaky FILE]
      Exits 1 when a result in DIR is worse than the baseline's (pass -> anything
      but pass/warn, skip included), or crashed (a new crash), or is missing from the
      baseline and not a pass. Tests listed in --flaky are reported, never fatal.

  piglit_compare.py list DIR --every N
      Prints every N-th test name of a run, sorted (the CI subset is every 8th
      test of quick_gl).
"""
import argparse
import bz2
import json
import os
import sys

STATUSES = ["pass", "fail", "crash", "skip", "timeout", "warn", "incomplete", "notrun"]
GOOD = {"pass", "warn", "skip"}  # a baseline pass that becomes one of these is no regression


def load(path):
    """Returns {result name: status}, with subtests as "test/subtest" and the
    test's own status under its name (the worst of its subtests, as piglit does)."""
    for name in ("results.json.bz2", "results.json"):
        f = os.path.join(path, name)
        if os.path.exists(f):
            opener = bz2.open if f.endswith(".bz2") else open
            with opener(f, "rt") as fh:
                data = json.load(fh)
            break
    else:
        sys.exit(f"piglit_compare: no results.json(.bz2) in {path}")
    tests, subtests = {}, {}
    for name, t in data["tests"].items():
        tests[name] = t["result"]
        for sub, status in (t.get("subtests") or {}).items():
            if sub != "__type__":
                subtests[f"{name}/{sub}"] = status
    return tests, subtests, data.get("time_elapsed", {})


def counts(results):
    c = {s: 0 for s in STATUSES}
    for status in results.values():
        c[status if status in c else "fail"] += 1
    return c


def piglit_view(tests, subtests):
    """piglit's own counting: a test with subtests counts each subtest instead."""
    parents = {k.rsplit("/", 1)[0] for k in subtests}
    view = {k: v for k, v in tests.items() if k not in parents}
    view.update(subtests)
    return view


def table(args):
    only = None
    if args.only:
        with open(args.only) as f:
            only = {line.strip() for line in f if line.strip()}
    stacks = []
    for spec in args.runs:
        path, _, name = spec.partition(":")
        tests, subtests, elapsed = load(path)
        if only is not None:
            tests = {k: v for k, v in tests.items() if k in only}
            subtests = {k: v for k, v in subtests.items() if k.rsplit("/", 1)[0] in only}
        secs = elapsed.get("end", 0) - elapsed.get("start", 0)
        stacks.append((name or os.path.basename(path), tests, piglit_view(tests, subtests), secs))
    lines = ["| result | " + " | ".join(s[0] for s in stacks) + " |",
             "|---|" + "---:|" * len(stacks)]
    for status in ["pass", "fail", "crash", "skip", "timeout", "warn", "incomplete"]:
        row = [counts(s[2])[status] for s in stacks]
        if status in ("pass", "fail", "crash", "skip") or any(row):
            lines.append(f"| {status} | " + " | ".join(str(v) for v in row) + " |")
    lines.append("| total | " + " | ".join(str(len(s[2])) for s in stacks) + " |")
    lines.append("| tests (processes) | " + " | ".join(str(len(s[1])) for s in stacks) + " |")
    lines.append("| wall time | " + " | ".join(f"{s[3] / 60:.1f} min" for s in stacks) + " |")
    base = stacks[0]
    for other in stacks[1:]:
        regress = sorted(k for k, v in base[2].items()
                         if v == "pass" and other[2].get(k, "notrun") not in GOOD)
        lost = sorted(k for k, v in base[2].items() if v == "pass" and other[2].get(k) == "skip")
        fixed = sorted(k for k, v in base[2].items() if v not in GOOD and other[2].get(k) == "pass")
        lines += ["", f"**{other[0]} vs {base[0]}**: {len(regress)} results pass on {base[0]} and fail, "
                      f"crash or time out on {other[0]}; {len(lost)} pass there and skip here; "
                      f"{len(fixed)} fail there and pass here."]
        if regress:
            lines += ["", "<details><summary>regressions</summary>", ""]
            lines += [f"- `{k}`: {base[2][k]} -> {other[2].get(k, 'notrun')}" for k in regress]
            lines += ["", "</details>"]
        if lost:
            lines += ["", "<details><summary>pass -> skip</summary>", ""]
            lines += [f"- `{k}`" for k in lost]
            lines += ["", "</details>"]
    text = "\n".join(lines) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    print(text, end="")


def read_baseline(path):
    base = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line and not line.startswith("#"):
                status, _, name = line.partition(" ")
                base[name] = status
    return base


def write_baseline(args):
    tests, _, _ = load(args.dir)
    with open(args.baseline, "w") as f:
        f.write("# Expected piglit results of the remote driver (status, test), one per line.\n")
        f.write("# Regenerate: tests/conformance/piglit_compare.py write-baseline RESULTS_DIR THIS_FILE\n")
        for name in sorted(tests):
            f.write(f"{tests[name]} {name}\n")
    print(f"piglit_compare: {len(tests)} results written to {args.baseline}")


def check(args):
    tests, _, _ = load(args.dir)
    base = read_baseline(args.baseline)
    flaky = set(read_baseline(args.flaky)) if args.flaky else set()
    bad, noted, fixed = [], [], []
    for name, status in sorted(tests.items()):
        expected = base.get(name)
        # A pass that turns into a skip counts too: a dead compositor makes tests skip.
        worse = (status == "crash" and expected != "crash") or \
                (expected == "pass" and status not in ("pass", "warn")) or \
                (expected is None and status not in ("pass", "skip"))
        if worse:
            (noted if name in flaky else bad).append(f"{name}: expected {expected or '(not in baseline)'}, got {status}")
        elif expected not in (None, "pass") and status == "pass":
            fixed.append(name)
    c = counts(tests)
    print(f"piglit_compare: {len(tests)} tests: " + ", ".join(f"{v} {k}" for k, v in c.items() if v))
    for line in noted:
        print(f"  flaky (not fatal): {line}")
    if fixed:
        print(f"  {len(fixed)} now pass where the baseline expects failure (update the baseline):")
        for name in fixed:
            print(f"    {name}")
    if bad:
        print(f"piglit_compare: {len(bad)} regressions against {args.baseline}:")
        for line in bad:
            print(f"  {line}")
        return 1
    print("piglit_compare: no regressions")
    return 0


def subset(args):
    tests, _, _ = load(args.dir)
    for name in sorted(tests)[::args.every]:
        print(name)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("table")
    t.add_argument("runs", nargs="+", metavar="DIR:NAME")
    t.add_argument("--out")
    t.add_argument("--only")
    w = sub.add_parser("write-baseline")
    w.add_argument("dir")
    w.add_argument("baseline")
    c = sub.add_parser("check")
    c.add_argument("dir")
    c.add_argument("baseline")
    c.add_argument("--flaky")
    s = sub.add_parser("list")
    s.add_argument("dir")
    s.add_argument("--every", type=int, default=8)
    args = p.parse_args()
    return {"table": table, "write-baseline": write_baseline, "check": check, "list": subset}[args.cmd](args) or 0


if __name__ == "__main__":
    sys.exit(main())
