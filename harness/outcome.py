"""Typed records passed from the stages to tracking and reporting."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import Failure
from harness.load.runner import LoadResult
from harness.quality.runner import QualityResult
from harness.server.launch import RunningServer
from harness.server.metrics import ScrapeResult
from harness.spec.model import ResolvedVariant


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
    failures: list[Failure] = field(default_factory=list)
    """Every stage failure, as data (rendered only by the CLI and the MLflow error tag)."""
    duration_s: float = 0.0

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
            out["timing/quality_s"] = self.quality.duration_s
        if self.quality_idle is not None:
            out.update(self.quality_idle.flat_metrics("quality_idle/"))
            out.update(load_deltas(self.quality_idle, self.quality))
        if self.scrape is not None:
            out.update(self.scrape.flat_metrics("server/"))
        if self.server is not None:
            out["timing/server_ready_s"] = self.server.ready_s
        out["timing/variant_s"] = self.duration_s
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
                out[f"quality/{task}/{name}_load_delta"] = score.value - base.value
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
