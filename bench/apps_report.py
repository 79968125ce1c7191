#!/usr/bin/python3
"""Turns bench/apps_bench.sh's raw.csv into a markdown table and a bar chart.

  apps_report.py RAW.csv [--md OUT.md] [--png OUT.png]

Per app and stack: the median over rounds, the spread (min-max), and the
ratio of medians to the baseline stack (--baseline: direct, llvmpipe
in-process, unless named; bench/gpu_host.sh names direct-zink); for our stack
also the ratio within each round (the stacks of a round run back to back, so
a machine that drifts between rounds moves both sides of it). The tcp stack is
reported in a table of its own. Failed runs (value 0) are left out of the
medians and counted.
"""
import argparse
import csv
import statistics
import sys
from collections import defaultdict

ORDER = ["direct", "direct-zink", "remote", "inproc", "virpipe", "tcp"]
BASE = "direct"  # the baseline stack (--baseline)
UNITS = {"glmark2": "score", "glretrace": "fps", "openarena": "fps", "glxgears": "fps"}


def load(path):
    values, trips, failed = defaultdict(list), defaultdict(list), defaultdict(int)
    by_round = defaultdict(dict)
    apps, stacks = [], []
    with open(path) as f:
        for row in csv.DictReader(f):
            app, stack = row["app"], row["stack"]
            if app not in apps:
                apps.append(app)
            if stack not in stacks:
                stacks.append(stack)
            v = float(row["value"] or 0)
            if v > 0:
                values[app, stack].append(v)
                by_round[app, stack][row["round"]] = v
            else:
                failed[app, stack] += 1
            if row["round_trips_per_frame"] not in ("", "-"):
                trips[app, stack].append(float(row["round_trips_per_frame"]))
    stacks.sort(key=lambda s: ORDER.index(s) if s in ORDER else len(ORDER))
    return apps, stacks, values, trips, failed, by_round


def cell(values, failed):
    if not values:
        return "failed"
    med = statistics.median(values)
    text = f"{med:.1f} ({min(values):.0f}-{max(values):.0f})" if len(values) > 1 else f"{med:.1f}"
    return text + (f", {failed} failed" if failed else "")


def ratio(values, base):
    if not values or not base:
        return None
    return statistics.median(values) / statistics.median(base)


def per_round(by_round, app, ours):
    mine, base = by_round.get((app, ours), {}), by_round.get((app, BASE), {})
    ratios = [mine[r] / base[r] for r in sorted(mine, key=int) if r in base]
    return " ".join(f"{r:.2f}" for r in ratios) or "-"


def table(apps, stacks, values, trips, failed, by_round, ours="remote"):
    lines = ["| app | " + " | ".join(f"{s} median (min-max)" for s in stacks) +
             " | " + " | ".join(f"{s}/{BASE}" for s in stacks if s != BASE) +
             f" | {ours}/{BASE} per round | {ours} round trips/frame |",
             "|---|" + "---:|" * (len(stacks) + len([s for s in stacks if s != BASE]) + 2)]
    for app in apps:
        row = [cell(values[app, s], failed[app, s]) for s in stacks]
        for s in stacks:
            if s == BASE:
                continue
            r = ratio(values[app, s], values[app, BASE])
            row.append(f"**{r:.2f}**" if r is not None else "-")
        row.append(per_round(by_round, app, ours))
        t = trips.get((app, ours)) or []
        row.append(f"{statistics.median(t):.2f}" if t else "-")
        unit = f" ({UNITS[app]})" if app in UNITS else ""
        lines.append(f"| {app}{unit} | " + " | ".join(row) + " |")
    return lines


def chart(apps, stacks, values, path):
    try:
        import matplotlib
    except ImportError:
        # The tables are the result; the chart is a picture of them.
        print("apps_report: no chart without matplotlib (apt-get install python3-matplotlib)", file=sys.stderr)
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    shown = [s for s in stacks if s != BASE]
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(apps), 4))
    width = 0.8 / max(1, len(shown))
    colors = {"remote": "#2a7ab0", "inproc": "#8fb8d8", "virpipe": "#c0504d", "tcp": "#7aa843"}
    for i, s in enumerate(shown):
        ys = [ratio(values[a, s], values[a, BASE]) or 0 for a in apps]
        xs = [j + (i - (len(shown) - 1) / 2) * width for j in range(len(apps))]
        bars = ax.bar(xs, ys, width, label=f"{s} / {BASE}", color=colors.get(s))
        for b, y in zip(bars, ys):
            ax.annotate(f"{y:.2f}", (b.get_x() + b.get_width() / 2, y), ha="center", va="bottom", fontsize=8)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(0.95, color="gray", linewidth=0.8, linestyle="--", label="goal 0.95")
    ax.set_xticks(range(len(apps)))
    ax.set_xticklabels(apps)
    ax.set_ylabel(f"median ratio to {BASE}")
    ax.set_title(f"Xen3D and its peers, relative to {BASE}")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("csv")
    p.add_argument("--md")
    p.add_argument("--png")
    p.add_argument("--what", default="GL applications")
    p.add_argument("--baseline", default="direct", help="the stack the others are divided by")
    a = p.parse_args()
    global BASE
    BASE = a.baseline
    apps, stacks, values, trips, failed, by_round = load(a.csv)
    if BASE not in stacks:
        sys.exit(f"apps_report: the baseline stack {BASE} must be in the run")
    rounds = max((len(v) + failed[k] for k, v in values.items()), default=0)
    main_stacks = [s for s in stacks if s != "tcp"]
    lines = [f"{a.what}: medians over {rounds} interleaved rounds; ratios are of medians to {BASE}.", ""]
    lines += table(apps, main_stacks, values, trips, failed, by_round)
    if "tcp" in stacks:
        lines += ["", "tcp transport on loopback (same run):", ""]
        lines += table(apps, [BASE, "tcp"], values, trips, failed, by_round, ours="tcp")
    text = "\n".join(lines) + "\n"
    if a.md:
        with open(a.md, "w") as f:
            f.write(text)
    else:
        print(text, end="")
    if a.png:
        chart(apps, main_stacks, values, a.png)


if __name__ == "__main__":
    main()
