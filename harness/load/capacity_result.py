"""The capacity at SLO of one variant (`load.capacity`), as the load stage reports it (docs/metrics.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.facts import COUNT, NEITHER, MetricFact
from harness.stats.capacity import Capacity

CAPACITY_RPS = MetricFact("higher", "requests/s", "capacity rps@SLO")
CAPACITY_USERS = MetricFact("higher", "users", "capacity users@SLO")
CAPACITY_BOUND = MetricFact("neither", "requests/s or users", "capacity censored at")
CENSORED = {"below": -1.0, "above": 1.0}
"""`perf/capacity_censored`: -1 capacity < lo (the SLOs failed at the lowest load tried), +1 capacity >= hi, 0 neither."""


@dataclass
class CapacityAtSLO:
    """The capacity at the SLOs (the rate where the SLO metric crosses its limit), with its interval; exactly one of
    `rate` and `users` is set. Censored (beyond [lo, hi]): no value (nan), `censored` and `bound` say which way."""

    rate: float | None
    """Requests/s (pattern constant/poisson), else None. nan when censored or no search completed (never 0)."""
    users: float | None
    """Concurrent users (pattern closed), else None."""
    low: float
    """Lower end of the interval: the interval over searches (labelled with its simulated coverage, ~90%:
    harness.stats.capacity.CAPACITY_INTERVAL_COVERAGE), or one search's final bracket; nan when there is none."""
    high: float
    """Upper end (nan when there is none: not logged)."""
    bracketed: bool
    """Every search found a flip inside [lo, hi] (False: one was censored, capacity >= hi or < lo)."""
    method: str
    """How `low`/`high` were made, e.g. "median over 3 searches, t on logs" or "one search: its final bracket"."""
    searches: list[Capacity] = field(default_factory=list)
    """Every completed search, with each of its measurements' verdicts (harness.stats.capacity)."""
    measurements: int = 0
    """Load runs made, the stopped or failed one included."""
    censored: str = ""
    """"below": capacity < `bound` (at least half the searches failed at their lowest point), "above": capacity >=
    `bound` (held at their highest), "" not censored. A censored capacity has no value and no ratio: compare it as such."""
    bound: float = math.nan
    """The censoring bound (lo or hi, normally), nan when not censored."""

    @property
    def label(self) -> str:
        """How to print it: "< 1 req/s", ">= 64 users", "10.2 req/s [9.1, 11.5]"."""
        unit = "req/s" if self.rate is not None else "users"
        if self.censored:
            return f"{'<' if self.censored == 'below' else '>='} {self.bound:g} {unit}"
        if not math.isfinite(self.value):
            return "no capacity"
        interval = f" [{self.low:.4g}, {self.high:.4g}]" if math.isfinite(self.low) and math.isfinite(self.high) else ""
        return f"{self.value:.4g} {unit}{interval}"

    @property
    def value(self) -> float:
        return self.rate if self.rate is not None else self.users if self.users is not None else math.nan

    @property
    def unit(self) -> str:
        return "rps" if self.rate is not None else "users"

    def flat_metrics(self, prefix: str = "perf/") -> dict[str, float]:
        """`perf/capacity_rps_at_slo` (or `_users_`) with `_ci_low` / `_ci_high` (absent when censored: no value, no
        ratio), `perf/capacity_censored` (-1 / 0 / +1) with `perf/capacity_censored_at` (the bound), whether bracketed,
        and the cost."""
        out: dict[str, float] = {}
        for unit, value in (("rps", self.rate), ("users", self.users)):
            if value is not None:
                name = f"{prefix}capacity_{unit}_at_slo"
                fact = CAPACITY_RPS if unit == "rps" else CAPACITY_USERS
                out |= {name: fact.of(value), f"{name}_ci_low": fact.of(self.low), f"{name}_ci_high": fact.of(self.high)}
        out[f"{prefix}capacity_censored"] = NEITHER.of(CENSORED.get(self.censored, 0.0))
        out[f"{prefix}capacity_censored_at"] = CAPACITY_BOUND.of(self.bound)
        out[f"{prefix}capacity_bracketed"] = NEITHER.of(self.bracketed)
        out[f"{prefix}capacity_searches"] = COUNT.of(len(self.searches))
        out[f"{prefix}capacity_measurements"] = COUNT.of(self.measurements)
        return {k: v for k, v in out.items() if math.isfinite(v)}
