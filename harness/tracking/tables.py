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


def log_tables(client: Any, run_id: str, folder: Path, tables: dict[str, str]) -> None:
    """Log each table once (log_table appends to an existing one: a re-sent run would double its rows)."""
    if not tables:
        return
    with mlflow_errors(f"cannot log the quality sample tables of MLflow run {run_id}", RunNotFound):
        logged = {a.path for a in client.list_artifacts(run_id, "tables")}
        for artifact, rel in tables.items():
            path = Path(rel) if Path(rel).is_absolute() else folder / rel
            if artifact in logged or not path.is_file():
                continue
            client.log_table(run_id, data=_columns(json.loads(path.read_text(encoding="utf-8"))), artifact_file=artifact)
