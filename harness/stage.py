"""The one shape every measuring stage has.

A stage is started, polled (`running`, `progress`) while the pipeline watches the server, may be
stopped early, and is finished into its typed result. `finish()` raises a HarnessError when the
stage produced nothing usable; partial failures (a rate-scan point that failed, scrapes that
went unanswered) travel in the result's `failures`. The load (`LoadRun`, `RateScan`), quality
(`QualityRun`) and scrape (`MetricsScraper`) stages implement it; the server stage is the
`serve()` context manager, whose `RunningServer` answers `running()` and `progress()` alike.
"""

from __future__ import annotations

from dataclasses import dataclass
import time
from typing import Any, NamedTuple, Protocol, TypeVar

R = TypeVar("R", covariant=True)


@dataclass(frozen=True)
class Progress:
    """Where a stage stands: `done` of `total` `unit` (total None when open-ended), plus a detail."""

    stage: str
    done: float
    total: float | None = None
    unit: str = ""
    detail: str = ""

    def __str__(self) -> str:
        of = f"/{self.total:.0f}" if self.total is not None else ""
        text = f"{self.stage} {self.done:.0f}{of}{self.unit}"
        return f"{text}, {self.detail}" if self.detail else text


SERIES_PREFIX = "series/"
"""Time series (MLflow metric history with steps) are named `series/<family>/<name>`, apart from the final values."""


class SeriesPoint(NamedTuple):
    """One point of a stage's time series (MLflow metric history: `series/*`)."""

    step: int
    """Whole seconds from the measured window's start (the MLflow step)."""
    t: float
    """Epoch seconds the point stands for (the MLflow timestamp / 1000)."""
    value: float


class Stage(Protocol[R]):
    """start -> running/progress -> (stop) -> finish -> typed result."""

    name: str

    def start(self) -> "Stage[R]": ...

    def running(self) -> bool: ...

    def progress(self) -> Progress: ...

    def stop(self) -> None: ...

    def finish(self) -> R: ...


class SubprocessStage:
    """What the load and quality stages share about the one subprocess each runs (Locust, lm-eval): a stop that
    `finish()` still summarises after, and a deadline that is real (the process is stopped when it passes)."""

    proc: Any
    """The running `ManagedProcess` (harness/server/process.py)."""
    started: float = 0.0
    stopped_early: bool = False
    timed_out: bool = False

    def stop(self) -> None:
        """Stop early (a fault elsewhere, Ctrl-C); `finish()` still reads what the process had written."""
        self.stopped_early = True
        self.proc.stop()

    def past_deadline(self, seconds: float) -> bool:
        """True (and the process stopped, `timed_out` set) once `seconds` have passed since `started`."""
        if time.time() - self.started <= seconds:
            return False
        self.timed_out = True
        self.proc.stop()
        return True

