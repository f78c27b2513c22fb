"""One answer to "which lm-eval tasks belong to this harness task", used by the scores, the tables and the errors log."""

from __future__ import annotations

import json

from harness.quality.error_answers import read_errors
from harness.quality.groups import below, members, owners
from harness.quality.results import parse_results
from harness.quality.samples import build_tables
from harness.quality.tasks import TaskPlan

# a tag whose YAML the catalog read only partly: lm-eval's tree knows a member (`x_extra`) the plan does not
TAG = TaskPlan("x", "x", "", "hub", 0, scope="tag", subtasks=("x_a", "x_b"))
GROUP = TaskPlan("g", "g", "", "hub", 0, scope="group", subtasks=("g_leaf1", "g_leaf2"))
SINGLE = TaskPlan("gsm8k", "harness_gsm8k", "", "hub", 5, subtasks=("gsm8k",))
TREE = {"x": ["x_a", "x_b", "x_extra"], "g": ["g_sub"], "g_sub": ["g_leaf1", "g_leaf2"], "harness_gsm8k": []}


def test_the_tree_decides_after_the_run_the_catalog_before_it():
    assert below("g", TREE) == ["g_sub", "g_leaf1", "g_leaf2"] and below("nothing", TREE) == []
    assert members(GROUP, TREE) == ["g_sub", "g_leaf1", "g_leaf2"]  # subgroups included
    assert members(TAG, TREE) == ["x_a", "x_b", "x_extra"] and members(TAG) == ["x_a", "x_b"]
    assert members(SINGLE, TREE) == [] == members(SINGLE)  # a single task is its own lm-eval task
    assert owners([SINGLE, TAG], TREE) == {"harness_gsm8k": "gsm8k", "x": "x", "x_a": "x", "x_b": "x", "x_extra": "x"}


def test_scores_tables_and_errors_agree_on_a_member_only_lm_eval_knew(tmp_path):
    results = {"results": {"x_a": {"acc,none": 0.5}, "x_extra": {"acc,none": 0.25}},
               "group_subtasks": TREE, "n-samples": {"x_a": {"effective": 2}, "x_extra": {"effective": 3}}}
    scores, counts = parse_results(results, [TAG])
    assert scores["x_extra"]["acc"].value == 0.25 and counts["x"] == 5
    sample = {"doc_id": 0, "arguments": {"gen_args_0": {"arg_0": "q"}}, "resps": [["a"]], "filtered_resps": ["a"],
              "filter": "none", "metrics": ["acc"], "acc": 1.0, "target": "a"}
    path = tmp_path / "samples_x_extra_2026-12-01T12-00-00.123456.jsonl"
    path.write_text(json.dumps(sample) + "\n")
    tables, _ = build_tables([path], [TAG], {}, results["group_subtasks"])
    assert [dict(zip(tables["x"]["columns"], r))["task"] for r in tables["x"]["data"]] == ["x_extra"]
    log = tmp_path / "errors.jsonl"
    log.write_text(json.dumps({"sent": {"x_a": 2}}) + "\n")
    assert read_errors(log, owners([TAG])).sent == {"x": 2}  # before the run: the catalog's members
