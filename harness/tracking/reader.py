"""Read harness runs back from MLflow as typed records (for compare, reports and gates).

Every MLflow call goes through `mlflow_errors`: a run or experiment that does not exist is
RunNotFound / ExperimentNotFound, a store that cannot be read is TrackingUnavailable. Only an
artifact that was never logged (the spec of an older sweep, lm-eval samples) means "none".
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ArtifactNotFound, ExperimentNotFound, RunNotFound, TrackingError
from harness.tracking.contract import KIND_SWEEP, QUALITY_DIR, SPEC_ARTIFACT, STATUS_OK, SweepParam, Tag
from harness.tracking.mlflow_errors import mlflow_errors
from harness.tracking.run_record import KIND_REPEAT, TAG_BLOCK, TAG_REPEAT, RunRecord, int_tag, record_of
from harness.tracking.store import client, tracking_uri

if TYPE_CHECKING:
    from harness.spec.gates import GatesSpec

__all__ = ["RunRecord", "RunSet", "RunStore", "read_runs", "read_sweep"]


@dataclass
class RunSet:
    """Variant runs to report on or gate, with the sweep they came from (if one); read once, used by compare, publish and gate."""

    runs: list[RunRecord]
    sweep_id: str | None
    """The sweep (parent) run when all runs come from one sweep."""
    experiment: str
    store: "RunStore | None" = None
    """Where they were read (for samples, baselines and the report/gate files); None for hand-made sets."""
    passed_over: tuple[str, ...] = ()
    """Newer sweeps of the experiment that a plain `compare` passed over: none of their variants finished."""

    @property
    def smoke(self) -> bool:
        return any(r.smoke for r in self.runs)


class RunStore:
    """One MLflow store: run records, a sweep's logged spec and samples, and the post-run files and tags."""

    def __init__(self, uri: str | None = None):
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        self.uri = tracking_uri(uri, create=False)  # reading never creates a store
        self.client = client(self.uri)

    def _run(self, run_id: str) -> Any:
        with mlflow_errors(f"cannot read MLflow run '{run_id}'", RunNotFound):
            return self.client.get_run(run_id)

    def _search(self, experiment_id: str, query: str, **kw: Any) -> list[Any]:
        with mlflow_errors(f"cannot search MLflow runs ({query})"):
            return list(self.client.search_runs([experiment_id], query, **kw))

    def experiment_id(self, name: str) -> str:
        with mlflow_errors(f"cannot read MLflow experiment '{name}'", ExperimentNotFound):
            exp = self.client.get_experiment_by_name(name)
            if exp is None:
                names = [e.name for e in self.client.search_experiments()]
                raise ExperimentNotFound(f"no MLflow experiment '{name}' at {self.uri}; experiments there: {names}")
        return exp.experiment_id

    def _search_all(self, experiment_id: str, query: str) -> list[Any]:
        """Every page of one search."""
        out: list[Any] = []
        token = None
        while True:
            with mlflow_errors(f"cannot search MLflow runs ({query})"):
                page = self.client.search_runs([experiment_id], query, max_results=1000, page_token=token)
            out += list(page)
            token = page.token
            if not token:
                return out

    def _children(self, sweep: Any) -> list[Any]:
        query = f"tags.`{Tag.PARENT}` = '{sweep.info.run_id}'"
        return self._search(sweep.info.experiment_id, query, order_by=["attributes.start_time ASC"])

    def sweep_children(self, sweep: Any) -> list[RunRecord]:
        return [record_of(r) for r in self._children(sweep)]

    def repeat_runs(self, experiment_id: str, parent_ids: Collection[str], since_ms: int | None = None) -> dict[str, list[RunRecord]]:
        """The repeat runs (tag harness.kind=repeat) of the given variant runs, by parent, ordered by block then
        repeat: ONE search of the experiment (all its pages; started at or after `since_ms` when given)."""
        query = f"tags.`{Tag.KIND}` = '{KIND_REPEAT}'"
        if since_ms is not None:
            query += f" and attributes.start_time >= {int(since_ms)}"
        wanted, found = set(parent_ids), {}
        for run in self._search_all(experiment_id, query):
            parent = run.data.tags.get(Tag.PARENT)
            if parent in wanted:
                found.setdefault(parent, []).append(record_of(run))
        return {p: sorted(kids, key=lambda r: (int_tag(r, TAG_BLOCK), int_tag(r, TAG_REPEAT))) for p, kids in found.items()}

    def with_repeats(self, records: list[RunRecord], started: dict[str, int] | None = None) -> list[RunRecord]:
        """`records` with `repeats` filled from their finished repeat runs: one search per experiment."""
        by_experiment: dict[str, list[str]] = {}
        for r in records:
            if r.tags.get(Tag.KIND) not in (KIND_SWEEP, KIND_REPEAT):
                by_experiment.setdefault(r.experiment_id, []).append(r.run_id)
        children: dict[str, list[RunRecord]] = {}
        for eid, ids in by_experiment.items():
            starts = [started[i] for i in ids if started and started.get(i) is not None]
            children |= self.repeat_runs(eid, ids, min(starts) if starts and len(starts) == len(ids) else None)
        out = []
        for r in records:
            kids = [k for k in children.get(r.run_id, []) if not k.failed]
            blocks = [int_tag(k, TAG_BLOCK, i) for i, k in enumerate(kids)]
            out.append(replace(r, repeats=[dict(k.metrics) for k in kids], blocks=blocks) if kids else r)
        return out

    def latest_sweep_id(self, experiment: str, tag: str | None = None) -> str:
        """The newest sweep run of an experiment (optionally carrying tag `key=value`)."""
        query = f"tags.`{Tag.KIND}` = '{KIND_SWEEP}'"
        if tag is not None:
            key, value = (s.strip() for s in tag.split("=", 1))
            query += f" and tags.`{key}` = '{value}'"
        runs = self._search(self.experiment_id(experiment), query, order_by=["attributes.start_time DESC"], max_results=1)
        if not runs:
            extra = f" tagged {tag}" if tag else ""
            raise RunNotFound(f"experiment '{experiment}' has no harness sweep run{extra}; run `harness run SPEC.yaml` first")
        return runs[0].info.run_id

    def latest_finished_sweep(self, experiment: str, look_back: int = 50) -> tuple[str, list[str]]:
        """The newest sweep with a finished variant, and the newer sweeps passed over (none of their variants finished:
        a start failure, an interrupted run); the newest sweep when none of the last `look_back` has one."""
        eid = self.experiment_id(experiment)
        sweeps = self._search(eid, f"tags.`{Tag.KIND}` = '{KIND_SWEEP}'", order_by=["attributes.start_time DESC"], max_results=look_back)
        if not sweeps:
            return self.latest_sweep_id(experiment), []  # raises RunNotFound with its message
        newest = sweeps[0].info.run_id
        passed: list[str] = []
        for sweep in sweeps:
            sid = sweep.info.run_id
            if self._search(eid, f"tags.`{Tag.PARENT}` = '{sid}' and tags.`{Tag.STATUS}` = '{STATUS_OK}'", max_results=1):
                return sid, passed
            passed.append(sid)
        return newest, []

    def load_runs(self, run_ids: list[str]) -> RunSet:
        """Variant runs for the given ids; a sweep id expands to its variant runs."""
        out: list[RunRecord] = []
        sweeps: set[str] = set()
        started: dict[str, int] = {}
        for rid in run_ids:
            run = self._run(rid)
            raw = [run]
            if run.data.tags.get(Tag.KIND) == KIND_SWEEP:
                raw = self._children(run)
                if not raw:
                    raise RunNotFound(f"sweep run {rid} has no variant runs")
                sweeps.add(rid)
            elif run.data.tags.get(Tag.PARENT):
                sweeps.add(run.data.tags[Tag.PARENT])
            out += [record_of(r) for r in raw]
            started |= {r.info.run_id: r.info.start_time for r in raw}
        if not out:
            raise RunNotFound("no runs given")
        out = self.with_repeats(out, started)
        with mlflow_errors(f"cannot read MLflow experiment {out[0].experiment_id}", ExperimentNotFound):
            exp = self.client.get_experiment(out[0].experiment_id)
        return RunSet(out, next(iter(sweeps)) if len(sweeps) == 1 else None, exp.name, self)

    def read_sweep(self, experiment: str, sweep_id: str | None = None) -> RunSet:
        """The variants of one sweep: `sweep_id`, or the latest sweep of `experiment` with a finished variant (newer
        sweeps where none finished are named in `passed_over`)."""
        passed: list[str] = []
        if sweep_id is None:
            sweep_id, passed = self.latest_finished_sweep(experiment)
        if self._run(sweep_id).data.tags.get(Tag.KIND) != KIND_SWEEP:
            raise RunNotFound(f"run {sweep_id} is not a harness sweep run (tag {Tag.KIND}={KIND_SWEEP}); use --runs for variant runs")
        return replace(self.load_runs([sweep_id]), passed_over=tuple(passed))

    def _artifacts(self, run_id: str, path: str) -> list[Any]:
        with mlflow_errors(f"cannot list artifacts {path}/ of run {run_id}", RunNotFound):
            return list(self.client.list_artifacts(run_id, path))

    def _download(self, run_id: str, path: str, dest: Path) -> Path:
        with mlflow_errors(f"cannot download artifact {path} of run {run_id}", ArtifactNotFound):
            return Path(self.client.download_artifacts(run_id, path, str(dest)))

    def _local_artifact_root(self, run_id: str) -> Path | None:
        """The run's artifact folder when the store keeps artifacts on this machine's disk (a path or file:// URI)."""
        from urllib.parse import unquote, urlparse

        uri = self._run(run_id).info.artifact_uri or ""
        parsed = urlparse(uri)
        if parsed.scheme in ("", "file"):
            return Path(unquote(parsed.path if parsed.scheme else uri))
        return None

    def spec_section(self, sweep_id: str) -> dict[str, Any]:
        """The experiment spec a sweep logged (artifact spec/experiment.yaml), as a plain mapping; {} if it logged none."""
        import yaml

        folder = SPEC_ARTIFACT.rsplit("/", 1)[0]
        if SPEC_ARTIFACT not in {f.path for f in self._artifacts(sweep_id, folder)}:
            root = self._local_artifact_root(sweep_id)
            if root is not None and not root.exists():  # a store copied without its artifacts: not "logged none"
                raise ArtifactNotFound(
                    f"cannot read the spec sweep {sweep_id} ran with: its artifacts should be at {root}, which does not "
                    "exist (the tracking store was moved or copied without its artifact folder); copy that folder too, "
                    "or give the gates yourself (`harness compare --gates SPEC.yaml`)")
            return {}
        with tempfile.TemporaryDirectory() as tmp:
            text = self._download(sweep_id, SPEC_ARTIFACT, Path(tmp)).read_text()
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise TrackingError(f"run {sweep_id} {SPEC_ARTIFACT} is not valid YAML: {str(exc).splitlines()[0]}") from None
        return data if isinstance(data, dict) else {}

    def adaptive_design(self, sweep_id: str) -> tuple[dict[str, float], list[str]]:
        """An adaptive sweep's (`repeats.target`) design, read from its run once: the target metrics with the
        equivalence margin it decided with (the report judges them with the same margins,
        harness.report.judge.Judge.margins), and its stop reason then its decision per comparison as logged (tags
        harness.repeats_stop, harness.repeats_decisions). ({}, []) for a sweep without a target."""
        data = self._run(sweep_id).data
        margins = SweepParam.target_margins(data.params.get(SweepParam.TARGET, ""))
        stop = data.tags.get(Tag.REPEATS_STOP)
        if not stop:
            return margins, []
        return margins, [stop, *[line for line in data.tags.get(Tag.REPEATS_DECISIONS, "").splitlines() if line.strip()]]

    def gates_of_sweep(self, sweep_id: str) -> "GatesSpec":
        """The `gates` section of the spec a sweep ran with (defaults when it had none)."""
        from harness.spec.gates_file import parse_gates

        data = self.spec_section(sweep_id)
        return parse_gates(data.get("gates") or {}, f"run {sweep_id} {SPEC_ARTIFACT}: gates.")

    def download_samples(self, run_id: str, dest: Path) -> list[Path]:
        """The lm-eval per-sample files (quality/**/samples_*.jsonl) of a variant run; [] when it logged none."""

        def walk(path: str) -> list[str]:
            found = []
            for f in self._artifacts(run_id, path):
                if f.is_dir:
                    found += walk(f.path)
                elif Path(f.path).name.startswith("samples_") and f.path.endswith(".jsonl"):
                    found.append(f.path)
            return found

        return [self._download(run_id, p, dest) for p in walk(QUALITY_DIR)]

    def attach(self, run_id: str, local: Path, artifact_path: str) -> None:
        """Log a file or a folder's files as artifacts of `run_id` under `artifact_path`."""
        with mlflow_errors(f"cannot log {local} to MLflow run {run_id}", RunNotFound):
            if local.is_dir():
                self.client.log_artifacts(run_id, str(local), artifact_path)
            else:
                self.client.log_artifact(run_id, str(local), artifact_path)

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        with mlflow_errors(f"cannot tag MLflow run {run_id}", RunNotFound):
            self.client.set_tag(run_id, key, value)


def read_runs(uri: str | None, run_ids: list[str]) -> RunSet:
    """Read the runs once (sweep ids expand to their variants) for compare, publish and gate."""
    return RunStore(uri).load_runs(run_ids)


def read_sweep(uri: str | None, experiment: str, sweep_id: str | None = None) -> RunSet:
    """The variants of `sweep_id`, or of the latest sweep of `experiment`."""
    return RunStore(uri).read_sweep(experiment, sweep_id)
