"""Engine metric names mapped to the harness's names: the union of every registered engine's table.

Each engine module (harness/server/engines/) declares its own names; here each harness name lists
all engines' candidates, in registration order, and the first one present in a scrape wins.
The tables are read live, so an engine registered later is part of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from harness.facts import COUNT, FRACTION_UP, LOWER_COUNT, LOWER_S, MetricFact
from harness.server.engines import ENGINES, MetricNames


class _Merged(Mapping[str, list[str]]):
    """One family (gauges, counters or histograms) of every registered engine's `MetricNames`."""

    def __init__(self, family: str):
        self.family = family

    def _table(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for eng in ENGINES.values():
            names: MetricNames = eng.metric_names
            for name, candidates in getattr(names, self.family).items():
                out.setdefault(name, []).extend(c for c in candidates if c not in out[name])
        return out

    def __getitem__(self, name: str) -> list[str]:
        return self._table()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())

    def items(self):  # type: ignore[override]  # one merge, not one per key
        return self._table().items()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.family}: {self._table()!r})"


GAUGES: Mapping[str, list[str]] = _Merged("gauges")
"""Sampled over the window -> mean and max."""
COUNTERS: Mapping[str, list[str]] = _Merged("counters")
"""Delta over the window (sample names, *_total)."""
HISTOGRAMS: Mapping[str, list[str]] = _Merged("histograms")
"""Base names (without _bucket/_sum/_count): window deltas -> mean and quantiles."""

HISTOGRAM_QUANTILES = (0.5, 0.9, 0.99)

FACTS: dict[str, MetricFact] = {
    # gauges (mean and max over the window)
    "requests_running": MetricFact("neither", "requests"),
    "requests_waiting": MetricFact("lower", "requests", "waiting"),
    "kv_cache_usage": MetricFact("neither", "fraction"),
    "kv_cache_tokens": MetricFact("neither", "tokens"),
    "busy_slots_per_decode": MetricFact("neither", "slots"),
    # counters (delta over the window)
    "prompt_tokens": MetricFact("neither", "tokens"),
    "generation_tokens": MetricFact("neither", "tokens"),
    "prefix_cache_queries": MetricFact("neither", "tokens"),
    "prefix_cache_hits": MetricFact("neither", "tokens"),
    "prompt_tokens_cached": MetricFact("neither", "tokens"),
    "preemptions": LOWER_COUNT,
    "requests_success": COUNT,
    "decode_calls": COUNT,
    "prompt_seconds": MetricFact("neither", "s"),
    "generation_seconds": MetricFact("neither", "s"),
    "spec_decode_drafts": COUNT,
    "spec_decode_draft_tokens": MetricFact("neither", "tokens"),
    "spec_decode_accepted_tokens": MetricFact("neither", "tokens"),
    "kv_offload_load_bytes": MetricFact("neither", "bytes"),
    "kv_offload_load_s": MetricFact("neither", "s"),
    "kv_offload_store_bytes": MetricFact("neither", "bytes"),
    "kv_offload_store_s": MetricFact("neither", "s"),
    # histograms (count, mean, quantiles): every one a latency
    "queue_time_s": MetricFact("lower", "s", "queue"), "ttft_s": MetricFact("lower", "s", "server TTFT"), "itl_s": LOWER_S, "tpot_s": LOWER_S, "e2e_s": LOWER_S,
    "prefill_s": LOWER_S, "decode_s": LOWER_S, "inference_s": LOWER_S,
    # derived
    "prefix_cache_hit_rate": FRACTION_UP,
    "spec_decode_acceptance_rate": MetricFact("higher", "fraction", "spec-decode acceptance"),
    "spec_decode_accepted_per_draft": MetricFact("higher", "tokens", "accepted tokens per draft"),
    "scrapes": COUNT,
    "scrape_failures": LOWER_COUNT,
}
"""Which way is better, and the unit, of each harness-named server metric (a gauge's mean/max and a histogram's mean
and quantiles share its fact; a histogram's `_count` is a count). An engine adding a name adds its fact here; the
MLflow contract's test fails on a server metric without one."""
