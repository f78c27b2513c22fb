"""Read harness runs back from MLflow as typed records (for compare, reports and gates)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from harness.errors import ReportError

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from harness.spec.gates import GatesSpec


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

    @property
    def failed(self) -> bool:
        return self.status != "ok"

    @property
    def error(self) -> str:
        return self.tags.get("harness.error", "") or ("the run did not finish" if self.status == "running" else "")

    def metric(self, name: str) -> float | None:
        v = self.metrics.get(name)
        return None if v is None or not math.isfinite(v) else float(v)


def _record(run: Any) -> RunRecord:
    tags = dict(run.data.tags)
    status = tags.get("harness.status")
    if status is None:
        status = {"FINISHED": "ok", "FAILED": "failed", "KILLED": "failed"}.get(run.info.status, "running")
    elif status == "ok" and run.info.status in ("FAILED", "KILLED"):
        status = "failed"
    return RunRecord(
        run_id=run.info.run_id,
        name=tags.get("harness.variant", run.info.run_name or run.info.run_id),
        experiment_id=run.info.experiment_id,
        parent_id=tags.get("mlflow.parentRunId"),
        status=status,
        metrics={k: float(v) for k, v in run.data.metrics.items()},
        params=dict(run.data.params),
        tags=tags,
    )


def _get_run(c: "MlflowClient", run_id: str) -> Any:
    try:
        return c.get_run(run_id)
    except Exception as exc:  # mlflow raises MlflowException subclasses
        raise ReportError(f"no MLflow run '{run_id}': {str(exc).splitlines()[0]}") from exc


def sweep_children(c: "MlflowClient", sweep: Any) -> list[RunRecord]:
    runs = c.search_runs(
        [sweep.info.experiment_id], f"tags.`mlflow.parentRunId` = '{sweep.info.run_id}'", order_by=["attributes.start_time ASC"]
    )
    return [_record(r) for r in runs]


def latest_sweep_id(c: "MlflowClient", experiment: str, tag: str | None = None) -> str:
    """The newest sweep run of an experiment (optionally carrying tag `key=value`)."""
    exp = c.get_experiment_by_name(experiment)
    if exp is None:
        names = [e.name for e in c.search_experiments()]
        raise ReportError(f"no MLflow experiment '{experiment}'; experiments there: {names}")
    query = "tags.`harness.kind` = 'sweep'"
    if tag is not None:
        key, value = (s.strip() for s in tag.split("=", 1))
        query += f" and tags.`{key}` = '{value}'"
    runs = c.search_runs([exp.experiment_id], query, order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        extra = f" tagged {tag}" if tag else ""
        raise ReportError(f"experiment '{experiment}' has no harness sweep run{extra}; run `harness run SPEC.yaml` first")
    return runs[0].info.run_id


@dataclass
class RunSet:
    """Variant runs to report on or gate, with the sweep they came from (if one)."""

    runs: list[RunRecord]
    sweep_id: str | None
    """The sweep (parent) run when all runs come from one sweep."""
    experiment: str


def load_runs(c: "MlflowClient", run_ids: list[str]) -> RunSet:
    """Variant runs for the given ids; a sweep id expands to its variant runs."""
    out: list[RunRecord] = []
    sweeps: set[str] = set()
    for rid in run_ids:
        run = _get_run(c, rid)
        if run.data.tags.get("harness.kind") == "sweep":
            children = sweep_children(c, run)
            if not children:
                raise ReportError(f"sweep run {rid} has no variant runs")
            out += children
            sweeps.add(rid)
        else:
            rec = _record(run)
            out.append(rec)
            if rec.parent_id:
                sweeps.add(rec.parent_id)
    if not out:
        raise ReportError("no runs given")
    exp = c.get_experiment(out[0].experiment_id)
    return RunSet(out, next(iter(sweeps)) if len(sweeps) == 1 else None, exp.name)


def spec_section(c: "MlflowClient", sweep_id: str, dest: Path) -> dict[str, Any]:
    """The experiment spec a sweep logged (artifact spec/experiment.yaml), as a plain mapping; {} if none."""
    try:
        local = c.download_artifacts(sweep_id, "spec/experiment.yaml", str(dest))
    except Exception:  # not logged (older run) or not readable
        return {}
    data = yaml.safe_load(Path(local).read_text()) or {}
    return data if isinstance(data, dict) else {}


def gates_of_sweep(c: "MlflowClient", sweep_id: str, dest: Path) -> "GatesSpec":
    """The `gates` section of the spec a sweep ran with (defaults when it had none)."""
    from harness.spec.gates_file import parse_gates

    data = spec_section(c, sweep_id, dest)
    return parse_gates(data.get("gates") or {}, f"run {sweep_id} spec/experiment.yaml: gates.")


def download_samples(c: "MlflowClient", run_id: str, dest: Path) -> list[Path]:
    """The lm-eval per-sample files (quality/**/samples_*.jsonl) of a variant run."""

    def walk(path: str) -> list[str]:
        found = []
        for f in c.list_artifacts(run_id, path):
            if f.is_dir:
                found += walk(f.path)
            elif Path(f.path).name.startswith("samples_") and f.path.endswith(".jsonl"):
                found.append(f.path)
        return found

    try:
        paths = walk("quality")
    except Exception:
        return []
    return [Path(c.download_artifacts(run_id, p, str(dest))) for p in paths]
