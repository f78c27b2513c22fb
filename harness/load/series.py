"""The client's side of a load over time: latency percentiles and rates per interval, from the raw records.

Logged as MLflow metric history (`series/perf/*`, step = seconds from the measured window's start),
so a run page charts TTFT or throughput during the load. The requests are those the summary
measures (started in the window); each value is placed when the client knew it:

- TTFT at the first content chunk, TPOT and E2E at the request's end, each ITL gap at the chunk that closes it;
- output tokens at their chunks (a reply's usage tokens spread evenly over its content chunks), so a
  long reply counts in every interval it streamed in, and the intervals add up to the summary's total;
- requests/s and errors/s by the interval the request ended in; in-flight requests as the mean number
  open during the interval.

Intervals are 5 s (1 s for a load whose records span less than a minute); a percentile is left out
of an interval with no value. The last interval is as long as the load lasted into it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from harness.load.records import RequestRecord
from harness.load.stats import percentile, tpot_s
from harness.load.window import request_end, token_times
from harness.stage import SeriesPoint

PERCENTILES = (50, 95, 99)
LATENCIES = ("ttft", "tpot", "itl", "e2e")
RATES = ("output_tokens_per_s", "requests_per_s", "errors_per_s", "in_flight")
SHORT_SPAN_S = 60.0


PREFIX = "perf/"
"""The series' metric names: the run's metric names (`series/` is added where they are logged)."""


def interval_s(span_s: float) -> float:
    """The series' interval for records spanning `span_s` seconds: 5 s, or 1 s under a minute."""
    return 5.0 if span_s >= SHORT_SPAN_S else 1.0


def record_series(records: Sequence[RequestRecord], start: float, end: float) -> dict[str, list[SeriesPoint]]:
    """`perf/ttft_p95_ms`-style series (p50/p95/p99 of TTFT, TPOT, ITL, E2E) and the rates of RATES, for
    the requests started in [start, end), per interval from `start` to the last of them ends."""
    measured = [r for r in records if start <= r.t_start < end]
    if not measured:
        return {}
    last = max(request_end(r) for r in measured)
    w = interval_s(last - start)
    n = max(1, math.ceil((last - start) / w - 1e-9))

    def slot(t: float) -> int:
        return min(max(int((t - start) // w), 0), n - 1)

    values: dict[str, list[list[float]]] = {k: [[] for _ in range(n)] for k in LATENCIES}
    tokens, done, failed, busy = [0.0] * n, [0] * n, [0] * n, [0.0] * n
    for r in measured:
        t1 = request_end(r)
        for k in range(slot(r.t_start), slot(t1) + 1):  # seconds open in each interval
            lo = start + k * w
            busy[k] += max(0.0, min(t1, lo + w) - max(r.t_start, lo))
        if not r.ok:
            failed[slot(t1)] += 1
            continue
        done[slot(t1)] += 1
        if r.ttft_s is not None:
            values["ttft"][slot(r.t_start + r.ttft_s)].append(r.ttft_s)
        if (tp := tpot_s(r)) is not None:
            values["tpot"][slot(t1)].append(tp)
        if r.e2e_s is not None:
            values["e2e"][slot(t1)].append(r.e2e_s)
        offs = r.chunk_offsets_s
        for a, b in zip(offs, offs[1:]):
            values["itl"][slot(r.t_start + b)].append(b - a)
        for t, count in token_times(r):  # the window's own rule (harness/load/window.py)
            tokens[slot(t)] += count
    out: dict[str, list[SeriesPoint]] = {}
    for k in range(n):
        lo = start + k * w
        length = min(w, last - lo) if k == n - 1 else w
        length = length if length > 0 else w  # requests that took no time at all: a whole interval, not a division by 0
        point = {"output_tokens_per_s": tokens[k] / length, "requests_per_s": done[k] / length,
                 "errors_per_s": failed[k] / length, "in_flight": busy[k] / length}
        for name in LATENCIES:
            if values[name][k]:
                for p in PERCENTILES:
                    point[f"{name}_p{p}_ms"] = percentile(values[name][k], p) * 1000.0
        for name, v in point.items():
            out.setdefault(PREFIX + name, []).append(SeriesPoint(int(round(k * w)), lo, v))
    return out


def series_end(records: Sequence[RequestRecord], start: float, end: float) -> float:
    """When the last request started in [start, end) ended (`start` when there is none)."""
    return max((request_end(r) for r in records if start <= r.t_start < end), default=start)
