"""Capacity at SLO: the highest load (request rate or concurrency) at which every SLO holds.

Engine-agnostic: the caller passes `measure(point) -> PointResult` (one load run at `point`, judged against
the SLOs) and a `CapacitySpec`. One search (`find_capacity`):
  1. brackets: from `start` (default: the geometric middle of [lo, hi]) doubles up while the SLO holds, or
     halves down while it fails, one measurement per point, until the verdict flips (or lo / hi is reached);
  2. confirms both ends of the flip by a majority of `repeats` measurements (with repeats > 1), and moves
     on if a confirmation overturns a verdict;
  3. bisects (geometric midpoint; integer midpoints when `integer`) inside the bracket, each point judged
     by the majority of `repeats` measurements (stopping once the majority is decided), until
     high / low - 1 <= tolerance or `max_steps` judgements were made.
It returns the final bracket [low, high] = [highest point judged passing, lowest point judged failing],
an interval, with `value` = low (the highest point judged passing) and `estimate`, THE capacity estimand that every
caller reports: the rate where
the SLO metric crosses its limit, interpolated between the bracket ends on log scales (`crossing`, from
PointResult.slo_ratio; unbiased within 2% in tests/unit/stats/test_stats_capacity.py whatever the number
of searches, where `value` is biased low by about half the tolerance). A capacity below lo is censored
(`censored` "below", `label` "< lo"): never 0. Not bracketed (`bracketed=False`) when the SLO holds
at hi (capacity >= hi: high = inf) or fails at lo (capacity < lo: value = low = nan). It assumes the verdict
is monotone in load. The bracket is where THIS search placed the boundary: the machine's drift moves the
capacity itself between runs (under harness.stats.simulate's noise one bracket at tolerance 0.1 contains
the long-run capacity in only ~64% of searches; a majority of 3 repeats per point, measured back to back,
~69%, as they share the drift). For a confidence interval, repeat the search (DEFAULT_CAPACITY_SEARCHES,
seeded `search_starts`, interleaved with the other variants like any repeat) and take
`capacity_interval` (labelled 90%: 91.3% simulated coverage at 3 searches, repeats=1, ~17 measurements).

How it differs from `vllm bench sweep serve_sla` (vllm/benchmarks/sweep/serve_sla.py, read at commit
0826bcf): vLLM probes its integer variable (request_rate or max_concurrency) first at the maximum (65536,
"infinite"), then at the minimum (1), then at the root of a monotone (PCHIP) interpolation of the SLO
margin over all points so far, until the lowest failing and highest passing values are 1 apart; each point
is judged on the MEAN of `--num-runs` runs, measured back to back; it reports the highest passing value as
one number. Here: a geometric bracket from a start (no probe at "infinite" load), relative resolution
instead of 1 unit, a step budget, a majority vote instead of a mean (one outlier run cannot move the
answer), the bracket reported as an interval with every measurement kept, and repeated seeded searches
for a confidence interval; engine-agnostic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from harness.facts import CAPACITY_SEARCHES
from harness.stats.estimate import Estimate, median_ci

DEFAULT_CAPACITY_SEARCHES = CAPACITY_SEARCHES  # declared once, in harness/facts.py (the spec layer reads it too)
"""Searches per variant for a capacity with an interval (`capacity_interval`): under the noise model of
harness.stats.simulate, the interval over 3 searches with seeded starts contains the true capacity in ~91%
of trials (93.6% with bracket midpoints; the log-log crossing estimates are closer together) with ~17 measurements (at most 20), where one search's bracket alone does in ~64%
(tests/unit/stats/test_stats_capacity.py, docs/statistics.md)."""


@dataclass(frozen=True)
class PointResult:
    """One measurement at a load point: whether every SLO held, and what the caller wants kept."""

    meets: bool
    attainment: float = math.nan  # e.g. the fraction of requests within the SLOs (informational)
    goodput: float = math.nan  # e.g. requests/s within the SLOs (informational)
    detail: Mapping[str, float] = field(default_factory=dict)
    slo_ratio: float = math.nan  # the SLO metric over its limit (the worst SLO's, if several): <= 1 met; the estimand's input


@dataclass(frozen=True)
class CapacitySpec:
    """Search range [lo, hi], where to start, relative resolution, step budget, repeats per boundary point."""

    lo: float
    hi: float
    start: float | None = None
    tolerance: float = 0.1
    max_steps: int = 12
    repeats: int = 1
    integer: bool = False

    def __post_init__(self):
        problems = []
        if not (0 < self.lo < self.hi and math.isfinite(self.hi)):
            problems.append(f"need 0 < lo < hi < inf, got lo={self.lo}, hi={self.hi}")
        if self.start is not None and not self.lo <= self.start <= self.hi:
            problems.append(f"start {self.start} outside [lo, hi]")
        if not self.tolerance > 0:
            problems.append(f"tolerance must be > 0, got {self.tolerance}")
        if self.max_steps < 2 or self.repeats < 1:
            problems.append(f"need max_steps >= 2 and repeats >= 1, got {self.max_steps}, {self.repeats}")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class Step:
    """Every measurement at one point, its majority verdict, and the phase that asked for it."""

    point: float
    results: tuple[PointResult, ...]
    meets: bool
    phase: str  # "bracket" | "confirm" | "bisect"


@dataclass(frozen=True)
class Capacity:
    """The final bracket [low, high] of the capacity; value = low (highest point judged passing)."""

    value: float
    low: float
    high: float
    steps: list[Step]
    bracketed: bool

    @property
    def measurements(self) -> int:
        return sum(len(s.results) for s in self.steps)

    @property
    def censored(self) -> str:
        """"below" (the SLO failed at the search's lowest rate: capacity < high), "above" (held at the highest:
        capacity >= low), or "" (bracketed, or the step budget ran out)."""
        if math.isnan(self.low) and math.isfinite(self.high):
            return "below"
        return "above" if math.isinf(self.high) and not math.isnan(self.low) else ""

    @property
    def bound(self) -> float:
        """What a censored search knows: capacity < `bound` ("below") or capacity >= `bound` ("above"); nan otherwise."""
        return {"below": self.high, "above": self.low}.get(self.censored, math.nan)

    @property
    def label(self) -> str:
        """How to print it: "< lo" / ">= hi" when censored (never 0 or a number it is not), else the estimate."""
        if self.censored == "below":
            return f"< {self.high:g}"
        if self.censored == "above":
            return f">= {self.low:g}"
        return f"{self.estimate:.4g}" if math.isfinite(self.estimate) else "no capacity"

    def _log_ratio_at(self, point: float) -> float:
        logs = [math.log(r.slo_ratio) for s in self.steps if s.point == point for r in s.results
                if math.isfinite(r.slo_ratio) and r.slo_ratio > 0]
        return sum(logs) / len(logs) if logs else math.nan

    @property
    def estimate(self) -> float:
        """THE capacity estimand: the rate where the SLO metric crosses its limit, interpolated between the
        bracket ends on log scales (`crossing`, from each end's mean log slo_ratio); the geometric midpoint
        when the measurements carry no slo_ratio; nan when censored or unbracketed."""
        if not self.bracketed:
            return math.nan
        return crossing(self.low, self.high, self._log_ratio_at(self.low), self._log_ratio_at(self.high))

    def contains(self, x: float) -> bool:
        low = 0.0 if math.isnan(self.low) else self.low
        return low <= x <= self.high


class _Search:
    """The votes per point; a point's verdict is the majority of its votes (a tie: the latest)."""

    def __init__(self, measure: Callable[[float], PointResult], spec: CapacitySpec):
        self.measure, self.spec = measure, spec
        self.votes: dict[float, list[PointResult]] = {}
        self.steps: list[Step] = []
        self.majority = spec.repeats // 2 + 1

    def snap(self, x: float) -> float:
        x = min(self.spec.hi, max(self.spec.lo, x))
        return float(min(self.spec.hi, max(self.spec.lo, round(x)))) if self.spec.integer else x

    def verdict(self, x: float) -> bool:
        votes = self.votes[x]
        yes = sum(r.meets for r in votes)
        return yes > len(votes) - yes if 2 * yes != len(votes) else votes[-1].meets

    def confirmed(self, x: float) -> bool:
        votes = self.votes.get(x, [])
        yes = sum(r.meets for r in votes)
        return max(yes, len(votes) - yes) >= self.majority or len(votes) >= self.spec.repeats

    def judge(self, x: float, phase: str, confirm: bool) -> None:
        """Measure x once (if never measured), or (confirm) until a majority of `repeats` is reached."""
        votes = self.votes.setdefault(x, [])
        new = []
        while not votes or (confirm and not self.confirmed(x)):
            r = self.measure(x)
            votes.append(r)
            new.append(r)
        if new:
            self.steps.append(Step(x, tuple(new), self.verdict(x), phase))

    def bracket(self) -> tuple[float, float]:
        """(highest point judged passing below every failing one, lowest point judged failing)."""
        high = min((x for x in self.votes if not self.verdict(x)), default=math.inf)
        low = max((x for x in self.votes if self.verdict(x) and x < high), default=math.nan)
        return low, high

    def steps_left(self) -> bool:
        return len(self.steps) < self.spec.max_steps


def find_capacity(measure: Callable[[float], PointResult], spec: CapacitySpec) -> Capacity:
    """Search the highest load in [spec.lo, spec.hi] at which `measure(point).meets` (see the module docstring)."""
    s = _Search(measure, spec)
    s.judge(s.snap(spec.start if spec.start is not None else math.sqrt(spec.lo * spec.hi)), "bracket", False)
    while s.steps_left():
        low, high = s.bracket()
        if not (math.isnan(low) or math.isinf(high)):  # a flip: confirm both ends, then bisect
            if s.confirmed(high) and s.confirmed(low):
                break
            s.judge(high if not s.confirmed(high) else low, "confirm", True)
        elif math.isinf(high):  # everything passed so far: double up
            if low < spec.hi:
                s.judge(s.snap(low * 2.0), "bracket", False)
            elif s.confirmed(low):
                return Capacity(low, low, math.inf, s.steps, False)
            else:
                s.judge(low, "confirm", True)
        elif high > spec.lo:  # everything failed so far: halve down
            s.judge(s.snap(high / 2.0), "bracket", False)
        elif s.confirmed(high):
            return Capacity(math.nan, math.nan, high, s.steps, False)
        else:
            s.judge(high, "confirm", True)
    low, high = s.bracket()
    while not (math.isnan(low) or math.isinf(high)) and s.steps_left() and high / low - 1.0 > spec.tolerance:
        mid = s.snap(math.sqrt(low * high))
        if mid <= low or mid >= high:  # adjacent integers
            break
        s.judge(mid, "bisect", True)
        low, high = s.bracket()
    bracketed = not (math.isnan(low) or math.isinf(high))
    return Capacity(low, low, high, s.steps, bracketed)


def crossing(low: float, high: float, log_ratio_low: float, log_ratio_high: float) -> float:
    """The rate in [low, high] where log(SLO metric / limit) crosses 0, linear in log(rate) between the two
    bracket ends: exp(log low + (0 - r_low) / (r_high - r_low) * log(high / low)), clamped to the bracket;
    the geometric midpoint sqrt(low * high) if the log-ratios are missing or do not rise (noise)."""
    if not (0 < low < high < math.inf):
        raise ValueError(f"need 0 < low < high < inf, got {low}, {high}")
    r0, r1 = log_ratio_low, log_ratio_high
    if not (math.isfinite(r0) and math.isfinite(r1)) or r1 <= r0:
        return math.sqrt(low * high)
    f = min(1.0, max(0.0, -r0 / (r1 - r0)))
    return math.exp(math.log(low) + f * math.log(high / low))


def search_starts(spec: CapacitySpec, searches: int = DEFAULT_CAPACITY_SEARCHES, seed: int = 0) -> list[float]:
    """Seeded start points for repeated searches: the geometric middle of [lo, hi] (or spec.start) times
    2**u, u uniform in [-1/2, 1/2), so the searches do not all bisect on the same grid of points."""
    rng = np.random.default_rng(seed)
    centre = spec.start if spec.start is not None else math.sqrt(spec.lo * spec.hi)
    return [min(spec.hi, max(spec.lo, centre * 2.0 ** float(u))) for u in rng.uniform(-0.5, 0.5, searches)]


CAPACITY_INTERVAL_COVERAGE = 0.90
"""The level `capacity_interval` states: its interval is computed at a nominal 95% over the searches' crossing
estimates (`median_ci`: t on the logs for 2-5 searches), but searches run back to back share the machine's drift,
which no interval over them can see; under DEFAULT_NOISE it contained the true capacity in 93.8% / 91.3% / 90.6%
of 1000 trials at 2 / 3 / 5 searches (tests/unit/stats/test_stats_capacity.py), so it is labelled 90%, not 95%."""


@dataclass(frozen=True)
class CapacityEstimate(Estimate):
    """The capacity over repeated searches, or its censoring: `censored` "below" (capacity < `bound`, no value),
    "above" (capacity >= `bound`, no value) or "" (a value; an interval unless a search was censored)."""

    censored: str = ""
    bound: float = math.nan

    @property
    def label(self) -> str:
        """"< bound" / ">= bound" when censored (never 0 or a number it is not), else the value."""
        if self.censored:
            return f"{'<' if self.censored == 'below' else '>='} {self.bound:g}"
        return f"{self.value:.4g}" if math.isfinite(self.value) else "no capacity"


def capacity_interval(searches: Sequence[Capacity]) -> CapacityEstimate:
    """The capacity over repeated searches (ideally interleaved with the other variants' measurements): the median
    of each search's `Capacity.estimate` (the log-log crossing of the SLO limit; the geometric bracket midpoint
    without slo_ratio), so one search and several estimate the same quantity, with `median_ci`'s interval labelled
    with its simulated coverage (CAPACITY_INTERVAL_COVERAGE). Censoring (a search that failed at its lowest point,
    or held at its highest):
      - at least half the searches censored on one side: the capacity is censored ("< bound" with bound the
        highest of those searches' failing points, or ">= bound" with the lowest of their passing points), no value;
      - fewer: the median is still known (a censored search sits at its end of the order), but there is no interval.
    One search: its estimate, no interval (its bracket is not a confidence interval)."""
    if not searches:
        raise ValueError("capacity_interval needs at least one search")
    n = len(searches)
    below = [c.bound for c in searches if c.censored == "below"]
    above = [c.bound for c in searches if c.censored == "above"]
    level = CAPACITY_INTERVAL_COVERAGE
    if 2 * len(below) >= n and len(below) >= len(above):
        return CapacityEstimate(math.nan, math.nan, math.nan, n, f"censored: {len(below)} of {n} searches failed at "
                                f"their lowest point", level, "below", max(below))
    if 2 * len(above) >= n:
        return CapacityEstimate(math.nan, math.nan, math.nan, n, f"censored: {len(above)} of {n} searches held at "
                                f"their highest point", level, "above", min(above))
    if below or above:  # a minority censored: order them at their end, take the median, claim no interval
        ordered = sorted([-math.inf] * len(below) + [c.estimate for c in searches if not c.censored] + [math.inf] * len(above))
        value = float(np.median(ordered))
        return CapacityEstimate(value, math.nan, math.nan, n, f"median over {n} searches, {len(below) + len(above)} "
                                "censored: no interval", level)
    e = median_ci([c.estimate for c in searches], 0.95)
    if n == 1:
        return CapacityEstimate(e.value, math.nan, math.nan, 1, "one search: the crossing in its final bracket", level)
    return CapacityEstimate(e.value, e.low, e.high, e.n, f"median over {n} searches, {e.method} (nominal 95%, "
                            f"~{level:.0%} simulated with drift)", level)
