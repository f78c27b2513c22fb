"""Is this host quiet enough for the target margin? Warnings that name the source, from what the load measured.

Three sources are the host's, not the compared servers': CPU steal (another guest on the hypervisor,
`perf/host_steal_pct`), the load generator's own event-loop lag (its timestamps come late,
`perf/client_lag_*_ms`), and a rate that wanders within the window (`perf/output_tokens_per_s_split_half_sd`).
The server's own TPOT spread from /metrics is checked where it is scraped (harness/server/metrics.py).
Steal and the within-window wander are judged against the margin a decision targets (harness/stats/decide.py's default
5%): at that level the source alone takes a sizeable part of the noise budget that lets a verdict within +-margin take
~10 blocks. The loop lag is judged by what it does to the metric it would distort: a chunk timestamped late moves an
inter-token latency by up to the lag, so it warns when the lag's tail (p99) is a sizeable share of the median ITL
*and* above an absolute floor (a healthy gevent loop lags ~1 ms at its p99, which a 7 ms TPOT already exceeded 5% of
in every window of a GPU run, and which moves no median).
"""

from __future__ import annotations

import math

from harness.load.stats import LoadSummary
from harness.stats.decide import DEFAULT_MARGIN

STEAL_SHARE = 0.2
"""Warn when CPU steal exceeds this share of the margin (1% of CPU time at a 5% margin)."""
LAG_SHARE = 0.10
"""Warn when the client's loop lag p99 exceeds this share of the median ITL (and LAG_FLOOR_MS)."""
LAG_FLOOR_MS = 2.0
"""... and exceeds this many ms: below it, the lag is a healthy event loop's, whatever the ITL."""
WITHIN_SHARE = 0.25
"""Warn when the window's own log-throughput sd (half the split-half sd) exceeds this share of the margin."""


def host_noise(summary: LoadSummary, margin: float = DEFAULT_MARGIN) -> list[str]:
    """One sentence per source too noisy for +-`margin`, naming it and what to do; empty for a quiet host."""
    out: list[str] = []
    steal = summary.host_steal_pct
    if not math.isnan(steal) and steal > 100 * STEAL_SHARE * margin:
        out.append(f"noisy host: CPU steal {steal:.1f}% of CPU time during the load (> {100 * STEAL_SHARE * margin:.1f}% for a "
                   f"+-{100 * margin:g}% decision): the hypervisor gives this machine's CPUs to other guests; use a dedicated host")
    lag, itl = summary.client_lag_ms.p99, summary.itl_ms.p50
    if not math.isnan(lag) and not math.isnan(itl) and lag > LAG_SHARE * itl and lag > LAG_FLOOR_MS:
        out.append(f"noisy host: the load generator's event loop lags {lag:.2f} ms (p99), > {100 * LAG_SHARE:g}% of the {itl:.2f} ms "
                   f"median ITL and > {LAG_FLOOR_MS:g} ms: its timestamps come late; give it more cores (`load.processes`, "
                   "`load.cpu_affinity`) or a quieter machine")
    half = summary.output_tokens_per_s_split_half_sd
    if not math.isnan(half) and half / 2 > WITHIN_SHARE * margin:
        out.append(f"noisy window: output tokens/s wanders within the window (split-half sd {100 * half:.1f}%, > "
                   f"{200 * WITHIN_SHARE * margin:.1f}% for a +-{100 * margin:g}% decision): the server's rate is not steady; "
                   "lengthen load.duration_s or warm up until settled (`load.warmup`)")
    return out
