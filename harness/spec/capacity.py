"""`load.capacity` (capacity at SLO) and `load.requests` (a fixed request count): the search's spec and the checks of both
against the rest of the `load` section (docs/metrics.md)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from harness.facts import CAPACITY_SEARCHES
from harness.spec.base import Strict

if TYPE_CHECKING:
    from harness.spec.load import LoadSpec

MAX_RATE = 1_000_000.0
MAX_REQUESTS = 10_000_000
REQUESTS_CAP_S = 3600.0
"""With `load.requests` and no `duration_s` given: the safety cap on the run (an hour)."""


SEARCH_FIELDS = ("lo", "hi", "start", "tolerance", "max_steps", "repeats", "searches")
"""The bracketing search's fields: a `grid` replaces them (giving one with it is an error naming it)."""


class CapacityGridSpec(Strict):
    """A fixed grid of loads measured once each, in a fixed order, in every block for every variant (instead of the
    bracketing search): the capacity of each block is where a monotone curve fitted to its points crosses the SLO
    limit (harness/stats/capacity_grid.py, docs/statistics.md)."""

    rates: list[float] | None = Field(
        None, min_length=2, max_length=50,
        description="The loads, in increasing order: requests/s for pattern constant/poisson, users for closed (whole numbers). "
        "Give these, or `around` (with `points` and `spread`).",
    )
    around: float | None = Field(None, gt=0, le=MAX_RATE, description="The expected capacity: the middle of a geometric grid of `points` "
                                 "loads from around / spread to around * spread (rounded to whole users for pattern closed).")
    points: int = Field(5, ge=2, le=25, description="With `around`: the number of loads in the grid.")
    spread: float = Field(1.5, gt=1, le=100, description="With `around`: the grid's ends are around / spread and around * spread.")

    @model_validator(mode="after")
    def _one_way(self) -> "CapacityGridSpec":
        if (self.rates is None) == (self.around is None):
            raise ValueError("load.capacity.grid needs exactly one of `rates` (the loads) and `around` (with `points`, `spread`)")
        if self.rates is not None:
            extra = sorted({"points", "spread"} & self.model_fields_set)
            if extra:
                raise ValueError(f"load.capacity.grid.{extra[0]} goes with `around`, not with `rates`: remove it")
            if any(not 0 < x <= MAX_RATE for x in self.rates) or any(b <= a for a, b in zip(self.rates, self.rates[1:])):
                raise ValueError(f"load.capacity.grid.rates must be positive and strictly increasing, got {self.rates}")
        return self

    def loads(self, integer: bool = False) -> list[float]:
        """The grid's loads, increasing (whole and distinct with `integer`)."""
        if self.rates is not None:
            return list(self.rates)
        assert self.around is not None
        xs = [self.around * self.spread ** (-1.0 + 2.0 * i / (self.points - 1)) for i in range(self.points)]
        return sorted({float(max(1, round(x))) for x in xs}) if integer else xs


class CapacityConfirmSpec(Strict):
    """One long window at the capacity found, judging each request by the SLO (MLPerf's server scenario confirms its
    claimed rate so): attainment and its one-sided 95% Clopper-Pearson lower bound against `target` (docs/statistics.md)."""

    duration_s: float = Field(300.0, gt=0, le=86_400, description="Length of the measured window at the capacity (after `warmup_s`).")
    target: float = Field(
        0.85, gt=0, lt=1,
        description="Required SLO attainment: confirmed when the 95% lower bound on the fraction of requests meeting every SLO (errors "
        "fail) is at least this. At the capacity itself the attainment is `slo.min_attainment` by definition (the capacity is where the "
        "min_attainment quantile of the requests' latency meets its bound), so a target at min_attainment fails about as often as not: "
        "keep it below min_attainment, or confirm below the capacity (`fraction`).",
    )
    fraction: float = Field(1.0, gt=0, le=1, description="Confirm at this fraction of the capacity found (1 = at the capacity).")


class CapacitySearchSpec(Strict):
    """Capacity at SLO: search the highest load in [lo, hi] at which `load.slo` holds, or measure a fixed `grid` of loads
    (harness/stats/capacity.py, docs/metrics.md)."""

    lo: float | None = Field(None, gt=0, le=MAX_RATE, description="Lowest load searched: requests/s for pattern constant/poisson, users for closed (a whole number). Required unless `grid`.")
    hi: float | None = Field(None, gt=0, le=MAX_RATE, description="Highest load searched (same unit as `lo`); a capacity at or above it is censored ('>= hi'), not a value. Required unless `grid`.")
    start: float | None = Field(None, gt=0, description="First point of the (first) search; None = the geometric middle sqrt(lo * hi). Later searches start at seeded points around it.")
    tolerance: float = Field(0.1, gt=0, le=10, description="Relative resolution: bisecting stops once high / low - 1 <= tolerance.")
    max_steps: int = Field(12, ge=2, le=200, description="Most points judged per search (bracket + confirm + bisect); a point's repeats count once.")
    repeats: int = Field(1, ge=1, le=15, description="Measurements per boundary point, judged by majority (1 = each point once; docs/statistics.md: more rarely pays).")
    searches: int = Field(
        CAPACITY_SEARCHES, ge=1, le=20,
        description="Independent searches, run one after another, with seeded starts (seed `load.seed`). Each reports the rate where the SLO metric "
        "crosses its limit, interpolated between its bracket ends on log scales; the capacity is the median over searches (the same estimand "
        "whatever this is), with an interval labelled with its simulated coverage (~90%) from 2 searches. A capacity below `lo` is censored "
        "('< lo', no value, never 0), above `hi` too ('>= hi').",
    )
    grid: CapacityGridSpec | None = Field(
        None, description="Instead of the search (`lo`, `hi`, `start`, `tolerance`, `max_steps`, `repeats`, `searches` then are errors): a fixed "
        "grid of loads measured once each per block, in increasing order, for every variant; the same estimand from a monotone fit per block, "
        "censored below the lowest load or at the highest, compared paired by block like any metric.",
    )
    confirm: CapacityConfirmSpec | None = Field(
        None, description="After the capacity is found (not censored): one long window at it, logged as perf/capacity_confirm_attainment, "
        "its 95% lower bound and a pass/fail against `target`. None = no confirm window.",
    )

    @model_validator(mode="after")
    def _range(self) -> "CapacitySearchSpec":
        if self.grid is not None:
            given = [f for f in SEARCH_FIELDS if f in self.model_fields_set]
            if given:
                raise ValueError(f"load.capacity.{given[0]} belongs to the bracketing search, and `grid` replaces it (its loads are the "
                                 f"grid's): give `{given[0]}` or `grid`, not both")
            return self
        if self.lo is None or self.hi is None:
            raise ValueError("load.capacity needs `lo` and `hi` (the search's range), or a `grid` of loads")
        if not self.lo < self.hi:
            raise ValueError(f"need lo < hi, got lo={self.lo:g}, hi={self.hi:g}")
        if self.start is not None and not self.lo <= self.start <= self.hi:
            raise ValueError(f"start ({self.start:g}) must lie within [lo, hi] = [{self.lo:g}, {self.hi:g}]")
        return self

    def bounds(self, integer: bool = False) -> tuple[float, float]:
        """The lowest and highest load measured: [lo, hi], or the grid's ends."""
        if self.grid is not None:
            loads = self.grid.loads(integer)
            return loads[0], loads[-1]
        assert self.lo is not None and self.hi is not None
        return self.lo, self.hi


def check_capacity(load: "LoadSpec") -> None:
    """ValueError when `load.capacity` does not fit the rest of the section."""
    c = load.capacity
    if c is None:
        return
    if load.rate_scan is not None:
        raise ValueError("load.capacity and load.rate_scan are alternatives (a search vs fixed points): give only one")
    if load.pattern not in ("closed", "constant", "poisson"):
        raise ValueError("a capacity search needs pattern closed (points = users) or constant/poisson (points = requests/s)")
    if load.pattern == "closed" and any(x is not None and x != int(x) for x in (c.lo, c.hi, c.start)):
        raise ValueError("pattern=closed: capacity lo, hi and start are user counts and must be whole numbers")
    if c.grid is not None and load.pattern == "closed":
        if c.grid.rates is not None and any(x != int(x) for x in c.grid.rates):
            raise ValueError("pattern=closed: load.capacity.grid.rates are user counts and must be whole numbers")
        if len(c.grid.loads(integer=True)) < 2:
            raise ValueError(f"pattern=closed: load.capacity.grid rounds to fewer than 2 distinct user counts {c.grid.loads(integer=True)}: "
                             "raise `around` or `spread`")
    if all(v is None for v in (load.slo.ttft_ms, load.slo.tpot_ms, load.slo.e2e_ms)):
        raise ValueError("load.capacity needs an SLO to search against: set at least one of slo.ttft_ms, slo.tpot_ms, slo.e2e_ms")
    if load.distributed.role != "local":
        raise ValueError("load.capacity runs on one machine (`processes`), not with `distributed`")


def check_requests(load: "LoadSpec") -> None:
    """ValueError when `load.requests` cannot be met within the run's cap, or does not apply."""
    n = load.requests
    if n is None:
        return
    if load.pattern == "steps":
        raise ValueError("`requests` does not apply to pattern=steps, whose steps set the run length")
    if load.distributed.role != "local":
        raise ValueError("`requests` counts requests on one machine (`processes`), not with `distributed`")
    rates = [load.rate] if load.rate is not None else []
    rates += [load.rate_scan.points[0]] if load.rate_scan is not None else []
    rates += [load.capacity.bounds(load.pattern == "closed")[0]] if load.capacity is not None else []
    cap = load.run_s()
    if load.pattern in ("constant", "poisson") and rates and n / min(rates) > cap:
        raise ValueError(
            f"{n} requests at {min(rates):g} req/s take about {n / min(rates):.0f} s, longer than the run's cap "
            f"(warmup_s + duration_s = {cap:.0f} s): raise duration_s"
        )
    if load.pattern == "burst" and load.burst is not None and (math.ceil(n / load.burst.size) - 1) * load.burst.every_s >= cap:
        raise ValueError(f"{n} requests in bursts of {load.burst.size} take longer than warmup_s + duration_s ({cap:.0f} s): raise duration_s")
