"""The GPU stage's records and arithmetic: samples, the window's summary (energy, power, utilisation, memory), series.

Energy is NVML's total-energy counter (mJ since the driver loaded) interpolated at the window's
ends where every GPU has one (Volta and newer), else the trapezoid of the sampled power.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from harness.errors import Failure
from harness.facts import COUNT, LOWER_COUNT, Measured, MetricFact, field_facts
from harness.stage import SeriesPoint

TOKENS_PER_JOULE = "perf/output_tokens_per_joule"
PER_JOULE = MetricFact("higher", "tokens/J", "out tok/J")
"""The fact of TOKENS_PER_JOULE."""


@dataclass(frozen=True)
class GpuReading:
    """One GPU at one instant; None where NVML does not report the value."""

    index: int
    name: str
    power_w: float | None
    util_pct: float | None
    mem_gib: float | None
    sm_mhz: float | None
    energy_j: float | None = None
    """NVML's cumulative energy counter (since the driver loaded), None where unsupported."""


@dataclass(frozen=True)
class GpuSample:
    t: float
    gpus: tuple[GpuReading, ...]

    def total(self, attr: str) -> float | None:
        """Sum over the GPUs of one reading (None when any GPU lacks it)."""
        values = [getattr(g, attr) for g in self.gpus or ()]
        return None if not values or any(v is None for v in values) else float(sum(values))

    def mean(self, attr: str) -> float | None:
        values = [getattr(g, attr) for g in self.gpus or () if getattr(g, attr) is not None]
        return sum(values) / len(values) if values else None

    def to_json(self) -> str:
        return json.dumps({"t": self.t, "gpus": [asdict(g) for g in self.gpus]})

    @classmethod
    def from_json(cls, line: str) -> "GpuSample":
        raw = json.loads(line)
        return cls(raw["t"], tuple(GpuReading(**g) for g in raw["gpus"]))


def _at(ts: list[float], ys: list[float], t: float) -> float:
    """Linear interpolation of the series at t, clamped to its ends."""
    if t <= ts[0]:
        return ys[0]
    if t >= ts[-1]:
        return ys[-1]
    i = next(i for i in range(1, len(ts)) if ts[i] >= t)
    return ys[i - 1] + (ys[i] - ys[i - 1]) * (t - ts[i - 1]) / (ts[i] - ts[i - 1]) if ts[i] > ts[i - 1] else ys[i]


def trapezoid(ts: list[float], ys: list[float], lo: float, hi: float) -> float:
    """Integral of the piecewise-linear series over [lo, hi] ∩ its span (values interpolated at the cuts)."""
    lo, hi = max(lo, ts[0]), min(hi, ts[-1])
    if hi <= lo:
        return 0.0
    pts = [(lo, _at(ts, ys, lo))] + [(t, y) for t, y in zip(ts, ys) if lo < t < hi] + [(hi, _at(ts, ys, hi))]
    return sum((t1 - t0) * (y0 + y1) / 2 for (t0, y0), (t1, y1) in zip(pts, pts[1:]))


@dataclass
class GpuResult:
    """The sampler's typed result: the measured window's summary (totals over the GPUs) and the samples."""

    power_w_mean: float | None = field(default=None, metadata=MetricFact("lower", "W", "power W").meta())
    """Energy / window seconds (W, all GPUs together)."""
    power_w_max: float | None = field(default=None, metadata=MetricFact("lower", "W").meta())
    energy_j: float | None = field(default=None, metadata=MetricFact("lower", "J").meta())
    util_mean: float | None = field(default=None, metadata=MetricFact("neither", "%").meta())
    """Mean utilisation over samples and GPUs (%)."""
    mem_gib_max: float | None = field(default=None, metadata=MetricFact("neither", "GiB").meta())
    """Highest memory in use, all GPUs together (GiB)."""
    sm_mhz_mean: float | None = field(default=None, metadata=MetricFact("neither", "MHz").meta())
    gpus: int = field(default=0, metadata=COUNT.meta())
    samples_taken: int = field(default=0, metadata=COUNT.meta())
    sample_failures: int = field(default=0, metadata=LOWER_COUNT.meta())
    energy_source: str = ""
    """'nvml_energy_counter' or 'trapezoid' (of the sampled power); '' without energy."""
    names: tuple[str, ...] = ()
    samples: list[GpuSample] = field(default_factory=list)
    window: tuple[float, float] | None = None
    file: Path | None = None
    skipped: str | None = None
    """Why nothing was sampled (no pynvml, no NVIDIA GPU); None when sampled."""
    last_error: str | None = None
    failures: list[Failure] = field(default_factory=list)
    """Always empty so far: read errors are counted in `sample_failures`, never a variant's failure."""

    def flat_metrics(self, prefix: str = "gpu/") -> dict[str, float]:
        facts = field_facts(type(self))
        values = {k: getattr(self, k) for k in ("power_w_mean", "power_w_max", "energy_j", "util_mean", "mem_gib_max", "sm_mhz_mean")}
        out = {f"{prefix}{k}": Measured(v, facts[k]) for k, v in values.items() if v is not None}
        if not self.skipped:
            out |= {f"{prefix}count": Measured(self.gpus, facts["gpus"]), f"{prefix}samples": Measured(self.samples_taken, facts["samples_taken"]),
                    f"{prefix}sample_failures": Measured(self.sample_failures, facts["sample_failures"])}
        return out

    def output_tokens_per_joule(self, output_tokens: float | None) -> float | None:
        """Tokens generated in the window per joule the GPUs drew in it."""
        return output_tokens / self.energy_j if output_tokens is not None and self.energy_j else None

    def history(self, start: float | None = None) -> dict[str, list[SeriesPoint]]:
        """`gpu/power_w`, `gpu/util`, `gpu/mem_gib`, `gpu/sm_mhz` over the window: the mean of each whole second
        after `start` (default: the window's start), for MLflow metric history (step = seconds into the load)."""
        lo, hi = self.window or ((self.samples[0].t, self.samples[-1].t) if self.samples else (0.0, 0.0))
        start = lo if start is None else start
        out: dict[str, list[SeriesPoint]] = {}
        for name, attr, how in (("power_w", "power_w", "total"), ("util", "util_pct", "mean"),
                                ("mem_gib", "mem_gib", "total"), ("sm_mhz", "sm_mhz", "mean")):
            buckets: dict[int, list[tuple[float, float]]] = {}
            for s in self.samples:
                v = getattr(s, how)(attr)
                if v is not None and lo <= s.t <= hi and s.t >= start:
                    buckets.setdefault(int(s.t - start), []).append((s.t, v))
            if buckets:
                out[f"gpu/{name}"] = [SeriesPoint(k, b[0][0], sum(v for _, v in b) / len(b)) for k, b in sorted(buckets.items())]
        return out


def summarize(samples: Sequence[GpuSample], window: tuple[float, float] | None = None) -> GpuResult:
    """The window's summary (None = the samples' whole span); samples outside it count only at the cuts."""
    result = GpuResult(samples=list(samples), samples_taken=len(samples))
    if not samples:
        return result
    ordered = sorted(samples, key=lambda s: s.t)
    lo, hi = window if window is not None else (ordered[0].t, ordered[-1].t)
    result.window = (lo, hi)
    result.gpus = max(len(s.gpus) for s in ordered)
    result.names = tuple(g.name for g in max(ordered, key=lambda s: len(s.gpus)).gpus)
    inside = [s for s in ordered if lo <= s.t <= hi] or [min(ordered, key=lambda s: abs(s.t - (lo + hi) / 2))]
    powers = [p for s in inside if (p := s.total("power_w")) is not None]
    utils = [u for s in inside if (u := s.mean("util_pct")) is not None]
    mems = [m for s in inside if (m := s.total("mem_gib")) is not None]
    clocks = [c for s in inside if (c := s.mean("sm_mhz")) is not None]
    result.power_w_max = max(powers) if powers else None
    result.util_mean = sum(utils) / len(utils) if utils else None
    result.mem_gib_max = max(mems) if mems else None
    result.sm_mhz_mean = sum(clocks) / len(clocks) if clocks else None
    covered = min(hi, ordered[-1].t) - max(lo, ordered[0].t)
    counted = [s for s in ordered if s.total("energy_j") is not None and len(s.gpus) == result.gpus]
    if len(counted) >= 2 and covered > 0:
        ts = [s.t for s in counted]
        result.energy_j = sum(_at(ts, [s.gpus[i].energy_j for s in counted], hi) - _at(ts, [s.gpus[i].energy_j for s in counted], lo)
                              for i in range(result.gpus))
        result.energy_source = "nvml_energy_counter"
    else:
        timed = [(s.t, p) for s in ordered if (p := s.total("power_w")) is not None]
        if len(timed) >= 2 and covered > 0:
            result.energy_j = trapezoid([t for t, _ in timed], [p for _, p in timed], lo, hi)
            result.energy_source = "trapezoid"
    if result.energy_j is not None and covered > 0:
        result.power_w_mean = result.energy_j / covered
    elif powers:
        result.power_w_mean = sum(powers) / len(powers)
    return result


def read_samples(path: Path) -> list[GpuSample]:
    """The samples a sampler wrote (its JSONL file), e.g. to summarise them again."""
    return [GpuSample.from_json(line) for line in path.read_text().splitlines() if line.strip()]
