"""Per-sample quality tables as MLflow tables (`MlflowClient.log_table`): the MLflow UI's evaluation view can
put two variants' answers to the same prompt side by side (harness/quality/samples.py writes them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import RunNotFound
from harness.outcome import VariantOutcome
from harness.tracking.contract import QUALITY_TABLE
from harness.tracking.mlflow_errors import mlflow_errors


def table_records(outcome: VariantOutcome) -> dict[str, str]:
    """artifact file -> the table's file (relative to the variant folder when inside it), for the variant record."""
    if outcome.quality is None:
        return {}
    out = {}
    for task, path in sorted(outcome.quality.tables.items()):
        try:
            shown = str(path.resolve().relative_to(outcome.folder.resolve()))
        except ValueError:
            shown = str(path)
        out[QUALITY_TABLE.format(task=task)] = shown
    return out


def _columns(table: dict[str, Any]) -> dict[str, list[Any]]:
    cols, rows = table.get("columns", []), table.get("data", [])
    return {c: [row[i] if i < len(row) else None for row in rows] for i, c in enumerate(cols)}


def log_table_once(client: Any, run_id: str, columns: dict[str, list[Any]], artifact_file: str,
                   logged: set[str] | None = None) -> None:
    """An MLflow table (the UI shows it, and puts two runs' tables side by side), logged once: log_table appends to
    an existing one, so a re-sent run (harness sync after a partial upload) would double its rows. `logged`: the
    run's artifact paths in that folder when the caller listed them already (one listing for many tables)."""
    folder, _, _ = artifact_file.rpartition("/")
    with mlflow_errors(f"cannot log the table {artifact_file} to MLflow run {run_id}", RunNotFound):
        if logged is None:
            logged = {f.path for f in client.list_artifacts(run_id, folder or None)}
        if artifact_file in logged:
            return
        client.log_table(run_id, data=columns, artifact_file=artifact_file)


def log_tables(client: Any, run_id: str, folder: Path, tables: dict[str, str]) -> None:
    """Each per-sample table file (artifact file -> path, relative to `folder`) as an MLflow table, once."""
    if not tables:
        return
    with mlflow_errors(f"cannot list the tables of MLflow run {run_id}", RunNotFound):
        logged = {f.path for f in client.list_artifacts(run_id, QUALITY_TABLE.rpartition("/")[0])}
    for artifact, rel in tables.items():
        path = Path(rel) if Path(rel).is_absolute() else folder / rel
        if path.is_file():
            log_table_once(client, run_id, _columns(json.loads(path.read_text(encoding="utf-8"))), artifact, logged)
