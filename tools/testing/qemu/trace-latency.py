#!/usr/bin/env python3
"""Figures from a vGPU trace (build/l3-trace.txt, GVT_L3_TRACE=1): per engine, how long
workloads took from dispatch to the host until their completion (workload_submit to
workload_complete), and how many submissions carried no ring bytes at all.

usage: trace-latency.py TRACE..."""
import re
import sys

EVENT = re.compile(r"\s(\d+\.\d+): workload_(submit|complete): vgpu\d+ engine (\d+) tag (\d+)(.*)")


def figures(path):
    started, took, empty = {}, {}, 0
    with open(path, errors="replace") as f:
        for line in f:
            m = EVENT.search(line)
            if not m:
                continue
            t, kind, engine, tag, rest = float(m[1]), m[2], int(m[3]), m[4], m[5]
            if kind == "submit":
                started[tag] = t
                empty += " ring_len 0 " in rest + " "
            elif tag in started and rest.startswith(" done"):
                took.setdefault(engine, []).append(t - started.pop(tag))
    print("%s: %d empty submissions" % (path, empty))
    for engine, ts in sorted(took.items()):
        ts.sort()
        n = len(ts)
        print("  engine %d: %5d workloads, dispatch to completion median %.2f ms, p90 %.2f ms, max %.2f ms"
              % (engine, n, ts[n // 2] * 1e3, ts[n * 9 // 10] * 1e3, ts[-1] * 1e3))
    return bool(took)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(0 if all([figures(p) for p in sys.argv[1:]]) else 1)
