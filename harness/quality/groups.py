"""Which lm-eval tasks belong to a harness task: the one answer the scores, the sample tables and the errors log use.

A `quality.tasks` entry that names an lm-eval group or tag runs its members under their own lm-eval names.
After the run, lm-eval's `group_subtasks` tree in the results JSON says which they were (subgroups included);
before it, or when the tree does not list the entry, the leaves the catalog read from lm-eval's YAML
(`TaskPlan.subtasks`, harness/quality/catalog.py). A single task has no members: it is its own lm-eval task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.quality.tasks import TaskPlan

Tree = Mapping[str, Sequence[str]]
"""lm-eval's `group_subtasks`: group -> its direct tasks and subgroups."""


def below(name: str, tree: Tree) -> list[str]:
    """Every task and subgroup below `name` in the tree, nearest first."""
    out, todo = [], list(tree.get(name, []))
    while todo:
        member = todo.pop(0)
        if member not in out:
            out.append(member)
            todo += tree.get(member, [])
    return out


def members(plan: "TaskPlan", tree: Tree | None = None) -> list[str]:
    """The lm-eval names under a harness task: a group's or tag's members (lm-eval's tree first, else the catalog's
    leaves); none for a single task."""
    if plan.scope not in ("group", "tag"):
        return []
    return below(plan.lm_eval_task, tree or {}) or [t for t in plan.subtasks if t != plan.lm_eval_task]


def owners(plans: Sequence["TaskPlan"], tree: Tree | None = None) -> dict[str, str]:
    """lm-eval task name -> the harness task it is reported under (its own plan's first, then the first group's)."""
    out = {plan.lm_eval_task: plan.task for plan in plans}
    for plan in plans:
        for member in members(plan, tree):
            out.setdefault(member, plan.task)
    return out
