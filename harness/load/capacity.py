"""Capacity at SLO (`load.capacity`): the load stage that searches the highest load meeting `load.slo`.

`CapacitySearch` has LoadRun's interface (start / running / progress / stop / finish, harness/stage.py).
A background thread runs `harness.stats.capacity.find_capacity` once per search (`searches`, seeded
starts, one after another), each `measure(point)` a real `LoadRun` at that point in its own folder
(`capacity-<k>-<point>/`, seed `load.seed + k`, so every measurement sends fresh prompts); a point passes
as in the rate scan (`harness.load.scan.meets`), and carries `slo_ratio` (`point_slo_ratio`: the SLO metric over
its limit, <= 1 exactly when it passes), from which every search reports THE capacity estimand: the rate where
the SLO metric crosses its limit, interpolated between its bracket ends on log scales
(`harness.stats.capacity.crossing`), the same quantity whatever `searches` is (the median over searches;
`capacity_interval`). A capacity beyond [lo, hi] is censored ("< lo", ">= hi"): no value, never 0.
With `load.capacity.grid` there is no search: one pass measures the grid's loads once each, in increasing order
(`grid-<k>-<point>/` folders), and `harness.stats.capacity_grid.grid_capacity` fits a monotone curve to their
slo_ratios and reports the same estimand (one "search", censored the same way); repeats (blocks) then pair the
per-block capacities like any metric. With `load.capacity.confirm`, one more window (`capacity-confirm-<point>/`,
`confirm.duration_s` long) at the capacity found judges each request by the SLO (`_request_ratio` <= 1; an error
fails) and reports the attainment with its one-sided Clopper-Pearson lower bound against `confirm.target`.
`stop()` stops the run in flight and ends the search. `finish()` returns the LoadResult of the highest passing
point measured (at most the capacity), with every measurement in `scan` (by point) and the capacity with its
interval in `capacity`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from harness.errors import Failure, HarnessError, LoadError
from harness.load.capacity_result import CapacityAtSLO, CapacityConfirm
from harness.load.records import RequestRecord
from harness.load.runner import LoadResult, LoadRun, ScanPoint
from harness.load.scan import meets
from harness.load.stats import cut_by_stop, tpot_s
from harness.server.endpoint import Endpoint
from harness.spec.load import LoadSpec, SLOSpec
from harness.stage import Progress
from harness.stats.capacity import Capacity, CapacitySpec, PointResult, capacity_interval, find_capacity, search_starts
from harness.stats.capacity_grid import CONFIRM_LEVEL, attainment_lower_bound, grid_capacity

POLL_S = 0.2
MakeRun = Callable[[LoadSpec, Endpoint, Path], LoadRun]


def _request_ratio(rec: RequestRecord, slo: SLOSpec) -> float:
    """The request's worst latency over its bound (<= 1: it meets every SLO, as `harness.load.stats.meets_slo`)."""
    if not rec.ok:
        return math.inf
    tpot = tpot_s(rec)
    worst = 0.0
    for bound_ms, value_s, undefined_meets in ((slo.ttft_ms, rec.ttft_s, False), (slo.e2e_ms, rec.e2e_s, False),
                                               (slo.tpot_ms, tpot, True)):
        if bound_ms is not None:
            if value_s is None:
                worst = worst if undefined_meets else math.inf
            else:
                worst = max(worst, value_s * 1000.0 / bound_ms)
    return worst


def _window(result: LoadResult) -> list[RequestRecord]:
    """The measured requests: started in the window, not cut short by the run's stop."""
    return [r for r in result.records if result.window_start <= r.t_start < result.window_end and not cut_by_stop(r)]


def confirm_window(result: LoadResult, slo: SLOSpec, point: float, target: float, level: float = CONFIRM_LEVEL) -> CapacityConfirm:
    """The confirm window's verdict: each measured request passes when it meets every SLO (`_request_ratio` <= 1; an
    error or a missing TTFT fails), with the one-sided Clopper-Pearson lower bound on the pass fraction."""
    recs = _window(result)
    passed = sum(_request_ratio(r, slo) <= 1.0 for r in recs)
    low = attainment_lower_bound(passed, len(recs), level) if recs else math.nan
    return CapacityConfirm(point, len(recs), passed, low, target, level)


def point_slo_ratio(result: LoadResult, slo: SLOSpec) -> float:
    """The SLO metric of one measurement over its limit, the worst of the point's two criteria (`meets`):
    - latency: the `min_attainment` quantile (the ceil(q * n)-th smallest) of the measured requests' worst
      latency-over-bound (a failed request: inf), so attainment >= min_attainment exactly when it is <= 1;
    - errors: error_rate / max_error_rate (max_error_rate 0: inf with any error).
    <= 1 exactly when the point passes; inf with no measured request."""
    recs = _window(result)
    if not recs:
        return math.inf
    ratios = sorted(_request_ratio(r, slo) for r in recs)
    latency = ratios[max(1, math.ceil(slo.min_attainment * len(ratios) - 1e-9)) - 1]
    errors = sum(not r.ok for r in recs) / len(recs)
    error = errors / slo.max_error_rate if slo.max_error_rate > 0 else (math.inf if errors > 0 else 0.0)
    return max(latency, error)


class _Stopped(Exception):
    """Ends the search from inside `measure` (stop() was called, or a measurement failed)."""


class CapacitySearch:
    """The load stage of a capacity search (harness/stage.py): LoadRuns chosen by find_capacity."""

    name = "load"

    def __init__(self, spec: LoadSpec, endpoint: Endpoint, folder: Path, make_run: MakeRun = LoadRun):
        if spec.capacity is None:
            raise ValueError("CapacitySearch needs load.capacity")
        c = spec.capacity
        self.spec, self.endpoint, self.folder, self.make_run = spec, endpoint, folder, make_run
        self.closed = spec.pattern == "closed"
        self.unit = "users" if self.closed else "req/s"
        self.grid = c.grid.loads(self.closed) if c.grid is not None else None
        """The fixed grid's loads (`load.capacity.grid`), measured once each in this order; None: a bracketing search."""
        lo, hi = c.bounds(self.closed)
        self.search_spec = CapacitySpec(lo, hi, c.start, c.tolerance, c.max_steps, c.repeats, integer=self.closed)
        self.starts = [math.nan] if self.grid else search_starts(self.search_spec, c.searches, spec.seed) if c.searches > 1 else [c.start]
        self.confirmed: CapacityConfirm | None = None
        self.confirming = False
        self.measured: list[tuple[int, ScanPoint]] = []
        """Complete measurements: (search index, point)."""
        self.partial: list[ScanPoint] = []
        """A measurement cut short by stop(): kept, but judged by nothing."""
        self.searches: list[Capacity] = []
        self.failures: list[Failure] = []
        self.made = 0
        """Load runs started (the k of their folders)."""
        self.search_index = 0
        self.point: float | None = None
        self.current: LoadRun | None = None
        self.stopped = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="capacity-search", daemon=True)

    # ------------------------------------------------------------------ the search (background thread)

    def _run(self) -> None:
        try:
            if self.grid is not None:
                self.searches.append(grid_capacity([(x, self._measure(x)) for x in self.grid]))
            else:
                for i, start in enumerate(self.starts):
                    self.search_index = i
                    self.searches.append(find_capacity(self._measure, replace(self.search_spec, start=start)))
            if self.spec.capacity is not None and self.spec.capacity.confirm is not None:
                self._confirm()
        except _Stopped:
            pass
        except Exception as exc:  # noqa: BLE001 - a fault in the search: kept as a failure, the measurements survive
            self.failures.append(Failure.of("load", exc, "capacity search: "))
        finally:
            self.current = None

    def _load(self, spec: LoadSpec, point: float, name: str) -> LoadResult:
        """One real LoadRun of `spec` at `point` in its own folder; _Stopped when stopped before it or when it failed."""
        with self._lock:
            if self.stopped:
                raise _Stopped
            self.made = k = self.made + 1
            spec = spec.model_copy(update={"seed": self.spec.seed + k})
            self.point = point
            try:
                run = self.make_run(spec, self.endpoint, self.folder / f"{name.format(k=k)}-{point:g}").start()
            except HarnessError as exc:
                self.failures.append(Failure.of("load", exc, f"capacity point {point:g}: "))
                raise _Stopped from exc
            self.current = run
        while run.running():
            time.sleep(POLL_S)
        try:
            result = run.finish()
        except LoadError as exc:  # no usable result: higher load will not do better, and the search cannot judge
            self.failures.append(Failure.of("load", exc, f"capacity point {point:g}: "))
            raise _Stopped from exc
        finally:
            self.current = None
        self.failures += [replace(f, message=f"capacity point {point:g}: {f.message}") for f in result.failures]
        return result

    def _measure(self, point: float) -> PointResult:
        result = self._load(self.spec.at_point(point), point, "grid-{k}" if self.grid is not None else "capacity-{k}")
        ok = meets(result.summary, self.spec.slo)
        if self.stopped:
            self.partial.append(ScanPoint(point, result, ok))
            raise _Stopped
        self.measured.append((self.search_index, ScanPoint(point, result, ok)))
        s = result.summary
        return PointResult(ok, s.slo_attainment, s.goodput_per_s, {"error_rate": s.error_rate, "requests": float(s.requests)},
                           slo_ratio=point_slo_ratio(result, self.spec.slo))

    def _confirm(self) -> None:
        """The confirm window at `fraction` x the capacity (none when the capacity has no value: censored or unbracketed)."""
        c = self.spec.capacity
        assert c is not None and c.confirm is not None
        found = capacity_interval(self.searches) if self.searches else None
        value = found.value if found is not None else math.nan
        if not math.isfinite(value):
            why = found.label if found is not None else "no search completed"
            self.failures.append(Failure("load", f"capacity confirm: no confirm window, the capacity has no value ({why})",
                                         "LoadError"))
            return
        point = float(max(1, round(value * c.confirm.fraction))) if self.closed else value * c.confirm.fraction
        spec = self.spec.at_point(point).model_copy(update={"duration_s": c.confirm.duration_s, "requests": None})
        self.confirming = True
        result = self._load(LoadSpec.model_validate(spec.model_dump()), point, "capacity-confirm")
        if not self.stopped:
            self.confirmed = confirm_window(result, self.spec.slo, point, c.confirm.target)

    # ------------------------------------------------------------------ the Stage protocol

    def start(self) -> "CapacitySearch":
        self._thread.start()
        return self

    def running(self) -> bool:
        return self._thread.is_alive()

    def progress(self) -> Progress:
        where = ("capacity confirm window" if self.confirming else f"capacity grid of {len(self.grid)}" if self.grid is not None
                 else f"capacity search {self.search_index + 1}/{len(self.starts)}") + f", {self.made} measurements"
        run, point = self.current, self.point
        if run is None or point is None:
            return Progress("load", self.made, None, " measurements", where)
        inner = run.progress()
        return Progress("load", inner.done, inner.total, inner.unit, f"{inner.detail}; {where}, now at {point:g} {self.unit}")

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            run = self.current
        if run is not None:
            run.stop()

    def finish(self, timeout_s: float | None = None) -> LoadResult:
        """The chosen point's result with every measurement and the capacity; failed points are in `failures`."""
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self.stop()
            self._thread.join()
        if not self.measured and not self.partial:
            why = "; ".join(f.message for f in self.failures) or "stopped before the first measurement"
            raise LoadError(f"capacity search: no load point finished; {why}")
        capacity = self._capacity()
        chosen = self._choose(capacity.value) if self.measured else self.partial[-1]  # stopped during the first one: what it measured
        result = chosen.result
        result.scan = sorted([p for _, p in self.measured] + self.partial, key=lambda p: p.point)
        result.max_point_meeting_slo = chosen.point if chosen.meets_slo and self.measured else None
        result.capacity = capacity
        result.failures = list(self.failures)  # every point's, the chosen one's included
        if len(self.searches) < len(self.starts):
            result.failures.append(Failure("load", f"capacity search: {len(self.searches)} of {len(self.starts)} searches completed; "
                                                   "the capacity is over those", "LoadError"))
        return result

    # ------------------------------------------------------------------ the result

    def _capacity(self) -> CapacityAtSLO:
        """The estimand over the completed searches (`capacity_interval`); one search: its bracket as [low, high]."""
        done = self.searches
        if not done:
            value, low, high, bracketed, method, censored, bound = math.nan, math.nan, math.nan, False, "no search completed", "", math.nan
        else:
            e = capacity_interval(done)
            value, low, high, bracketed, method, censored, bound = (e.value, e.low, e.high, all(s.bracketed for s in done),
                                                                    e.method, e.censored, e.bound)
            if len(done) == 1 and done[0].bracketed:
                low, high = done[0].low, done[0].high
                method = ("grid: the log-log crossing of a monotone fit between the grid points [low, high]" if self.grid is not None
                          else "one search: the log-log crossing in its final bracket [low, high]")
        rate, users = (None, value) if self.closed else (value, None)
        return CapacityAtSLO(rate, users, low, high, bracketed, method, list(done), self.made, censored, bound, self.confirmed)

    def _choose(self, capacity: float) -> ScanPoint:
        """The highest passing measurement at a point its search judged passing, not above the capacity if one is;
        with none passing, the lowest point measured (the nearest to passing)."""
        def judged(search: int, point: float) -> bool:
            if search >= len(self.searches):
                return True  # an unfinished search: its measurement's own verdict
            return next((s.meets for s in reversed(self.searches[search].steps) if s.point == point), True)

        passing = [p for i, p in self.measured if p.meets_slo and judged(i, p.point)]
        below = [p for p in passing if not math.isfinite(capacity) or p.point <= capacity * (1 + 1e-9)]
        pool = below or passing
        if pool:
            top = max(p.point for p in pool)
            return [p for p in pool if p.point == top][-1]
        low = min(p.point for _, p in self.measured)
        return [p for _, p in self.measured if p.point == low][-1]
