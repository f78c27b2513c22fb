"""Per-sample results: one table per task (prompt, reply, extracted answer, target, scores) and reasoning counts.

Read from lm-eval's `samples_<task>_<date>.jsonl` (one line per document and filter) and the
reasoning log the harness's lm-eval model writes (harness/quality/lm_eval_model.py, joined on
lm-eval's `prompt_hash`). The tables are written in pandas' "split" layout (`columns`, `data`) to
`<quality folder>/tables/<task>.json`; tracking logs them with `mlflow.log_table`, so the MLflow UI
can put two variants' answers to the same prompt side by side (join on `doc_id` or `prompt`).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.quality.groups import Tree, owners
from harness.quality.results import metric_name, safe
from harness.quality.tasks import TaskPlan

MAX_CELL = 20000
"""Characters kept of one text cell (a reply that runs on is cut, with a marker)."""
_FILE = re.compile(r"^samples_(.+)_(\d{4}-\d{2}-\d{2}T[0-9.\-]+)\.jsonl$")


@dataclass(frozen=True)
class ReasoningStats:
    replies: int
    """Replies counted (one per request the harness's model answered)."""
    with_reasoning: int
    """Replies from which reasoning was removed."""
    chars_mean: float
    """Mean characters removed per reply."""


def sample_task(path: Path) -> str | None:
    """The lm-eval task of a samples file (`samples_<task>_<date>.jsonl`)."""
    m = _FILE.match(path.name)
    return m.group(1) if m else None


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) or value is None:
        return value
    if isinstance(value, list) and value and all(isinstance(v, (bool, int, float)) for v in value):
        return sum(float(v) for v in value) / len(value)  # e.g. IFEval's per-instruction results: the share followed
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 12] + " …[cut]"


def prompt_text(arguments: Any) -> str:
    """The last user turn of a chat prompt (the question), else the prompt text as lm-eval sent it."""
    arg = (arguments or {}).get("gen_args_0", {}).get("arg_0", "") if isinstance(arguments, dict) else arguments
    if isinstance(arg, list) and arg:
        arg = arg[0]
    if isinstance(arg, str) and arg.startswith("["):
        try:
            messages = json.loads(arg)
            users = [m.get("content", "") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
            if users:
                return str(users[-1])
        except (ValueError, AttributeError):
            pass
    return str(arg)


def _reply(sample: dict[str, Any]) -> tuple[Any, Any]:
    """(reply, extracted answer) of one sample line: text for generated replies; for loglikelihood the chosen index."""
    resps, filtered = sample.get("resps") or [], sample.get("filtered_resps") or []
    if resps and isinstance(resps[0], list) and resps[0] and isinstance(resps[0][0], str):
        return resps[0][0], filtered[0] if filtered else None
    lls = [_float(f[0] if isinstance(f, list) and f else f) for f in filtered]  # lm-eval logs them as strings
    numeric = [x for x in lls if x is not None]
    if numeric and len(numeric) == len(lls):
        best = max(range(len(lls)), key=lambda i: lls[i])
        return json.dumps([round(x, 4) for x in numeric]), best
    return json.dumps(resps)[:MAX_CELL], json.dumps(filtered)[:MAX_CELL]


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def read_reasoning(log: Path) -> dict[str, int]:
    """prompt_hash -> characters of reasoning removed (the last answer for a prompt sent twice)."""
    out: dict[str, int] = {}
    if not log.is_file():
        return out
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("prompt_hash"):
            out[rec["prompt_hash"]] = int(rec.get("reasoning_chars") or 0)
    return out


def build_tables(sample_files: list[Path], plans: list[TaskPlan], reasoning: dict[str, int],
                 tree: Tree | None = None) -> tuple[dict[str, dict[str, Any]], dict[str, ReasoningStats]]:
    """(task -> table {"columns", "data"}, task -> reasoning counts) from lm-eval's sample files; a group's members
    go to the group's table (`tree`: the results' `group_subtasks`, harness/quality/groups.py)."""
    owner = owners(plans, tree)
    rows: dict[str, dict[tuple[str, Any], dict[str, Any]]] = defaultdict(dict)
    for path in sample_files:
        lm_task = sample_task(path)
        task = owner.get(lm_task or "")
        if task is None:
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                s = json.loads(line)
            except ValueError:
                continue
            key = (str(lm_task), s.get("doc_id"))
            reply, extracted = _reply(s)
            # prompt and reply first: MLflow's evaluation view groups by a table's first column and compares its second
            row = rows[task].setdefault(key, {
                "prompt": _cell(prompt_text(s.get("arguments"))), "reply": _cell(reply), "task": safe(str(lm_task)),
                "doc_id": s.get("doc_id"), "target": _cell(s.get("target")),
            })
            if s.get("prompt_hash") in reasoning:
                row["reasoning_chars"] = reasoning[s["prompt_hash"]]
            filt = str(s.get("filter", "none"))
            row[metric_name("extracted", filt)] = _cell(extracted)
            for metric in s.get("metrics") or []:
                row[metric_name(metric, filt)] = _cell(s.get(metric))
    tables, stats = {}, {}
    for task, by_doc in rows.items():
        columns: list[str] = []
        for row in by_doc.values():
            columns += [c for c in row if c not in columns]
        tables[task] = {"columns": columns, "data": [[row.get(c) for c in columns] for row in by_doc.values()]}
        counted = [row["reasoning_chars"] for row in by_doc.values() if "reasoning_chars" in row]
        if counted:
            stats[task] = ReasoningStats(len(counted), sum(1 for c in counted if c > 0), sum(counted) / len(counted))
    return tables, stats


def write_tables(tables: dict[str, dict[str, Any]], folder: Path) -> dict[str, Path]:
    """task -> `<folder>/<task>.json` written."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for task, table in tables.items():
        path = folder / f"{safe(task)}.json"
        path.write_text(json.dumps(table, ensure_ascii=False))
        out[task] = path
    return out
