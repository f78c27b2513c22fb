"""`harness sync RUN_DIR`: log to MLflow what a sweep measured while MLflow was unavailable.

Reads the run folder's `sweep_state.json`, `experiment.yaml` and each variant's `results.json`
(written before MLflow was ever called) and logs every variant not logged yet, with its files.
Idempotent: a variant once logged is marked so and never logged twice; runs that already exist
(the sweep run, a variant run created before MLflow went away) are reused. The store is the one
named now (`--uri`, else `MLFLOW_TRACKING_URI`), else the spec's own `tracking.uri` as recorded
in `experiment.yaml`, else the default `mlruns/`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import RunNotFound, SpecError
from harness.tracking.mlflow_errors import mlflow_errors


@dataclass
class SyncResult:
    folder: Path
    parent_run_id: str | None
    logged: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    """Variants with no results.json (never measured, or the disk was full)."""


def sync(folder: Path, uri: str | None = None) -> SyncResult:
    """Log the folder's unlogged variants to the store `uri` (else MLFLOW_TRACKING_URI, else experiment.yaml's)."""
    from harness.tracking.state import SweepState
    from harness.spec.loader import build_spec, read_yaml, resolve_variants
    from harness.tracking.mlflow_logger import RESULTS_FILE, SweepLogger

    if not folder.is_dir():
        raise SpecError([f"{folder}: not a folder; pass a run folder (runs/<name>-<time>-<id>)"])
    state = SweepState.read(folder)
    data = read_yaml(folder / "experiment.yaml")
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:  # the store named now wins over the one the sweep was told
        data.setdefault("tracking", {})["uri"] = uri
    spec = build_spec(data, {}, [])
    variants = {v.name: v for v in resolve_variants(spec)}
    logger = SweepLogger(spec, list(variants.values()))
    parent = state.parent_run_id if state.parent_run_id and _exists(logger, state.parent_run_id) else None
    logger.parent_id = parent
    if parent is None:
        parent = logger.start_sweep(folder)
        state.parent_run_id = parent
        state.save()
    out = SyncResult(folder, parent)
    for name, vstate in state.variants.items():
        if vstate.logged:
            out.already.append(name)
            continue
        results = folder / name / RESULTS_FILE
        if not results.is_file() or name not in variants:
            out.missing.append(name)
            continue
        record = json.loads(results.read_text())
        run_id = vstate.run_id if vstate.run_id and _exists(logger, vstate.run_id) else logger.start_variant(variants[name])
        state.mark(name, run_id=run_id)
        logger.send_variant(run_id, record, folder / name)
        with mlflow_errors(f"cannot tag run {run_id}", RunNotFound):
            logger.client.set_tag(run_id, "harness.synced", "true")
        state.mark(name, logged=True)
        out.logged.append(name)
    if state.finished:
        logger.end_sweep(failed=any(v.status != "ok" for v in state.variants.values()))
    return out


def _exists(logger, run_id: str) -> bool:
    try:
        with mlflow_errors(f"cannot read run {run_id}", RunNotFound):
            logger.client.get_run(run_id)
        return True
    except RunNotFound:
        return False
