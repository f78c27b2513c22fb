"""The capacity at SLO of one variant (`load.capacity`), as the load stage reports it (docs/metrics.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.facts import COUNT, NEITHER, MetricFact
from harness.stats.capacity import Capacity

CAPACITY_RPS = MetricFact("higher", "requests/s", "capacity rps@SLO")
CAPACITY_USERS = MetricFact("higher", "users", "capacity users@SLO")


@dataclass
class CapacityAtSLO:
    """The highest load at which every SLO held, with its interval; exactly one of `rate` and `users` is set."""

    rate: float | None
    """Requests/s (pattern constant/poisson), else None. 0 when the SLOs failed even at `lo`."""
    users: float | None
    """Concurrent users (pattern closed), else None."""
    low: float
    """Lower end of the interval: the confidence interval over searches, or one search's final bracket."""
    high: float
    """Upper end (inf when the SLOs held at `hi`: not logged)."""
    bracketed: bool
    """Every search found a flip inside [lo, hi] (False: capacity >= hi or < lo)."""
    method: str
    """How `low`/`high` were made, e.g. "median over 3 searches, t on logs" or "one search: its final bracket"."""
    searches: list[Capacity] = field(default_factory=list)
    """Every completed search, with each of its measurements' verdicts (harness.stats.capacity)."""
    measurements: int = 0
    """Load runs made, the stopped or failed one included."""

    @property
    def value(self) -> float:
        return self.rate if self.rate is not None else self.users if self.users is not None else math.nan

    @property
    def unit(self) -> str:
        return "rps" if self.rate is not None else "users"

    def flat_metrics(self, prefix: str = "perf/") -> dict[str, float]:
        """`perf/capacity_rps_at_slo` (or `_users_`) with `_ci_low` / `_ci_high`, whether bracketed, and the cost."""
        out: dict[str, float] = {}
        for unit, value in (("rps", self.rate), ("users", self.users)):
            if value is not None:
                name = f"{prefix}capacity_{unit}_at_slo"
                fact = CAPACITY_RPS if unit == "rps" else CAPACITY_USERS
                out |= {name: fact.of(value), f"{name}_ci_low": fact.of(self.low), f"{name}_ci_high": fact.of(self.high)}
        out[f"{prefix}capacity_bracketed"] = NEITHER.of(self.bracketed)
        out[f"{prefix}capacity_searches"] = COUNT.of(len(self.searches))
        out[f"{prefix}capacity_measurements"] = COUNT.of(self.measurements)
        return {k: v for k, v in out.items() if math.isfinite(v)}
