"""Is this host quiet enough for the target margin? Warnings that name the source, from what the load measured.

Three sources are the host's, not the compared servers': CPU steal (another guest on the hypervisor,
`perf/host_steal_pct`), the load generator's own event-loop lag (its timestamps come late,
`perf/client_lag_*_ms`), and a rate that wanders within the window (`perf/output_tokens_per_s_split_half_sd`).
The server's own TPOT spread from /metrics is checked where it is scraped (harness/server/metrics.py).
Each threshold is a fraction of the margin a decision targets (harness/stats/decide.py's default 5%): at that level
the source alone takes a sizeable part of the noise budget that lets a verdict within +-margin take ~10 blocks.
"""

from __future__ import annotations

import math

from harness.load.stats import LoadSummary
from harness.stats.decide import DEFAULT_MARGIN

STEAL_SHARE = 0.2
"""Warn when CPU steal exceeds this share of the margin (1% of CPU time at a 5% margin)."""
LAG_SHARE = 1.0
"""Warn when the client's median loop lag exceeds this share of the margin times the median TPOT (5% of it at 5%)."""
WITHIN_SHARE = 0.25
"""Warn when the window's own log-throughput sd (half the split-half sd) exceeds this share of the margin."""


def host_noise(summary: LoadSummary, margin: float = DEFAULT_MARGIN) -> list[str]:
    """One sentence per source too noisy for +-`margin`, naming it and what to do; empty for a quiet host."""
    out: list[str] = []
    steal = summary.host_steal_pct
    if not math.isnan(steal) and steal > 100 * STEAL_SHARE * margin:
        out.append(f"noisy host: CPU steal {steal:.1f}% of CPU time during the load (> {100 * STEAL_SHARE * margin:.1f}% for a "
                   f"+-{100 * margin:g}% decision): the hypervisor gives this machine's CPUs to other guests; use a dedicated host")
    lag, tpot = summary.client_lag_ms.p50, summary.tpot_ms.p50
    if not math.isnan(lag) and not math.isnan(tpot) and lag > LAG_SHARE * margin * tpot:
        out.append(f"noisy host: the load generator's event loop lags {lag:.2f} ms (median) against a {tpot:.2f} ms TPOT: its "
                   "timestamps come late; give it more cores (`load.processes`, `load.cpu_affinity`) or a quieter machine")
    half = summary.output_tokens_per_s_split_half_sd
    if not math.isnan(half) and half / 2 > WITHIN_SHARE * margin:
        out.append(f"noisy window: output tokens/s wanders within the window (split-half sd {100 * half:.1f}%, > "
                   f"{200 * WITHIN_SHARE * margin:.1f}% for a +-{100 * margin:g}% decision): the server's rate is not steady; "
                   "lengthen load.duration_s or warm up until settled (`load.warmup`)")
    return out
