"""Engine metric names mapped to the harness's names: the union of every registered engine's table.

Each engine module (harness/server/engines/) declares its own names; here each harness name lists
all engines' candidates, in registration order, and the first one present in a scrape wins.
The tables are read live, so an engine registered later is part of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

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
