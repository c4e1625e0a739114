#!/usr/bin/env python3
"""Times DeepDiff on two JSON documents (used by scripts/bench-drift-deepdiff).

Usage: deepdiff_pair.py A.json B.json [RUNS]

Loads both files once (timed separately), then runs DeepDiff(a, b) RUNS times (default 3)
and prints one line of `key=value` pairs: load seconds, each run's seconds, the median,
the number of differences reported, and the peak RSS of the process in KiB.
"""

import json
import resource
import statistics
import sys
import time

from deepdiff import DeepDiff


def count(diff):
    """The number of reported differences (every path in every category)."""
    n = 0
    for v in diff.values():
        n += len(v) if hasattr(v, "__len__") else 1
    return n


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    runs = int(sys.argv[3]) if len(sys.argv) == 4 else 3
    t = time.perf_counter()
    with open(sys.argv[1], encoding="utf-8") as f:
        a = json.load(f)
    with open(sys.argv[2], encoding="utf-8") as f:
        b = json.load(f)
    load = time.perf_counter() - t
    times = []
    found = 0
    for _ in range(runs):
        t = time.perf_counter()
        d = DeepDiff(a, b)
        times.append(time.perf_counter() - t)
        found = count(d)
        del d
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"load_s={load:.3f} runs_s={','.join(f'{x:.3f}' for x in times)} "
        f"median_s={statistics.median(times):.3f} differences={found} peak_rss_kib={rss}"
    )


if __name__ == "__main__":
    main()
