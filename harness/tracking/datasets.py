"""The prompt datasets a variant used, as MLflow dataset inputs (shown in the run's Datasets panel)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from harness.quality.tasks import HUB as HUB_SOURCE, REQUIRED_FILES, TaskPlan

HUB = {"gsm8k": "openai/gsm8k (main)", "ifeval": "google/IFEval"}
"""How the two original tasks' Hub datasets were named (kept: the digests of earlier runs stay comparable)."""


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def dataset_records(plans: list[TaskPlan], load_spec_json: str) -> list[dict[str, str]]:
    """One plain record per quality task (local files or the Hub) and one for the load's synthetic prompts."""
    out = []
    for plan in plans:
        named = plan.data_files or ([str(Path(plan.data_source) / f) for f in REQUIRED_FILES.get(plan.task, [])]
                                    if plan.data_source not in (HUB_SOURCE, "local") else [])
        if named:
            files = [Path(f) for f in named if Path(f).is_file()]
            out.append({"name": plan.task, "digest": _digest(files), "source_type": "local",
                        "source": json.dumps({"uri": [str(f) for f in files]}), "context": "quality"})
        else:
            out.append({"name": plan.task, "digest": hashlib.sha256(HUB.get(plan.task, plan.task).encode()).hexdigest()[:16],
                        "source_type": "hub", "source": json.dumps({"path": HUB.get(plan.task, plan.dataset or plan.official)}), "context": "quality"})
    out.append({"name": "load-prompts", "digest": hashlib.sha256(load_spec_json.encode()).hexdigest()[:16], "source_type": "code",
                "source": json.dumps({"generator": "harness/loadgen/prompts.py", "load_spec": json.loads(load_spec_json)}),
                "context": "load"})
    return out


def as_inputs(records: list[dict[str, str]]) -> list:
    """MLflow DatasetInput entities (the run's Datasets panel) for `dataset_records`."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    return [DatasetInput(Dataset(r["name"], r["digest"], r["source_type"], r["source"]), [InputTag("mlflow.data.context", r["context"])])
            for r in records]


def dataset_inputs(plans: list[TaskPlan], load_spec_json: str) -> list:
    """DatasetInput entities: one per quality task (local files or the Hub) and one for the load's synthetic prompts."""
    return as_inputs(dataset_records(plans, load_spec_json))
