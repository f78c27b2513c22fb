"""Open-loop pacing: one seeded arrival schedule shared by every user and every local process.

`ArrivalSchedule` is pure: the i-th arrival's offset (seconds from the start) for constant-rate,
Poisson, rate-step, burst and trace patterns (a trace: its rows' scaled offsets, harness/loadgen/trace_formats.py);
with `load.requests` = N it has N arrivals (or fewer when the run's cap comes first). `SharedPacer` hands out arrival indices from a small file under an exclusive
lock, so Locust's `--processes` workers draw from one schedule: the first claim fixes the start
time, every later claim gets the next index. A user claims the next arrival only when it is free,
so when every user is busy the send happens late and the lag (`send_lag_s`) shows it. Across
machines (master/worker) each worker paces its own share (see docs/metrics.md); a trace's worker k of n
takes its arrivals k, k+n, k+2n, ... and `claim` hands out the trace's row index, so the request sent is that row.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from harness.loadgen import trace_formats
from harness.loadgen.shared_struct import SharedStruct
from harness.spec.load import LoadSpec

_FMT = "<dq"  # start epoch, next index


def step_at(spec: LoadSpec, t: float) -> tuple[int, float] | None:
    """Closed-loop steps: (users, spawn rate) at `t` seconds into the run, None after the last step."""
    end = 0.0
    for step in spec.steps:
        end += step.duration_s
        if t < end and step.users is not None:
            return step.users, step.spawn_rate or spec.spawn_rate
    return None


class ArrivalSchedule:
    """Offsets of arrivals 0, 1, 2, ... within [0, horizon_s); deterministic for a seed."""

    def __init__(self, spec: LoadSpec, share: tuple[int, int] = (0, 1)):
        """`share=(k, n)`: this pacer is worker k of n pacing independently (rate / n each)."""
        self.spec = spec
        self.k, self.n = share
        self.horizon_s = spec.run_s()
        self.limit = spec.requests
        self.rng = random.Random(f"{spec.seed}:arrivals:{self.k}")
        self.offsets: list[float] = []
        self._t = 0.0
        self._seg = 0
        self._j = 0
        self.trace: list[float] | None = None
        if spec.pattern == "trace":  # the trace's own (scaled) offsets, within the run
            assert spec.workload.trace is not None
            self.trace = [r.offset_s for r in trace_formats.read(spec.workload.trace)]
            self.segments = []
            self.poisson = False
        elif spec.pattern == "steps":
            self.segments = []
            t = 0.0
            for step in spec.steps:
                self.segments.append((t, t + step.duration_s, float(step.rate or 0.0)))
                t += step.duration_s
            self.poisson = spec.step_arrivals == "poisson"
        else:
            self.segments = [(0.0, self.horizon_s, float(spec.rate or 0.0))]
            self.poisson = spec.pattern == "poisson"

    def offset(self, i: int) -> float | None:
        """Offset of arrival i, or None when the schedule ends before it."""
        if self.limit is not None and i >= self.limit:
            return None
        while len(self.offsets) <= i:
            nxt = self._next()
            if nxt is None:
                return None
            self.offsets.append(nxt)
        return self.offsets[i]

    def row(self, i: int) -> int:
        """The global arrival index of this pacer's i-th arrival: the trace row it sends (worker k of n takes k + i*n)."""
        return self.k + i * self.n if self.trace is not None else i

    def _next(self) -> float | None:
        if self.trace is not None:
            j = self.row(len(self.offsets))
            return self.trace[j] if j < len(self.trace) and self.trace[j] < self.horizon_s else None
        if self.spec.pattern == "burst":
            assert self.spec.burst is not None
            b = self.spec.burst
            j = len(self.offsets)
            t = (j // b.size) * b.every_s
            return t if t < self.horizon_s else None
        if not self.poisson:
            # evenly spaced: arrival j of a segment at lo + (k + j*n)/rate (no accumulated rounding)
            while self._seg < len(self.segments):
                lo, hi, rate = self.segments[self._seg]
                t = lo + (self.k + self._j * self.n) / rate if rate > 0 else hi
                if t < hi:
                    self._j += 1
                    return t
                self._seg, self._j = self._seg + 1, 0
            return None
        t = self._t
        for lo, hi, rate in self.segments:
            if t >= hi or rate <= 0:
                continue
            # memoryless draws, restarted at a step boundary (exact for a piecewise-constant rate)
            t = max(t, lo) + self.rng.expovariate(rate / self.n)
            if t < hi:
                self._t = t
                return t
            t = hi
        return None


class SharedPacer:
    """Claims arrival slots from a schedule; shared across processes through `path` (or in-process when None)."""

    def __init__(self, schedule: ArrivalSchedule, path: str | Path | None = None, lead_s: float = 0.0):
        self.schedule = schedule
        self.path = Path(path) if path else None
        self.lead_s = lead_s
        self._local = [0.0, 0]
        self._shared = SharedStruct(self.path, _FMT, (0.0, 0)) if self.path is not None else None

    def _take(self) -> tuple[float, int]:
        if self.path is None:
            if not self._local[0]:
                self._local[0] = time.time() + self.lead_s
            i = int(self._local[1])
            self._local[1] = i + 1
            return self._local[0], i
        assert self._shared is not None
        (_, i), (t0, _) = self._shared.update(lambda old: (old[0] or time.time() + self.lead_s, old[1] + 1))
        return t0, i

    def claim(self) -> tuple[int, float] | None:
        """(index, scheduled epoch time) of the next arrival, or None when the schedule is over; the index is the
        schedule's global one (a trace's row, `ArrivalSchedule.row`)."""
        t0, i = self._take()
        off = self.schedule.offset(i)
        return None if off is None else (self.schedule.row(i), t0 + off)
