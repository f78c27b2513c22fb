"""What an lm-eval task name stands for, read from lm-eval's own task YAML without importing lm-eval.

`lookup(name)` finds an official task, group or tag (lm-eval's `tasks/` folder is scanned once per
process by a line scan of every YAML, ~1 s, instead of lm-eval's full index, ~13 s); `read_file(path)`
reads a custom task file. Either way the result lists the leaf tasks with what the harness needs
before the run: each leaf's request type (`output_type`) and dataset (`dataset_path`, splits).
Includes are merged as lm-eval merges them (the including file's keys win).
"""

from __future__ import annotations

import functools
import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import QualityError

GENERATIVE = "generate_until"
LOGLIKELIHOOD = ("loglikelihood", "multiple_choice", "loglikelihood_rolling")
"""Output types scored from prompt log-probabilities (lm-eval's local-completions with echo + logprobs)."""

SPLITS = ("training_split", "validation_split", "test_split", "fewshot_split")


class _TolerantLoader(yaml.SafeLoader):
    """Reads lm-eval YAML without executing `!function` tags."""


_TolerantLoader.add_multi_constructor("!", lambda loader, suffix, node: f"!{suffix}")


@dataclass(frozen=True)
class Leaf:
    """One lm-eval task that sends requests (a group's member, or the task itself)."""

    name: str
    output_type: str | None
    """generate_until, multiple_choice, loglikelihood, ...; None for a Python-defined task (class:)."""
    dataset_path: str | None
    dataset_name: str | None
    splits: dict[str, str] = field(default_factory=dict)
    """training_split/validation_split/test_split/fewshot_split -> split name, as configured."""
    yaml_path: Path | None = None
    num_fewshot: int | None = None
    local_files: bool = False
    """The config reads local files already (dataset_kwargs.data_files or data_dir): needs no Hub."""
    generation_kwargs: dict[str, Any] = field(default_factory=dict)
    """The config's own generation_kwargs (includes merged)."""

    @property
    def loglikelihood(self) -> bool:
        return self.output_type in LOGLIKELIHOOD


@dataclass(frozen=True)
class TaskInfo:
    name: str
    """The lm-eval name (for a custom file: its `task:` or `group:`)."""
    scope: str
    """task | group | tag | file"""
    leaves: list[Leaf]
    yaml_path: Path | None = None


def tasks_dir() -> Path:
    spec = importlib.util.find_spec("lm_eval")
    if spec is None or spec.origin is None:
        raise QualityError("lm-eval is not installed: pip install 'lm-eval[api,ifeval]==0.4.13'")
    return Path(spec.origin).parent / "tasks"


def load_config(path: Path, _seen: frozenset[Path] = frozenset()) -> dict[str, Any]:
    """A task YAML with its includes merged (lm-eval's rule: included first, the file's own keys win)."""
    path = path.expanduser().resolve()
    if path in _seen:
        raise QualityError(f"include cycle at {path}")
    try:
        cfg = yaml.load(path.read_text(encoding="utf-8"), Loader=_TolerantLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise QualityError(f"cannot read task config {path}: {exc}") from None
    if not isinstance(cfg, dict):
        raise QualityError(f"task config {path} is not a mapping")
    includes = cfg.pop("include", None)
    if includes is None:
        return cfg
    merged: dict[str, Any] = {}
    for inc in includes if isinstance(includes, list) else [includes]:
        inc_path = Path(inc) if Path(inc).is_absolute() else path.parent / inc
        sub = load_config(inc_path, _seen | {path})
        sub.pop("task_list", None)
        merged.update(sub)
    merged.update(cfg)
    return merged


_TOP = re.compile(r"""^["']?(task|group|tag)["']?:[ \t]*(.*?)[ \t]*(?:#.*)?$""", re.M)
_ITEM = re.compile(r"^[ \t]+-[ \t]*['\"]?([^'\"\s#]+)")


@dataclass
class _Index:
    tasks: dict[str, Path] = field(default_factory=dict)
    groups: dict[str, Path] = field(default_factory=dict)
    tags: dict[str, list[Path]] = field(default_factory=dict)


def _scan_file(path: Path, index: _Index) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return
    lines = text.splitlines()
    for m in _TOP.finditer(text):
        key, value = m.group(1), m.group(2).strip().strip("'\"")
        if key == "tag":
            names = [v.strip().strip("'\"") for v in value.strip("[]").split(",")] if value else []
            if not value:  # a block list on the next lines
                start = text.count("\n", 0, m.end()) + 1
                for line in lines[start:]:
                    item = _ITEM.match(line)
                    if not item:
                        break
                    names.append(item.group(1))
            for name in filter(None, names):
                index.tags.setdefault(name, []).append(path)
        elif value and not value.startswith(("[", "{")):
            (index.groups if key == "group" else index.tasks).setdefault(value, path)


@functools.cache
def _index(root: Path) -> _Index:
    index = _Index()
    for path in sorted(root.rglob("*.yaml")):
        if "__pycache__" not in path.parts:
            _scan_file(path, index)
    return index


def _leaf(cfg: dict[str, Any], path: Path | None) -> Leaf:
    kwargs = cfg.get("dataset_kwargs") or {}
    local = isinstance(kwargs, dict) and bool(kwargs.get("data_files") or kwargs.get("data_dir"))
    shots = cfg.get("num_fewshot")
    return Leaf(
        name=str(cfg.get("task")),
        output_type=None if "class" in cfg else cfg.get("output_type", GENERATIVE),
        dataset_path=cfg.get("dataset_path"),
        dataset_name=cfg.get("dataset_name"),
        splits={k: str(cfg[k]) for k in SPLITS if cfg.get(k) is not None},
        yaml_path=path,
        num_fewshot=int(shots) if isinstance(shots, int) else None,
        local_files=local or str(cfg.get("dataset_path") or "").startswith(("/", "./", "../")),
        generation_kwargs=dict(cfg.get("generation_kwargs") or {}),
    )


def _group_leaves(cfg: dict[str, Any], base: Path, root: Path, seen: frozenset[str]) -> list[Leaf]:
    """A group's leaves as its YAML lists them: its `task:` entries (names of tasks, groups or tags, or inline task
    dicts). They become `TaskPlan.subtasks` (which lm-eval tasks a harness task owns: harness/quality/groups.py)."""
    entries = cfg.get("task") or []
    out: list[Leaf] = []
    for entry in entries if isinstance(entries, list) else [entries]:
        if isinstance(entry, str):
            try:
                out += lookup(entry, root, seen).leaves
            except QualityError:  # e.g. a tag its members inherit through an include: lm-eval knows it, the line scan not
                out.append(Leaf(entry, None, None, None))
        elif isinstance(entry, dict) and "group" in entry:
            out += _group_leaves(entry, base, root, seen)
        elif isinstance(entry, dict) and "task" in entry:
            name = str(entry["task"])
            known = _index(root).tasks.get(name)
            if known is not None and len(entry) > 1:  # an official task with overrides
                out.append(_leaf({**load_config(known), **entry}, known))
            elif known is not None or name in _index(root).groups or name in _index(root).tags:
                out += lookup(name, root, seen).leaves
            else:
                inline = dict(entry)
                inc = inline.pop("include", None)
                merged = {**(load_config(base.parent / inc) if inc else {}), **inline}
                out.append(_leaf(merged, base))
    return out


@functools.cache  # the lm-eval install does not change within a process (as `_index` assumes); callers only read
def lookup(name: str, root: Path | None = None, _seen: frozenset[str] = frozenset()) -> TaskInfo:
    """An official lm-eval task, group or tag by name; QualityError naming close names when there is none."""
    root = root or tasks_dir()
    if name in _seen:
        raise QualityError(f"lm-eval group {name} includes itself")
    index, seen = _index(root), _seen | {name}
    if name in index.tasks:
        path = index.tasks[name]
        cfg = load_config(path)
        if "group" in cfg and isinstance(cfg.get("task"), list):
            return TaskInfo(name, "group", _group_leaves(cfg, path, root, seen), path)
        return TaskInfo(name, "task", [_leaf({**cfg, "task": name}, path)], path)
    if name in index.groups:
        path = index.groups[name]
        return TaskInfo(name, "group", _group_leaves(load_config(path), path, root, seen), path)
    if name in index.tags:
        leaves = []
        for path in index.tags[name]:
            cfg = load_config(path)
            leaves += _group_leaves(cfg, path, root, seen) if "group" in cfg else [_leaf(cfg, path)]
        return TaskInfo(name, "tag", leaves)
    import difflib

    near = difflib.get_close_matches(name, [*index.tasks, *index.groups, *index.tags], n=3, cutoff=0.75)
    hint = f"; did you mean {', '.join(near)}?" if near else " (`lm-eval ls tasks` lists them)"
    raise QualityError(f"quality.tasks: lm-eval has no task, group or tag named '{name}'{hint}")


def read_file(path: Path, root: Path | None = None) -> TaskInfo:
    """A custom task (or group) YAML file given by path."""
    if not path.is_file():
        raise QualityError(f"quality.tasks: task file {path} does not exist")
    cfg = load_config(path)
    if "group" in cfg:
        return TaskInfo(str(cfg["group"]), "file", _group_leaves(cfg, path, root or tasks_dir(), frozenset()), path)
    if not isinstance(cfg.get("task"), str):
        raise QualityError(f"quality.tasks: task file {path} has no `task:` name")
    return TaskInfo(str(cfg["task"]), "file", [_leaf(cfg, path)], path)
