"""Rate scan: the load points of `load.rate_scan`, run one after another on the same server.

`RateScan` has LoadRun's interface (start / running / progress / stop / finish), so the
pipeline drives a scan exactly like a single load run; `running()` moves on to the next point
when one ends. A point passes when its SLO attainment reaches `slo.min_attainment` and its error
rate stays within `slo.max_error_rate`; `finish()` returns the highest passing point's result
(the last point's when none passes) with every point attached.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from harness.errors import Failure, LoadError
from harness.load.runner import LoadResult, LoadRun, ScanPoint
from harness.load.stats import LoadSummary
from harness.server.endpoint import Endpoint
from harness.spec.load import LoadSpec, SLOSpec
from harness.stage import Progress


def meets(summary: LoadSummary, slo: SLOSpec) -> bool:
    if summary.requests == 0 or summary.error_rate > slo.max_error_rate:
        return False
    # no latency bound set: attainment is undefined and only the error rate decides
    return math.isnan(summary.slo_attainment) or summary.slo_attainment >= slo.min_attainment


class RateScan:
    """The load stage of a rate scan (harness/stage.py): one LoadRun per point."""

    name = "load"

    def __init__(self, spec: LoadSpec, endpoint: Endpoint, folder: Path):
        if spec.rate_scan is None:
            raise ValueError("RateScan needs load.rate_scan")
        self.spec = spec
        self.endpoint = endpoint
        self.folder = folder
        self.points = list(spec.rate_scan.points)
        self.done: list[ScanPoint] = []
        self.failures: list[Failure] = []
        self.current: LoadRun | None = None
        self.index = -1
        self.stopped = False

    def _next(self) -> None:
        self.index += 1
        point = self.points[self.index]
        self.current = LoadRun(self.spec.at_point(point), self.endpoint, self.folder / f"point-{point:g}").start()

    def start(self) -> "RateScan":
        self._next()
        return self

    def _close_current(self) -> None:
        assert self.current is not None
        point = self.points[self.index]
        try:
            result = self.current.finish()
            self.done.append(ScanPoint(point, result, meets(result.summary, self.spec.slo)))
        except LoadError as exc:
            self.failures.append(Failure.of("load", exc, f"scan point {point:g}: "))
            self.stopped = True  # higher load will not do better
        self.current = None

    def running(self) -> bool:
        if self.current is None:
            return False
        if self.current.running():
            return True
        self._close_current()
        if not self.stopped and self.index + 1 < len(self.points):
            self._next()
            return True
        return False

    def progress(self) -> Progress:
        where = f"scan point {self.index + 1}/{len(self.points)} ({self.points[self.index]:g})"
        if self.current is None:
            return Progress("load", self.index + 1, len(self.points), " points", where)
        inner = self.current.progress()
        return Progress("load", inner.done, inner.total, inner.unit, f"{inner.detail}; {where}")

    def stop(self) -> None:
        self.stopped = True
        if self.current is not None:
            self.current.stop()

    def finish(self, timeout_s: float | None = None) -> LoadResult:
        """The chosen point's result with all points attached; failed points are in the result's `failures`."""
        while self.running():  # normally already over: the pipeline polls running()
            time.sleep(0.2)
        if not self.done:
            raise LoadError("rate scan: no load point finished; " + "; ".join(f.message for f in self.failures))
        passing = [p for p in self.done if p.meets_slo]
        chosen = passing[-1] if passing else self.done[-1]
        result = chosen.result
        result.scan = list(self.done)
        result.max_point_meeting_slo = passing[-1].point if passing else None
        result.failures = list(self.failures)
        return result
