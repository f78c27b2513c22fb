"""The prompt datasets a variant used, as MLflow dataset inputs (shown in the run's Datasets panel)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from harness.quality.tasks import REQUIRED_FILES, TaskPlan

HUB = {"gsm8k": "openai/gsm8k (main)", "ifeval": "google/IFEval"}


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def dataset_inputs(plans: list[TaskPlan], load_spec_json: str) -> list:
    """DatasetInput entities: one per quality task (local files or the Hub) and one for the load's synthetic prompts."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    out = []
    for plan in plans:
        if plan.data_source != "hub":
            files = [Path(plan.data_source) / f for f in REQUIRED_FILES.get(plan.task, []) if (Path(plan.data_source) / f).is_file()]
            ds = Dataset(plan.task, _digest(files), "local", json.dumps({"uri": [str(f) for f in files]}))
        else:
            ds = Dataset(plan.task, hashlib.sha256(HUB.get(plan.task, plan.task).encode()).hexdigest()[:16], "hub",
                         json.dumps({"path": HUB.get(plan.task, plan.official)}))
        out.append(DatasetInput(ds, [InputTag("mlflow.data.context", "quality")]))
    load = Dataset("load-prompts", hashlib.sha256(load_spec_json.encode()).hexdigest()[:16], "code",
                   json.dumps({"generator": "harness/loadgen/prompts.py", "load_spec": json.loads(load_spec_json)}))
    out.append(DatasetInput(load, [InputTag("mlflow.data.context", "load")]))
    return out
