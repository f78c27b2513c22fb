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


class CapacitySearchSpec(Strict):
    """Capacity at SLO: search the highest load in [lo, hi] at which `load.slo` holds (harness/stats/capacity.py, docs/metrics.md)."""

    lo: float = Field(..., gt=0, le=MAX_RATE, description="Lowest load searched: requests/s for pattern constant/poisson, users for closed (a whole number).")
    hi: float = Field(..., gt=0, le=MAX_RATE, description="Highest load searched (same unit as `lo`); a capacity at or above it is censored ('>= hi'), not a value.")
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

    @model_validator(mode="after")
    def _range(self) -> "CapacitySearchSpec":
        if not self.lo < self.hi:
            raise ValueError(f"need lo < hi, got lo={self.lo:g}, hi={self.hi:g}")
        if self.start is not None and not self.lo <= self.start <= self.hi:
            raise ValueError(f"start ({self.start:g}) must lie within [lo, hi] = [{self.lo:g}, {self.hi:g}]")
        return self


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
    rates += [load.capacity.lo] if load.capacity is not None else []
    cap = load.run_s()
    if load.pattern in ("constant", "poisson") and rates and n / min(rates) > cap:
        raise ValueError(
            f"{n} requests at {min(rates):g} req/s take about {n / min(rates):.0f} s, longer than the run's cap "
            f"(warmup_s + duration_s = {cap:.0f} s): raise duration_s"
        )
    if load.pattern == "burst" and load.burst is not None and (math.ceil(n / load.burst.size) - 1) * load.burst.every_s >= cap:
        raise ValueError(f"{n} requests in bursts of {load.burst.size} take longer than warmup_s + duration_s ({cap:.0f} s): raise duration_s")
