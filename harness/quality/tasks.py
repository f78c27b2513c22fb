"""Plan and render the lm-eval tasks of one run: official tasks, groups and custom task files.

Every single task runs as a rendered `harness_<task>` config (an lm-eval --include_path) that
includes the official (or custom) YAML, so prompts, filters and metric functions are the task's
own; only the data source (local files from the data directory) and the per-run overrides
(few-shot count, generation limit) change. GSM8K and IFEval keep their templates
(evals/templates/) and their data-directory layout; any other official task reads
`<data_dir>/<task>/<split>.jsonl|.json|.parquet` when that folder exists. A task the project ships
(evals/tasks/) is named by its task name and reads its data from beside it. Groups and tags run
under their official names. Checks before launch: harness/quality/preflight.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import yaml

from harness.errors import QualityError
from harness.quality.catalog import Leaf, TaskInfo, load_config, lookup, read_file, tasks_dir
from harness.spec.model import QualitySpec, is_task_file

EVALS = "harness.evals"
"""The project's own task files (evals/README.md): the top-level evals/ folder, which the link harness/evals
makes this package, so a source checkout and an installed wheel (package data) read them the same way."""

# files GSM8K and IFEval need inside the data directory (their own layout, kept from before)
REQUIRED_FILES = {
    "gsm8k": ["gsm8k/train.jsonl", "gsm8k/test.jsonl"],
    "ifeval": ["ifeval/input_data.jsonl"],
}
FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}
"""Local file suffix -> the `datasets` builder that reads it."""
HUB = "hub"

Request = Literal["chat", "completions"]


@dataclass(frozen=True)
class TaskPlan:
    """What will run for one `quality.tasks` entry, recorded as params."""

    task: str
    """Harness task name: the metric names' `<task>` (an official name, or a custom file's `task:`)."""
    lm_eval_task: str
    """The name passed to lm-eval (`harness_<task>` for a rendered task, the official name for a group)."""
    official: str
    """The YAML it reuses (lm_eval/tasks/... or the custom file)."""
    data_source: str
    """Local directory, 'hub', or 'local' (a config that reads local files itself)."""
    num_fewshot: int | None
    generation_kwargs: dict[str, Any] = field(default_factory=dict)
    request: Request = "chat"
    """chat: generative, chat completions (local-chat-completions); completions: loglikelihood, prompt log-probabilities (local-completions)."""
    scope: str = "task"
    """task | group | tag | file"""
    subtasks: tuple[str, ...] = ()
    """lm-eval names of the leaf tasks (a group's members; the task itself otherwise)."""
    dataset: str = ""
    """The Hub dataset(s) the official config names (`dataset_path`)."""
    data_files: tuple[str, ...] = ()
    """Local files read (data directory or the config's own)."""
    needs_hub: tuple[str, ...] = ()
    """Leaves that read a Hub dataset (checked offline by the preflight)."""
    splits: tuple[str, ...] = ()
    """A single task's configured split names (the files a data directory gives it: `<task>/<split>.jsonl`)."""


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
    missing = [f for t in spec.tasks for f in REQUIRED_FILES.get(t, []) if not (path / f).is_file()]
    if missing:
        raise QualityError(
            f"quality.data_dir '{path}' lacks {missing}; point it (or HARNESS_DATA_DIR) at a folder with "
            "gsm8k/{train,test}.jsonl and ifeval/input_data.jsonl, or leave it empty to use the Hub"
        )
    return path


def local_split_files(leaf: Leaf, folder: Path) -> dict[str, Path]:
    """split name -> file for the splits `leaf` configures that `folder` holds (`<split>.jsonl|.json|.parquet`)."""
    found: dict[str, Path] = {}
    for split in dict.fromkeys(leaf.splits.values()):
        for suffix in FORMATS:
            if (folder / f"{split}{suffix}").is_file():
                found[split] = folder / f"{split}{suffix}"
                break
    return found


def _data_override(leaf: Leaf, folder: Path) -> tuple[dict[str, Any], list[Path]]:
    """Config keys that read `leaf`'s splits from `folder`; QualityError when the evaluated split is missing."""
    found = local_split_files(leaf, folder)
    evaluated = leaf.splits.get("test_split") or leaf.splits.get("validation_split")
    if evaluated is None or evaluated not in found:
        want = ", ".join(f"{s}.jsonl" for s in dict.fromkeys(leaf.splits.values())) or "test.jsonl"
        raise QualityError(f"quality.data_dir: {folder} is there for task {leaf.name} but lacks its evaluated split "
                           f"'{evaluated}' (expected {want}, or .json/.parquet)")
    builders = {FORMATS[p.suffix] for p in found.values()}
    if len(builders) > 1:
        raise QualityError(f"quality.data_dir: {folder} mixes parquet and JSON files; use one format per task")
    override: dict[str, Any] = {"dataset_path": builders.pop(), "dataset_name": None,
                                "dataset_kwargs": {"data_files": {s: str(p) for s, p in found.items()}}}
    for key, split in leaf.splits.items():  # a configured split without a file is dropped (no few-shot from it)
        if split not in found:
            override[key] = None
    return override, list(found.values())


def evals() -> Path:
    """The evals/ folder, found by importlib.resources (the package is installed unzipped: lm-eval reads files by path)."""
    return Path(str(files(EVALS))).resolve()


def _shipped_task(name: str) -> Path | None:
    """The file of a task the project ships (evals/tasks/<name>.yaml), None when there is none."""
    if Path(name).name != name:
        return None
    path = evals() / "tasks" / f"{name}.yaml"
    return path if path.is_file() else None


def _shipped_data(path: Path) -> dict[str, Any] | None:
    """For a shipped task file, its `dataset_kwargs` with the data files made absolute; None for any other file.

    A shipped task names its data from the repository root (`evals/tasks/x.jsonl`), where lm-eval's own CLI
    reads it (`--include_path evals/tasks`); the harness reads it from wherever evals/ is (a wheel's package data)."""
    root = evals()
    if not path.resolve().is_relative_to(root):
        return None
    kwargs = dict(load_config(path).get("dataset_kwargs") or {})
    data = kwargs.get("data_files") or {}
    kwargs["data_files"] = {split: str(root / Path(f).relative_to("evals")) for split, f in data.items()}
    return kwargs


def _render_template(task: str, official_dir: Path, data_dir: Path | None) -> str:
    template = (evals() / "templates" / f"{task}.yaml").read_text(encoding="utf-8")
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


def _info(entry: str) -> TaskInfo:
    if is_task_file(entry):
        return read_file(Path(entry).expanduser().resolve())
    shipped = _shipped_task(entry)
    return read_file(shipped) if shipped is not None else lookup(entry)


def _request(info: TaskInfo) -> Request:
    kinds = {leaf.loglikelihood for leaf in info.leaves if leaf.output_type is not None}
    if len(kinds) > 1:
        gen = [leaf.name for leaf in info.leaves if not leaf.loglikelihood][:3]
        raise QualityError(f"quality.tasks: {info.scope} {info.name} mixes generative tasks (e.g. {', '.join(gen)}) with "
                           "loglikelihood ones, which lm-eval sends through different APIs; list its tasks separately")
    return "completions" if kinds == {True} else "chat"


def plan_task(entry: str, spec: QualitySpec, data_dir: Path | None, official_dir: Path) -> tuple[TaskPlan, str | None]:
    """The plan of one `quality.tasks` entry and the YAML to render for it (None: run by its official name)."""
    info = _info(entry)
    key = info.name if info.scope == "file" else entry
    if info.scope == "file" and len(info.leaves) != 1:
        raise QualityError(f"quality.tasks: {entry} is a group file; list its tasks (or their files) instead")
    request = _request(info)
    single = info.scope in ("task", "file") and info.leaves[0].output_type is not None
    overrides: dict[str, Any] = {}
    gen: dict[str, Any] = {}
    if key in spec.max_gen_toks or key in spec.num_fewshot:
        if not single:
            raise QualityError(f"quality.num_fewshot / max_gen_toks: {key} is an lm-eval {info.scope}; overrides apply to single tasks")
    leaf = info.leaves[0] if single else None
    if leaf is not None and leaf.yaml_path is not None:
        gen = dict(leaf.generation_kwargs)
        if key in spec.max_gen_toks:
            if request != "chat":
                raise QualityError(f"quality.max_gen_toks: {key} is a loglikelihood task; it generates nothing")
            gen["max_gen_toks"] = spec.max_gen_toks[key]
            overrides["generation_kwargs"] = gen
        if key in spec.num_fewshot:
            overrides["num_fewshot"] = spec.num_fewshot[key]
    shots = spec.num_fewshot.get(key, leaf.num_fewshot if leaf is not None else None)
    datasets = sorted({str(lf.dataset_path) for lf in info.leaves if lf.dataset_path})
    common = dict(task=key, num_fewshot=shots, generation_kwargs=gen, request=request, scope=info.scope,
                  subtasks=tuple(lf.name for lf in info.leaves), dataset=", ".join(datasets),
                  splits=tuple(dict.fromkeys(leaf.splits.values())) if leaf is not None else ())
    if key in REQUIRED_FILES and info.scope == "task":  # GSM8K, IFEval: the harness's own templates
        text = _render_template(key, official_dir, data_dir) + (yaml.safe_dump(overrides, sort_keys=True) if overrides else "")
        local = tuple(str(data_dir / f) for f in REQUIRED_FILES[key]) if data_dir else ()
        plan = TaskPlan(lm_eval_task=f"harness_{key}", official=f"lm_eval/tasks/{key}/{key}.yaml",
                        data_source=str(data_dir) if data_dir else HUB, data_files=local,
                        needs_hub=() if data_dir else (key,), **common)  # type: ignore[arg-type]
        return plan, text
    if leaf is None:  # a group or tag (or a Python-defined task): its official name, its own data
        hub = tuple(lf.name for lf in info.leaves if not lf.local_files)
        return TaskPlan(lm_eval_task=key, official=str(info.yaml_path or key), data_source=HUB if hub else "local",
                        needs_hub=hub, **common), None  # type: ignore[arg-type]
    folder = data_dir / key if data_dir is not None and info.scope == "task" else None
    local_files: list[Path] = []
    if folder is not None and folder.is_dir():
        data, local_files = _data_override(leaf, folder)
        overrides = {**data, **overrides}
        source = str(data_dir)
    else:
        source = "local" if leaf.local_files else HUB
        shipped = _shipped_data(leaf.yaml_path) if info.scope == "file" and leaf.yaml_path is not None else None
        if shipped is not None:
            overrides = {"dataset_kwargs": shipped, **overrides}
            local_files = [Path(f) for f in shipped["data_files"].values()]
    body = {"task": f"harness_{key}", "include": str(leaf.yaml_path), **overrides}
    text = yaml.safe_dump(body, sort_keys=False)
    plan = TaskPlan(lm_eval_task=f"harness_{key}", official=_shown(leaf.yaml_path, official_dir), data_source=source,
                    data_files=tuple(str(p) for p in local_files), needs_hub=(key,) if source == HUB else (), **common)  # type: ignore[arg-type]
    return plan, text


def _shown(path: Path | None, official_dir: Path) -> str:
    if path is None:
        return ""
    try:
        return "lm_eval/tasks/" + str(path.relative_to(official_dir))
    except ValueError:
        return str(path)


def plan_tasks(spec: QualitySpec, data_dir: Path | None) -> list[tuple[TaskPlan, str | None]]:
    """Every `quality.tasks` entry planned (nothing written); QualityError for an unknown task or a bad override."""
    official_dir = tasks_dir()
    planned = [plan_task(entry, spec, data_dir, official_dir) for entry in spec.tasks]
    keys = {p.task for p, _ in planned}
    for name in ("num_fewshot", "max_gen_toks"):
        bad = sorted(set(getattr(spec, name)) - keys)
        if bad:
            raise QualityError(f"quality.{name}: unknown task(s) {bad}; the tasks are {', '.join(sorted(keys))}")
    return planned


def render_tasks(spec: QualitySpec, out_dir: Path, data_dir: Path | None) -> list[TaskPlan]:
    """Write one YAML per single task into `out_dir` (an lm-eval --include_path) and describe every entry."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plans = []
    for plan, text in plan_tasks(spec, data_dir):
        if text is not None:
            (out_dir / f"{plan.lm_eval_task}.yaml").write_text(text)
        plans.append(plan)
    return plans

