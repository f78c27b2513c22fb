"""Capacity at SLO (`load.capacity`): the load stage that searches the highest load meeting `load.slo`.

`CapacitySearch` has LoadRun's interface (start / running / progress / stop / finish, harness/stage.py).
A background thread runs `harness.stats.capacity.find_capacity` once per search (`searches`, seeded
starts, one after another), each `measure(point)` a real `LoadRun` at that point in its own folder
(`capacity-<k>-<point>/`, seed `load.seed + k`, so every measurement sends fresh prompts); a point passes
as in the rate scan (`harness.load.scan.meets`). `stop()` stops the run in flight and ends the search.
`finish()` returns the LoadResult of the highest passing point measured (at most the capacity), with
every measurement in `scan` (by point) and the capacity with its interval in `capacity`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from harness.errors import Failure, HarnessError, LoadError
from harness.load.capacity_result import CapacityAtSLO
from harness.load.runner import LoadResult, LoadRun, ScanPoint
from harness.load.scan import meets
from harness.server.endpoint import Endpoint
from harness.spec.load import LoadSpec
from harness.stage import Progress
from harness.stats.capacity import Capacity, CapacitySpec, PointResult, capacity_interval, find_capacity, search_starts

POLL_S = 0.2
MakeRun = Callable[[LoadSpec, Endpoint, Path], LoadRun]


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
        self.search_spec = CapacitySpec(c.lo, c.hi, c.start, c.tolerance, c.max_steps, c.repeats, integer=self.closed)
        self.starts = search_starts(self.search_spec, c.searches, spec.seed) if c.searches > 1 else [c.start]
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
            for i, start in enumerate(self.starts):
                self.search_index = i
                self.searches.append(find_capacity(self._measure, replace(self.search_spec, start=start)))
        except _Stopped:
            pass
        except Exception as exc:  # noqa: BLE001 - a fault in the search: kept as a failure, the measurements survive
            self.failures.append(Failure.of("load", exc, "capacity search: "))
        finally:
            self.current = None

    def _measure(self, point: float) -> PointResult:
        with self._lock:
            if self.stopped:
                raise _Stopped
            self.made = k = self.made + 1
            spec = self.spec.at_point(point).model_copy(update={"seed": self.spec.seed + k})
            self.point = point
            try:
                run = self.make_run(spec, self.endpoint, self.folder / f"capacity-{k}-{point:g}").start()
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
        ok = meets(result.summary, self.spec.slo)
        self.failures += [replace(f, message=f"capacity point {point:g}: {f.message}") for f in result.failures]
        if self.stopped:
            self.partial.append(ScanPoint(point, result, ok))
            raise _Stopped
        self.measured.append((self.search_index, ScanPoint(point, result, ok)))
        s = result.summary
        return PointResult(ok, s.slo_attainment, s.goodput_per_s, {"error_rate": s.error_rate, "requests": float(s.requests)})

    # ------------------------------------------------------------------ the Stage protocol

    def start(self) -> "CapacitySearch":
        self._thread.start()
        return self

    def running(self) -> bool:
        return self._thread.is_alive()

    def progress(self) -> Progress:
        where = f"capacity search {self.search_index + 1}/{len(self.starts)}, {self.made} measurements"
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
        done, c = self.searches, self.search_spec
        if not done:
            value, low, high, bracketed, method = math.nan, math.nan, math.nan, False, "no search completed"
        elif all(math.isnan(s.low) for s in done):  # the SLOs failed at lo every time
            value, low, high, bracketed, method = 0.0, 0.0, c.lo, False, f"every search failed at lo ({c.lo:g})"
        elif len(done) == 1:
            (s,) = done
            value, low, high, bracketed, method = s.value, s.low, s.high, s.bracketed, "one search: its final bracket"
        else:
            e = capacity_interval(done)
            value, low, high, bracketed, method = e.value, e.low, e.high, all(s.bracketed for s in done), e.method
        rate, users = (None, value) if self.closed else (value, None)
        return CapacityAtSLO(rate, users, low, high, bracketed, method, list(done), self.made)

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
