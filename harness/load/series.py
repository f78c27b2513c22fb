"""Rate sweep: the load points of `load.sweep`, run one after another on the same server.

`LoadSeries` has LoadRun's interface (start / running / progress / stop / finish), so the
pipeline drives a sweep exactly like a single load run; `running()` moves on to the next point
when one ends. A point passes when its SLO attainment reaches `slo.min_attainment` and its error
rate stays within `slo.max_error_rate`; `finish()` returns the highest passing point's result
(the last point's when none passes) with every point attached.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from harness.errors import LoadError
from harness.load.runner import LoadResult, LoadRun, SweepPoint
from harness.load.stats import LoadSummary
from harness.server.endpoint import Endpoint
from harness.spec.load import LoadSpec, SLOSpec


def meets(summary: LoadSummary, slo: SLOSpec) -> bool:
    if summary.requests == 0 or summary.error_rate > slo.max_error_rate:
        return False
    # no latency bound set: attainment is undefined and only the error rate decides
    return math.isnan(summary.slo_attainment) or summary.slo_attainment >= slo.min_attainment


class LoadSeries:
    def __init__(self, spec: LoadSpec, endpoint: Endpoint, folder: Path):
        if spec.sweep is None:
            raise ValueError("LoadSeries needs load.sweep")
        self.spec = spec
        self.endpoint = endpoint
        self.folder = folder
        self.points = list(spec.sweep.points)
        self.done: list[SweepPoint] = []
        self.errors: list[str] = []
        self.current: LoadRun | None = None
        self.index = -1
        self.stopped = False

    def _next(self) -> None:
        self.index += 1
        point = self.points[self.index]
        self.current = LoadRun(self.spec.at_point(point), self.endpoint, self.folder / f"point-{point:g}").start()

    def start(self) -> "LoadSeries":
        self._next()
        return self

    def _close_current(self) -> None:
        assert self.current is not None
        point = self.points[self.index]
        try:
            result = self.current.finish()
            self.done.append(SweepPoint(point, result, meets(result.summary, self.spec.slo)))
        except LoadError as exc:
            self.errors.append(f"sweep point {point:g}: {exc}")
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

    def progress(self) -> str:
        inner = self.current.progress() if self.current else "done"
        return f"sweep point {self.index + 1}/{len(self.points)} ({self.points[self.index]:g}): {inner}"

    def stop(self) -> None:
        self.stopped = True
        if self.current is not None:
            self.current.stop()

    def finish(self, timeout_s: float | None = None) -> LoadResult:
        """The chosen point's result with all points attached; failed points are in `errors`."""
        while self.running():  # normally already over: the pipeline polls running()
            time.sleep(0.2)
        if not self.done:
            raise LoadError("rate sweep: no load point finished; " + "; ".join(self.errors))
        passing = [p for p in self.done if p.meets_slo]
        chosen = passing[-1] if passing else self.done[-1]
        result = chosen.result
        result.sweep = list(self.done)
        result.max_point_meeting_slo = passing[-1].point if passing else None
        return result
