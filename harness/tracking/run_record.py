"""A variant run as the harness logged it (RunRecord), and the repeats contract read with it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.stage import SERIES_PREFIX
from harness.tracking.contract import KIND_REPEAT, STATUS_FAILED, STATUS_OK, STATUS_RUNNING, Tag

if TYPE_CHECKING:
    from harness.stats.estimate import Estimate

# The repeats contract (issue 11), read here, written by the pipeline's MLflow logger: a variant run of a sweep
# with repeats.count = R > 1 has R child runs tagged harness.kind=repeat (mlflow.parentRunId = the variant run,
# harness.repeat = 0..R-1, harness.block = the interleaved block 0..R-1), started after it; the variant run logs
# each headline metric M as the median over repeats with M_ci_low / M_ci_high, repeats/count = R and the tag
# harness.ci_method (repeats-median | requests-bootstrap | none).
TAG_REPEAT, TAG_BLOCK, TAG_CI_METHOD = Tag.REPEAT, Tag.BLOCK, Tag.CI_METHOD
REPEATS_COUNT = "repeats/count"
CI_LOW, CI_HIGH = "_ci_low", "_ci_high"
LEVEL_PARAM, ORDER_PARAM = "repeats.level", "repeats.order"
DEFAULT_CI_LEVEL = 0.95


@dataclass(frozen=True)
class RunRecord:
    """One variant run as logged by the harness."""

    run_id: str
    name: str
    """Variant name (tag harness.variant), else the MLflow run name."""
    experiment_id: str
    parent_id: str | None
    status: str
    """ok | failed | running (a run that never finished counts as failed)."""
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    repeats: list[dict[str, float]] = field(default_factory=list)
    """Metrics of each finished repeat (child runs tagged harness.kind=repeat), ordered by block; [] when repeats = 1."""
    blocks: list[int] = field(default_factory=list)
    """The block (harness.block) of each entry of `repeats`; [] means 0, 1, 2, ..."""

    @property
    def failed(self) -> bool:
        return self.status != STATUS_OK

    @property
    def error(self) -> str:
        return self.tags.get(Tag.ERROR, "") or ("the run did not finish" if self.status == STATUS_RUNNING else "")

    @property
    def smoke(self) -> bool:
        return self.tags.get(Tag.SMOKE) == "true"

    def metric(self, name: str) -> float | None:
        v = self.metrics.get(name)
        return None if v is None or not math.isfinite(v) else float(v)

    @property
    def repeat_count(self) -> int:
        """R: the logged repeats/count, else the repeats read, else 1."""
        logged = self.metric(REPEATS_COUNT)
        return int(logged) if logged is not None else max(1, len(self.repeats))

    @property
    def ci_method(self) -> str:
        """How the logged intervals were made: repeats-median | requests-bootstrap | none."""
        return self.tags.get(TAG_CI_METHOD, "none")

    @property
    def ci_level(self) -> float:
        try:
            return float(self.params.get(LEVEL_PARAM, DEFAULT_CI_LEVEL))
        except ValueError:
            return DEFAULT_CI_LEVEL

    @property
    def interleaved(self) -> bool:
        """Were the repeats measured in interleaved blocks (param repeats.order, default interleaved)?"""
        return self.params.get(ORDER_PARAM, "interleaved") != "sequential"

    def interval(self, name: str) -> tuple[float, float] | None:
        """The logged interval (M_ci_low, M_ci_high) of metric M, or None."""
        low, high = self.metric(name + CI_LOW), self.metric(name + CI_HIGH)
        return None if low is None or high is None else (low, high)

    def estimate(self, name: str) -> "Estimate | None":
        """Metric M with its logged interval (nan bounds when none), or None when M was not logged."""
        from harness.stats.estimate import Estimate

        value = self.metric(name)
        if value is None:
            return None
        low, high = self.interval(name) or (math.nan, math.nan)
        return Estimate(value, low, high, self.repeat_count, self.ci_method, self.ci_level)

    def repeat_values(self, name: str) -> dict[int, float]:
        """Block -> metric M of that repeat (finite values only)."""
        blocks = self.blocks or list(range(len(self.repeats)))
        return {b: float(m[name]) for b, m in zip(blocks, self.repeats) if name in m and math.isfinite(m[name])}


def int_tag(run: RunRecord, tag: str, default: int = -1) -> int:
    try:
        return int(run.tags.get(tag, default))
    except ValueError:
        return default


def record_of(run: Any) -> RunRecord:
    tags = dict(run.data.tags)
    status = tags.get(Tag.STATUS)
    if status is None:
        status = {"FINISHED": STATUS_OK, "FAILED": STATUS_FAILED, "KILLED": STATUS_FAILED}.get(run.info.status, STATUS_RUNNING)
    elif status == STATUS_OK and run.info.status in ("FAILED", "KILLED"):
        status = STATUS_FAILED
    return RunRecord(
        run_id=run.info.run_id,
        name=tags.get(Tag.VARIANT, run.info.run_name or run.info.run_id),
        experiment_id=run.info.experiment_id,
        parent_id=tags.get(Tag.PARENT),
        status=status,
        # a time series' latest point is no result of the run: its history is read with get_metric_history
        metrics={k: float(v) for k, v in run.data.metrics.items() if not k.startswith(SERIES_PREFIX)},
        params=dict(run.data.params),
        tags=tags,
    )
