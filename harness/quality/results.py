"""lm-eval's results JSON read generically: every metric of every filter, with its stderr.

lm-eval writes `results[<task>]["<metric>,<filter>"]` and `"<metric>_stderr,<filter>"`. The harness
names them `<metric>` for the filter `none` and `<metric>_<filter>` otherwise, with the filter name
made safe (`[^A-Za-z0-9_.-]` -> `_`) and two short forms kept from before: `strict-match` -> `strict`,
`flexible-extract` -> `flexible` (so GSM8K's are `exact_match_strict` and `exact_match_flexible`, and
IFEval's `prompt_level_strict_acc` ...). A group's own aggregate is its entry; its members' entries
are logged under their own lm-eval names.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from harness.errors import QualityError
from harness.quality.groups import below, members
from harness.quality.tasks import TaskPlan

KNOWN_METRICS = {
    "gsm8k": ("exact_match_strict", "exact_match_flexible"),
    "ifeval": ("prompt_level_strict_acc", "inst_level_strict_acc", "prompt_level_loose_acc", "inst_level_loose_acc"),
}
"""The metrics of the tasks gates, reports and examples name (the MLflow contract suggests these on a typo)."""
FILTER_SHORT = {"none": "", "strict-match": "strict", "flexible-extract": "flexible"}

# a strict-vs-flexible GSM8K gap above this is flagged as a prompt-format problem
GSM8K_FORMAT_GAP = 0.10

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class Score:
    value: float
    stderr: float | None


def safe(name: str) -> str:
    return _UNSAFE.sub("_", name)


def metric_name(metric: str, filt: str) -> str:
    """The harness name of lm-eval's `<metric>,<filter>`."""
    short = FILTER_SHORT.get(filt, safe(filt))
    return safe(metric) + (f"_{short}" if short else "")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


def entry_scores(entry: dict[str, Any]) -> dict[str, Score]:
    """Every `<metric>,<filter>` of one results entry (stderr where lm-eval has one; "N/A" is none)."""
    out: dict[str, Score] = {}
    for key, raw in entry.items():
        metric, sep, filt = key.partition(",")
        if not sep or metric.endswith("_stderr"):
            continue
        value = _number(raw)
        if value is None:
            continue
        out[metric_name(metric, filt)] = Score(value, _number(entry.get(f"{metric}_stderr,{filt}")))
    return out


def _count(results: dict[str, Any], name: str) -> int | None:
    n = results.get("n-samples", {}).get(name)
    if not isinstance(n, dict):
        return None
    return int(n.get("effective", n.get("original", 0)))


def parse_results(results: dict[str, Any], plans: list[TaskPlan]) -> tuple[dict[str, dict[str, Score]], dict[str, int]]:
    """task -> metric -> Score, and task -> samples scored, for every plan (and a group's members)."""
    entries = results.get("results", {})
    tree = results.get("group_subtasks", {})
    scores: dict[str, dict[str, Score]] = {}
    counts: dict[str, int] = {}
    for plan in plans:
        entry = entries.get(plan.lm_eval_task)
        scored = [m for m in members(plan, tree) if m in entries or m in tree]
        if entry is None and not scored:
            raise QualityError(f"lm-eval results have no entry for {plan.lm_eval_task}")
        scores[plan.task] = entry_scores(entry or {})
        leaf_counts = {m: c for m in scored if m not in tree and (c := _count(results, m)) is not None}
        own = _count(results, plan.lm_eval_task)
        counts[plan.task] = own if own is not None else sum(leaf_counts.values())
        for member in scored:
            if member in entries and safe(member) not in scores:
                scores[safe(member)] = entry_scores(entries[member])
                counts[safe(member)] = leaf_counts.get(member, sum(c for m, c in leaf_counts.items() if m in below(member, tree)))
    return scores, counts


def quality_flags(scores: dict[str, dict[str, Score]]) -> list[str]:
    flags = []
    gsm = scores.get("gsm8k", {})
    if "exact_match_strict" in gsm and "exact_match_flexible" in gsm:
        gap = gsm["exact_match_flexible"].value - gsm["exact_match_strict"].value
        if gap > GSM8K_FORMAT_GAP or (gsm["exact_match_strict"].value == 0 and gsm["exact_match_flexible"].value > 0):
            flags.append(
                f"gsm8k: flexible-extract exceeds strict-match by {gap:.3f}; the model answers but not in the "
                "'#### N' format: a prompt-format problem, not necessarily a model problem"
            )
    return flags
