"""Throughput inside the measured window, from the time each token arrived (not from whole requests).

Closed-loop users with identical lengths run in lockstep: a wave of requests ends together every few hundred ms,
so counting whole requests in a window moves the rate by a few percent depending on where the window starts
relative to a wave. Counting each chunk where it arrived does not: a reply's usage tokens are spread evenly over
its content chunks (as the time series do, harness/load/series.py), and the tokens whose chunk arrived inside
[start, end] are divided by end - start, whichever request they belong to (one started in the warm-up, or one
still streaming when the window ends, counts for the part it streamed inside).

The window ends at the spec's end, or earlier when the load did: at the end of the last request started before
it (a load generator that stopped early shows as a shorter `perf/window_s`, never as a lower rate).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from harness.load.records import RequestRecord

SUB_WINDOWS = 8
"""Sub-windows of the measured window for its split-half variability (`perf/output_tokens_per_s_split_half_sd`)."""


def request_end(r: RequestRecord) -> float:
    return r.t_start + (r.e2e_s or 0.0)


def activity_end(records: Sequence[RequestRecord], before: float) -> float | None:
    """When the last request started before `before` ended (None without one)."""
    return max((request_end(r) for r in records if r.t_start < before), default=None)


def token_times(r: RequestRecord) -> list[tuple[float, float]]:
    """(epoch time, output tokens) per content chunk of a reply with usage: its tokens spread evenly over its
    chunks; one at its end when it streamed no content chunk; none without usage."""
    n = r.completion_tokens
    if not r.ok or not n:
        return []
    offs = r.chunk_offsets_s
    if not offs:
        return [(request_end(r), float(n))]
    each = n / len(offs)
    return [(r.t_start + off, each) for off in offs]


def tokens_between(records: Sequence[RequestRecord], lo: float, hi: float) -> float:
    """Output tokens whose chunk arrived in [lo, hi]."""
    return sum(n for r in records for t, n in token_times(r) if lo <= t <= hi)


def sub_window_tokens(records: Sequence[RequestRecord], lo: float, hi: float, k: int = SUB_WINDOWS) -> list[float]:
    """Output tokens per each of `k` equal sub-windows of [lo, hi] (a token on a boundary counts in the later one)."""
    counts = [0.0] * k
    w = (hi - lo) / k
    if w <= 0:
        return counts
    for r in records:
        for t, n in token_times(r):
            if lo <= t <= hi:
                counts[min(int((t - lo) / w), k - 1)] += n
    return counts


def split_half_sd(counts: Sequence[float]) -> float:
    """sd of log(first half's throughput / second half's), estimated from k equal sub-windows' token counts:
    2 x sd(log count) / sqrt(k) (the halves' log-ratio has variance 4 sigma^2 / k for sub-window sd sigma);
    the whole window's own log-throughput sd is half of it (harness/stats/plan.py's `within_window_sd`).
    NaN with fewer than 4 sub-windows or any empty one (a rate too low to split)."""
    if len(counts) < 4 or any(c <= 0 for c in counts):
        return math.nan
    return 2.0 * statistics.stdev(math.log(c) for c in counts) / math.sqrt(len(counts))
