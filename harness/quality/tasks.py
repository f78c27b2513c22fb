"""Render the harness's lm-eval task configs (harness/quality/templates/*.yaml, package data) for one run.

The templates include lm-eval's official task YAML, so prompts, filters and metric functions
are the official ones; only the data source (local JSONL from the data directory) and the
per-run overrides (few-shot count, generation limit) change.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from harness.errors import QualityError
from harness.spec.model import QualitySpec

TEMPLATES = "harness.quality.templates"
"""The package holding the task templates (`<task>.yaml`, package data)."""

# files each task needs inside the data directory
REQUIRED_FILES = {
    "gsm8k": ["gsm8k/train.jsonl", "gsm8k/test.jsonl"],
    "ifeval": ["ifeval/input_data.jsonl"],
}


@dataclass(frozen=True)
class TaskPlan:
    """What will run for one task, recorded as params."""

    task: str
    """Harness task name (gsm8k, ifeval)."""
    lm_eval_task: str
    """Name of the rendered lm-eval task."""
    official: str
    """Official lm-eval task it reuses."""
    data_source: str
    """Local directory or 'hub'."""
    num_fewshot: int | None
    generation_kwargs: dict[str, Any] = field(default_factory=dict)


class _TolerantLoader(yaml.SafeLoader):
    """Reads lm-eval YAML without executing `!function` tags."""


_TolerantLoader.add_multi_constructor("!", lambda loader, suffix, node: f"!{suffix}")


def official_tasks_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("lm_eval")
    if spec is None or spec.origin is None:
        raise QualityError("lm-eval is not installed: pip install 'lm-eval[api,ifeval]==0.4.13'")
    return Path(spec.origin).parent / "tasks"


def read_official(task: str) -> dict[str, Any]:
    path = official_tasks_dir() / task / f"{task}.yaml"
    if not path.is_file():
        raise QualityError(f"lm-eval has no official '{task}' task at {path}; this lm-eval version is not supported")
    return yaml.load(path.read_text(), Loader=_TolerantLoader) or {}


SHARED_DATASETS = Path("..") / "shared" / "datasets"
SHARED_NLTK = Path("..") / "shared" / "nltk_data"


def resolve_data_dir(spec: QualitySpec, environ: dict[str, str] | None = None) -> Path | None:
    """The data directory from the spec, HARNESS_DATA_DIR or ../shared/datasets (as the quick start finds it);
    None means the Hub datasets."""
    env = os.environ if environ is None else environ
    raw = spec.data_dir or env.get("HARNESS_DATA_DIR") or (str(SHARED_DATASETS) if SHARED_DATASETS.is_dir() else None)
    if not raw:
        return None
    path = Path(raw).expanduser().resolve()
    missing = [f for t in spec.tasks for f in REQUIRED_FILES[t] if not (path / f).is_file()]
    if missing:
        raise QualityError(
            f"quality.data_dir '{path}' lacks {missing}; point it (or HARNESS_DATA_DIR) at a folder with "
            "gsm8k/{train,test}.jsonl and ifeval/input_data.jsonl, or leave it empty to use the Hub"
        )
    return path


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    import socket

    try:
        socket.create_connection(("huggingface.co", 443), timeout_s).close()
        return True
    except OSError:
        return False


def preflight(spec: QualitySpec, environ: dict[str, str] | None = None) -> Path | None:
    """Before anything is launched: the data directory, or a clear error when the tasks need the Hub and it is out of reach.

    Also points NLTK_DATA (which IFEval's scorer needs) at ../shared/nltk_data when it is unset and that folder exists.
    """
    env = os.environ if environ is None else environ
    if not spec.enabled:
        return None
    data = resolve_data_dir(spec, env)
    if "ifeval" in spec.tasks and not env.get("NLTK_DATA") and SHARED_NLTK.is_dir():
        env["NLTK_DATA"] = str(SHARED_NLTK.resolve())
    if data is not None:
        return data
    offline = any(env.get(v) == "1" for v in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"))
    if offline or not _hub_reachable():
        why = "HF_DATASETS_OFFLINE/HF_HUB_OFFLINE is set" if offline else "the Hub (huggingface.co) is out of reach"
        names = ", ".join(t.upper() if t == "gsm8k" else t for t in spec.tasks)
        raise QualityError(
            f"{names} need the Hub or a data directory, and {why}: set HARNESS_DATA_DIR (or quality.data_dir) to a folder "
            "with gsm8k/{train,test}.jsonl and ifeval/input_data.jsonl (e.g. ../shared/datasets), or set quality.enabled: false"
        )
    return None


def _render(template: str, official_dir: Path, data_dir: Path | None) -> str:
    lines, keep = [], True
    for line in template.splitlines():
        if line.startswith("#if data_dir"):
            keep = data_dir is not None
            continue
        if line.startswith("#endif"):
            keep = True
            continue
        if keep:
            lines.append(line)
    text = "\n".join(lines) + "\n"
    text = text.replace("{{official_dir}}", str(official_dir))
    return text.replace("{{data_dir}}", str(data_dir) if data_dir else "")


def render_tasks(spec: QualitySpec, out_dir: Path, data_dir: Path | None) -> list[TaskPlan]:
    """Write one YAML per task into `out_dir` (an lm-eval --include_path) and describe them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    official_dir = official_tasks_dir()
    plans = []
    for task in spec.tasks:
        template = (files(TEMPLATES) / f"{task}.yaml").read_text(encoding="utf-8")
        text = _render(template, official_dir, data_dir)
        official = read_official(task)
        gen = dict(official.get("generation_kwargs") or {})
        overrides: dict[str, Any] = {}
        if task in spec.max_gen_toks:
            gen["max_gen_toks"] = spec.max_gen_toks[task]
            overrides["generation_kwargs"] = gen
        shots = spec.num_fewshot.get(task, official.get("num_fewshot"))
        if task in spec.num_fewshot:
            overrides["num_fewshot"] = spec.num_fewshot[task]
        if overrides:
            text += yaml.safe_dump(overrides, sort_keys=True)
        (out_dir / f"harness_{task}.yaml").write_text(text)
        plans.append(
            TaskPlan(
                task=task,
                lm_eval_task=f"harness_{task}",
                official=f"lm_eval/tasks/{task}/{task}.yaml",
                data_source=str(data_dir) if data_dir else "hub",
                num_fewshot=shots,
                generation_kwargs=gen,
            )
        )
    return plans
