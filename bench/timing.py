"""Wall-clock timing shared by the benchmarks: one warm-up call, then `runs` timed calls."""
from __future__ import annotations

import statistics
import time


def timed(fn, runs: int) -> list[float]:
    """Seconds of each of `runs` calls of `fn`, after one warm-up call (first-call allocations, lazy imports)."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median_seconds(fn, runs: int) -> float:
    return statistics.median(timed(fn, runs))
