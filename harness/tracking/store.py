"""Where MLflow data lives.

Default: a SQLite database `mlruns/mlflow.db` plus the artifact folder `mlruns/artifacts`
(MLflow 3 refuses the old plain-file `./mlruns` store). `MLFLOW_TRACKING_URI` or
`tracking.uri` override it.

Every client the harness uses retries its calls while the store is transiently unavailable
(tracking/mlflow_errors.py: a locked SQLite file, a tracking server that does not answer).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import TrackingUnavailable
from harness.tracking.contract import Tag
from harness.tracking.mlflow_errors import RetryingClient, mlflow_errors

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

DEFAULT_DIR = Path("mlruns")


def tracking_uri(configured: str | None = None, create: bool = True) -> str:
    """The store's URI. `create=False` (readers: compare, gate): a SQLite file that does not exist is an error,
    not a new empty store (with its `mlruns/` folder) made wherever the command happened to run."""
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        root = DEFAULT_DIR.resolve()
        uri = f"sqlite:///{root / 'mlflow.db'}"
        if create:
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise TrackingUnavailable(f"cannot create the MLflow store {uri}: {exc.strerror or exc}; run from a writable "
                                          "folder or point MLFLOW_TRACKING_URI / tracking.uri elsewhere") from None
    if not create and uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        raise TrackingUnavailable(
            f"cannot open the MLflow store {uri}: no such database (nothing is created by reading): run `harness run SPEC` "
            "first (from the folder that holds mlruns/), or point MLFLOW_TRACKING_URI / --tracking-uri at the store"
        )
    return uri


def default_artifact_location(uri: str) -> str | None:
    """For the default SQLite store, keep artifacts beside it under mlruns/artifacts."""
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        return (db.parent / "artifacts").resolve().as_uri()
    return None


def _sqlite_writable(uri: str) -> None:
    """A SQLite store that does not exist yet in a folder that cannot be written: TrackingUnavailable at once (MLflow
    itself would retry opening it for 100 s, silently)."""
    if not uri.startswith("sqlite:///"):
        return
    db = Path(uri[len("sqlite:///"):].split("?", 1)[0])
    if db.exists():
        return
    folder = db.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not os.access(folder, os.W_OK):
        raise TrackingUnavailable(f"cannot create the MLflow store {uri}: the folder {folder} is read-only; point "
                                  "MLFLOW_TRACKING_URI / tracking.uri at a writable folder")


def client(uri: str) -> "MlflowClient":
    """An MLflow client whose store is known to open (one cheap query), else TrackingUnavailable. Its calls are retried
    while the store is transiently unavailable (RetryingClient)."""
    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)
    # MLflow logs a database error with its whole traceback before raising it; the harness reports it in one line
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    _sqlite_writable(uri)
    with mlflow_errors(f"cannot open the MLflow store {uri}", TrackingUnavailable, TrackingUnavailable):
        from mlflow.tracking import MlflowClient

        c = RetryingClient(MlflowClient(tracking_uri=uri))
        c.search_experiments(max_results=1)
    return c  # type: ignore[return-value]  (every MlflowClient method, retried)


def ensure_experiment(c: "MlflowClient", name: str, uri: str) -> str:
    """The experiment's id, creating it (with the local artifact folder) when missing."""
    with mlflow_errors(f"cannot open MLflow experiment '{name}' at {uri}"):
        exp = c.get_experiment_by_name(name)
        if exp is not None:
            if exp.lifecycle_stage == "deleted":
                c.restore_experiment(exp.experiment_id)
            return exp.experiment_id
        # tell the MLflow UI this is a runs-and-metrics experiment (not GenAI traces)
        return c.create_experiment(
            name,
            artifact_location=default_artifact_location(uri),
            tags={"mlflow.experimentKind": "custom_model_development", Tag.CREATED_BY: "harness"},
        )
