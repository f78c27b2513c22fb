"""Typed records passed from the stages to tracking and reporting."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import Failure, Failures
from harness.facts import COUNT, LOWER_COUNT, LOWER_MS, LOWER_S, SECONDS, Measured, fact_of
from harness.fidelity.compare import Comparison
from harness.fidelity.stage import FidelityResult
from harness.load.runner import LoadResult
from harness.quality.runner import QualityResult
from harness.server.gpu_summary import PER_JOULE, TOKENS_PER_JOULE, GpuResult
from harness.server.launch import RunningServer
from harness.server.metrics import ScrapeResult
from harness.spec.model import ResolvedVariant
from harness.stage import SERIES_PREFIX, SeriesPoint

VARIANT_S = "timing/variant_s"
"""A measurement's wall time (logged per variant and repeat; adaptive repeats read it back as the block time)."""


@dataclass
class VariantOutcome:
    """Everything one variant produced; stages that failed leave their field None."""

    variant: ResolvedVariant
    folder: Path
    server: RunningServer | None = None
    load: LoadResult | None = None
    quality: QualityResult | None = None
    quality_idle: QualityResult | None = None
    """The same samples scored with no load (quality.idle_baseline)."""
    scrape: ScrapeResult | None = None
    """The server's /metrics over the measured window (None when not scraped)."""
    gpu: GpuResult | None = None
    """NVML power, utilisation and memory over the measured window (skipped, with the reason, without a GPU)."""
    fidelity: FidelityResult | None = None
    """Fidelity to the baseline (the baseline's own: its noise floor); None when the stage did not run."""
    fidelity_floor: Comparison | None = None
    """The baseline's noise floor, logged next to this variant's fidelity as `fidelity/noise/*`."""
    failures: list[Failure] = field(default_factory=Failures)
    """Every stage failure, as data (rendered only by the CLI and the MLflow error tag), always in cause order
    (`errors.Failures`): an interrupt, then the server, then their consequences, whatever order they were added in."""
    duration_s: float = 0.0

    def __setattr__(self, name: str, value: object) -> None:
        if name == "failures" and not isinstance(value, Failures):
            value = Failures(value)  # type: ignore[arg-type]
        super().__setattr__(name, value)

    @property
    def failed(self) -> bool:
        return bool(self.failures)

    @property
    def server_metrics(self) -> dict[str, float]:
        return self.scrape.metrics if self.scrape is not None else {}

    @property
    def error_text(self) -> str:
        """Every failure in full, for the MLflow error tag."""
        return "\n".join(f.text() for f in self.failures)

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.load is not None:
            out.update(self.load.flat_metrics("perf/"))
        if self.quality is not None:
            out.update(self.quality.flat_metrics("quality/"))
            out["timing/quality_s"] = SECONDS.of(self.quality.duration_s)
        if self.quality_idle is not None:
            out.update(self.quality_idle.flat_metrics("quality_idle/"))
            out.update(load_deltas(self.quality_idle, self.quality))
        if self.scrape is not None:
            out.update(self.scrape.flat_metrics("server/"))
        if self.gpu is not None and not self.gpu.skipped:
            out.update(self.gpu.flat_metrics("gpu/"))
            tokens = out.get("server/generation_tokens")
            if tokens is None and self.load is not None:
                tokens = self.load.summary.output_tokens_per_s * (self.load.window_end - self.load.window_start)
            per_joule = self.gpu.output_tokens_per_joule(tokens)
            if per_joule is not None:
                out[TOKENS_PER_JOULE] = PER_JOULE.of(per_joule)
        out.update(self.fidelity_metrics())
        if self.server is not None:
            out["timing/server_ready_s"] = LOWER_S.of(self.server.ready_s)
        out[VARIANT_S] = SECONDS.of(self.duration_s)
        out.update(self.intervals(level=0.95))
        return out

    def series(self) -> dict[str, list[SeriesPoint]]:
        """Time series of the measured window, step = whole seconds from its start: the client's percentiles and
        rates per interval (harness/load/series.py), the server's gauges, histogram means and counter rates per
        scrape, the GPUs' power, utilisation and memory per second; named `series/<family>/<name>`."""
        if self.load is None or not self.load.records:
            return {}
        from harness.load.series import record_series, series_end

        lo, hi = self.load.window_start, self.load.window_end
        out = record_series(self.load.records, lo, hi)
        if self.scrape is not None:
            out.update(self.scrape.history(lo, max(series_end(self.load.records, lo, hi), hi)))
        if self.gpu is not None and not self.gpu.skipped:
            out.update(self.gpu.history(lo))
        return {SERIES_PREFIX + k: v for k, v in out.items() if v}

    def fidelity_metrics(self) -> dict[str, float]:
        """`fidelity/*` with their intervals, and the baseline's noise floor as `fidelity/noise/*`."""
        if self.fidelity is None:
            return {}
        return self.fidelity.flat_metrics("fidelity/", self.fidelity_floor)

    ci_method = "requests-bootstrap"
    """How the `<metric>_ci_low/_ci_high` of this outcome were made (tag harness.ci_method)."""

    def intervals(self, level: float = 0.95) -> dict[str, float]:
        """One run: bootstrap intervals over its requests for the latency percentiles (within-run only: a second
        run differs by more; throughput gets none). Repeated outcomes override this with intervals over repeats."""
        if self.load is None or not self.load.records:
            return {}
        from harness.load.stats import itls_s, tpot_s
        from harness.stats.estimate import request_bootstrap_ci

        lo, hi = self.load.window_start, self.load.window_end
        ok = [r for r in self.load.records if r.ok and lo <= r.t_start < hi]
        values = {
            "ttft": [r.ttft_s * 1000 for r in ok if r.ttft_s is not None],
            "tpot": [t * 1000 for r in ok if (t := tpot_s(r)) is not None],
            "itl": [g * 1000 for r in ok for g in itls_s(r)],
            "e2e": [r.e2e_s * 1000 for r in ok if r.e2e_s is not None],
        }
        out: dict[str, float] = {}
        for name, xs in values.items():
            if len(xs) < 2:
                continue
            for p in ("p50", "p95", "p99"):
                est = request_bootstrap_ci(xs, p, level, seed=0, resamples=500)
                out[f"perf/{name}_{p}_ms_ci_low"], out[f"perf/{name}_{p}_ms_ci_high"] = LOWER_MS.of(est.low), LOWER_MS.of(est.high)
        return out


HEADLINE = (
    "perf/ttft_p50_ms", "perf/ttft_p95_ms", "perf/ttft_p99_ms", "perf/tpot_p50_ms", "perf/tpot_p95_ms", "perf/tpot_p99_ms",
    "perf/itl_p50_ms", "perf/itl_p95_ms", "perf/itl_p99_ms", "perf/e2e_p50_ms", "perf/e2e_p95_ms", "perf/e2e_p99_ms",
    "perf/output_tokens_per_s", "perf/requests_per_s", "perf/total_tokens_per_s", "perf/error_rate", "perf/goodput_per_s",
    "perf/capacity_rps_at_slo", "perf/capacity_users_at_slo",
)
"""Metrics that get an interval over repeats (`<name>_ci_low`, `<name>_ci_high`)."""


@dataclass
class RepeatedOutcome(VariantOutcome):
    """A variant measured `len(repeats)` times: each repeat is a VariantOutcome of its own (kept, logged as a nested
    run); this one's metrics are the medians over repeats with intervals."""

    repeats: list[VariantOutcome] = field(default_factory=list)
    blocks: list[int] = field(default_factory=list)
    """The interleaved block index of each repeat."""
    level: float = 0.95

    ci_method = "repeats-median"

    def add(self, block: int, repeat: VariantOutcome) -> None:
        """One more repeat measured (in `block`): the variant's server, quality and fidelity are those of the first
        repeat that had them, its duration the repeats' sum."""
        self.repeats.append(repeat)
        self.blocks.append(block)
        self.server = next((r.server for r in self.repeats if r.server is not None), None)
        self.quality = next((r.quality for r in self.repeats if r.quality is not None), None)
        measured = next((r for r in self.repeats if r.fidelity is not None), None)
        if measured is not None:
            self.fidelity, self.fidelity_floor = measured.fidelity, measured.fidelity_floor
        self.duration_s = sum(r.duration_s for r in self.repeats)

    @property
    def failed(self) -> bool:
        return bool(self.failures) or any(r.failed for r in self.repeats)

    @property
    def error_text(self) -> str:
        own = [f.text() for f in self.failures]
        own += [f"[repeat {b}] " + r.error_text for b, r in zip(self.blocks, self.repeats) if r.failed]
        return "\n".join(own)

    def series(self) -> dict[str, list[SeriesPoint]]:
        """None here: each repeat's own run holds its time series."""
        return {}

    def metrics(self) -> dict[str, float]:
        """Medians over the repeats that measured each metric, intervals for the headline ones, repeats/count."""
        per = [r.metrics() for r in self.repeats]
        names = sorted({k for m in per for k in m if not k.endswith(("_ci_low", "_ci_high"))})
        out: dict[str, float] = {}
        from harness.stats.estimate import median_ci

        for name in names:
            values = [m[name] for m in per if name in m and math.isfinite(m[name])]
            if not values:
                continue
            est = median_ci(values, self.level)
            fact = next(fact_of(m[name]) for m in per if name in m)  # the repeats' own (declared with the value)
            out[name] = Measured(est.value, fact)
            if name in HEADLINE and est.has_interval:
                out[f"{name}_ci_low"], out[f"{name}_ci_high"] = Measured(est.low, fact), Measured(est.high, fact)
        out.update(self.fidelity_metrics())  # measured in one repeat: its own bootstrap intervals over prompts
        out["repeats/count"] = COUNT.of(len(self.repeats))
        out["repeats/failed"] = LOWER_COUNT.of(sum(r.failed for r in self.repeats))
        return out


def load_deltas(idle: QualityResult, loaded: QualityResult | None) -> dict[str, float]:
    """quality/<task>/<metric>_load_delta = score under load - score with no load (same samples)."""
    if loaded is None:
        return {}
    out: dict[str, float] = {}
    for task, metrics in loaded.scores.items():
        for name, score in metrics.items():
            base = idle.scores.get(task, {}).get(name)
            if base is not None:
                out[f"quality/{task}/{name}_load_delta"] = score.value - base.value  # the score's direction (contract)
    return out


@dataclass
class SweepResult:
    experiment: str
    parent_run_id: str | None
    outcomes: list[VariantOutcome]
    folder: Path
    kept: dict[str, str] = field(default_factory=dict)
    """Resumed sweeps: variants measured before and kept, with their status (ok | failed)."""
    unlogged: list[str] = field(default_factory=list)
    """Variants measured but not (fully) logged to MLflow: their results are in the folder for `harness sync`."""

    @property
    def failed_variants(self) -> list[str]:
        return [n for n, s in self.kept.items() if s != "ok"] + [o.variant.name for o in self.outcomes if o.failed]

    @property
    def failed(self) -> bool:
        return bool(self.failed_variants)
