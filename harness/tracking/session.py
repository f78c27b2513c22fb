"""The sweep's tracking, which never stops a measurement.

`TrackingSession` wraps `SweepLogger`. Transient failures (a locked SQLite store, a tracking
server that does not answer) are retried call by call (tracking/mlflow_errors.py). A request
the store refuses (TrackingRejected) or a run it does not have (RunNotFound) fails that run
only: it is closed FAILED where possible, its results stay in the folder, and the sweep keeps
logging. Any other TrackingError (MLflow unreachable after the retries, a read-only store, a
tracking server that died mid-sweep) is reported once, and from then on the sweep goes on
locally: every variant's record is still written to its folder (`results.json`) and its raw
files stay there, and `harness sync RUN_DIR` logs them later. MLflow's own HTTP retries are
shortened, so an unreachable server fails in seconds, not minutes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import RunNotFound, TrackingError, TrackingRejected
from harness.outcome import VariantOutcome
from harness.redaction import secret_values
from harness.spec.model import ExperimentSpec, ResolvedVariant

T = TypeVar("T")

FAST_FAIL_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}


def fail_fast() -> None:
    """MLflow's REST client retries 7 times with backoff by default (minutes of silence); keep what the user set."""
    for name, value in FAST_FAIL_ENV.items():
        os.environ.setdefault(name, value)


class TrackingSession:
    """SweepLogger calls that degrade to local-only on the first TrackingError."""

    def __init__(self, spec: ExperimentSpec, variants: list[ResolvedVariant], warn: Callable[[str], None]):
        from harness.tracking.mlflow_logger import SweepLogger, spec_secrets
        from harness.tracking.store import tracking_uri

        fail_fast()
        self.spec = spec
        self.warn = warn
        self.offline: str | None = None
        self.experiment = spec.tracking.experiment or spec.name
        self.secrets = spec_secrets(spec, variants)
        self.logger: Any = None
        self.uri = spec.tracking.uri or os.environ.get("MLFLOW_TRACKING_URI") or "mlruns/mlflow.db"
        try:
            self.uri = tracking_uri(spec.tracking.uri)
            self.logger = SweepLogger(spec, variants)
        except TrackingError as exc:
            self._go_offline(exc)
        if self.logger is None:
            self.secrets = self.secrets or secret_values([spec.server, *(v.server for v in variants)])

    def _go_offline(self, exc: TrackingError) -> None:
        if self.offline is None:
            self.offline = str(exc).splitlines()[0]
            self.warn(f"MLflow unavailable ({self.offline}); the sweep goes on locally: every result stays in the run folder, "
                      "and `harness sync RUN_DIR` logs it to MLflow later")

    def _call(self, fn: Callable[..., T], *args: Any, run_id: str | None = None) -> T | None:
        """`fn`'s result; None when MLflow failed. A refused request or a missing run fails only `run_id` (closed FAILED
        where the store has it); anything else takes the rest of the sweep offline."""
        if self.logger is None or self.offline is not None:
            return None
        try:
            return fn(*args)
        except (TrackingRejected, RunNotFound) as exc:
            line = str(exc).splitlines()[0]
            self.warn(f"MLflow refused a request ({line}); " + (f"run {run_id} is marked FAILED and its results stay in the "
                      "run folder; the sweep keeps logging" if run_id else "the sweep keeps logging"))
            if run_id is not None:
                self._fail_run(run_id, line)
            return None
        except TrackingError as exc:
            self._go_offline(exc)
            return None

    def _fail_run(self, run_id: str, why: str) -> None:
        try:
            self.logger.fail_run(run_id, why)
        except (TrackingRejected, RunNotFound):
            pass  # the store refuses this run altogether: its results are in the run folder
        except TrackingError as exc:
            self._go_offline(exc)

    def start_sweep(self, folder: Path) -> str | None:
        return self._call(lambda: self.logger.start_sweep(folder))

    def resume_sweep(self, parent_id: str | None, folder: Path) -> str | None:
        run_id = self._call(lambda: self.logger.resume_sweep(parent_id, folder))
        if parent_id is not None and run_id is not None and run_id != parent_id:
            self.warn(f"the sweep run {parent_id} is not in the MLflow store {self.uri}: a new sweep run {run_id} was started "
                      "there; the variants measured before the resume stay in the store that logged them")
        return run_id

    def supersede(self, run_id: str, reason: str) -> None:
        self._call(lambda: self.logger.supersede(run_id, reason))

    def start_variant(self, variant: ResolvedVariant) -> str | None:
        return self._call(lambda: self.logger.start_variant(variant))

    def finish_variant(self, run_id: str | None, outcome: VariantOutcome) -> bool:
        """The record reaches the folder first, whatever MLflow does; True when MLflow got it too."""
        from harness.redaction import scrub_folder
        from harness.tracking.mlflow_logger import variant_record, write_record

        record = variant_record(self.spec, self.secrets, outcome)
        try:
            write_record(outcome.folder, record)
            scrub_folder(outcome.folder, self.secrets)
        except OSError as exc:  # a full or read-only disk: MLflow may still take it
            self.warn(f"cannot write {outcome.folder}/results.json ({exc.strerror or exc}); the MLflow run is the only copy")
        if run_id is None:
            return False
        return self._call(lambda: self.logger.send_variant(run_id, record, outcome.folder) or True, run_id=run_id) is True

    def tag_sweep(self, tags: dict[str, str]) -> None:
        self._call(lambda: self.logger.tag_sweep(tags))

    def log_sweep(self, params: dict[str, str], metrics: dict[str, float]) -> None:
        """Params and metrics on the sweep's own run (adaptive repeats' design, the variance components)."""
        self._call(lambda: self.logger.log_sweep(params, metrics))

    def start_repeat(self, variant_run_id: str | None, variant: ResolvedVariant, block: int) -> str | None:
        if variant_run_id is None:
            return None
        return self._call(lambda: self.logger.start_repeat(variant_run_id, variant, block))

    def finish_repeat(self, run_id: str | None, outcome: VariantOutcome) -> bool:
        """A repeat's record and files, like a variant's (its folder is the repeat's own)."""
        return self.finish_variant(run_id, outcome)

    def end_sweep(self, failed: bool) -> None:
        self._call(lambda: self.logger.end_sweep(failed))
