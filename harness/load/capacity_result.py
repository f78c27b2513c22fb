"""The capacity at SLO of one variant (`load.capacity`), as the load stage reports it (docs/metrics.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.facts import COUNT, NEITHER, MetricFact
from harness.stats.capacity import Capacity

CAPACITY_RPS = MetricFact("higher", "requests/s", "capacity rps@SLO")
CAPACITY_USERS = MetricFact("higher", "users", "capacity users@SLO")
CAPACITY_BOUND = MetricFact("neither", "requests/s or users", "capacity censored at")
CONFIRM_ATTAINMENT = MetricFact("higher", "fraction", "capacity confirm attainment")
CONFIRM_ATTAINMENT_LOW = MetricFact("higher", "fraction", "capacity confirm attainment 95% low")
CONFIRM_PASS = MetricFact("higher", "pass", "capacity confirmed")
CONFIRM_POINT = MetricFact("neither", "requests/s or users", "capacity confirmed at")
CENSORED = {"below": -1.0, "above": 1.0}
"""`perf/capacity_censored`: -1 capacity < lo (the SLOs failed at the lowest load tried), +1 capacity >= hi, 0 neither."""


@dataclass
class CapacityConfirm:
    """The confirm window (`load.capacity.confirm`): one long window at `point`, each measured request passing when it
    meets every SLO (an error fails), with the one-sided lower bound on the pass fraction (harness.stats.capacity_grid)."""

    point: float
    """The load confirmed (requests/s or users): `fraction` x the capacity."""
    requests: int
    """Requests measured in the window."""
    passed: int
    """Of them, those that met every SLO."""
    low: float
    """One-sided lower confidence bound (`level`) on the attainment (Clopper-Pearson)."""
    target: float
    """The attainment required (`load.capacity.confirm.target`)."""
    level: float = 0.95

    @property
    def attainment(self) -> float:
        return self.passed / self.requests if self.requests else math.nan

    @property
    def confirmed(self) -> bool:
        """The lower bound reaches the target: attainment >= target at `level` confidence."""
        return self.requests > 0 and self.low >= self.target

    @property
    def label(self) -> str:
        return (f"{'confirmed' if self.confirmed else 'NOT confirmed'} at {self.point:g}: attainment {self.attainment:.3f} "
                f"({self.passed}/{self.requests}), {self.level:.0%} lower bound {self.low:.3f} vs target {self.target:g}")

    def flat_metrics(self, prefix: str = "perf/") -> dict[str, float]:
        """`perf/capacity_confirm_attainment`, `_attainment_low`, `_pass` (1 / 0), `_at` (the load) and `_requests`."""
        out = {f"{prefix}capacity_confirm_attainment": CONFIRM_ATTAINMENT.of(self.attainment),
               f"{prefix}capacity_confirm_attainment_low": CONFIRM_ATTAINMENT_LOW.of(self.low),
               f"{prefix}capacity_confirm_pass": CONFIRM_PASS.of(self.confirmed),
               f"{prefix}capacity_confirm_at": CONFIRM_POINT.of(self.point),
               f"{prefix}capacity_confirm_requests": COUNT.of(self.requests)}
        return {k: v for k, v in out.items() if math.isfinite(v)}


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
    confirm: CapacityConfirm | None = None
    """The confirm window at the capacity (`load.capacity.confirm`), None when not asked for or the capacity has no value."""

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
        if self.confirm is not None:
            out |= self.confirm.flat_metrics(prefix)
        return {k: v for k, v in out.items() if math.isfinite(v)}
